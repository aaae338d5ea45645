// The simulated workload and attestation report, without sockets: what the quotes
// measure, what the report carries, and how each attestation fault changes it.

#include "sim/workload.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <string>

#include "attest/attestation_verifier.hpp"
#include "attest/binding.hpp"
#include "attest/near_report.hpp"
#include "collateral/pcs_client.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/x509.hpp"
#include "policy/policy.hpp"
#include "sim/deployment.hpp"
#include "sim/report.hpp"
#include "tdx/collateral.hpp"
#include "tdx/quote.hpp"
#include "tdx/verifier.hpp"

namespace vp::sim {
namespace {

namespace json = boost::json;

const unix_time start = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());

const deployment& shared_deployment() {
  static const deployment d(start);
  return d;
}

/// A deployment's trust anchor and collateral, as the proxy assembles them (collateral
/// from the PCCS responses).
struct trusted_collateral {
  std::shared_ptr<const tdx::trust_anchor> anchor;
  std::shared_ptr<const tdx::prepared_collateral> collateral;
};

trusted_collateral prepare(const deployment& d) {
  const pccs_content& c = d.pccs();
  tdx::pcs_responses r;
  r.tcb_info = c.tcb_info;
  r.tcb_info_issuer_chain = c.tcb_info_issuer_chain;
  r.qe_identity = c.qe_identity;
  r.qe_identity_issuer_chain = c.qe_identity_issuer_chain;
  r.pck_crl.assign(c.pck_crl_platform.begin(), c.pck_crl_platform.end());
  r.pck_crl_issuer_chain = c.pck_crl_platform_issuer_chain;
  r.root_ca_crl.assign(c.root_ca_crl.begin(), c.root_ca_crl.end());
  const auto raw = tdx::collateral_from_pcs_responses(r).value();
  trusted_collateral out;
  out.anchor = tdx::load_trust_anchor(as_bytes(d.root_ca_pem())).value();
  out.collateral = tdx::prepare_collateral(raw, *out.anchor).value();
  return out;
}

const trusted_collateral& shared_trust() {
  static const trusted_collateral t = prepare(shared_deployment());
  return t;
}

const tdx::trust_anchor& anchor() { return *shared_trust().anchor; }
const tdx::prepared_collateral& collateral() { return *shared_trust().collateral; }

TEST(SimWorkload, RuntimeDigestIsDstackV1) {
  // SHA-384(le32(0x08000001) ‖ ":" ‖ name ‖ ":" ‖ payload)
  const bytes payload = {0xde, 0xad};
  const std::string message = std::string("\x01\x00\x00\x08", 4) + ":app-id:" + "\xde\xad";
  EXPECT_EQ(runtime_event_digest("app-id", payload), crypto::sha384(as_bytes(message)));
}

TEST(SimWorkload, ReplayExtendsFromZeros) {
  log_event a;
  a.imr = 1;
  a.digest = crypto::sha384(as_bytes("a"));
  log_event b = a;
  b.digest = crypto::sha384(as_bytes("b"));
  const auto rtmrs = replay_rtmrs({a, b});
  const tdx::measurement zero{};
  EXPECT_EQ(rtmrs[0], zero);
  EXPECT_EQ(rtmrs[1], crypto::sha384({crypto::sha384({zero, a.digest}), b.digest}));
  EXPECT_EQ(rtmrs[3], zero);
}

TEST(SimWorkload, IsDeterministicAndBindsTheCompose) {
  const workload_identity w1 = make_workload_identity();
  const workload_identity w2 = make_workload_identity();
  EXPECT_EQ(w1.compose_hash, w2.compose_hash);
  EXPECT_EQ(w1.key_provider_info, w2.key_provider_info);
  EXPECT_EQ(w1.compose_hash, crypto::sha256(as_bytes(w1.app_compose)));
  EXPECT_EQ(w1.mr_config_id[0], 0x01);
  EXPECT_TRUE(std::equal(w1.compose_hash.begin(), w1.compose_hash.end(), w1.mr_config_id.begin() + 1));
  EXPECT_EQ(w1.app_id.size(), 20u);
  boost::system::error_code ec;
  json::parse(w1.app_compose, ec);
  EXPECT_FALSE(ec) << "app_compose is JSON text";
  json::parse(w1.key_provider_info, ec);
  EXPECT_FALSE(ec);

  const instance_workload i0 = make_instance_workload(w1, "a.example", 0);
  const instance_workload i0_again = make_instance_workload(w1, "a.example", 0);
  const instance_workload i1 = make_instance_workload(w1, "a.example", 1);
  EXPECT_EQ(i0.rtmrs, i0_again.rtmrs);
  EXPECT_EQ(i0.rtmrs[0], i1.rtmrs[0]);
  EXPECT_EQ(i0.rtmrs[1], i1.rtmrs[1]);
  EXPECT_EQ(i0.rtmrs[2], i1.rtmrs[2]);
  EXPECT_NE(i0.rtmrs[3], i1.rtmrs[3]);  // instance-id
  EXPECT_EQ(i0.rtmrs, replay_rtmrs(i0.event_log));
  EXPECT_NE(i0.rtmrs[0], tdx::measurement{});
}

// ---------------------------------------------------------------------------------------
// Reports

struct minted {
  std::string body;
  attest::near_report_document doc;
};

class SimReport : public ::testing::Test {
 protected:
  SimReport() {
    workload_ = make_instance_workload(shared_deployment().workload(), "r.example", 0);
    keys_ = random_signing_identity();
    subject_.where = &shared_deployment();
    subject_.workload = &workload_;
    subject_.keys = &keys_;
    subject_.model_name = "sim-model";
    subject_.spki_sha256 = crypto::sha256(as_bytes("the live SPKI"));
    subject_.cert_pem = "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n";
    nonce_.fill(0x5a);
  }

  minted make(const backend_faults& faults = {}, report_query q = tls_query()) {
    minted m;
    m.body = make_report(subject_, q, nonce_, faults);
    auto doc = attest::parse_report_document(m.body);
    EXPECT_TRUE(doc) << (doc ? "" : doc.error().message);
    if (doc) m.doc = std::move(*doc);
    return m;
  }

  static report_query tls_query() {
    report_query q;
    q.include_tls_fingerprint = true;
    return q;
  }

  attest::result<attest::attestation_verdict> verify(const minted& m) {
    return attest::verify_attestation(m.doc.attestations.at(0), nonce_, subject_.spki_sha256, collateral(), anchor(),
                                      start);
  }

  instance_workload workload_;
  signing_identity keys_;
  report_subject subject_;
  std::array<std::uint8_t, 32> nonce_{};
};

TEST_F(SimReport, HealthyReportIsTheDirectFormAndVerifies) {
  const minted m = make();
  ASSERT_EQ(m.doc.form, attest::report_form::direct);
  const auto& a = m.doc.attestations.at(0);
  EXPECT_EQ(a.signing_address, keys_.ecdsa_address);
  EXPECT_EQ(a.tls_cert_fingerprint, std::optional<sha256_digest>(subject_.spki_sha256));
  EXPECT_EQ(a.model_name, std::optional<std::string>("sim-model"));
  const auto verdict = verify(m);
  ASSERT_TRUE(verdict) << verdict.error().message;
  EXPECT_EQ(verdict->quote.td.rtmr, workload_.rtmrs);
  EXPECT_EQ(verdict->quote.td.mr_config_id, shared_deployment().workload().mr_config_id);

  // Shaped like NEAR's: every field of §1.3 a verifier reads.
  const json::object& top = *a.raw;
  for (const char* key : {"all_attestations", "event_log", "info", "intel_quote", "model_name", "nvidia_payload",
                          "request_nonce", "signing_address", "signing_algo", "tls_cert_fingerprint"}) {
    EXPECT_TRUE(top.contains(key)) << key;
  }
  EXPECT_EQ(top.at("all_attestations").as_array().size(), 1u);
  EXPECT_TRUE(top.at("nvidia_payload").is_string());
  EXPECT_TRUE(top.at("info").at("key_provider_info").is_string());
  EXPECT_TRUE(top.at("info").at("tcb_info").at("app_compose").is_string());
}

TEST_F(SimReport, Ed25519AndUnboundFormsFollowSection18) {
  report_query q;
  q.signing_algo = attest::signing_algorithm::ed25519;
  q.include_tls_fingerprint = false;
  const minted m = make({}, q);
  const auto& a = m.doc.attestations.at(0);
  EXPECT_EQ(a.signing_algo, attest::signing_algorithm::ed25519);
  EXPECT_EQ(a.signing_address, keys_.ed25519_key);
  EXPECT_FALSE(a.tls_cert_fingerprint.has_value());
  const auto verdict = verify(m);
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().kind, attest::errc::missing_tls_fingerprint);
  // report_data = identity (padded) ‖ nonce: readable from the (still genuine) quote.
  const auto quote = tdx::parse_quote(a.intel_quote).value();
  EXPECT_TRUE(std::equal(keys_.ed25519_key.begin(), keys_.ed25519_key.end(), quote.td.report_data.begin()));
  EXPECT_TRUE(std::equal(nonce_.begin(), nonce_.end(), quote.td.report_data.begin() + 32));
}

TEST_F(SimReport, EachAttestationFaultBreaksItsCheck) {
  struct row {
    backend_faults faults;
    attest::errc kind;
    std::optional<tdx::errc> quote_error;
  };
  const row rows[] = {
      {{.wrong_fingerprint = true}, attest::errc::fingerprint_mismatch, std::nullopt},
      {{.wrong_nonce = true}, attest::errc::nonce_mismatch, std::nullopt},
      {{.untrusted_root = true}, attest::errc::quote_rejected, tdx::errc::untrusted_chain},
      {{.revoked_pck = true}, attest::errc::quote_rejected, tdx::errc::certificate_revoked},
      {{.debug_td = true}, attest::errc::quote_rejected, tdx::errc::debug_td},
  };
  for (const row& r : rows) {
    const auto verdict = verify(make(r.faults));
    ASSERT_FALSE(verdict) << attest::to_string(r.kind);
    EXPECT_EQ(verdict.error().kind, r.kind) << verdict.error().message;
    EXPECT_EQ(verdict.error().quote_error, r.quote_error) << verdict.error().message;
  }
}

TEST_F(SimReport, WrongFingerprintNamesTheKeyItBinds) {
  const minted m = make({.wrong_fingerprint = true});
  const auto& a = m.doc.attestations.at(0);
  ASSERT_TRUE(a.tls_cert_fingerprint.has_value());
  EXPECT_NE(*a.tls_cert_fingerprint, subject_.spki_sha256);
  // Consistent with report_data: verified against the key it names, it would pass.
  const auto verdict = attest::verify_attestation(a, nonce_, *a.tls_cert_fingerprint, collateral(), anchor(), start);
  EXPECT_TRUE(verdict) << verdict.error().message;
}

TEST_F(SimReport, OutOfDateTcbVerifiesAsOutOfDate) {
  const auto verdict = verify(make({.out_of_date_tcb = true}));
  ASSERT_TRUE(verdict) << verdict.error().message;
  EXPECT_EQ(verdict->quote.status, tdx::tcb_status::out_of_date);
}

TEST_F(SimReport, OutOfDateTcbIsOverdueUnlessTheLevelIsRecent) {
  const auto empty = policy::parse_policy("{}").value();
  {
    const minted m = make({.out_of_date_tcb = true});
    const auto verdict = verify(m);
    ASSERT_TRUE(verdict) << verdict.error().message;
    const auto report = policy::evaluate(empty, m.doc.attestations.at(0), *verdict, start);
    ASSERT_NE(report.find("tcb_status"), nullptr);
    EXPECT_EQ(report.find("tcb_status")->status, policy::factor_status::fail) << report.find("tcb_status")->detail;
  }
  // Intel "published" the UpToDate level five days ago: inside the default 30-day grace.
  const deployment recent(start, std::chrono::days(5));
  const trusted_collateral trust = prepare(recent);
  subject_.where = &recent;
  const minted m = make({.out_of_date_tcb = true});
  const auto verdict = attest::verify_attestation(m.doc.attestations.at(0), nonce_, subject_.spki_sha256,
                                                  *trust.collateral, *trust.anchor, start);
  ASSERT_TRUE(verdict) << verdict.error().message;
  EXPECT_EQ(verdict->quote.status, tdx::tcb_status::out_of_date);
  const auto report = policy::evaluate(empty, m.doc.attestations.at(0), *verdict, start);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.find("tcb_status")->status, policy::factor_status::warn) << report.find("tcb_status")->detail;
}

TEST_F(SimReport, OversizedReportExceedsTheLimit) {
  const std::string body = make_report(subject_, tls_query(), nonce_, {.oversized_attestation = true});
  EXPECT_GT(body.size(), attest::max_report_body_size);
  const auto doc = attest::parse_report_document(body);
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("over the limit"), std::string::npos) << doc.error().message;
}

TEST(SimReportQuery, ParsesLikeInferenceProxy) {
  std::string error;
  const auto q = parse_report_query(
      "/v1/attestation/report?include_tls_fingerprint=true&nonce=" + std::string(64, 'a') + "&signing_algo=ecdsa", error);
  ASSERT_TRUE(q) << error;
  EXPECT_TRUE(q->include_tls_fingerprint);
  ASSERT_TRUE(q->nonce.has_value());
  EXPECT_EQ((*q->nonce)[0], 0xaa);
  EXPECT_EQ(q->signing_algo, attest::signing_algorithm::ecdsa);

  const auto bare = parse_report_query("/v1/attestation/report", error);
  ASSERT_TRUE(bare);
  EXPECT_FALSE(bare->nonce.has_value());
  EXPECT_FALSE(bare->include_tls_fingerprint);

  EXPECT_FALSE(parse_report_query("/v1/attestation/report?nonce=zz", error));
  EXPECT_EQ(error, "Nonce must be hex-encoded");
  EXPECT_FALSE(parse_report_query("/v1/attestation/report?nonce=abcd", error));
  EXPECT_EQ(error, "Nonce must be 32 bytes");
  EXPECT_FALSE(parse_report_query("/v1/attestation/report?signing_algo=rsa", error));
  EXPECT_NE(error.find("rsa"), std::string::npos);
}

TEST(SimDeployment, CollateralIsValidAroundStartAndRevokesOneSerial) {
  // collateral() authenticated it against the deployment's root.
  const auto summary = tdx::summarize(collateral());
  EXPECT_LE(summary.valid_from, start);
  EXPECT_GE(summary.valid_until, start + std::chrono::days(29));
  EXPECT_EQ(shared_deployment().pccs().fmspc_hex, "90C06F000000");

  const auto crl = crypto::parse_crl(as_bytes(shared_deployment().pccs().pck_crl_platform));
  ASSERT_TRUE(crl);
  STACK_OF(X509_REVOKED)* revoked = ::X509_CRL_get_REVOKED(crl.get());
  ASSERT_NE(revoked, nullptr);
  ASSERT_EQ(sk_X509_REVOKED_num(revoked), 1);
  std::uint64_t serial = 0;
  ASSERT_EQ(::ASN1_INTEGER_get_uint64(&serial, ::X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, 0))), 1);
  EXPECT_EQ(serial, revoked_pck_serial);
}

TEST(SimDeployment, TlsIdentitiesAreFreshKeysForTheDomain) {
  const tls_identity a = shared_deployment().issue_tls_identity("x.completions.near.ai");
  const tls_identity b = shared_deployment().issue_tls_identity("x.completions.near.ai");
  EXPECT_NE(a.spki_sha256, b.spki_sha256);
  EXPECT_NE(a.cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(a.key_pem.find("PRIVATE KEY"), std::string::npos);
}

}  // namespace
}  // namespace vp::sim
