// The appraisal of real NEAR captures at their capture time (offline_all and connection
// modes), and the failures it names for broken evidence.

#include "appraise/appraisal.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include "attest/nearai_captures.hpp"
#include "collateral/bundle.hpp"
#include "core/time.hpp"
#include "support/testdata.hpp"

namespace vp::appraise {
namespace {

using test::nearai::capture;

const policy::workload_policy nearai = policy::nearai_policy();

evidence_set evidence_for(const attest::near_report_document& doc, mode m, const capture& c) {
  evidence_set evidence;
  for (const auto& platform : needs(doc, m).platforms) {
    auto raw = collateral::find_in_bundle_tree(*test::shared_testdata_dir() / c.dir / "pcs", platform.fmspc,
                                               platform.pck_ca);
    EXPECT_TRUE(raw) << raw.error().message;
    if (!raw) continue;
    auto prepared = tdx::prepare_collateral(*raw, tdx::intel_sgx_root_ca());
    EXPECT_TRUE(prepared) << prepared.error().message;
    if (prepared) evidence.add(platform, std::move(*prepared));
  }
  // NVIDIA's answer about the model CVM's GPUs and its keys, captured in the same run.
  for (const auto& gpus : needs(doc, m).nras) {
    evidence.nras.push_back({gpus.json_pointer, test::read_shared(c.dir / "nvidia" / "nras_response.json"), {}});
  }
  auto keys = gpu::nras::parse_jwks(test::read_shared(c.dir / "nvidia" / "jwks.json"));
  EXPECT_TRUE(keys);
  if (keys) evidence.nras_keys = std::make_shared<const gpu::nras::jwks>(std::move(*keys));
  return evidence;
}

/// The capture's report edited by `edit`, appraised as the proxy appraises it on its
/// connection (nullopt, with a test failure, when the edit makes it unreadable).
connection_facts facts_of(const capture& c);
std::optional<appraisal> appraise_edited(const capture& c, const std::function<void(boost::json::object&)>& edit) {
  boost::json::value v = test::nearai::parse_json_or_fail(c.body);
  edit(v.as_object());
  const auto doc = attest::parse_report_document(boost::json::serialize(v));
  EXPECT_TRUE(doc);
  if (!doc) return std::nullopt;
  return appraise(*doc, facts_of(c), evidence_for(*doc, mode::connection, c), &nearai, tdx::intel_sgx_root_ca(),
                  from_unix_seconds(c.verify_at), mode::connection);
}

connection_facts facts_of(const capture& c) {
  connection_facts f;
  std::copy(c.nonce.begin(), c.nonce.end(), f.nonce.begin());
  // Captures without a recorded peer key are bound to the fingerprint they attest.
  const auto& first = c.attestations().at(0).as_object();
  const bytes live = c.live_spki_for(first);
  std::copy(live.begin(), live.end(), f.live_spki.emplace().begin());
  return f;
}

class AppraiseCapture : public testing::TestWithParam<std::string> {};

TEST_P(AppraiseCapture, EveryAttestationAtCaptureTimeOffline) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = attest::parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  const auto at = from_unix_seconds(c.verify_at);
  const auto a = appraise(*doc, facts_of(c), evidence_for(*doc, mode::offline_all, c), &nearai,
                          tdx::intel_sgx_root_ca(), at, mode::offline_all);
  ASSERT_EQ(a.entities.size(), c.attestations().size());
  ASSERT_NE(a.connection_entity(), nullptr);
  EXPECT_EQ(a.connection_entity()->json_pointer, std::string(connection_facing_pointer(doc->form)));
  EXPECT_EQ(&a.entities.front(), a.connection_entity());
  if (c.name == "gateway-2026-04-24") {
    // Its platform was OutOfDate for a level Intel had published 527 days before.
    ASSERT_FALSE(a.accepted());
    EXPECT_EQ(a.first_failure->code, "tcb_status");
    EXPECT_EQ(a.first_failure->phase, phase::policy);
    EXPECT_EQ(a.first_failure->json_pointer, "/gateway_attestation");
    EXPECT_TRUE(a.first_failure->about_backend);
    return;
  }
  ASSERT_TRUE(a.accepted()) << a.first_failure->code << ": " << a.first_failure->message;
  for (std::size_t i = 0; i < a.entities.size(); ++i) {
    const auto& e = a.entities[i];
    const auto& expected = c.attestations().at(i).as_object();
    EXPECT_EQ(e.json_pointer, test::nearai::str(expected.at("json_pointer")));
    EXPECT_TRUE(e.ok());
    EXPECT_TRUE(e.keys.bound);
    EXPECT_EQ(attest::format_signing_address(e.keys.signing_algo, e.keys.signing_address),
              test::nearai::str(expected.at("signing_address")));
    ASSERT_TRUE(e.verdict);
    EXPECT_LE(a.trusted_until, e.verdict->collateral_expires_at);
    EXPECT_EQ(e.factors.at(0).name, "quote");
    EXPECT_EQ(e.factors.at(1).name, "binding");
    if (e.role == attest::attestation_role::model) {
      // Eight H100s, locally verified and vouched for by NVIDIA, whose token (one hour)
      // bounds how long the verdict is relied on.
      EXPECT_EQ(e.gpus.size(), 8u);
      ASSERT_TRUE(e.nras);
      EXPECT_EQ(e.nras->gpus.size(), 8u);
      EXPECT_LE(a.trusted_until, e.nras->expires);
      EXPECT_EQ(a.trusted_until, e.nras->expires) << "NVIDIA's token expires first";
    }
  }
  EXPECT_GT(a.trusted_until, at);
}

TEST_P(AppraiseCapture, GpuEvidenceIsRequiredByTheBuiltInPolicy) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  if (c.name.starts_with("gateway")) GTEST_SKIP() << "the connection-facing gateway CVM has no GPUs";
  // The same report without nvidia_payload: a model CVM that leaves its GPUs out.
  const auto edited = appraise_edited(c, [](boost::json::object& o) {
    o.erase("nvidia_payload");
    for (auto& a : o.at("all_attestations").as_array()) a.as_object().erase("nvidia_payload");
  });
  ASSERT_TRUE(edited);
  const auto& a = *edited;
  ASSERT_FALSE(a.accepted());
  EXPECT_EQ(a.first_failure->code, "gpu_evidence");
  EXPECT_EQ(a.first_failure->phase, phase::gpu);
  EXPECT_NE(a.first_failure->message.find("no nvidia_payload"), std::string::npos) << a.first_failure->message;

  // NVIDIA's answer unavailable: required by the built-in policy, and not a verdict about
  // the backend (an outage of our source is retried, not remembered).
  const auto original = attest::parse_report_document(c.body);
  auto evidence = evidence_for(*original, mode::connection, c);
  evidence.nras.front().answer.reset();
  evidence.nras.front().why = "NVIDIA's attestation service answered HTTP 503";
  const auto b = appraise(*original, facts_of(c), evidence, &nearai, tdx::intel_sgx_root_ca(),
                          from_unix_seconds(c.verify_at), mode::connection);
  ASSERT_FALSE(b.accepted());
  EXPECT_EQ(b.first_failure->code, "gpu_nras");
  EXPECT_FALSE(b.first_failure->about_backend);
  EXPECT_NE(b.first_failure->message.find("503"), std::string::npos);
}

TEST_P(AppraiseCapture, ConnectionModeAppraisesWhatTheConnectionReaches) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = attest::parse_report_document(c.body);
  ASSERT_TRUE(doc);
  const auto at = from_unix_seconds(c.verify_at);
  const auto a = appraise(*doc, facts_of(c), evidence_for(*doc, mode::connection, c), &nearai,
                          tdx::intel_sgx_root_ca(), at, mode::connection);
  EXPECT_TRUE(a.entities.at(0).connection_facing);
  EXPECT_EQ(a.accepted(), c.name != "gateway-2026-04-24");
  ASSERT_NE(a.model_entity(), nullptr);
  EXPECT_EQ(a.model_entity()->role, attest::attestation_role::model);
  if (doc->form == attest::report_form::direct) {
    ASSERT_EQ(a.entities.size(), 1u);
    EXPECT_EQ(a.model_entity(), a.connection_entity());
    EXPECT_EQ(needs(*doc, mode::connection).platforms.size(), 1u);
    return;
  }
  // Behind the gateway: the gateway CVM the connection reaches, then the model CVM that
  // reads the prompt, judged exactly as verify-report judges the whole document.
  EXPECT_EQ(a.model_entity()->json_pointer, "/model_attestations/0");
  EXPECT_EQ(needs(*doc, mode::connection).platforms.size(), needs(*doc, mode::offline_all).platforms.size());
  EXPECT_EQ(needs(*doc, mode::connection).nras.size(), 1u);
  const auto offline = appraise(*doc, facts_of(c), evidence_for(*doc, mode::offline_all, c), &nearai,
                                tdx::intel_sgx_root_ca(), at, mode::offline_all);
  ASSERT_EQ(a.entities.size(), offline.entities.size());
  for (std::size_t i = 0; i < a.entities.size(); ++i) {
    const auto& connected = a.entities[i];
    const auto& judged = offline.entities[i];
    EXPECT_EQ(connected.json_pointer, judged.json_pointer);
    ASSERT_EQ(connected.factors.size(), judged.factors.size()) << connected.json_pointer;
    for (std::size_t f = 0; f < connected.factors.size(); ++f) {
      EXPECT_EQ(connected.factors[f].name, judged.factors[f].name);
      EXPECT_EQ(connected.factors[f].status, judged.factors[f].status) << connected.factors[f].name;
      EXPECT_EQ(connected.factors[f].detail, judged.factors[f].detail);
    }
  }
  EXPECT_EQ(a.trusted_until, offline.trusted_until);
}

TEST_P(AppraiseCapture, ConnectionModeRefusesAGatewayWhoseModelFails) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  if (!c.name.starts_with("gateway")) GTEST_SKIP() << "a direct report has no model behind a gateway";
  if (c.name == "gateway-2026-04-24") GTEST_SKIP() << "its gateway CVM already fails (OutOfDate TCB)";
  // The model CVM behind the gateway leaves its GPUs out: the gateway itself is fine, and
  // the connection is still refused, naming the model attestation.
  const auto edited = appraise_edited(c, [](boost::json::object& o) {
    o.at("model_attestations").as_array().at(0).as_object().erase("nvidia_payload");
  });
  ASSERT_TRUE(edited);
  const auto& a = *edited;
  ASSERT_FALSE(a.accepted());
  EXPECT_EQ(a.first_failure->code, "gpu_evidence");
  EXPECT_EQ(a.first_failure->json_pointer, "/model_attestations/0");
  EXPECT_TRUE(a.connection_entity()->ok());

  // A model attestation naming a key its quote does not bind (a gateway substituting a key
  // of its own for the model's) fails its binding: nothing may be sealed to that key.
  const auto original = attest::parse_report_document(c.body);
  ASSERT_TRUE(original);
  auto evidence = evidence_for(*original, mode::connection, c);
  auto document = *original;
  auto& model = document.attestations.at(1);
  ASSERT_EQ(model.json_pointer, "/model_attestations/0");
  const auto b = appraise(document, facts_of(c), evidence, &nearai, tdx::intel_sgx_root_ca(),
                          from_unix_seconds(c.verify_at), mode::connection);
  ASSERT_TRUE(b.accepted());
  model.signing_address[0] ^= 1;
  const auto d = appraise(document, facts_of(c), evidence, &nearai, tdx::intel_sgx_root_ca(),
                          from_unix_seconds(c.verify_at), mode::connection);
  ASSERT_FALSE(d.accepted());
  EXPECT_EQ(d.first_failure->code, "report_data_binding");
  EXPECT_EQ(d.first_failure->json_pointer, "/model_attestations/0");
  EXPECT_FALSE(d.model_entity()->keys.bound);
}

TEST_P(AppraiseCapture, BrokenEvidenceNamesTheFailedCheck) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = attest::parse_report_document(c.body);
  ASSERT_TRUE(doc);
  const auto at = from_unix_seconds(c.verify_at);
  const auto evidence = evidence_for(*doc, mode::connection, c);

  auto wrong_nonce = facts_of(c);
  wrong_nonce.nonce[0] ^= 1;
  auto a = appraise(*doc, wrong_nonce, evidence, &nearai, tdx::intel_sgx_root_ca(), at,
                    mode::connection);
  ASSERT_FALSE(a.accepted());
  EXPECT_EQ(a.first_failure->code, "nonce_mismatch");
  EXPECT_EQ(a.first_failure->phase, phase::binding);
  EXPECT_FALSE(a.entities[0].keys.bound);  // nothing may be encrypted to, or trusted from, this key

  auto other_key = facts_of(c);
  (*other_key.live_spki)[5] ^= 1;
  a = appraise(*doc, other_key, evidence, &nearai, tdx::intel_sgx_root_ca(), at, mode::connection);
  EXPECT_EQ(a.first_failure->code, "fingerprint_mismatch");

  a = appraise(*doc, facts_of(c), evidence_set{}, &nearai, tdx::intel_sgx_root_ca(), at,
               mode::connection);
  EXPECT_EQ(a.first_failure->code, "collateral_unavailable");
  EXPECT_FALSE(a.first_failure->about_backend);  // our source, not a verdict to remember

  a = appraise(*doc, facts_of(c), evidence, &nearai, tdx::intel_sgx_root_ca(),
               from_unix_seconds(c.verify_at + 90 * 24 * 3600), mode::connection);
  EXPECT_EQ(a.first_failure->code, "collateral_expired");
  EXPECT_EQ(a.first_failure->phase, phase::quote);
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, AppraiseCapture, testing::ValuesIn(test::nearai::capture_names()),
                         test::nearai::param_name);

TEST(Appraise, ReportFailureKeepsTheParserSpelling) {
  const auto doc = attest::parse_report_document("{}");
  ASSERT_FALSE(doc);
  const auto f = report_failure(doc.error());
  EXPECT_EQ(f.code, "malformed_report");
  EXPECT_EQ(f.phase, phase::report);
  EXPECT_TRUE(f.about_backend);
}

}  // namespace
}  // namespace vp::appraise
