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

}  // namespace vp::crypto
