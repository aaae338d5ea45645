// The proxy's application of the workload policy (make_workload_check): which policy
// section judges an attestation when the backend chooses the report's form.

#include "app/workload_policy.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "attest/attestation_verifier.hpp"
#include "attest/near_report.hpp"
#include "policy/policy.hpp"
#include "policy/synthetic_cvm.hpp"
#include "tdx/verifier.hpp"
#include "testpki/test_pki.hpp"

namespace vp::app {
namespace {

namespace json = boost::json;

class WorkloadCheck : public testing::Test {
 protected:
  static const test::test_pki& pki() {
    static const test::test_pki p;
    return p;
  }

  /// The synthetic CVM's attestation, verified, as the proxy would hold it — presented in
  /// the gateway form (its gateway_attestation) when `gateway` is set.
  static upstream::attestation_outcome outcome_of(const test::synthetic_cvm& cvm, bool gateway) {
    const auto anchor = tdx::load_trust_anchor(pki().root_der()).value();
    const auto prepared = tdx::prepare_collateral(pki().collateral({}), *anchor).value();
    auto doc = attest::parse_report_document(json::serialize(cvm.report(pki()))).value();
    attest::near_attestation a = doc.attestations.front();
    auto verdict = attest::verify_attestation(a, test::synthetic::nonce(), test::synthetic::tls_fingerprint(),
                                              *prepared, *anchor, test::default_time)
                       .value();
    if (gateway) {
      a.role = attest::attestation_role::gateway;
      a.json_pointer = "/gateway_attestation";
    }
    return upstream::attestation_outcome{std::move(verdict), std::move(a),
                                         gateway ? attest::report_form::gateway : attest::report_form::direct,
                                         test::synthetic::nonce()};
  }

  std::string write_policy(const std::string& text) {
    path_ = std::filesystem::temp_directory_path() / ("vp-workload-check-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path_, std::ios::binary) << text;
    return path_.string();
  }
  void TearDown() override {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove(path_, ec);
  }

  std::shared_ptr<const clock> clock_ = std::make_shared<fixed_clock>(test::default_time);
  std::filesystem::path path_;
};

TEST_F(WorkloadCheck, PinnedRoleIsJudgedByItsSection) {
  const test::synthetic_cvm cvm;
  const auto check = make_workload_check(write_policy(cvm.pinning_policy()), clock_).check;
  EXPECT_FALSE(check(outcome_of(cvm, false), std::nullopt).has_value());

  // A policy pinning this workload for both roles accepts it in either form.
  json::object both = json::parse(cvm.pinning_policy()).as_object();
  both["gateway"] = both.at("model");
  const auto both_check = make_workload_check(write_policy(json::serialize(both)), clock_).check;
  EXPECT_FALSE(both_check(outcome_of(cvm, false), std::nullopt).has_value());
  EXPECT_FALSE(both_check(outcome_of(cvm, true), std::nullopt).has_value());
}

TEST_F(WorkloadCheck, GatewayFormIsRefusedWhenThePolicyPinsOnlyModelCvms) {
  // The backend chooses the report's form. A policy that pins model CVMs and says nothing
  // about gateways must not let any TDX machine through by answering in the gateway form,
  // whose empty "gateway" section would pin nothing.
  test::synthetic_cvm other;
  other.app_id = bytes(20, 0x01);  // not the pinned workload
  const test::synthetic_cvm pinned;
  const auto check = make_workload_check(write_policy(pinned.pinning_policy()), clock_).check;
  const auto direct = check(outcome_of(other, false), std::nullopt);
  ASSERT_TRUE(direct.has_value());
  EXPECT_EQ(direct->kind, "app_id");

  const auto as_gateway = check(outcome_of(other, true), std::nullopt);
  ASSERT_TRUE(as_gateway.has_value()) << "a gateway-form answer bypassed every model pin";
  EXPECT_EQ(as_gateway->kind, "gateway_not_pinned");
  EXPECT_NE(as_gateway->message.find("pins model CVMs but nothing for gateway CVMs"), std::string::npos)
      << as_gateway->message;

  // The same holds the other way round, and the empty policy (a diagnostic that pins
  // nothing for anyone) judges both forms alike.
  json::object gateway_only{{"gateway", json::parse(pinned.pinning_policy()).at("model")}};
  const auto gateway_check = make_workload_check(write_policy(json::serialize(gateway_only)), clock_).check;
  const auto as_model = gateway_check(outcome_of(pinned, false), std::nullopt);
  ASSERT_TRUE(as_model.has_value());
  EXPECT_EQ(as_model->kind, "model_not_pinned");
  const auto empty_check = make_workload_check(write_policy("{}"), clock_).check;
  EXPECT_FALSE(empty_check(outcome_of(other, false), std::nullopt).has_value());
  EXPECT_FALSE(empty_check(outcome_of(other, true), std::nullopt).has_value());
}

}  // namespace
}  // namespace vp::app

namespace vp::app {
namespace {

TEST(WorkloadTrustLimit, GraceWindowEndBoundsTheVerdictOfAnOutOfDatePlatform) {
  const auto clock = std::make_shared<fixed_clock>(test::default_time);
  const auto setup = make_workload_check("", clock);  // nearai: 30-day window
  upstream::attestation_outcome outcome{};
  auto& q = outcome.verdict.quote;
  q.status = tdx::tcb_status::up_to_date;
  EXPECT_FALSE(setup.limit(outcome).has_value());
  q.status = tdx::tcb_status::out_of_date;
  q.tcb_date = test::utc_date(2025, 1, 1);
  q.newer_tcb_date = test::utc_date(2025, 12, 20);
  EXPECT_EQ(setup.limit(outcome), std::optional<unix_time>(test::utc_date(2026, 1, 19)));
  q.newer_tcb_date.reset();  // no newer level known: the window runs from the matched level
  EXPECT_EQ(setup.limit(outcome), std::optional<unix_time>(test::utc_date(2025, 1, 31)));
  q.status = tdx::tcb_status::configuration_needed;
  EXPECT_TRUE(setup.limit(outcome).has_value());
}

TEST(WorkloadTrustLimit, ZeroDayGraceWindowNeverAccepts) {
  vp::policy::workload_policy p = vp::policy::parse_policy(R"({"tcb":{"grace_period_days":0}})").value();
  tdx::verified_quote q{};
  q.status = tdx::tcb_status::out_of_date;
  q.newer_tcb_date = test::default_time;
  attest::attestation_verdict verdict{};
  verdict.quote = q;
  attest::near_attestation a{};
  const auto report = vp::policy::evaluate(p, a, verdict, test::default_time);
  ASSERT_NE(report.find("tcb_status"), nullptr);
  EXPECT_EQ(report.find("tcb_status")->status, vp::policy::factor_status::fail) << report.find("tcb_status")->detail;
}

}  // namespace
}  // namespace vp::app
