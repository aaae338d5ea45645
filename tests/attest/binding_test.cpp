// check_binding: the §1.8 TLS form, one test per check, on hand-made TD reports and on
// the report_data of every real capture's quote.

#include "attest/binding.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "support/expect_error.hpp"

#include <algorithm>
#include <string>

#include "attest/nearai_captures.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "support/testdata.hpp"
#include "tdx/quote.hpp"

namespace vp::attest {
namespace {

namespace json = boost::json;
using test::nearai::hex_or_fail;
using test::nearai::str;

using test::fails_with;

bytes pattern(std::size_t n, std::uint8_t start) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(start + i);
  return b;
}

// A consistent (TD report, attestation, nonce, live SPKI) set for `algo`.
struct fixture {
  near_attestation attestation;
  tdx::td_report td;
  bytes nonce = pattern(32, 0xa0);
  sha256_digest spki = crypto::sha256(as_bytes("the TLS key's SubjectPublicKeyInfo"));

  explicit fixture(signing_algorithm algo) {
    attestation.json_pointer = "/model_attestations/0";
    attestation.signing_algo = algo;
    attestation.signing_address = pattern(algo == signing_algorithm::ecdsa ? 20 : 32, 0x10);
    attestation.tls_cert_fingerprint = spki;
    const sha256_digest prefix = crypto::sha256({attestation.signing_address, spki});
    std::copy(prefix.begin(), prefix.end(), td.report_data.begin());
    std::copy(nonce.begin(), nonce.end(), td.report_data.begin() + 32);
  }

  result<void> check() const { return check_binding(td, attestation, nonce, spki); }
};

class BindingBothAlgos : public testing::TestWithParam<signing_algorithm> {};

TEST_P(BindingBothAlgos, ConsistentSetBinds) {
  const fixture f(GetParam());
  const auto r = f.check();
  EXPECT_TRUE(r) << r.error().message;
}

TEST_P(BindingBothAlgos, FingerprintMissing) {
  fixture f(GetParam());
  f.attestation.tls_cert_fingerprint.reset();
  EXPECT_TRUE(fails_with(f.check(), errc::missing_tls_fingerprint, "/model_attestations/0: no tls_cert_fingerprint"));
}

TEST_P(BindingBothAlgos, LiveSpkiDiffers) {
  fixture f(GetParam());
  sha256_digest other = f.spki;
  other[31] ^= 0x01;
  const auto r = check_binding(f.td, f.attestation, f.nonce, other);
  EXPECT_TRUE(fails_with(r, errc::fingerprint_mismatch, "SHA-256 of the live TLS peer SPKI is " + to_hex(other)));
  EXPECT_TRUE(fails_with(r, errc::fingerprint_mismatch, "attested tls_cert_fingerprint is " + to_hex(f.spki)));
}

// The JSON fingerprint is edited but the peer still presents the real key: the live key
// no longer matches the claim.
TEST_P(BindingBothAlgos, EditedFingerprintWithRealPeerIsFingerprintMismatch) {
  fixture f(GetParam());
  sha256_digest forged = f.spki;
  forged[0] ^= 0x80;
  f.attestation.tls_cert_fingerprint = forged;
  EXPECT_TRUE(fails_with(f.check(), errc::fingerprint_mismatch, to_hex(forged)));
}

// The man in the middle: a genuine report whose fingerprint is replaced by the SPKI of
// the attacker's own TLS key, presented on the attacker's connection. Live == claimed,
// but the quote bound another key.
TEST_P(BindingBothAlgos, EditedFingerprintMatchingAttackerPeerIsReportDataBinding) {
  fixture f(GetParam());
  const sha256_digest attacker = crypto::sha256(as_bytes("attacker SPKI"));
  f.attestation.tls_cert_fingerprint = attacker;
  const auto r = check_binding(f.td, f.attestation, f.nonce, attacker);
  EXPECT_TRUE(fails_with(r, errc::report_data_binding, "quote report_data[0:32] is " + to_hex(byte_view(f.td.report_data).first(32))));
  EXPECT_TRUE(fails_with(r, errc::report_data_binding,
                         "SHA-256(signing_address ‖ tls_cert_fingerprint) is " +
                             to_hex(crypto::sha256({f.attestation.signing_address, attacker}))));
}

TEST_P(BindingBothAlgos, EditedSigningAddressIsReportDataBinding) {
  fixture f(GetParam());
  f.attestation.signing_address.back() ^= 0x01;
  EXPECT_TRUE(fails_with(f.check(), errc::report_data_binding,
                         "signing_address " + format_signing_address(f.attestation.signing_algo,
                                                                     f.attestation.signing_address)));
}

TEST_P(BindingBothAlgos, QuoteReportDataPrefixEditedIsReportDataBinding) {
  fixture f(GetParam());
  f.td.report_data[5] ^= 0x20;
  EXPECT_TRUE(fails_with(f.check(), errc::report_data_binding, "report_data[0:32]"));
}

// The no-TLS layout (identity right-padded with zeros) is not accepted as the TLS form.
TEST_P(BindingBothAlgos, PaddedIdentityLayoutIsNotTheTlsForm) {
  fixture f(GetParam());
  std::fill(f.td.report_data.begin(), f.td.report_data.begin() + 32, std::uint8_t{0});
  std::copy(f.attestation.signing_address.begin(), f.attestation.signing_address.end(), f.td.report_data.begin());
  EXPECT_TRUE(fails_with(f.check(), errc::report_data_binding, "report_data[0:32]"));
}

TEST_P(BindingBothAlgos, NonceOffByOneByte) {
  fixture f(GetParam());
  bytes sent = f.nonce;
  sent[31] = static_cast<std::uint8_t>(sent[31] + 1);
  const auto r = check_binding(f.td, f.attestation, sent, f.spki);
  EXPECT_TRUE(fails_with(r, errc::nonce_mismatch, "quote report_data[32:64] is " + to_hex(f.nonce)));
  EXPECT_TRUE(fails_with(r, errc::nonce_mismatch, "the nonce sent is " + to_hex(sent)));
}

// The echo fields are never consulted: a truthful echo does not rescue a quote for
// another nonce, and a lying echo does not break a correct one.
TEST_P(BindingBothAlgos, EchoFieldsAreIgnored) {
  fixture f(GetParam());
  std::array<std::uint8_t, 32> echo{};
  std::copy(f.nonce.begin(), f.nonce.end(), echo.begin());
  f.attestation.request_nonce = echo;
  f.attestation.report_data = f.td.report_data;
  f.td.report_data[63] ^= 0x01;  // the verified quote is for another nonce
  EXPECT_TRUE(fails_with(f.check(), errc::nonce_mismatch, "report_data[32:64]"));

  fixture g(GetParam());
  g.attestation.request_nonce = std::array<std::uint8_t, 32>{};
  g.attestation.report_data = std::array<std::uint8_t, 64>{};
  EXPECT_TRUE(g.check());
}

TEST_P(BindingBothAlgos, ArgumentLengths) {
  const fixture f(GetParam());
  EXPECT_TRUE(fails_with(check_binding(f.td, f.attestation, byte_view(f.nonce).first(31), f.spki),
                         errc::invalid_argument, "nonce must be 32 bytes, got 31"));
  EXPECT_TRUE(fails_with(check_binding(f.td, f.attestation, f.nonce, byte_view(f.spki).first(20)),
                         errc::invalid_argument, "SPKI SHA-256 must be 32 bytes, got 20"));
}

INSTANTIATE_TEST_SUITE_P(Algos, BindingBothAlgos,
                         testing::Values(signing_algorithm::ecdsa, signing_algorithm::ed25519),
                         [](const testing::TestParamInfo<signing_algorithm>& param_info) {
                           return std::string(to_string(param_info.param));
                         });

TEST(Binding, DirectFormMessagesNameTheReport) {
  fixture f(signing_algorithm::ed25519);
  f.attestation.json_pointer = "";
  f.attestation.tls_cert_fingerprint.reset();
  EXPECT_TRUE(fails_with(f.check(), errc::missing_tls_fingerprint, "report: no tls_cert_fingerprint"));
}

// ---------------------------------------------------------------------------------------
// Real captures: the report_data of each quote (parsed; verify_attestation covers the
// verified path) against expected.json's binding facts.

class BindingCapture : public testing::TestWithParam<std::string> {};

TEST_P(BindingCapture, EveryAttestationBindsAsExpectedJsonSays) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ(doc->attestations.size(), c.attestations().size());

  for (const auto& entry_value : c.attestations()) {
    const json::object& e = entry_value.as_object();
    SCOPED_TRACE(c.name + " " + str(e.at("json_pointer")));
    const near_attestation* a = doc->find(str(e.at("json_pointer")));
    ASSERT_NE(a, nullptr);
    const auto quote = tdx::parse_quote(a->intel_quote);
    ASSERT_TRUE(quote) << quote.error().message;
    EXPECT_EQ(to_hex(quote->td.report_data), str(e.at("quote").at("report_data")));

    ASSERT_TRUE(a->tls_cert_fingerprint);
    EXPECT_EQ(to_hex(expected_report_data_prefix(a->signing_address, *a->tls_cert_fingerprint)),
              str(e.at("expected_report_data_0_32")));

    const bytes live = c.live_spki_for(e);
    const auto r = check_binding(quote->td, *a, c.nonce, live);
    const bool prefix_ok = e.at("report_data_0_32_matches").as_bool();
    const bool nonce_ok = e.at("report_data_32_64_matches_nonce").as_bool();
    if (prefix_ok && nonce_ok) {
      EXPECT_TRUE(r) << to_string(r.error().kind) << ": " << r.error().message;
    } else {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind, prefix_ok ? errc::nonce_mismatch : errc::report_data_binding);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, BindingCapture, testing::ValuesIn(test::nearai::capture_names()),
                         test::nearai::param_name);

}  // namespace
}  // namespace vp::attest
