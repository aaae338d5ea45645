#include "crypto/keccak.hpp"

#include <cryptopp/keccak.h>

namespace vp::crypto {

keccak256_digest keccak256(byte_view data) {
  // Keccak_256 is Crypto++'s pre-FIPS variant (padding 0x01), the one Ethereum signs with;
  // CryptoPP::SHA3_256 would hash with FIPS 202's 0x06 and give other digests.
  CryptoPP::Keccak_256 hash;
  if (!data.empty()) hash.Update(data.data(), data.size());
  keccak256_digest out{};
  static_assert(CryptoPP::Keccak_256::DIGESTSIZE == std::tuple_size_v<keccak256_digest>);
  hash.Final(out.data());
  return out;
}

}  // namespace vp::crypto
