#pragma once
// Keccak-256 as Ethereum uses it: the original Keccak padding (0x01), not FIPS 202
// SHA3-256 (0x06). OpenSSL 3.0 has no Keccak-256; Crypto++'s Keccak_256 is used.

#include <array>
#include <cstdint>

#include "core/bytes.hpp"

namespace vp::crypto {

using keccak256_digest = std::array<std::uint8_t, 32>;

keccak256_digest keccak256(byte_view data);

}  // namespace vp::crypto
