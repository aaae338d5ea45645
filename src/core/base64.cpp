#include "core/base64.hpp"

#include <openssl/evp.h>

#include <climits>

namespace vp {
namespace {

// EVP_EncodeBlock / EVP_DecodeBlock take int lengths; larger inputs are refused.
constexpr std::size_t max_input = static_cast<std::size_t>(INT_MAX / 4 * 3);

bool is_standard_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool is_url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/// Decodes padded standard base64 whose alphabet and layout the caller has checked.
std::optional<bytes> decode_padded(std::string_view text) {
  if (text.empty()) return bytes{};
  if (text.size() % 4 != 0 || text.size() > static_cast<std::size_t>(INT_MAX)) return std::nullopt;
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  bytes out(text.size() / 4 * 3);
  const int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  // EVP_DecodeBlock counts the padding as zero bytes; the length is fixed by the input.
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  return out;
}

}  // namespace

std::string base64_encode(byte_view data) {
  if (data.size() > max_input) return {};
  std::string out((data.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock writes a NUL
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::string base64url_encode(byte_view data) {
  std::string out = base64_encode(data);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<bytes> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  // At most two `=`, and only at the end (EVP_DecodeBlock alone would accept more).
  std::size_t body = text.size();
  while (body > 0 && text.size() - body < 2 && text[body - 1] == '=') --body;
  for (std::size_t i = 0; i < body; ++i) {
    if (!is_standard_char(text[i])) return std::nullopt;
  }
  auto out = decode_padded(text);
  if (!out || base64_encode(*out) != text) return std::nullopt;  // non-zero unused bits
  return out;
}

std::optional<bytes> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no byte string has this length
  std::string standard;
  standard.reserve(text.size() + 3);
  for (const char c : text) {
    if (!is_url_char(c)) return std::nullopt;
    standard.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  auto out = decode_padded(standard);
  if (!out || base64url_encode(*out) != text) return std::nullopt;
  return out;
}

}  // namespace vp
