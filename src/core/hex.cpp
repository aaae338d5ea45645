#include "core/hex.hpp"

#include <boost/algorithm/hex.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>

namespace vp {

std::string to_hex(byte_view data) {
  // Written in place: through a back_inserter each digit is a push_back.
  std::string out(data.size() * 2, '\0');
  boost::algorithm::hex_lower(data.begin(), data.end(), out.data());
  return out;
}

std::string to_hex_upper(byte_view data) {
  // Written in place: through a back_inserter each digit is a push_back.
  std::string out(data.size() * 2, '\0');
  boost::algorithm::hex(data.begin(), data.end(), out.data());
  return out;
}

std::optional<bytes> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  // Validate first so that unhex (which reports bad input by exception) never throws here.
  const bool all_hex = std::all_of(text.begin(), text.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  });
  if (!all_hex) return std::nullopt;
  bytes out;
  out.reserve(text.size() / 2);
  boost::algorithm::unhex(text.begin(), text.end(), std::back_inserter(out));
  return out;
}

std::optional<bytes> from_hex_lenient(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) compact.push_back(c);
  }
  std::string_view digits = compact;
  if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
  return from_hex(digits);
}

}  // namespace vp
