// verify_attestation end to end: synthetic reports around quotes minted by the test PKI
// (runs without ../shared), then every real capture with its own Intel collateral at its
// capture time, and one real negative per check.

#include "attest/attestation_verifier.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "support/expect_error.hpp"

#include <algorithm>
#include <filesystem>
#include <string>

#include "attest/binding.hpp"
#include "attest/nearai_captures.hpp"
#include "collateral/bundle.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "testpki/test_pki.hpp"
#include "support/testdata.hpp"
#include "tdx/verifier.hpp"

namespace vp::attest {
namespace {

namespace json = boost::json;
using test::nearai::hex_or_fail;
using test::nearai::str;

using test::fails_with;

bytes pattern(std::size_t n, std::uint8_t start) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(start + 3 * i);
  return b;
}

// ---------------------------------------------------------------------------------------
// Synthetic: the test PKI mints quotes whose report_data the test computes.

const test::test_pki& pki() {
  static const test::test_pki instance;
  return instance;
}

const tdx::trust_anchor& test_anchor() {
  static const auto anchor = tdx::load_trust_anchor(pki().root_der()).value();
  return *anchor;
}

std::shared_ptr<const tdx::prepared_collateral> prepared(const test::collateral_spec& spec = {}) {
  auto p = tdx::prepare_collateral(pki().collateral(spec), test_anchor());
  EXPECT_TRUE(p) << p.error().message;
  return p.value();
}

// One CVM as the test imagines it: its signing identity and TLS key.
struct cvm {
  signing_algorithm algo;
  bytes address;
  sha256_digest spki;

  std::string address_text() const { return format_signing_address(algo, address); }

  /// A quote whose report_data is SHA-256(address ‖ spki) ‖ nonce (§1.8 TLS form).
  bytes quote_for(byte_view nonce) const {
    test::quote_spec q;
    const sha256_digest prefix = expected_report_data_prefix(address, spki);
    std::copy(prefix.begin(), prefix.end(), q.td.report_data.begin());
    std::copy(nonce.begin(), nonce.end(), q.td.report_data.begin() + 32);
    return pki().mint(q);
  }

  json::object object(byte_view quote, byte_view nonce_echo) const {
    json::object o{{"signing_address", address_text()},
                   {"signing_algo", to_string(algo)},
                   {"request_nonce", to_hex(nonce_echo)},
                   {"intel_quote", to_hex(quote)},
                   {"event_log", json::array{}},
                   {"info", json::object{{"app_name", "dstack-test"}}},
                   {"tls_cert_fingerprint", to_hex(spki)}};
    if (algo == signing_algorithm::ed25519) o["signing_public_key"] = to_hex(address);
    return o;
  }
};

const cvm model_ed25519{signing_algorithm::ed25519, pattern(32, 0x41), crypto::sha256(as_bytes("model SPKI"))};
const cvm model_ecdsa{signing_algorithm::ecdsa, pattern(20, 0x17), crypto::sha256(as_bytes("ecdsa model SPKI"))};
const cvm gateway_cvm{signing_algorithm::ed25519, pattern(32, 0x90), crypto::sha256(as_bytes("gateway SPKI"))};
const bytes client_nonce = pattern(32, 0x05);

near_attestation parse_single(const std::string& body) {
  auto doc = parse_report_document(body);
  EXPECT_TRUE(doc) << doc.error().message;
  return doc.value().attestations.at(0);
}

class SyntheticBothAlgos : public testing::TestWithParam<signing_algorithm> {
 protected:
  const cvm& node() const { return GetParam() == signing_algorithm::ecdsa ? model_ecdsa : model_ed25519; }
  std::string body() const {
    json::object o = node().object(node().quote_for(client_nonce), client_nonce);
    o["model_name"] = "test/model";
    return json::serialize(o);
  }
};

TEST_P(SyntheticBothAlgos, GenuineBoundReportIsAccepted) {
  const near_attestation a = parse_single(body());
  const auto coll = prepared();
  const auto v = verify_attestation(a, client_nonce, node().spki, *coll, test_anchor(), test::default_time);
  ASSERT_TRUE(v) << to_string(v.error().kind) << ": " << v.error().message;
  EXPECT_EQ(v->signing_algo, GetParam());
  EXPECT_EQ(v->signing_address, node().address);
  EXPECT_EQ(v->tls_cert_fingerprint, node().spki);
  EXPECT_EQ(v->quote.status, tdx::tcb_status::up_to_date);
  EXPECT_EQ(v->collateral_expires_at, v->quote.collateral_expires_at);
  EXPECT_EQ(v->collateral_expires_at, test::utc_date(2026, 1, 19));
  EXPECT_EQ(byte_view(v->quote.td.report_data).subspan(32, 32).size(), 32u);
  EXPECT_TRUE(std::equal(client_nonce.begin(), client_nonce.end(), v->quote.td.report_data.begin() + 32));
}

TEST_P(SyntheticBothAlgos, EveryBindingCheckFailsAlone) {
  const near_attestation a = parse_single(body());
  const auto coll = prepared();
  const auto verify = [&](const near_attestation& att, byte_view nonce, byte_view spki) {
    return verify_attestation(att, nonce, spki, *coll, test_anchor(), test::default_time);
  };

  bytes nonce = client_nonce;
  nonce[0] = static_cast<std::uint8_t>(nonce[0] + 1);
  EXPECT_TRUE(fails_with(verify(a, nonce, node().spki), errc::nonce_mismatch, "the nonce sent is " + to_hex(nonce)));

  sha256_digest spki = node().spki;
  spki[7] ^= 0x04;
  EXPECT_TRUE(fails_with(verify(a, client_nonce, spki), errc::fingerprint_mismatch, to_hex(spki)));

  near_attestation edited = a;
  edited.tls_cert_fingerprint = spki;  // claimed = the (attacker's) live key
  EXPECT_TRUE(fails_with(verify(edited, client_nonce, spki), errc::report_data_binding, "report_data[0:32]"));
  EXPECT_TRUE(fails_with(verify(edited, client_nonce, node().spki), errc::fingerprint_mismatch, to_hex(spki)));

  edited = a;
  edited.signing_address[0] ^= 0x01;
  EXPECT_TRUE(fails_with(verify(edited, client_nonce, node().spki), errc::report_data_binding,
                         format_signing_address(edited.signing_algo, edited.signing_address)));

  edited = a;
  edited.tls_cert_fingerprint.reset();
  EXPECT_TRUE(fails_with(verify(edited, client_nonce, node().spki), errc::missing_tls_fingerprint,
                         "no tls_cert_fingerprint"));

  EXPECT_TRUE(fails_with(verify(a, byte_view(client_nonce).first(16), node().spki), errc::invalid_argument,
                         "got 16 and 32"));
}

INSTANTIATE_TEST_SUITE_P(Algos, SyntheticBothAlgos, testing::Values(signing_algorithm::ecdsa, signing_algorithm::ed25519),
                         [](const testing::TestParamInfo<signing_algorithm>& param_info) {
                           return std::string(to_string(param_info.param));
                         });

TEST(SyntheticAttestation, QuoteRejectedCarriesTheVerifierKind) {
  const auto coll = prepared();
  const near_attestation a = parse_single(json::serialize(model_ed25519.object(model_ed25519.quote_for(client_nonce),
                                                                               client_nonce)));
  // After the collateral's nextUpdate (2026-01-19).
  const auto late = verify_attestation(a, client_nonce, model_ed25519.spki, *coll, test_anchor(),
                                       test::utc_date(2026, 2, 1));
  EXPECT_TRUE(fails_with(late, errc::quote_rejected, "report: quote rejected: collateral_expired: "));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().quote_error, tdx::errc::collateral_expired);

  // report_data edited in the quote without the key to re-sign it.
  near_attestation forged = a;
  forged.intel_quote[tdx::quote_header_size + 520] ^= 0x01;
  const auto r = verify_attestation(forged, client_nonce, model_ed25519.spki, *coll, test_anchor(), test::default_time);
  EXPECT_TRUE(fails_with(r, errc::quote_rejected, "invalid_signature"));
  EXPECT_EQ(r.error().quote_error, tdx::errc::invalid_signature);

  // Not a quote at all.
  forged.intel_quote.resize(100);
  EXPECT_TRUE(fails_with(verify_attestation(forged, client_nonce, model_ed25519.spki, *coll, test_anchor(),
                                            test::default_time),
                         errc::quote_rejected, "malformed_quote"));

  // Genuine report, collateral authenticated for another root.
  const test::test_pki other;
  const auto other_anchor = tdx::load_trust_anchor(other.root_der()).value();
  const auto other_coll = tdx::prepare_collateral(other.collateral({}), *other_anchor).value();
  EXPECT_TRUE(fails_with(verify_attestation(a, client_nonce, model_ed25519.spki, *other_coll, *other_anchor,
                                            test::default_time),
                         errc::quote_rejected, "untrusted_chain"));
}

TEST(SyntheticAttestation, CollateralForAnotherPlatformIsCollateralMismatch) {
  const near_attestation a = parse_single(json::serialize(model_ed25519.object(model_ed25519.quote_for(client_nonce),
                                                                               client_nonce)));
  test::collateral_spec other_fmspc;
  other_fmspc.tcb_info.fmspc = {0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00};
  EXPECT_TRUE(fails_with(verify_attestation(a, client_nonce, model_ed25519.spki, *prepared(other_fmspc), test_anchor(),
                                            test::default_time),
                         errc::collateral_mismatch,
                         "the quote is from platform 90C06F000000/platform, the collateral is for "
                         "B0C06F000000/platform"));

  test::collateral_spec processor;
  processor.pck_crl_issuer = tdx::pck_ca_type::processor;
  EXPECT_TRUE(fails_with(verify_attestation(a, client_nonce, model_ed25519.spki, *prepared(processor), test_anchor(),
                                            test::default_time),
                         errc::collateral_mismatch, "/processor"));
}

TEST(SyntheticAttestation, GatewayReportEachAttestationBindsItsOwnKeys) {
  // The gateway's quote binds the gateway's TLS key (the client's connection); the model's
  // binds the model CVM's key, which only the gateway sees.
  json::object body{{"gateway_attestation", gateway_cvm.object(gateway_cvm.quote_for(client_nonce), client_nonce)},
                    {"model_attestations", json::array{model_ed25519.object(model_ed25519.quote_for(client_nonce),
                                                                            client_nonce)}}};
  body["gateway_attestation"].as_object()["event_log"] = "[]";
  const auto doc = parse_report_document(json::serialize(body));
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ(doc->attestations.size(), 2u);
  const auto coll = prepared();
  const near_attestation& gw = *doc->find("/gateway_attestation");
  const near_attestation& model = *doc->find("/model_attestations/0");

  const auto g = verify_attestation(gw, client_nonce, gateway_cvm.spki, *coll, test_anchor(), test::default_time);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->signing_address, gateway_cvm.address);
  const auto m = verify_attestation(model, client_nonce, model_ed25519.spki, *coll, test_anchor(), test::default_time);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->signing_address, model_ed25519.address);

  // Checking the model attestation against the client's own (gateway) connection fails.
  EXPECT_TRUE(fails_with(verify_attestation(model, client_nonce, gateway_cvm.spki, *coll, test_anchor(),
                                            test::default_time),
                         errc::fingerprint_mismatch, "/model_attestations/0: SHA-256 of the live TLS peer SPKI"));

  // Swapping the gateway's quote into the model object: genuine quote, wrong identity.
  json::object swapped = body;
  swapped["model_attestations"].as_array()[0].as_object()["intel_quote"] =
      swapped["gateway_attestation"].as_object()["intel_quote"];
  const auto doc2 = parse_report_document(json::serialize(swapped));
  ASSERT_TRUE(doc2) << doc2.error().message;
  EXPECT_TRUE(fails_with(verify_attestation(*doc2->find("/model_attestations/0"), client_nonce, model_ed25519.spki,
                                            *coll, test_anchor(), test::default_time),
                         errc::report_data_binding, "/model_attestations/0: quote report_data[0:32]"));
}

// ---------------------------------------------------------------------------------------
// Real captures

std::shared_ptr<const tdx::prepared_collateral> capture_collateral(const test::nearai::capture& c,
                                                                    const std::string& pcs_dir) {
  const auto raw = collateral::load_collateral(*test::shared_testdata_dir() / c.dir / pcs_dir);
  EXPECT_TRUE(raw) << raw.error().message;
  auto p = tdx::prepare_collateral(raw.value(), tdx::intel_sgx_root_ca());
  EXPECT_TRUE(p) << p.error().message;
  return p.value();
}

std::vector<std::string> strings(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) out.emplace_back(s.as_string());
  return out;
}

class AttestationCapture : public testing::TestWithParam<std::string> {};

TEST_P(AttestationCapture, EveryAttestationVerifiesWithItsCollateralAtCaptureTime) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  for (const auto& entry_value : c.attestations()) {
    const json::object& e = entry_value.as_object();
    SCOPED_TRACE(c.name + " " + str(e.at("json_pointer")));
    const near_attestation* a = doc->find(str(e.at("json_pointer")));
    ASSERT_NE(a, nullptr);
    const json::object& dcap = e.at("dcap").as_object();
    ASSERT_EQ(str(dcap.at("result")), "ok");
    ASSERT_EQ(dcap.at("verify_at_unix").as_int64(), c.verify_at);
    const auto coll = capture_collateral(c, str(e.at("pcs_dir")));

    const bytes live = c.live_spki_for(e);
    const auto v = verify_attestation(*a, c.nonce, live, *coll, tdx::intel_sgx_root_ca(),
                                      from_unix_seconds(c.verify_at));
    ASSERT_TRUE(v) << to_string(v.error().kind) << ": " << v.error().message;
    EXPECT_EQ(tdx::to_string(v->quote.status), str(dcap.at("tcb_status")));
    EXPECT_EQ(v->quote.advisory_ids, strings(dcap.at("advisory_ids")));
    EXPECT_EQ(to_hex(v->quote.td.report_data), str(e.at("quote").at("report_data")));
    EXPECT_EQ(to_hex(v->quote.td.mr_td), str(e.at("quote").at("mrtd")));
    EXPECT_EQ(format_signing_address(v->signing_algo, v->signing_address), str(e.at("signing_address")));
    EXPECT_EQ(to_hex(v->tls_cert_fingerprint), str(e.at("tls_cert_fingerprint")));
    EXPECT_GT(v->collateral_expires_at, from_unix_seconds(c.verify_at));
    EXPECT_EQ(v->collateral_expires_at, v->quote.collateral_expires_at);
  }
}

TEST_P(AttestationCapture, AfterCollateralExpiryTheQuoteIsRejected) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  for (const auto& entry_value : c.attestations()) {
    const json::object& e = entry_value.as_object();
    const std::string pcs_dir = str(e.at("pcs_dir"));
    SCOPED_TRACE(c.name + " " + str(e.at("json_pointer")));
    // expected.json's "pcs" is keyed by the collateral folder ("pcs", "pcs/gateway").
    const std::int64_t until = c.expected.at("pcs").at(pcs_dir).at("window").at("until_unix").as_int64();
    const auto v = verify_attestation(*doc->find(str(e.at("json_pointer"))), c.nonce, c.live_spki_for(e),
                                      *capture_collateral(c, pcs_dir), tdx::intel_sgx_root_ca(),
                                      from_unix_seconds(until + 1));
    EXPECT_TRUE(fails_with(v, errc::quote_rejected, "quote rejected: collateral_expired"));
    if (!v) {
      EXPECT_EQ(v.error().quote_error, tdx::errc::collateral_expired);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, AttestationCapture, testing::ValuesIn(test::nearai::capture_names()),
                         test::nearai::param_name);

// One negative per check on real reports. The direct 2026-06-29 capture has the TLS peer
// key recorded, so every check runs against what the client really saw.
class RealNegative : public testing::Test {
 protected:
  void SetUp() override {
    VP_REQUIRE_SHARED_TESTDATA();
    c_ = test::nearai::load_capture("direct-2026-06-29-ed25519");
    coll_ = capture_collateral(c_, "pcs");
    ASSERT_TRUE(c_.peer_spki_sha256);
    live_ = bytes(c_.peer_spki_sha256->begin(), c_.peer_spki_sha256->end());
  }

  result<attestation_verdict> verify_body(const std::string& body, byte_view nonce, byte_view live) const {
    auto doc = parse_report_document(body);
    if (!doc) return doc.error();
    return verify_attestation(doc->attestations.at(0), nonce, live, *coll_, tdx::intel_sgx_root_ca(),
                              from_unix_seconds(c_.verify_at));
  }
  template <class Edit>
  result<attestation_verdict> verify_edited(Edit edit, byte_view live) const {
    return verify_body(test::nearai::edited_body(c_.body, "", edit), c_.nonce, live);
  }

  test::nearai::capture c_;
  std::shared_ptr<const tdx::prepared_collateral> coll_;
  bytes live_;
};

TEST_F(RealNegative, Baseline) {
  const auto v = verify_body(c_.body, c_.nonce, live_);
  ASSERT_TRUE(v) << v.error().message;
  // Re-serialising the JSON does not matter to these checks (the baseline for the edits below).
  const auto same = verify_edited([](json::object&) {}, live_);
  EXPECT_TRUE(same) << same.error().message;
}

TEST_F(RealNegative, NonceOffByOneByte) {
  bytes nonce = c_.nonce;
  nonce[17] = static_cast<std::uint8_t>(nonce[17] + 1);
  EXPECT_TRUE(fails_with(verify_body(c_.body, nonce, live_), errc::nonce_mismatch,
                         "report: quote report_data[32:64] is " + to_hex(c_.nonce) + ", the nonce sent is " +
                             to_hex(nonce)));
}

TEST_F(RealNegative, LiveSpkiOfAnotherHost) {
  // The gateway's real TLS key (gateway-2026-06-29/peer_spki.der): genuine, but not this host's.
  const std::string der = test::read_shared("nearai/gateway-2026-06-29/peer_spki.der");
  const sha256_digest other = crypto::sha256(as_bytes(der));
  EXPECT_TRUE(fails_with(verify_body(c_.body, c_.nonce, other), errc::fingerprint_mismatch,
                         "SHA-256 of the live TLS peer SPKI is " + to_hex(other) +
                             ", the attested tls_cert_fingerprint is " + to_hex(live_)));
}

TEST_F(RealNegative, AttestedFingerprintEditedInJson) {
  const std::string attacker = "aaeaf5a20b5bd17c44641be93072b07d48c78588b709d22bfa1690c921320475";
  const auto edit = [&](json::object& o) { o["tls_cert_fingerprint"] = attacker; };
  // The real peer: its key no longer matches the (edited) claim.
  EXPECT_TRUE(fails_with(verify_edited(edit, live_), errc::fingerprint_mismatch, attacker));
  // An interceptor presenting the key it wrote into the claim: the quote bound another one.
  EXPECT_TRUE(fails_with(verify_edited(edit, hex_or_fail(attacker)), errc::report_data_binding,
                         "quote report_data[0:32] is 5b1ddd16927a106f1ea4a25909cc81ed1b277d699473c27e01b2db5e16f992ee"));
}

TEST_F(RealNegative, SigningAddressEditedEd25519) {
  const std::string other = "cb6fc58f6bd685919fa42fb54d3fcfe03222e324bdda91f0bac6d5c73dc4f1c6";
  EXPECT_TRUE(fails_with(verify_edited([&](json::object& o) { o["signing_address"] = other; }, live_),
                         errc::report_data_binding, "signing_address " + other));
}

TEST_F(RealNegative, SigningAddressEditedEcdsa) {
  const auto ecdsa = test::nearai::load_capture("direct-2026-03-22-ecdsa");
  const auto coll = capture_collateral(ecdsa, "pcs");
  const std::string address = "0x6525e128afcffebf7eed05d485d7be983cdae935";
  const std::string body = test::nearai::edited_body(ecdsa.body, "", [&](json::object& o) { o["signing_address"] = address; });
  const auto doc = parse_report_document(body);
  ASSERT_TRUE(doc) << doc.error().message;
  const bytes live = hex_or_fail(str(ecdsa.expected.at("tls_cert_fingerprint")));
  const auto verify = [&](const near_attestation& a) {
    return verify_attestation(a, ecdsa.nonce, live, *coll, tdx::intel_sgx_root_ca(), from_unix_seconds(ecdsa.verify_at));
  };
  EXPECT_TRUE(fails_with(verify(doc->attestations[0]), errc::report_data_binding, "signing_address " + address));
  const auto original = parse_report_document(ecdsa.body);
  ASSERT_TRUE(original);
  const auto ok = verify(original->attestations[0]);
  EXPECT_TRUE(ok) << ok.error().message;
}

TEST_F(RealNegative, FingerprintMissing) {
  EXPECT_TRUE(fails_with(verify_edited([](json::object& o) { o.erase("tls_cert_fingerprint"); }, live_),
                         errc::missing_tls_fingerprint, "report: no tls_cert_fingerprint"));
}

TEST_F(RealNegative, ParseErrors) {
  EXPECT_TRUE(fails_with(verify_edited([](json::object& o) { o["signing_algo"] = "rsa"; }, live_),
                         errc::unsupported_signing_algo, "/signing_algo is \"rsa\""));
  EXPECT_TRUE(fails_with(verify_edited([](json::object& o) { o["signing_address"] = "d0aa20bc"; }, live_),
                         errc::malformed_report, "/signing_address (ed25519) must be 64 hex digits, got 8"));
  EXPECT_TRUE(fails_with(verify_edited(
                             [](json::object& o) {
                               std::string q(o["intel_quote"].as_string());
                               q[100] = 'x';
                               o["intel_quote"] = q;
                             },
                             live_),
                         errc::malformed_report, "/intel_quote is not hex"));
  EXPECT_TRUE(fails_with(verify_body(c_.body.substr(0, c_.body.size() / 2), c_.nonce, live_), errc::malformed_report,
                         "report body is not JSON"));
  std::string padded = c_.body;
  padded.resize(max_report_body_size + 1, ' ');
  EXPECT_TRUE(fails_with(verify_body(padded, c_.nonce, live_), errc::malformed_report, "over the limit"));
}

TEST_F(RealNegative, QuoteEditedInJsonIsRejected) {
  // Flip one hex digit of report_data inside the quote (quote offset 48 + 520): the Intel
  // signature no longer covers it.
  const auto v = verify_edited(
      [](json::object& o) {
        std::string q(o["intel_quote"].as_string());
        const std::size_t at = 2 * (tdx::quote_header_size + 520);
        q[at] = q[at] == '0' ? '1' : '0';
        o["intel_quote"] = q;
      },
      live_);
  EXPECT_TRUE(fails_with(v, errc::quote_rejected, "invalid_signature"));
}

TEST_F(RealNegative, ReplayedModelAttestationFromAnotherRequest) {
  // The gateway capture of the same minute holds a genuine attestation of the same model
  // host (same signing key, same TLS key), made for the gateway's request: everything
  // binds except the nonce.
  const auto gw = test::nearai::load_capture("gateway-2026-06-29");
  const auto doc = parse_report_document(gw.body);
  ASSERT_TRUE(doc) << doc.error().message;
  const near_attestation& replayed = *doc->find("/model_attestations/0");
  ASSERT_EQ(to_hex(*replayed.tls_cert_fingerprint), to_hex(live_));
  EXPECT_TRUE(fails_with(verify_attestation(replayed, c_.nonce, live_, *coll_, tdx::intel_sgx_root_ca(),
                                            from_unix_seconds(c_.verify_at)),
                         errc::nonce_mismatch, "/model_attestations/0: quote report_data[32:64] is " + to_hex(gw.nonce)));
}

TEST(RealGateway, GatewayQuoteWithModelPlatformCollateralIsCollateralMismatch) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture("gateway-2026-04-24");
  const auto doc = parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  const near_attestation& gw = *doc->find("/gateway_attestation");
  const bytes live = hex_or_fail(str(c.expected.at("tls_cert_fingerprint")));
  EXPECT_TRUE(fails_with(verify_attestation(gw, c.nonce, live, *capture_collateral(c, "pcs"), tdx::intel_sgx_root_ca(),
                                            from_unix_seconds(c.verify_at)),
                         errc::collateral_mismatch,
                         "/gateway_attestation: the quote is from platform B0C06F000000/platform, the collateral is "
                         "for 90C06F000000/platform"));
  // With its own collateral: OutOfDate, which this layer reports and leaves to policy.
  const auto v = verify_attestation(gw, c.nonce, live, *capture_collateral(c, "pcs/gateway"),
                                    tdx::intel_sgx_root_ca(), from_unix_seconds(c.verify_at));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->quote.status, tdx::tcb_status::out_of_date);
}

}  // namespace
}  // namespace vp::attest
