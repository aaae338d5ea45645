#include "crypto/digest.hpp"

#include <openssl/evp.h>

#include <cstdlib>

#include "crypto/ossl.hpp"

namespace vp::crypto {
namespace {

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, std::initializer_list<byte_view> parts) {
  std::array<std::uint8_t, N> out{};
  evp_md_ctx_ptr ctx{EVP_MD_CTX_new()};
  unsigned int len = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1;
  for (byte_view p : parts) ok = ok && EVP_DigestUpdate(ctx.get(), p.data(), p.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1 && len == N;
  // Only allocation failure can get here; a wrong digest must never be returned.
  if (!ok) std::abort();
  return out;
}

/// The implementation fetched once (OpenSSL 3): EVP_sha256() and friends make every
/// EVP_DigestInit_ex look the algorithm up in the provider store again, which costs more
/// than hashing a chat request. The fetched EVP_MD may be shared by threads and lives as
/// long as the process.
const EVP_MD* fetched(const char* name) {
  const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) std::abort();  // the default provider always has SHA-2
  return md;
}

const EVP_MD* sha256_md() {
  static const EVP_MD* const md = fetched("SHA2-256");
  return md;
}

const EVP_MD* sha384_md() {
  static const EVP_MD* const md = fetched("SHA2-384");
  return md;
}

}  // namespace

sha256_digest sha256(std::initializer_list<byte_view> parts) {
  return digest<32>(sha256_md(), parts);
}

sha384_digest sha384(std::initializer_list<byte_view> parts) {
  return digest<48>(sha384_md(), parts);
}

sha256_stream::sha256_stream() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), sha256_md(), nullptr) != 1) std::abort();
}
sha256_stream::sha256_stream(sha256_stream&&) noexcept = default;
sha256_stream& sha256_stream::operator=(sha256_stream&&) noexcept = default;
sha256_stream::~sha256_stream() = default;

void sha256_stream::update(byte_view data) {
  if (!data.empty() && EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) std::abort();
}

sha256_digest sha256_stream::finish() {
  sha256_digest out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1 || len != out.size() ||
      EVP_DigestInit_ex(ctx_.get(), sha256_md(), nullptr) != 1) {
    std::abort();
  }
  return out;
}

}  // namespace vp::crypto
