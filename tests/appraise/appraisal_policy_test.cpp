// Which policy section judges an attestation when the backend chooses the report's form,
// and how long an accepted platform stays trusted: the appraisal of the synthetic CVM in
// connection mode, as the proxy runs it; and, as verify-report runs it for a capture that
// did not record its TLS key, offline without one.

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <functional>

#include "appraise/appraisal.hpp"
#include "attest/near_report.hpp"
#include "policy/policy.hpp"
#include "policy/synthetic_cvm.hpp"
#include "tdx/verifier.hpp"
#include "testpki/test_pki.hpp"

namespace vp::appraise {
namespace {

namespace json = boost::json;

class AppraisePolicyRoles : public testing::Test {
 protected:
  static const test::test_pki& pki() {
    static const test::test_pki p;
    return p;
  }

  /// The synthetic CVM's report appraised in connection mode under `policy_text` —
  /// presented in the gateway form (as its gateway_attestation) when `gateway` is set;
  /// in mode `m`, with what the client knows changed by `edit`.
  static appraisal appraise_cvm(const test::synthetic_cvm& cvm, bool gateway, const std::string& policy_text,
                                mode m = mode::connection,
                                const std::function<void(connection_facts&)>& edit = {}) {
    const auto anchor = tdx::load_trust_anchor(pki().root_der()).value();
    json::value report = cvm.report(pki());
    if (gateway) report = json::object{{"gateway_attestation", report}, {"model_attestations", json::array{report}}};
    const auto doc = attest::parse_report_document(json::serialize(report)).value();
    evidence_set evidence;
    for (const auto& p : needs(doc, mode::connection).platforms) {
      evidence.add(p, tdx::prepare_collateral(pki().collateral({}), *anchor).value());
    }
    connection_facts facts;
    const auto nonce = test::synthetic::nonce();
    std::copy(nonce.begin(), nonce.end(), facts.nonce.begin());
    const auto fingerprint = test::synthetic::tls_fingerprint();
    std::copy(fingerprint.begin(), fingerprint.end(), facts.live_spki.emplace().begin());
    if (edit) edit(facts);
    const auto workload = policy::parse_policy(policy_text).value();
    return appraise(doc, facts, evidence, &workload, *anchor, test::default_time, m);
  }
};

TEST_F(AppraisePolicyRoles, WithoutTheTlsKeyAReportIsBoundToItsNonceOnly) {
  // A capture that did not record the key it arrived over: report_data is checked against
  // the key the report names, and the binding says plainly that no connection is known.
  const test::synthetic_cvm cvm;
  const auto untied = [](connection_facts& f) { f.live_spki.reset(); };
  const auto offline = appraise_cvm(cvm, false, cvm.pinning_policy(), mode::offline_all, untied);
  ASSERT_TRUE(offline.accepted()) << offline.first_failure->message;
  const auto& binding = offline.entities.at(0).factors.at(1);
  EXPECT_EQ(binding.name, "binding");
  EXPECT_EQ(binding.status, policy::factor_status::skip);
  EXPECT_NE(binding.detail.find("not tied to a TLS connection"), std::string::npos) << binding.detail;
  EXPECT_TRUE(offline.entities.at(0).keys.bound);

  // A report the nonce does not answer is refused all the same.
  const auto replayed = appraise_cvm(cvm, false, cvm.pinning_policy(), mode::offline_all, [&](connection_facts& f) {
    untied(f);
    f.nonce[0] ^= 1;
  });
  ASSERT_FALSE(replayed.accepted());
  EXPECT_EQ(replayed.first_failure->code, "nonce_mismatch");

  // The proxy always knows the key of its connection: without it nothing is admitted.
  const auto connection = appraise_cvm(cvm, false, cvm.pinning_policy(), mode::connection, untied);
  ASSERT_FALSE(connection.accepted());
  EXPECT_EQ(connection.first_failure->code, "internal_error");
  EXPECT_FALSE(connection.first_failure->about_backend);
}

TEST_F(AppraisePolicyRoles, PinnedRoleIsJudgedByItsSection) {
  const test::synthetic_cvm cvm;
  EXPECT_TRUE(appraise_cvm(cvm, false, cvm.pinning_policy()).accepted());

  // A policy pinning this workload for both roles accepts it in either form.
  json::object both = json::parse(cvm.pinning_policy()).as_object();
  both["gateway"] = both.at("model");
  EXPECT_TRUE(appraise_cvm(cvm, false, json::serialize(both)).accepted());
  const auto as_gateway = appraise_cvm(cvm, true, json::serialize(both));
  EXPECT_TRUE(as_gateway.accepted()) << as_gateway.first_failure->message;
  EXPECT_EQ(as_gateway.connection_entity()->json_pointer, "/gateway_attestation");
}

TEST_F(AppraisePolicyRoles, GatewayFormIsRefusedWhenThePolicyPinsOnlyModelCvms) {
  // The backend chooses the report's form. A policy that pins model CVMs and says nothing
  // about gateways must not let any TDX machine through by answering in the gateway form,
  // whose empty "gateway" section would pin nothing.
  test::synthetic_cvm other;
  other.app_id = bytes(20, 0x01);  // not the pinned workload
  const test::synthetic_cvm pinned;
  const auto direct = appraise_cvm(other, false, pinned.pinning_policy());
  ASSERT_FALSE(direct.accepted());
  EXPECT_EQ(direct.first_failure->code, "app_id");

  const auto as_gateway = appraise_cvm(other, true, pinned.pinning_policy());
  ASSERT_FALSE(as_gateway.accepted()) << "a gateway-form answer bypassed every model pin";
  EXPECT_EQ(as_gateway.first_failure->code, "gateway_not_pinned");
  EXPECT_EQ(as_gateway.first_failure->phase, phase::policy);
  EXPECT_NE(as_gateway.first_failure->message.find("pins model CVMs but nothing for gateway CVMs"),
            std::string::npos)
      << as_gateway.first_failure->message;

  // The same holds the other way round, and the empty policy (a diagnostic that pins
  // nothing for anyone) judges both forms alike.
  json::object gateway_only{{"gateway", json::parse(pinned.pinning_policy()).at("model")}};
  const auto as_model = appraise_cvm(pinned, false, json::serialize(gateway_only));
  ASSERT_FALSE(as_model.accepted());
  EXPECT_EQ(as_model.first_failure->code, "model_not_pinned");
  EXPECT_TRUE(appraise_cvm(other, false, "{}").accepted());
  EXPECT_TRUE(appraise_cvm(other, true, "{}").accepted());
}

TEST_F(AppraisePolicyRoles, TrustedUntilIsBoundedByTheCollateral) {
  const test::synthetic_cvm cvm;
  const auto a = appraise_cvm(cvm, false, cvm.pinning_policy());
  ASSERT_TRUE(a.accepted());
  EXPECT_EQ(a.trusted_until, a.connection_entity()->verdict->collateral_expires_at);
  EXPECT_TRUE(a.connection_entity()->keys.bound);
}

TEST(AppraiseTrustLimit, GraceWindowEndBoundsTheVerdictOfAnOutOfDatePlatform) {
  const auto nearai = policy::nearai_policy();  // 30-day window
  tdx::verified_quote q{};
  q.status = tdx::tcb_status::up_to_date;
  EXPECT_FALSE(policy::tcb_acceptance_ends(nearai, q).has_value());
  q.status = tdx::tcb_status::out_of_date;
  q.tcb_date = test::utc_date(2025, 1, 1);
  q.newer_tcb_date = test::utc_date(2025, 12, 20);
  EXPECT_EQ(policy::tcb_acceptance_ends(nearai, q), std::optional<unix_time>(test::utc_date(2026, 1, 19)));
  q.newer_tcb_date.reset();  // no newer level known: the window runs from the matched level
  EXPECT_EQ(policy::tcb_acceptance_ends(nearai, q), std::optional<unix_time>(test::utc_date(2025, 1, 31)));
  q.status = tdx::tcb_status::configuration_needed;
  EXPECT_TRUE(policy::tcb_acceptance_ends(nearai, q).has_value());
}

TEST(AppraiseTrustLimit, ZeroDayGraceWindowNeverAccepts) {
  policy::workload_policy p = policy::parse_policy(R"({"tcb":{"grace_period_days":0}})").value();
  tdx::verified_quote q{};
  q.status = tdx::tcb_status::out_of_date;
  q.newer_tcb_date = test::default_time;
  attest::attestation_verdict verdict{};
  verdict.quote = q;
  attest::near_attestation a{};
  const auto report = policy::evaluate(p, a, verdict, test::default_time);
  ASSERT_NE(report.find("tcb_status"), nullptr);
  EXPECT_EQ(report.find("tcb_status")->status, policy::factor_status::fail) << report.find("tcb_status")->detail;
}

}  // namespace
}  // namespace vp::appraise
