#pragma once
// What the help-text tests measure: a line's width as a terminal shows it, and text with
// its wrapping undone (so that a flag's description can be found in the wrapped help).

#include <cstddef>
#include <string>
#include <string_view>

namespace vp::test {

/// Code points, not bytes: the help texts hold "—" and "→".
inline std::size_t columns(std::string_view line) {
  std::size_t n = 0;
  for (const char c : line) n += (static_cast<unsigned char>(c) & 0xc0u) != 0x80u ? 1 : 0;
  return n;
}

/// Runs of white space as one space: what wrapping may change.
inline std::string normalized(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace vp::test
