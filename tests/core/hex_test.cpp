#include "core/hex.hpp"

#include <gtest/gtest.h>

namespace vp {
namespace {

TEST(Hex, RoundTripsLowerAndUpper) {
  const bytes data{0x00, 0x9a, 0xff, 0x10};
  EXPECT_EQ(to_hex(data), "009aff10");
  EXPECT_EQ(to_hex_upper(data), "009AFF10");
  EXPECT_EQ(from_hex("009AfF10"), data);
}

TEST(Hex, StrictDecodeRejectsOddLengthAndNonHex) {
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_FALSE(from_hex("0x00"));
  EXPECT_FALSE(from_hex("00 11"));
  EXPECT_EQ(from_hex(""), bytes{});
}

TEST(Hex, LenientDecodeAcceptsPrefixAndWhitespace) {
  EXPECT_EQ(from_hex_lenient("0xDE AD\nbe\tef\n"), (bytes{0xde, 0xad, 0xbe, 0xef}));
  EXPECT_FALSE(from_hex_lenient("0x0"));
  EXPECT_FALSE(from_hex_lenient("0xg0"));
}

}  // namespace
}  // namespace vp
