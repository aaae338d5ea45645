#include "core/time.hpp"

#include <gtest/gtest.h>

namespace vp {
namespace {

TEST(Rfc3339, ParsesIntelTimestamps) {
  EXPECT_EQ(parse_rfc3339_utc("2026-03-22T00:50:51Z"), from_unix_seconds(1774140651));
  EXPECT_EQ(parse_rfc3339_utc("1970-01-01T00:00:00Z"), from_unix_seconds(0));
  EXPECT_EQ(parse_rfc3339_utc("2025-07-19T10:00:34.999Z"), from_unix_seconds(1752919234));
}

TEST(Rfc3339, RejectsNonUtcAndImpossibleDates) {
  EXPECT_FALSE(parse_rfc3339_utc("2026-03-22T00:50:51+01:00"));
  EXPECT_FALSE(parse_rfc3339_utc("2026-02-30T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_utc("2026-03-22 00:50:51Z"));
  EXPECT_FALSE(parse_rfc3339_utc("2026-03-22T24:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_utc("2026-03-22T00:50:51"));
  EXPECT_FALSE(parse_rfc3339_utc("2026-03-22T00:50:51.Z"));
  EXPECT_FALSE(parse_rfc3339_utc(""));
}

TEST(Rfc3339, FormatsRoundTrip) {
  EXPECT_EQ(format_rfc3339_utc(from_unix_seconds(1752919234)), "2025-07-19T10:00:34Z");
  EXPECT_EQ(parse_rfc3339_utc(format_rfc3339_utc(from_unix_seconds(4102444799))),
            from_unix_seconds(4102444799));
}

}  // namespace
}  // namespace vp
