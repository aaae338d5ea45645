#pragma once
// Byte spans and owned byte buffers: the currency of the pure core.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vp {

using byte_view = std::span<const std::uint8_t>;
using bytes = std::vector<std::uint8_t>;
using sha256_digest = std::array<std::uint8_t, 32>;
using sha384_digest = std::array<std::uint8_t, 48>;

inline byte_view as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline std::string_view as_chars(byte_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

inline bool equal_bytes(byte_view a, byte_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace vp
