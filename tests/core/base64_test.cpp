#include "core/base64.hpp"

#include <gtest/gtest.h>

namespace vp {
namespace {

bytes b(std::string_view s) { return bytes(s.begin(), s.end()); }

TEST(Base64, Rfc4648TestVectors) {
  // RFC 4648 §10.
  const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                   {"f", "Zg=="},
                                                                   {"fo", "Zm8="},
                                                                   {"foo", "Zm9v"},
                                                                   {"foob", "Zm9vYg=="},
                                                                   {"fooba", "Zm9vYmE="},
                                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(as_bytes(plain)), encoded);
    EXPECT_EQ(base64_decode(encoded), b(plain)) << encoded;
    std::string url(encoded);
    while (!url.empty() && url.back() == '=') url.pop_back();
    EXPECT_EQ(base64url_encode(as_bytes(plain)), url);
    EXPECT_EQ(base64url_decode(url), b(plain)) << url;
  }
}

TEST(Base64, UrlAlphabetIsNotStandard) {
  const bytes data{0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64_encode(data), "+/+/");
  EXPECT_EQ(base64url_encode(data), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), data);
  EXPECT_FALSE(base64url_decode("+/+/"));
  EXPECT_FALSE(base64_decode("-_-_"));
}

TEST(Base64, RejectsEverythingButTheCanonicalSpelling) {
  EXPECT_FALSE(base64_decode("Zg"));    // padding missing
  EXPECT_FALSE(base64_decode("Zg="));   // padding short
  EXPECT_FALSE(base64_decode("Zh=="));  // non-zero unused bits
  EXPECT_FALSE(base64_decode("Z==="));  // three pads
  EXPECT_FALSE(base64_decode("===="));
  EXPECT_FALSE(base64_decode("Zg==Zg=="));  // padding inside
  EXPECT_FALSE(base64_decode(" Zg=="));
  EXPECT_FALSE(base64_decode("Zm9v\n"));
  EXPECT_FALSE(base64url_decode("Zg=="));  // JWS has no padding (RFC 7515 §2)
  EXPECT_FALSE(base64url_decode("Zh"));
  EXPECT_FALSE(base64url_decode("Zm9vY"));  // length 1 mod 4
  EXPECT_FALSE(base64url_decode("Zm 9v"));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
  EXPECT_EQ(base64url_decode(""), bytes{});
}

TEST(Base64, RoundTripsAllLengthsAndBytes) {
  bytes data;
  for (int n = 0; n < 300; ++n) {
    EXPECT_EQ(base64_decode(base64_encode(data)), data);
    EXPECT_EQ(base64url_decode(base64url_encode(data)), data);
    data.push_back(static_cast<std::uint8_t>(n * 37 + 11));
  }
}

}  // namespace
}  // namespace vp
