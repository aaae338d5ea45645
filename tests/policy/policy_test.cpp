// The workload policy: the policy file format, and evaluate() on a synthetic CVM whose
// quote is minted by the test PKI to match its evidence — one test per way a report can
// lie or a workload can fall outside the policy — plus every real NEAR capture.

#include "policy/policy.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "attest/attestation_verifier.hpp"
#include "attest/nearai_captures.hpp"
#include "collateral/bundle.hpp"
#include "core/hex.hpp"
#include "policy/synthetic_cvm.hpp"
#include "support/testdata.hpp"
#include "tdx/verifier.hpp"
#include "testpki/test_pki.hpp"

namespace vp::policy {
namespace {

namespace json = boost::json;
using test::nearai::str;
using test::synthetic_cvm;

// ---------------------------------------------------------------------------------------
// Policy file

std::string policy_error_of(std::string_view text) {
  auto r = parse_policy(text);
  if (r) return "(parsed)";
  return r.error().message;
}

TEST(PolicyParse, EmptyPolicyRunsTheRulesAndPinsNothing) {
  const auto p = parse_policy("{}");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->name(), "");
  EXPECT_EQ(p->tcb_grace_period(), std::chrono::days{30});
  EXPECT_TRUE(p->denied_advisories().empty());
  EXPECT_TRUE(p->require_sept_ve_disable());
  EXPECT_EQ(p->allowlists(attest::attestation_role::model), workload_allowlists{});
  EXPECT_EQ(p->allowlists(attest::attestation_role::gateway), workload_allowlists{});
  EXPECT_EQ(*p, workload_policy{});
}

TEST(PolicyParse, EveryKey) {
  const std::string m48 = std::string(96, 'A');  // upper case accepted
  const auto p = parse_policy(R"({
    "name": "mine", "description": "test",
    "tcb": {"grace_period_days": 0, "denied_advisories": ["INTEL-SA-00837", "INTEL-SA-01036"]},
    "td_attributes": {"require_sept_ve_disable": false},
    "model": {"mrseam": [")" + m48 + R"("], "mrtd": [")" + m48 + R"(", ")" + std::string(96, 'b') + R"("],
              "rtmr0": [")" + m48 + R"("], "rtmr1": [")" + m48 + R"("], "rtmr2": [")" + m48 + R"("],
              "os_image_hash": [")" + std::string(64, 'c') + R"("], "app_id": [")" + std::string(40, 'd') + R"("],
              "key_provider_id": ["3059"], "compose_hash": [")" + std::string(64, 'e') + R"("]},
    "gateway": {"app_id": [")" + std::string(40, 'f') + R"("]}
  })");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->name(), "mine");
  EXPECT_EQ(p->tcb_grace_period(), std::chrono::days{0});
  EXPECT_EQ(p->denied_advisories(), (std::vector<std::string>{"INTEL-SA-00837", "INTEL-SA-01036"}));
  EXPECT_FALSE(p->require_sept_ve_disable());
  const auto& model = p->allowlists(attest::attestation_role::model);
  ASSERT_EQ(model.mrtd.size(), 2u);
  EXPECT_EQ(model.mrtd[0], bytes(48, 0xaa));
  EXPECT_EQ(model.mrtd[1], bytes(48, 0xbb));
  EXPECT_EQ(model.os_image_hash, (std::vector<bytes>{bytes(32, 0xcc)}));
  EXPECT_EQ(model.app_id, (std::vector<bytes>{bytes(20, 0xdd)}));
  EXPECT_EQ(model.key_provider_id, (std::vector<bytes>{bytes{0x30, 0x59}}));
  EXPECT_EQ(model.compose_hash, (std::vector<bytes>{bytes(32, 0xee)}));
  EXPECT_EQ(p->allowlists(attest::attestation_role::gateway).app_id, (std::vector<bytes>{bytes(20, 0xff)}));
  EXPECT_TRUE(p->allowlists(attest::attestation_role::gateway).mrtd.empty());
}

// A malformed policy file is refused with a message naming the value (the proxy refuses
// to start with it).
TEST(PolicyParse, MalformedFilesGiveClearErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "policy is not JSON"},
      {"{\"model\": {\"mrtd\": [\"aa\"]", "policy is not JSON"},
      {"[]", "policy must be a JSON object, got array"},
      {R"({"mrtd": []})", "policy /mrtd: unknown key"},
      {R"({"model": {"mrdt": ["aa"]}})", "policy /model/mrdt: unknown key (known here: mrseam, mrtd"},
      {R"({"model": []})", "policy /model must be an object, got array"},
      {R"({"model": {"mrtd": "aa"}})", "policy /model/mrtd must be an array of hex strings, got string"},
      {R"({"model": {"mrtd": []}})", "policy /model/mrtd is empty: list at least one value, or omit the key"},
      {R"({"model": {"mrtd": [7]}})", "policy /model/mrtd/0 must be a hex string, got int64"},
      {R"({"model": {"mrtd": [")" + std::string(94, 'a') + R"("]}})",
       "policy /model/mrtd/0 is 94 hex digits, expected 96 (48 bytes)"},
      {R"({"model": {"mrtd": [")" + std::string(98, 'a') + R"("]}})", "policy /model/mrtd/0 is 98 characters"},
      {R"({"gateway": {"app_id": [")" + std::string(40, 'g') + R"("]}})",
       "policy /gateway/app_id/0 is not a 40-digit hex string"},
      {R"({"model": {"key_provider_id": [""]}})", "policy /model/key_provider_id/0 is not hex string"},
      {R"({"tcb": {"grace_period_days": -1}})", "policy /tcb/grace_period_days must be an integer from 0 to 3650, got -1"},
      {R"({"tcb": {"grace_period_days": "30"}})", "got string"},
      {R"({"tcb": {"grace_period_days": 3651}})", "got 3651"},
      {R"({"tcb": {"grace": 3}})", "policy /tcb/grace: unknown key"},
      {R"({"tcb": {"denied_advisories": "INTEL-SA-1"}})", "policy /tcb/denied_advisories must be an array of strings"},
      {R"({"tcb": {"denied_advisories": [""]}})", "policy /tcb/denied_advisories/0 must be a non-empty string"},
      {R"({"td_attributes": {"require_sept_ve_disable": 1}})",
       "policy /td_attributes/require_sept_ve_disable must be true or false, got int64"},
      {R"({"td_attributes": {"debug": true}})", "policy /td_attributes/debug: unknown key"},
      {R"({"name": 5})", "policy /name must be a string, got int64"},
  };
  for (const auto& [text, needle] : cases) {
    SCOPED_TRACE(text);
    const std::string message = policy_error_of(text);
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  }
  EXPECT_NE(policy_error_of(std::string(max_policy_size + 1, ' ')).find("over the limit"), std::string::npos);
}

// Boost.JSON keeps the last of repeated keys: a second "model" section would silently
// replace the pins a reviewer reads in the first.
TEST(PolicyParse, RepeatedKeysAreRefused) {
  const std::string a = std::string(96, 'a');
  const std::string b = std::string(96, 'b');
  EXPECT_NE(policy_error_of(R"({"model": {"mrtd": [")" + a + R"("]}, "model": {}})")
                .find("policy repeats the key \"model\" in one object"),
            std::string::npos)
      << policy_error_of(R"({"model": {"mrtd": [")" + a + R"("]}, "model": {}})");
  EXPECT_NE(policy_error_of(R"({"model": {"mrtd": [")" + a + R"("], "mrtd": [")" + b + R"("]}})")
                .find("repeats the key \"mrtd\""),
            std::string::npos);
  EXPECT_NE(policy_error_of(R"({"tcb": {"grace_period_days": 0, "grace_period_days": 3000}})")
                .find("repeats the key \"grace_period_days\""),
            std::string::npos);
  // The same key in different objects is not a repetition.
  const auto both = parse_policy(R"({"model": {"mrtd": [")" + a + R"("]}, "gateway": {"mrtd": [")" + b + R"("]}})");
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->allowlists(attest::attestation_role::model).mrtd, (std::vector<bytes>{bytes(48, 0xaa)}));
  EXPECT_EQ(both->allowlists(attest::attestation_role::gateway).mrtd, (std::vector<bytes>{bytes(48, 0xbb)}));
}

TEST(PolicyParse, BuiltInNearaiPolicy) {
  const workload_policy& p = nearai_policy();
  EXPECT_EQ(p.name(), "nearai");
  EXPECT_EQ(p.tcb_grace_period(), std::chrono::days{30});
  EXPECT_TRUE(p.require_sept_ve_disable());
  const auto reparsed = parse_policy(nearai_policy_json());
  ASSERT_TRUE(reparsed) << reparsed.error().message;
  EXPECT_EQ(*reparsed, p);
  const auto& model = p.allowlists(attest::attestation_role::model);
  EXPECT_EQ(to_hex(model.app_id.at(0)), "2c0a0c96cb6dbd659bf1446e2f3fce58172ff91b");
  EXPECT_EQ(model.mrtd.size(), 1u);
  EXPECT_EQ(model.rtmr1.size(), 1u);
  EXPECT_EQ(model.rtmr2.size(), 1u);
  EXPECT_EQ(model.os_image_hash.size(), 1u);
  EXPECT_EQ(model.key_provider_id.size(), 1u);
  // Values observed to vary in production are not pinned (README: the nearai policy).
  EXPECT_TRUE(model.mrseam.empty());
  EXPECT_TRUE(model.rtmr0.empty());
  EXPECT_TRUE(model.compose_hash.empty());
  const auto& gateway = p.allowlists(attest::attestation_role::gateway);
  EXPECT_EQ(to_hex(gateway.app_id.at(0)), "f550fdfb4eb8ad787c1bcd423f091cbb4a4431ae");
  EXPECT_EQ(gateway.key_provider_id, model.key_provider_id);
}

TEST(FactorReport, OkAndFirstFailure) {
  factor_report r;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.first_failure(), nullptr);
  r.factors = {{"a", factor_status::pass, ""}, {"b", factor_status::warn, ""}, {"c", factor_status::skip, ""}};
  EXPECT_TRUE(r.ok());
  r.factors.push_back({"d", factor_status::fail, "x"});
  r.factors.push_back({"e", factor_status::fail, "y"});
  EXPECT_FALSE(r.ok());
  ASSERT_NE(r.first_failure(), nullptr);
  EXPECT_EQ(r.first_failure()->name, "d");
  EXPECT_EQ(r.find("e")->detail, "y");
  EXPECT_EQ(r.find("z"), nullptr);
  EXPECT_EQ(to_string(factor_status::pass), "pass");
  EXPECT_EQ(to_string(factor_status::fail), "fail");
  EXPECT_EQ(to_string(factor_status::warn), "warn");
  EXPECT_EQ(to_string(factor_status::skip), "skip");
}

// ---------------------------------------------------------------------------------------
// evaluate() on a synthetic CVM

class PolicyEvaluate : public testing::Test {
 protected:
  static const test::test_pki& pki() {
    static const test::test_pki p;
    return p;
  }
  static const tdx::trust_anchor& anchor() {
    static const auto a = tdx::load_trust_anchor(pki().root_der()).value();
    return *a;
  }

  struct outcome {
    std::optional<attest::near_report_document> doc;
    std::optional<attest::attestation_verdict> verdict;
    factor_report report;
    std::string error;  ///< parse / verification failure, if any

    factor_status status(std::string_view name) const {
      const factor* f = report.find(name);
      return f != nullptr ? f->status : factor_status::skip;
    }
    std::string detail(std::string_view name) const {
      const factor* f = report.find(name);
      return f != nullptr ? f->detail : "(no factor " + std::string(name) + ")";
    }
  };

  /// Parses `report`, verifies it with the test PKI at default_time, evaluates `policy`.
  static outcome run(const json::object& report, const workload_policy& policy,
                     const test::collateral_spec& collateral = {}, unix_time now = test::default_time,
                     std::optional<std::string_view> routed_model = std::nullopt) {
    outcome o;
    auto doc = attest::parse_report_document(json::serialize(report));
    if (!doc) {
      o.error = "parse: " + doc.error().message;
      return o;
    }
    o.doc = std::move(*doc);
    const auto prepared = tdx::prepare_collateral(pki().collateral(collateral), anchor());
    if (!prepared) {
      o.error = "collateral: " + prepared.error().message;
      return o;
    }
    const attest::near_attestation& a = o.doc->attestations.front();
    auto verdict = attest::verify_attestation(a, test::synthetic::nonce(), test::synthetic::tls_fingerprint(),
                                              **prepared, anchor(), test::default_time);
    if (!verdict) {
      o.error = "verify: " + verdict.error().message;
      return o;
    }
    o.verdict = std::move(*verdict);
    o.report = evaluate(policy, a, *o.verdict, now, routed_model);
    return o;
  }

  static workload_policy pinning(const synthetic_cvm& cvm) { return parse_policy(cvm.pinning_policy()).value(); }

  static json::object& info(json::object& report) { return report["info"].as_object(); }
  static json::object& tcb_info(json::object& report) { return info(report)["tcb_info"].as_object(); }
  static json::array& log(json::object& report) { return report["event_log"].as_array(); }
  /// Index of the runtime event `name` in the synthetic log.
  static std::size_t index_of(const json::array& l, std::string_view name) {
    for (std::size_t i = 0; i < l.size(); ++i) {
      if (l[i].as_object().at("event").as_string() == name) return i;
    }
    ADD_FAILURE() << "no event " << name;
    return 0;
  }
  /// The synthetic CVM's report with its key-provider event replaced by `payload` (a valid,
  /// replaying v1 event), and info.key_provider_info removed.
  static json::object report_with_key_provider(const synthetic_cvm& cvm, const std::string& payload) {
    json::array l = cvm.event_log();
    const std::size_t i = index_of(l, "key-provider");
    l[i] = test::synthetic::event(3, 0x08000001, "key-provider", as_bytes(payload),
                                  test::synthetic::v1_digest("key-provider", as_bytes(payload)));
    json::object r = cvm.report(pki(), l);
    info(r).erase("key_provider_info");
    return r;
  }
};

TEST_F(PolicyEvaluate, HonestCvmPassesEveryFactorInOrder) {
  const synthetic_cvm cvm;
  const auto o = run(cvm.report(pki()), pinning(cvm), {}, test::default_time, "test/model-7b");
  ASSERT_TRUE(o.error.empty()) << o.error;
  const std::vector<std::string> names = {
      "tcb_status",    "tcb_advisories", "td_debug", "sept_ve_disable", "event_log_replay", "runtime_event_digests",
      "compose_hash",  "mrconfigid",     "app_id",   "instance_id",     "os_image_hash",    "key_provider",
      "mrseam",        "mrtd",           "rtmr0",    "rtmr1",           "rtmr2",            "info_registers",
      "model_name"};
  ASSERT_EQ(o.report.factors.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const factor& f = o.report.factors[i];
    EXPECT_EQ(f.name, names[i]);
    // No deny list → tcb_advisories is skipped; everything else passes.
    EXPECT_EQ(f.status, f.name == "tcb_advisories" ? factor_status::skip : factor_status::pass)
        << f.name << ": " << f.detail;
  }
  EXPECT_TRUE(o.report.ok());
  EXPECT_NE(o.detail("app_id").find(to_hex(cvm.app_id)), std::string::npos);
  EXPECT_NE(o.detail("compose_hash").find(to_hex(cvm.compose_hash())), std::string::npos);
  EXPECT_NE(o.detail("key_provider").find(to_hex(cvm.kms_id)), std::string::npos);
  EXPECT_NE(o.detail("event_log_replay").find("15 events (3/2/1/9 per RTMR0-3)"), std::string::npos)
      << o.detail("event_log_replay");
}

TEST_F(PolicyEvaluate, EmptyPolicyRunsConsistencyChecksWithoutAllowlists) {
  const synthetic_cvm cvm;
  const auto o = run(cvm.report(pki()), workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_TRUE(o.report.ok()) << o.report.first_failure()->name;
  for (const char* pinned : {"mrseam", "mrtd", "rtmr0", "rtmr1", "rtmr2"}) {
    EXPECT_EQ(o.status(pinned), factor_status::skip) << pinned;
    EXPECT_NE(o.detail(pinned).find("not pinned"), std::string::npos);
  }
  for (const char* checked : {"event_log_replay", "runtime_event_digests", "compose_hash", "mrconfigid", "app_id",
                              "os_image_hash", "key_provider"}) {
    EXPECT_EQ(o.status(checked), factor_status::pass) << checked << ": " << o.detail(checked);
  }
  // Not routed by model: nothing to compare.
  EXPECT_EQ(o.status("model_name"), factor_status::skip);
}

// --- event log: altered, removed, reordered, added --------------------------------------

TEST_F(PolicyEvaluate, AlteredEventFailsReplay) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  // A boot event's digest altered (in both copies of the log, so that only replay can tell).
  std::string d = std::string(log(r)[3].as_object()["digest"].as_string());
  d[0] = d[0] == '0' ? '1' : '0';
  log(r)[3].as_object()["digest"] = d;
  tcb_info(r)["event_log"] = log(r);
  const auto o = run(r, workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::fail);
  EXPECT_NE(o.detail("event_log_replay").find("RTMR1 replayed from 2 events"), std::string::npos)
      << o.detail("event_log_replay");
  EXPECT_EQ(o.report.first_failure()->name, "event_log_replay");
  // Nothing an unverified log says is used.
  EXPECT_EQ(o.status("app_id"), factor_status::skip);
  EXPECT_EQ(o.status("key_provider"), factor_status::skip);
}

TEST_F(PolicyEvaluate, RemovedEventFailsReplay) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  log(r).erase(log(r).begin() + static_cast<std::ptrdiff_t>(index_of(log(r), "boot-mr-done")));
  tcb_info(r)["event_log"] = log(r);
  const auto o = run(r, workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::fail);
  EXPECT_NE(o.detail("event_log_replay").find("RTMR3 replayed from 8 events"), std::string::npos)
      << o.detail("event_log_replay");
}

TEST_F(PolicyEvaluate, ReorderedEventsFailReplay) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  const std::size_t a = index_of(log(r), "app-id");
  const std::size_t b = index_of(log(r), "instance-id");
  std::swap(log(r)[a], log(r)[b]);
  tcb_info(r)["event_log"] = log(r);
  const auto o = run(r, workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::fail);
  EXPECT_NE(o.detail("event_log_replay").find("RTMR3"), std::string::npos);
  // Each event is still genuine on its own.
  EXPECT_EQ(o.status("runtime_event_digests"), factor_status::pass);
}

TEST_F(PolicyEvaluate, AddedEventFailsReplay) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  // A well-formed runtime event whose digest is right — but it was never extended.
  const bytes payload = {0x01};
  log(r).push_back(json::object{{"imr", 3},
                                {"event_type", 0x08000001},
                                {"digest", to_hex(test::synthetic::v1_digest("app-id", payload))},
                                {"event", "app-id"},
                                {"event_payload", "01"}});
  tcb_info(r)["event_log"] = log(r);
  const auto o = run(r, workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::fail);
  EXPECT_NE(o.detail("event_log_replay").find("RTMR3 replayed from 10 events"), std::string::npos);
}

TEST_F(PolicyEvaluate, RuntimeDigestNotMatchingItsPayloadFails) {
  synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  // The logged digests replay correctly, but the payload shown is not the one measured.
  const std::size_t i = index_of(log(r), "os-image-hash");
  log(r)[i].as_object()["event_payload"] = std::string(64, 'f');
  tcb_info(r)["event_log"] = log(r);
  info(r)["os_image_hash"] = std::string(64, 'f');
  tcb_info(r)["os_image_hash"] = std::string(64, 'f');
  const auto o = run(r, workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::pass);
  EXPECT_EQ(o.status("runtime_event_digests"), factor_status::fail);
  EXPECT_NE(o.detail("runtime_event_digests").find("/event_log/" + std::to_string(i) + " (\"os-image-hash\")"),
            std::string::npos)
      << o.detail("runtime_event_digests");
  EXPECT_EQ(o.status("os_image_hash"), factor_status::skip);
  EXPECT_EQ(o.report.first_failure()->name, "runtime_event_digests");
}

TEST_F(PolicyEvaluate, EventLogMissingOrDisagreeingWithInfo) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  r.erase("event_log");
  auto o = run(r, workload_policy{});
  // info.tcb_info.event_log is used when the top-level one is absent.
  EXPECT_EQ(o.status("event_log_replay"), factor_status::pass) << o.detail("event_log_replay");
  EXPECT_NE(o.detail("event_log_replay").find("replay to the quote's"), std::string::npos);

  tcb_info(r).erase("event_log");
  o = run(r, workload_policy{});
  EXPECT_EQ(o.status("event_log_replay"), factor_status::fail);
  EXPECT_NE(o.detail("event_log_replay").find("no event_log"), std::string::npos);
  EXPECT_EQ(o.status("runtime_event_digests"), factor_status::skip);

  r = cvm.report(pki());
  tcb_info(r)["event_log"].as_array().pop_back();
  o = run(r, workload_policy{});
  EXPECT_EQ(o.status("event_log_replay"), factor_status::fail);
  EXPECT_NE(o.detail("event_log_replay").find("event_log and info.tcb_info.event_log differ"), std::string::npos);

  r = cvm.report(pki());
  log(r)[0].as_object()["imr"] = 9;
  o = run(r, workload_policy{});
  EXPECT_EQ(o.status("event_log_replay"), factor_status::fail);
  EXPECT_NE(o.detail("event_log_replay").find("/event_log/0/imr is 9"), std::string::npos);
}

TEST_F(PolicyEvaluate, EventLogAsJsonStringAndInfoAsStrings) {
  // The gateway's shape (§1.5) and older dstack versions (§1.4).
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  r["event_log"] = json::serialize(log(r));
  json::object ti = tcb_info(r);
  info(r)["tcb_info"] = json::serialize(ti);
  r["info"] = json::serialize(info(r));
  const auto o = run(r, pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_TRUE(o.report.ok()) << o.report.first_failure()->name << ": " << o.report.first_failure()->detail;
  EXPECT_EQ(o.doc->attestations[0].event_log->encoding, attest::json_encoding::json_string);
  EXPECT_EQ(o.doc->attestations[0].info->encoding, attest::json_encoding::json_string);
  EXPECT_EQ(o.doc->attestations[0].info->tcb_info->encoding, attest::json_encoding::json_string);
}

TEST_F(PolicyEvaluate, V2RuntimeEventsVerify) {
  synthetic_cvm cvm;
  json::array l = cvm.event_log();
  for (auto& v : l) {
    json::object& e = v.as_object();
    if (e.at("event_type").as_int64() != 0x08000001) continue;
    const bytes payload = from_hex(e.at("event_payload").as_string()).value();
    const json::object canonical{{"name", e.at("event")}, {"payload", to_hex(payload)}, {"type", 134217729}};
    const std::string pre = json::serialize(canonical);
    e["digest"] = to_hex(crypto::sha384(as_bytes(pre)));
    e["version"] = 2;
    e["preimage"] = to_hex(as_bytes(pre));
  }
  json::object r = cvm.report(pki(), l);
  const auto o = run(r, pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_TRUE(o.report.ok()) << o.report.first_failure()->name << ": " << o.report.first_failure()->detail;
}

// --- compose binding --------------------------------------------------------------------

TEST_F(PolicyEvaluate, AppComposeChangedByOneByteFails) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  std::string compose(tcb_info(r)["app_compose"].as_string());
  compose[compose.size() - 2] = compose[compose.size() - 2] == 'x' ? 'y' : 'x';
  tcb_info(r)["app_compose"] = compose;
  const auto o = run(r, workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("compose_hash"), factor_status::fail);
  EXPECT_NE(o.detail("compose_hash").find("info.compose_hash " + to_hex(cvm.compose_hash()) +
                                          " differs from SHA-256(app_compose)"),
            std::string::npos)
      << o.detail("compose_hash");
  EXPECT_EQ(o.status("mrconfigid"), factor_status::fail);
  EXPECT_NE(o.detail("mrconfigid").find("is not 01 ‖ SHA-256(app_compose)"), std::string::npos);
}

TEST_F(PolicyEvaluate, AppComposeIsHashedAsReceivedNotReserialized) {
  // White space and key order are part of the measured bytes.
  synthetic_cvm cvm;
  cvm.app_compose = "{ \"name\" : \"test-app\",\n  \"a\": 1, \"a\": 2, \"runner\": \"docker-compose\" }\n";
  const auto o = run(cvm.report(pki()), pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_TRUE(o.report.ok()) << o.report.first_failure()->name << ": " << o.report.first_failure()->detail;
}

TEST_F(PolicyEvaluate, InfoComposeHashDifferingFromEventsFails) {
  synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  info(r)["compose_hash"] = std::string(64, '0');
  auto o = run(r, workload_policy{});
  EXPECT_EQ(o.status("compose_hash"), factor_status::fail);
  EXPECT_NE(o.detail("compose_hash").find("info.compose_hash " + std::string(64, '0')), std::string::npos);
  EXPECT_EQ(o.status("mrconfigid"), factor_status::pass);  // the quote and the manifest agree

  r = cvm.report(pki());
  tcb_info(r)["compose_hash"] = std::string(64, '0');
  o = run(r, workload_policy{});
  EXPECT_EQ(o.status("compose_hash"), factor_status::fail);
  EXPECT_NE(o.detail("compose_hash").find("info.tcb_info.compose_hash"), std::string::npos);

  r = cvm.report(pki());
  info(r).erase("compose_hash");
  o = run(r, workload_policy{});
  EXPECT_EQ(o.status("compose_hash"), factor_status::fail);
  EXPECT_NE(o.detail("compose_hash").find("info.compose_hash is missing"), std::string::npos);

  r = cvm.report(pki());
  tcb_info(r).erase("app_compose");
  o = run(r, workload_policy{});
  EXPECT_EQ(o.status("compose_hash"), factor_status::fail);
  EXPECT_EQ(o.status("mrconfigid"), factor_status::fail);
  EXPECT_NE(o.detail("mrconfigid").find("app_compose is missing"), std::string::npos);
}

TEST_F(PolicyEvaluate, ComposeHashEventDifferingFromTheManifestFails) {
  // A CVM that measured another compose than the one it shows (MRCONFIGID agrees with the
  // shown manifest, RTMR3 does not).
  synthetic_cvm cvm;
  json::array l = cvm.event_log();
  const std::size_t i = index_of(l, "compose-hash");
  const bytes other(32, 0x99);
  l[i] = test::synthetic::event(3, 0x08000001, "compose-hash", other, test::synthetic::v1_digest("compose-hash", other));
  const auto o = run(cvm.report(pki(), l), workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::pass);
  EXPECT_EQ(o.status("compose_hash"), factor_status::fail);
  EXPECT_NE(o.detail("compose_hash").find("the RTMR3 \"compose-hash\" event " + to_hex(other)), std::string::npos);
}

TEST_F(PolicyEvaluate, ComposeHashOffTheAllowlistFails) {
  synthetic_cvm cvm;
  const workload_policy p =
      parse_policy(R"({"model": {"compose_hash": [")" + std::string(64, '7') + R"("]}})").value();
  const auto o = run(cvm.report(pki()), p);
  EXPECT_EQ(o.status("compose_hash"), factor_status::fail);
  EXPECT_NE(o.detail("compose_hash").find("is not in the policy's allowlist (1 value)"), std::string::npos);
}

// --- identities: app id, KMS, OS image ----------------------------------------------------

TEST_F(PolicyEvaluate, AppIdDifferingFromEventsOrPolicyFails) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  info(r)["app_id"] = std::string(40, 'e');
  auto o = run(r, pinning(cvm));
  EXPECT_EQ(o.status("app_id"), factor_status::fail);
  EXPECT_NE(o.detail("app_id").find("info.app_id " + std::string(40, 'e') + " differs from the RTMR3 \"app-id\" event " +
                                    to_hex(cvm.app_id)),
            std::string::npos)
      << o.detail("app_id");

  synthetic_cvm other = cvm;
  other.app_id = bytes(20, 0x01);
  o = run(other.report(pki()), pinning(cvm));
  EXPECT_EQ(o.status("app_id"), factor_status::fail);
  EXPECT_NE(o.detail("app_id").find("app-id (RTMR3 event) " + to_hex(other.app_id) + " is not in the policy's allowlist"),
            std::string::npos)
      << o.detail("app_id");
  EXPECT_EQ(o.report.first_failure()->name, "app_id");
}

TEST_F(PolicyEvaluate, KmsIdDifferingFromEventsOrPolicyFails) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  info(r)["key_provider_info"] = "{\"name\":\"kms\",\"id\":\"" + std::string(182, 'e') + "\"}";
  auto o = run(r, pinning(cvm));
  EXPECT_EQ(o.status("key_provider"), factor_status::fail);
  EXPECT_NE(o.detail("key_provider").find("info.key_provider_info (\"kms\", id " + std::string(182, 'e') + ") differs"),
            std::string::npos)
      << o.detail("key_provider");

  // Someone else's KMS: the same software, keys from another root.
  synthetic_cvm other = cvm;
  other.kms_id = bytes(91, 0x05);
  o = run(other.report(pki()), pinning(cvm));
  EXPECT_EQ(o.status("key_provider"), factor_status::fail);
  EXPECT_NE(o.detail("key_provider").find("key provider \"kms\" id " + to_hex(other.kms_id) +
                                          " is not in the policy's allowlist"),
            std::string::npos)
      << o.detail("key_provider");
}

TEST_F(PolicyEvaluate, KeyProviderPayloadMustBeCanonical) {
  // Repeated keys would let two parsers read two different KMS ids out of one measurement.
  synthetic_cvm cvm;
  const std::string payload = "{\"name\":\"kms\",\"id\":\"00\",\"id\":\"" + to_hex(cvm.kms_id) + "\"}";
  json::object r = report_with_key_provider(cvm, payload);
  const auto o = run(r, pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("key_provider"), factor_status::fail);
  EXPECT_NE(o.detail("key_provider").find("not the compact JSON dstack writes"), std::string::npos);
}

TEST_F(PolicyEvaluate, PinnedKmsIdUnderAnotherProviderKindFails) {
  // dstack writes the id of every key provider kind in the same event ("local-sgx": an
  // enclave measurement, "tpm": a TPM key): the pinned KMS root key's bytes reported by a
  // provider that is not a KMS do not mean the keys came from that KMS.
  synthetic_cvm cvm;
  const std::string payload = "{\"name\":\"tpm\",\"id\":\"" + to_hex(cvm.kms_id) + "\"}";
  json::object r = report_with_key_provider(cvm, payload);
  info(r)["key_provider_info"] = payload;
  auto o = run(r, pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::pass);
  EXPECT_EQ(o.status("key_provider"), factor_status::fail) << o.detail("key_provider");
  EXPECT_NE(o.detail("key_provider").find("key provider \"tpm\" (id " + to_hex(cvm.kms_id) + ") is not a KMS"),
            std::string::npos)
      << o.detail("key_provider");
  // Nothing pinned: any provider that tells the truth about itself passes.
  o = run(r, workload_policy{});
  EXPECT_EQ(o.status("key_provider"), factor_status::pass) << o.detail("key_provider");
}

TEST_F(PolicyEvaluate, OsImageDifferingFromEventsOrPolicyFails) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  info(r)["os_image_hash"] = std::string(64, 'e');
  auto o = run(r, pinning(cvm));
  EXPECT_EQ(o.status("os_image_hash"), factor_status::fail);
  EXPECT_NE(o.detail("os_image_hash").find("info.os_image_hash " + std::string(64, 'e') + " differs"), std::string::npos);

  r = cvm.report(pki());
  tcb_info(r)["os_image_hash"] = std::string(64, 'e');
  o = run(r, pinning(cvm));
  EXPECT_EQ(o.status("os_image_hash"), factor_status::fail);
  EXPECT_NE(o.detail("os_image_hash").find("info.tcb_info.os_image_hash"), std::string::npos);

  synthetic_cvm other = cvm;
  other.os_image_hash = bytes(32, 0x06);
  o = run(other.report(pki()), pinning(cvm));
  EXPECT_EQ(o.status("os_image_hash"), factor_status::fail);
  EXPECT_NE(o.detail("os_image_hash").find("is not in the policy's allowlist"), std::string::npos);
}

TEST_F(PolicyEvaluate, IdentityEventsMustAppearExactlyOnce) {
  synthetic_cvm cvm;
  // A second app-id event within dstack's boot (before system-ready).
  json::array l = cvm.event_log();
  const bytes evil(20, 0x66);
  l.insert(l.begin() + static_cast<std::ptrdiff_t>(index_of(l, "system-ready")),
           test::synthetic::event(3, 0x08000001, "app-id", evil, test::synthetic::v1_digest("app-id", evil)));
  auto o = run(cvm.report(pki(), l), workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::pass) << o.detail("event_log_replay");
  EXPECT_EQ(o.status("app_id"), factor_status::fail);
  EXPECT_NE(o.detail("app_id").find("RTMR3 has 2 \"app-id\" events before system-ready, expected exactly one"),
            std::string::npos)
      << o.detail("app_id");

  l = cvm.event_log();
  l.erase(l.begin() + static_cast<std::ptrdiff_t>(index_of(l, "instance-id")));
  o = run(cvm.report(pki(), l), workload_policy{});
  EXPECT_EQ(o.status("instance_id"), factor_status::fail);
  EXPECT_NE(o.detail("instance_id").find("RTMR3 has 0 \"instance-id\" events"), std::string::npos);
}

// After system-ready the application may extend RTMR3 with events of any name (the guest
// agent's EmitEvent): an identity is only what dstack's boot wrote before it.
TEST_F(PolicyEvaluate, IdentityEventsAfterSystemReadyAreRefused) {
  const synthetic_cvm cvm;
  const auto app_event = [](std::string_view name, byte_view payload) {
    return test::synthetic::event(3, 0x08000001, name, payload, test::synthetic::v1_digest(name, payload));
  };
  const std::string after = "emitted after system-ready: written by the application, not by dstack's boot";

  // A boot that did not emit os-image-hash; the app emits the pinned value afterwards.
  json::array l = cvm.event_log();
  l.erase(l.begin() + static_cast<std::ptrdiff_t>(index_of(l, "os-image-hash")));
  l.push_back(app_event("os-image-hash", cvm.os_image_hash));
  const std::size_t appended = l.size() - 1;
  auto o = run(cvm.report(pki(), l), pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::pass) << o.detail("event_log_replay");
  EXPECT_EQ(o.status("runtime_event_digests"), factor_status::pass) << o.detail("runtime_event_digests");
  EXPECT_EQ(o.status("os_image_hash"), factor_status::fail);
  EXPECT_EQ(o.detail("os_image_hash"),
            "RTMR3 \"os-image-hash\" event at log entry " + std::to_string(appended) + " " + after);
  EXPECT_FALSE(o.report.ok());
  for (const char* other : {"compose_hash", "app_id", "instance_id", "key_provider"}) {
    EXPECT_EQ(o.status(other), factor_status::pass) << other << ": " << o.detail(other);
  }

  // A second app-id after system-ready, even one equal to the boot's, is refused; so is one
  // after an app-emitted "system-ready" (only the first one ends the boot).
  for (const bool second_ready : {false, true}) {
    l = cvm.event_log();
    if (second_ready) l.push_back(app_event("system-ready", {}));
    l.push_back(app_event("app-id", cvm.app_id));
    l.push_back(app_event("app-id", bytes(20, 0x66)));
    o = run(cvm.report(pki(), l), pinning(cvm));
    ASSERT_TRUE(o.error.empty()) << o.error;
    EXPECT_EQ(o.status("event_log_replay"), factor_status::pass) << o.detail("event_log_replay");
    EXPECT_EQ(o.status("app_id"), factor_status::fail);
    EXPECT_EQ(o.detail("app_id"), "2 RTMR3 \"app-id\" events (the first at log entry " +
                                      std::to_string(l.size() - 2) + ") " + after);
    EXPECT_EQ(o.status("os_image_hash"), factor_status::pass) << o.detail("os_image_hash");
  }

  // Every identity the policy reads from RTMR3.
  const std::string kp = cvm.key_provider_payload();
  const sha256_digest compose = cvm.compose_hash();
  const std::pair<const char*, std::pair<std::string_view, byte_view>> identities[] = {
      {"compose_hash", {"compose-hash", compose}},
      {"instance_id", {"instance-id", cvm.instance_id}},
      {"key_provider", {"key-provider", as_bytes(kp)}}};
  for (const auto& [factor_name, event] : identities) {
    l = cvm.event_log();
    l.push_back(app_event(event.first, event.second));
    o = run(cvm.report(pki(), l), pinning(cvm));
    ASSERT_TRUE(o.error.empty()) << o.error;
    EXPECT_EQ(o.status(factor_name), factor_status::fail) << factor_name;
    EXPECT_NE(o.detail(factor_name).find(after), std::string::npos) << o.detail(factor_name);
  }

  // Events of other names after system-ready are the app's business.
  l = cvm.event_log();
  l.push_back(app_event("app-defined", as_bytes("anything")));
  o = run(cvm.report(pki(), l), pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_TRUE(o.report.ok()) << o.report.first_failure()->name << ": " << o.report.first_failure()->detail;
}

// dstack emits system-ready before any application code runs (and aborts the boot if it
// cannot): RTMR3 without it holds only the boot's events, read as dstack's verifier does.
TEST_F(PolicyEvaluate, LogWithoutSystemReadyIsReadWholeAndSaysSo) {
  const synthetic_cvm cvm;
  json::array l = cvm.event_log();
  l.erase(l.begin() + static_cast<std::ptrdiff_t>(index_of(l, "system-ready")));
  const auto o = run(cvm.report(pki(), l), pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_TRUE(o.report.ok()) << o.report.first_failure()->name << ": " << o.report.first_failure()->detail;
  for (const char* name : {"compose_hash", "app_id", "instance_id", "os_image_hash", "key_provider"}) {
    EXPECT_EQ(o.status(name), factor_status::pass) << name;
    EXPECT_NE(o.detail(name).find("the log has no system-ready event"), std::string::npos) << o.detail(name);
  }
  // The honest log does not carry the note.
  const auto honest = run(cvm.report(pki()), pinning(cvm));
  EXPECT_EQ(honest.detail("app_id").find("system-ready"), std::string::npos) << honest.detail("app_id");
}

// --- measurements -------------------------------------------------------------------------

TEST_F(PolicyEvaluate, MrtdOffTheAllowlistFails) {
  const synthetic_cvm cvm;
  synthetic_cvm other = cvm;
  other.td.mr_td = test::synthetic::filled<48>(0x77);
  const auto o = run(other.report(pki()), pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("mrtd"), factor_status::fail);
  EXPECT_NE(o.detail("mrtd").find("MRTD " + std::string(96, '7') + " is not in the policy's allowlist (1 value)"),
            std::string::npos)
      << o.detail("mrtd");
  EXPECT_EQ(o.report.first_failure()->name, "mrtd");
  // The info copy of the registers agrees with this quote: only the allowlist objects.
  EXPECT_EQ(o.status("info_registers"), factor_status::pass);
}

TEST_F(PolicyEvaluate, RtmrOffTheAllowlistFails) {
  const synthetic_cvm cvm;
  // Another kernel command line: a different RTMR2 (the log and the quote agree).
  json::array l = cvm.event_log();
  l[5] = test::synthetic::event(2, 6, "", as_bytes("other initrd"), crypto::sha384(as_bytes("other initrd")));
  const auto o = run(cvm.report(pki(), l), pinning(cvm));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("event_log_replay"), factor_status::pass);
  EXPECT_EQ(o.status("rtmr0"), factor_status::pass);
  EXPECT_EQ(o.status("rtmr1"), factor_status::pass);
  EXPECT_EQ(o.status("rtmr2"), factor_status::fail);
  EXPECT_NE(o.detail("rtmr2").find("is not in the policy's allowlist"), std::string::npos);
}

TEST_F(PolicyEvaluate, MrseamAllowlistAndRoleSections) {
  const synthetic_cvm cvm;
  // Gateway allowlists do not apply to a model CVM, and vice versa.
  const workload_policy p =
      parse_policy(R"({"gateway": {"mrseam": [")" + std::string(96, '1') + R"("]}})").value();
  auto o = run(cvm.report(pki()), p);
  EXPECT_EQ(o.status("mrseam"), factor_status::skip);
  const workload_policy q = parse_policy(R"({"model": {"mrseam": [")" + std::string(96, '1') + R"("]}})").value();
  o = run(cvm.report(pki()), q);
  EXPECT_EQ(o.status("mrseam"), factor_status::fail);
}

TEST_F(PolicyEvaluate, InfoRegistersDifferingFromTheQuoteFail) {
  const synthetic_cvm cvm;
  json::object r = cvm.report(pki());
  tcb_info(r)["rtmr1"] = std::string(96, 'c');
  const auto o = run(r, workload_policy{});
  EXPECT_EQ(o.status("info_registers"), factor_status::fail);
  EXPECT_NE(o.detail("info_registers").find("info.tcb_info.rtmr1 " + std::string(96, 'c')), std::string::npos);
}

// --- TD attributes --------------------------------------------------------------------------

TEST_F(PolicyEvaluate, DebugBitIsRejected) {
  synthetic_cvm cvm;
  cvm.td.td_attributes[0] |= 0x01;
  // The DCAP verifier already refuses a debug TD…
  auto o = run(cvm.report(pki()), workload_policy{});
  EXPECT_NE(o.error.find("DEBUG"), std::string::npos) << o.error;
  // …and the policy refuses it on its own, whatever the verifier's defaults.
  const synthetic_cvm honest;
  o = run(honest.report(pki()), workload_policy{});
  ASSERT_TRUE(o.verdict);
  attest::attestation_verdict debug = *o.verdict;
  debug.quote.td.td_attributes[0] |= 0x01;
  const factor_report r = evaluate(workload_policy{}, o.doc->attestations[0], debug, test::default_time);
  ASSERT_NE(r.find("td_debug"), nullptr);
  EXPECT_EQ(r.find("td_debug")->status, factor_status::fail);
  EXPECT_NE(r.find("td_debug")->detail.find("DEBUG bit set"), std::string::npos);
  EXPECT_FALSE(r.ok());
}

TEST_F(PolicyEvaluate, SeptVeDisableRequiredUnlessThePolicySaysOtherwise) {
  synthetic_cvm cvm;
  cvm.td.td_attributes[3] = 0;
  auto o = run(cvm.report(pki()), workload_policy{});
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("sept_ve_disable"), factor_status::fail);
  EXPECT_NE(o.detail("sept_ve_disable").find("0000000000000000"), std::string::npos);
  o = run(cvm.report(pki()), parse_policy(R"({"td_attributes": {"require_sept_ve_disable": false}})").value());
  EXPECT_EQ(o.status("sept_ve_disable"), factor_status::skip);
  EXPECT_TRUE(o.report.ok());
}

// --- TCB status ---------------------------------------------------------------------------

/// Collateral under which the synthetic quote (PCESVN 6) matches only the OutOfDate
/// level; the UpToDate level it misses is dated `newer`.
test::collateral_spec out_of_date_collateral(unix_time newer) {
  test::collateral_spec c;
  c.tcb_info.levels[0].tcb_date = newer;
  return c;
}

synthetic_cvm out_of_date_cvm() {
  synthetic_cvm cvm;
  cvm.spec.pck.sgx.pce_svn = 6;  // below the UpToDate level's 11, above the OutOfDate level's 5
  return cvm;
}

TEST_F(PolicyEvaluate, OutOfDateOutsideTheGraceWindowFails) {
  const synthetic_cvm cvm = out_of_date_cvm();
  // Intel published the level this platform misses 40 days before the verification time.
  const auto o = run(cvm.report(pki()), workload_policy{}, out_of_date_collateral(test::utc_date(2025, 11, 22)));
  ASSERT_TRUE(o.error.empty()) << o.error;
  ASSERT_EQ(o.verdict->quote.status, tdx::tcb_status::out_of_date);
  ASSERT_EQ(o.verdict->quote.newer_tcb_date, test::utc_date(2025, 11, 22));
  EXPECT_EQ(o.status("tcb_status"), factor_status::fail);
  const std::string d = o.detail("tcb_status");
  EXPECT_NE(d.find("OutOfDate (platform OutOfDate, TDX module TDX_01 UpToDate, QE UpToDate)"), std::string::npos) << d;
  EXPECT_NE(d.find("advisories INTEL-SA-00106, INTEL-SA-00115, INTEL-SA-00837"), std::string::npos) << d;
  EXPECT_NE(d.find("Intel published the newer TCB level on 2025-11-22, 40 days before 2026-01-01, beyond the "
                   "policy's 30-day grace window"),
            std::string::npos)
      << d;
  EXPECT_EQ(o.report.first_failure()->name, "tcb_status");
}

TEST_F(PolicyEvaluate, OutOfDateInsideTheGraceWindowWarns) {
  const synthetic_cvm cvm = out_of_date_cvm();
  const auto o = run(cvm.report(pki()), workload_policy{}, out_of_date_collateral(test::utc_date(2025, 12, 10)));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("tcb_status"), factor_status::warn);
  EXPECT_NE(o.detail("tcb_status").find("accepted within the policy's 30-day grace window: Intel published the newer "
                                        "TCB level on 2025-12-10, 22 days before 2026-01-01"),
            std::string::npos)
      << o.detail("tcb_status");
  EXPECT_TRUE(o.report.ok());

  // The window is the policy's: 20 days is too short for the same platform, 0 means never.
  for (const char* days : {"20", "0"}) {
    const auto p = parse_policy(std::string(R"({"tcb": {"grace_period_days": )") + days + "}}").value();
    const auto short_window =
        run(cvm.report(pki()), p, out_of_date_collateral(test::utc_date(2025, 12, 10)));
    EXPECT_EQ(short_window.status("tcb_status"), factor_status::fail) << days;
  }
}

TEST_F(PolicyEvaluate, UpToDateAndDeniedAdvisories) {
  const synthetic_cvm cvm;
  auto o = run(cvm.report(pki()), workload_policy{});
  EXPECT_EQ(o.status("tcb_status"), factor_status::pass);
  EXPECT_NE(o.detail("tcb_status").find("UpToDate (platform UpToDate"), std::string::npos);
  EXPECT_FALSE(o.verdict->quote.newer_tcb_date);

  // Advisories of the matched level on the deny list reject even inside the grace window.
  const synthetic_cvm late = out_of_date_cvm();
  const auto deny = parse_policy(R"({"tcb": {"denied_advisories": ["INTEL-SA-00837"]}})").value();
  o = run(late.report(pki()), deny, out_of_date_collateral(test::utc_date(2025, 12, 10)));
  EXPECT_EQ(o.status("tcb_status"), factor_status::warn);
  EXPECT_EQ(o.status("tcb_advisories"), factor_status::fail);
  EXPECT_NE(o.detail("tcb_advisories").find("INTEL-SA-00837"), std::string::npos);
  const auto other = parse_policy(R"({"tcb": {"denied_advisories": ["INTEL-SA-99999"]}})").value();
  o = run(late.report(pki()), other, out_of_date_collateral(test::utc_date(2025, 12, 10)));
  EXPECT_EQ(o.status("tcb_advisories"), factor_status::pass);
}

TEST_F(PolicyEvaluate, DeniedAdvisoriesMatchWhateverTheCase) {
  // Intel writes "INTEL-SA-00837"; a deny list written in lower case must still deny it.
  const synthetic_cvm late = out_of_date_cvm();
  const auto deny = parse_policy(R"({"tcb": {"denied_advisories": ["intel-sa-00837"]}})").value();
  const auto o = run(late.report(pki()), deny, out_of_date_collateral(test::utc_date(2025, 12, 10)));
  ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.status("tcb_advisories"), factor_status::fail) << o.detail("tcb_advisories");
  EXPECT_NE(o.detail("tcb_advisories").find("INTEL-SA-00837"), std::string::npos);
  EXPECT_FALSE(o.report.ok());
}

// --- model name -----------------------------------------------------------------------------

TEST_F(PolicyEvaluate, ModelNameMismatchIsAWarning) {
  const synthetic_cvm cvm;
  auto o = run(cvm.report(pki()), workload_policy{}, {}, test::default_time, "other/model");
  EXPECT_EQ(o.status("model_name"), factor_status::warn);
  EXPECT_NE(o.detail("model_name").find("requested \"other/model\" but the report says \"test/model-7b\""),
            std::string::npos);
  EXPECT_TRUE(o.report.ok());
  o = run(cvm.report(pki()), workload_policy{}, {}, test::default_time, "test/model-7b");
  EXPECT_EQ(o.status("model_name"), factor_status::pass);
}

TEST_F(PolicyEvaluate, HostileModelNameIsQuotedBoundedAndPrintable) {
  // The backend writes model_name, outside the quote, and a model_name warning is logged.
  synthetic_cvm cvm;
  cvm.model_name = "x\u202e\n2026-01-01T00:00:00.000Z INFO  attested" + std::string(200, 'y');
  const auto o = run(cvm.report(pki()), workload_policy{}, {}, test::default_time, "other/model");
  EXPECT_EQ(o.status("model_name"), factor_status::warn);
  const auto detail = o.detail("model_name");
  EXPECT_LT(detail.size(), 400u) << detail.size();
  EXPECT_NE(detail.find("the report says \"x\\xe2\\x80\\xae\\x0a2026-01-01"), std::string::npos) << detail;
  EXPECT_NE(detail.find("\"…"), std::string::npos) << detail;
  for (const char c : detail.substr(0, detail.find("…"))) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "raw byte " << static_cast<int>(static_cast<unsigned char>(c));
  }
}

TEST_F(PolicyEvaluate, MutatedEvidenceNeverCrashesAndNeverPassesSilently) {
  // Deterministic byte mutations of the untrusted evidence (event log and info as JSON
  // strings, the gateway's encoding), each evaluated against the honest quote's verdict.
  const synthetic_cvm cvm;
  const json::object honest = cvm.report(pki());
  const auto baseline = run(honest, pinning(cvm));
  ASSERT_TRUE(baseline.verdict) << baseline.error;
  const std::string log_text = json::serialize(honest.at("event_log"));
  const std::string info_text = json::serialize(honest.at("info"));
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  std::size_t parsed = 0;
  std::size_t accepted = 0;
  for (int i = 0; i < 400; ++i) {
    std::string log_m = log_text;
    std::string info_m = info_text;
    std::string& target = (i % 2 == 0) ? log_m : info_m;
    for (int k = 0; k < 1 + i % 3; ++k) {
      const std::size_t at = next() % target.size();
      target[at] = static_cast<char>("0123456789abcdef\"{}[],:x "[next() % 27]);
    }
    json::object r = honest;
    r["event_log"] = log_m;
    r["info"] = info_m;
    const auto doc = attest::parse_report_document(json::serialize(r));
    if (!doc) continue;
    ++parsed;
    const factor_report rep = evaluate(pinning(cvm), doc->attestations[0], *baseline.verdict, test::default_time);
    ASSERT_EQ(rep.factors.size(), 19u);
    if (rep.ok()) {
      ++accepted;
      // Accepted only if what the policy relies on is still what the quote proves.
      EXPECT_EQ(rep.find("event_log_replay")->status, factor_status::pass);
      EXPECT_EQ(rep.find("app_id")->status, factor_status::pass);
    }
  }
  EXPECT_GT(parsed, 50u);  // the mutations reach evaluate(), not only the JSON parser
  EXPECT_LT(accepted, parsed);
}

// ---------------------------------------------------------------------------------------
// Real captures: the built-in policy passes every direct capture at its capture time

class PolicyCapture : public testing::TestWithParam<std::string> {};

std::shared_ptr<const tdx::prepared_collateral> capture_collateral(const test::nearai::capture& c,
                                                                   const std::string& pcs_dir) {
  const auto raw = collateral::load_collateral(*test::shared_testdata_dir() / c.dir / pcs_dir);
  EXPECT_TRUE(raw) << raw.error().message;
  auto prepared = tdx::prepare_collateral(raw.value(), tdx::intel_sgx_root_ca());
  EXPECT_TRUE(prepared) << prepared.error().message;
  return prepared.value();
}

TEST_P(PolicyCapture, BuiltInPolicyAtCaptureTime) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = attest::parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  const unix_time at = from_unix_seconds(c.verify_at);
  for (const auto& entry_value : c.attestations()) {
    const json::object& e = entry_value.as_object();
    const auto* a = doc->find(str(e.at("json_pointer")));
    ASSERT_NE(a, nullptr);
    SCOPED_TRACE(c.name + " " + a->json_pointer);
    const auto verdict = attest::verify_attestation(*a, c.nonce, c.live_spki_for(e),
                                                    *capture_collateral(c, str(e.at("pcs_dir"))),
                                                    tdx::intel_sgx_root_ca(), at);
    ASSERT_TRUE(verdict) << verdict.error().message;
    const factor_report r = evaluate(nearai_policy(), *a, *verdict, at, str(c.request.at("model")));

    const bool out_of_date = str(e.at("dcap").at("tcb_status")) == "OutOfDate";
    for (const factor& f : r.factors) {
      if (out_of_date && f.name == "tcb_status") continue;
      EXPECT_NE(f.status, factor_status::fail) << f.name << ": " << f.detail;
    }
    // What the policy read equals what expected.json computed from the same files.
    const auto& payloads = e.at("rtmr3_event_payloads").as_object();
    EXPECT_NE(r.find("app_id")->detail.find(str(payloads.at("app-id"))), std::string::npos);
    EXPECT_NE(r.find("os_image_hash")->detail.find(str(payloads.at("os-image-hash"))), std::string::npos);
    EXPECT_NE(r.find("instance_id")->detail.find(str(payloads.at("instance-id"))), std::string::npos);
    EXPECT_NE(r.find("compose_hash")->detail.find(str(e.at("app_compose").at("sha256"))), std::string::npos);
    EXPECT_EQ(r.find("mrtd")->status, factor_status::pass);
    EXPECT_EQ(r.find("rtmr1")->status, factor_status::pass);
    EXPECT_EQ(r.find("rtmr2")->status, factor_status::pass);
    EXPECT_EQ(r.find("key_provider")->status, factor_status::pass);
    EXPECT_EQ(r.find("model_name")->status,
              a->role == attest::attestation_role::model ? factor_status::pass : factor_status::skip);

    if (out_of_date) {
      // gateway-2026-04-24: the gateway CVM's platform was OutOfDate; Intel had published
      // the level it misses on 2024-11-13, far beyond the default 30-day window.
      ASSERT_EQ(a->json_pointer, "/gateway_attestation");
      EXPECT_FALSE(r.ok());
      EXPECT_EQ(r.first_failure()->name, "tcb_status");
      EXPECT_NE(r.first_failure()->detail.find("OutOfDate (platform OutOfDate, TDX module TDX_01 UpToDate, QE UpToDate), "
                                               "advisories INTEL-SA-01036, INTEL-SA-01079, INTEL-SA-01099, "
                                               "INTEL-SA-01103, INTEL-SA-01111"),
                std::string::npos)
          << r.first_failure()->detail;
      EXPECT_NE(r.first_failure()->detail.find("Intel published the newer TCB level on 2024-11-13, 527 days before "
                                               "2026-04-24"),
                std::string::npos)
          << r.first_failure()->detail;
      // A policy with a long enough grace window accepts it, with a warning.
      const auto lenient = parse_policy(std::string(nearai_policy_json()).replace(
                                            std::string(nearai_policy_json()).find("\"grace_period_days\": 30"),
                                            std::string_view("\"grace_period_days\": 30").size(),
                                            "\"grace_period_days\": 600"))
                               .value();
      const factor_report accepted = evaluate(lenient, *a, *verdict, at);
      EXPECT_TRUE(accepted.ok()) << accepted.first_failure()->name;
      EXPECT_EQ(accepted.find("tcb_status")->status, factor_status::warn);
    } else {
      EXPECT_TRUE(r.ok());
      EXPECT_EQ(r.find("tcb_status")->status, factor_status::pass);
    }

    // The empty policy: the same consistency checks, nothing pinned.
    const factor_report empty = evaluate(workload_policy{}, *a, *verdict, at);
    EXPECT_EQ(empty.find("mrtd")->status, factor_status::skip);
    EXPECT_EQ(empty.find("event_log_replay")->status, factor_status::pass);
    EXPECT_EQ(empty.find("mrconfigid")->status, factor_status::pass);
  }
}

TEST(PolicyCaptureCrossRole, ModelValuesDoNotPassAsGatewayValues) {
  VP_REQUIRE_SHARED_TESTDATA();
  // The gateway CVM evaluated as if it were a model CVM: its measurements and app id are
  // not the model's, so the per-role allowlists keep the two apart.
  const auto c = test::nearai::load_capture("gateway-2026-06-29");
  const auto doc = attest::parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  attest::near_attestation gateway = *doc->find("/gateway_attestation");
  const auto verdict = attest::verify_attestation(gateway, c.nonce, *c.peer_spki_sha256,
                                                  *capture_collateral(c, "pcs/gateway"), tdx::intel_sgx_root_ca(),
                                                  from_unix_seconds(c.verify_at));
  ASSERT_TRUE(verdict) << verdict.error().message;
  gateway.role = attest::attestation_role::model;
  const factor_report r = evaluate(nearai_policy(), gateway, *verdict, from_unix_seconds(c.verify_at));
  EXPECT_EQ(r.find("app_id")->status, factor_status::fail);
  EXPECT_EQ(r.find("mrtd")->status, factor_status::fail);
  EXPECT_EQ(r.find("os_image_hash")->status, factor_status::fail);
  EXPECT_EQ(r.find("key_provider")->status, factor_status::pass);  // one KMS for both
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, PolicyCapture, testing::ValuesIn(test::nearai::capture_names()),
                         test::nearai::param_name);

}  // namespace
}  // namespace vp::policy

namespace vp::policy {
namespace {

TEST(PolicyRoles, AUnpinnedRoleBesideAPinnedOneIsRefused) {
  using attest::attestation_role;
  const auto model_only =
      parse_policy(R"({"model":{"app_id":["2c0a0c96cb6dbd659bf1446e2f3fce58172ff91b"]}})").value();
  EXPECT_FALSE(unpinned_role(model_only, attestation_role::model));
  const auto refused = unpinned_role(model_only, attestation_role::gateway);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->name, "gateway_not_pinned");
  EXPECT_EQ(refused->status, factor_status::fail);

  // Nothing pinned at all ({}): a diagnostic policy, both forms judged by the same rules.
  const auto empty = parse_policy("{}").value();
  EXPECT_FALSE(unpinned_role(empty, attestation_role::model));
  EXPECT_FALSE(unpinned_role(empty, attestation_role::gateway));
  // The built-in policy pins both roles.
  EXPECT_FALSE(unpinned_role(nearai_policy(), attestation_role::model));
  EXPECT_FALSE(unpinned_role(nearai_policy(), attestation_role::gateway));
}

}  // namespace
}  // namespace vp::policy
