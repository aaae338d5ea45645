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

}  // namespace

sha256_digest sha256(std::initializer_list<byte_view> parts) {
  return digest<32>(EVP_sha256(), parts);
}

sha384_digest sha384(std::initializer_list<byte_view> parts) {
  return digest<48>(EVP_sha384(), parts);
}

sha256_stream::sha256_stream() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) std::abort();
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
      EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return out;
}

}  // namespace vp::crypto
