#include "core/text.hpp"

#include <boost/locale/utf.hpp>

#include <algorithm>
#include <iterator>

namespace vp::text {
namespace {

std::string excerpt(std::string_view s, std::size_t max, bool quoted) {
  std::string out;
  out.reserve(std::min(s.size(), max) + 5);
  if (quoted) out += '"';
  const std::size_t start = out.size();
  std::size_t used = 0;
  for (; used < s.size(); ++used) {
    const auto c = static_cast<unsigned char>(s[used]);
    const bool keep = c >= 0x20 && c < 0x7f && c != '\\' && !(quoted && c == '"');
    if (out.size() - start + (keep ? 1 : 4) > max) break;
    if (keep) {
      out += static_cast<char>(c);
    } else {
      append_hex_escape(out, c);
    }
  }
  if (quoted) out += '"';
  if (used < s.size()) out += "…";
  return out;
}

}  // namespace

void append_hex_escape(std::string& out, unsigned char byte) {
  static constexpr char digits[] = "0123456789abcdef";
  out += "\\x";
  out += digits[byte >> 4];
  out += digits[byte & 0xf];
}

std::string printable_excerpt(std::string_view s, std::size_t max) { return excerpt(s, max, false); }

std::string quoted_excerpt(std::string_view s, std::size_t max) { return excerpt(s, max, true); }

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

std::string milliseconds_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

std::string elapsed_since(std::chrono::steady_clock::time_point start) {
  return milliseconds_text(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start));
}

std::string valid_utf8(std::string_view s) {
  namespace utf = boost::locale::utf;
  using traits = utf::utf_traits<char>;
  std::string out;
  out.reserve(s.size());
  auto p = s.begin();
  while (p != s.end()) {
    auto next = p;
    const utf::code_point c = traits::decode(next, s.end());
    if (c == utf::illegal || c == utf::incomplete) {
      traits::encode(0xFFFD, std::back_inserter(out));
      ++p;
    } else {
      out.append(p, next);
      p = next;
    }
  }
  return out;
}

}  // namespace vp::text
