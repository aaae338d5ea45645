// The shared factor report: long hex values shortened for a person (and nothing else
// touched), and the hint to verify a saved report as of its capture time.

#include "app/factor_report.hpp"

#include <gtest/gtest.h>

#include "core/time.hpp"

namespace vp::app {
namespace {

TEST(ShortenHex, LongRunsKeepTheirFirstEightAndLastFourDigits) {
  EXPECT_EQ(shorten_hex("2c0a0c96cb6dbd659bf1446e2f3fce58172ff91b from the RTMR3 \"app-id\" event"),
            "2c0a0c96…f91b from the RTMR3 \"app-id\" event");
  EXPECT_EQ(shorten_hex("ecdsa 0x6525e128afcffebf7eed05d485d7be983cdae934"), "ecdsa 0x6525e128…e934");
  EXPECT_EQ(shorten_hex("SHA-256(ed25519 d0aa20bcf567cc0c7c914608967dbd4c7a17e10b600802d45923434ce323f823 ‖ x)"),
            "SHA-256(ed25519 d0aa20bc…f823 ‖ x)");
  EXPECT_EQ(shorten_hex("(5BE0C1D2A3F49E8B5BE0C1D2A3F49E8B)"), "(5BE0C1D2…9E8B)");
  EXPECT_EQ(shorten_hex("a 0123456789abcdef0 b 0123456789abcdef0"), "a 01234567…def0 b 01234567…def0");
}

TEST(ShortenHex, ShortRunsWordsAndNumbersStay) {
  for (const char* kept : {"TD attributes 0100001000000000 have the DEBUG bit set", "FMSPC 90C06F000000",
                           "valid until 2026-07-19T10:00:35Z (1752919235)", "",
                           "x0123456789abcdef0123 is part of a word", "0123456789abcdef0123g neither",
                           "gpu_nras", "nv-eat-kid-prod-20260321144224309-f4cdf589", "12345678901234567890"}) {
    EXPECT_EQ(shorten_hex(kept), kept);
  }
}

appraise::appraisal failed_with(std::string code, failure_phase phase) {
  appraise::appraisal a;
  a.first_failure = failure{std::move(code), phase, "TCB info expired: nextUpdate 2025-07-19T10:16:03Z", "", true};
  return a;
}

TEST(ValidityHint, ATimeFailureOfTheQuoteSuggestsTheCaptureTime) {
  const unix_time now = from_unix_seconds(1790000000);
  for (const char* code : {"collateral_expired", "collateral_not_yet_valid", "certificate_expired",
                           "certificate_not_yet_valid"}) {
    const auto hint = validity_hint(failed_with(code, failure_phase::quote), now, false);
    ASSERT_TRUE(hint) << code;
    EXPECT_NE(hint->find("as of now (" + format_rfc3339_utc(now) + ")"), std::string::npos) << *hint;
    EXPECT_NE(hint->find("pass --at UNIX_SECONDS with its capture time"), std::string::npos) << *hint;
    EXPECT_NE(hint->find(code), std::string::npos) << *hint;
  }
  const auto given = validity_hint(failed_with("collateral_expired", failure_phase::quote), now, true);
  ASSERT_TRUE(given);
  EXPECT_NE(given->find("As of --at " + format_rfc3339_utc(now) + " (1790000000)"), std::string::npos) << *given;
}

TEST(ValidityHint, OtherFailuresAndAcceptedReportsGetNone) {
  const unix_time now = from_unix_seconds(1790000000);
  EXPECT_FALSE(validity_hint(appraise::appraisal{}, now, false));
  EXPECT_FALSE(validity_hint(failed_with("untrusted_chain", failure_phase::quote), now, false));
  EXPECT_FALSE(validity_hint(failed_with("nonce_mismatch", failure_phase::binding), now, false));
  // NRAS tokens expire too, but --at does not bring back a GPU verdict made for another nonce.
  EXPECT_FALSE(validity_hint(failed_with("gpu_nras", failure_phase::gpu), now, false));
}

}  // namespace
}  // namespace vp::app
