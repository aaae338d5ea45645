#pragma once
// A bounds-checked little-endian cursor over untrusted bytes (TDX quotes, SPDM evidence).
// Every read either succeeds completely or returns false and leaves the cursor where it
// was; nothing is read past the end.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/bytes.hpp"

namespace vp {

class byte_reader {
 public:
  explicit byte_reader(byte_view data) : data_(data) {}

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }

  bool take(std::size_t n, byte_view& out) {
    if (n > remaining()) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

  template <std::size_t N>
  bool take(std::array<std::uint8_t, N>& out) {
    byte_view v;
    if (!take(N, v)) return false;
    std::copy(v.begin(), v.end(), out.begin());
    return true;
  }

  bool u8(std::uint8_t& out) { return little_endian(1, out); }
  bool u16(std::uint16_t& out) { return little_endian(2, out); }
  bool u24(std::uint32_t& out) { return little_endian(3, out); }
  bool u32(std::uint32_t& out) { return little_endian(4, out); }

 private:
  template <class T>
  bool little_endian(std::size_t n, T& out) {
    byte_view v;
    if (!take(n, v)) return false;
    std::uint32_t value = 0;
    for (std::size_t i = n; i-- > 0;) value = (value << 8) | v[i];
    out = static_cast<T>(value);
    return true;
  }

  byte_view data_;
  std::size_t pos_ = 0;
};

}  // namespace vp
