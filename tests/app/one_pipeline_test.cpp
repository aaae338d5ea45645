// One pipeline, one answer: for each simulator fault and each tampering of the workload
// evidence, the code of the proxy's refusal equals verify-report's first_failure code
// when verify-report is given the evidence the same backend serves (its report body, the
// nonce, the TLS key, the collateral), and both name the check that should fail.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <sstream>

#include "app/verify_report_command.hpp"
#include "appraise/appraisal.hpp"
#include "collateral/bundle.hpp"
#include "collateral/pcs_source.hpp"
#include "core/hex.hpp"
#include "net/http_client.hpp"
#include "server/proxy_harness.hpp"
#include "support/run_bounded.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view domain = "sim.completions.near.ai";

const system_clock& wall_clock() {
  static const system_clock c;
  return c;
}

/// What a backend serves on one connection: the report body as received, the nonce asked
/// with, the live TLS key, and the collateral of its quote's platform (QuoteCollateralV3).
struct evidence {
  std::string report;
  std::string nonce_hex;
  std::string spki_hex;
  std::string collateral_json;
  std::string nras_answer;  ///< NVIDIA's (the fake NRAS's) answer about the GPUs ("" for none)
};

evidence capture(const sim::simulator& sim, const temp_file& upstream_ca) {
  evidence out;
  asio::io_context io;
  const upstream::tls_client_context tls(upstream::tls_client_options{true, upstream_ca.path()});
  auto client = std::make_shared<net::http_client>(io.get_executor(), net::http_client_options{});
  const auto anchor = tdx::load_trust_anchor(as_bytes(sim.root_ca_pem())).value();
  collateral::pcs_source source(client, collateral::pcs_source_options{{sim.pccs_url()}, 0}, anchor, wall_clock());
  auto work = [&]() -> asio::awaitable<bool> {
    upstream::connect_options options;
    options.connect_to = upstream::dial_address{"127.0.0.1", sim.backend_port(domain)};
    auto conn = co_await upstream::connect_upstream(io.get_executor(), tls, std::string(domain), 443, options);
    if (!conn) co_return false;
    auto fetched = co_await upstream::fetch_report(*conn);
    if (!fetched) co_return false;
    out.report = fetched->body;
    out.nonce_hex = to_hex(fetched->nonce);
    out.spki_hex = to_hex(conn->spki_sha256());
    const auto doc = attest::parse_report_document(out.report);
    if (!doc) co_return false;
    const auto platform = tdx::identify_platform(doc->attestations.front().intel_quote);
    if (!platform) co_return false;
    auto collateral = co_await source.get(collateral::platform_key{platform->fmspc, platform->pck_ca});
    if (!collateral || !collateral->raw) co_return false;
    out.collateral_json = tdx::to_collateral_v3_json(*collateral->raw);
    const auto needed = appraise::needs(*doc, appraise::mode::connection);
    if (!needed.nras.empty()) {
      auto answer = co_await client->post(sim.nras_url(), needed.nras.front().payload, "application/json");
      if (answer && answer->status == 200) out.nras_answer = answer->body;
    }
    co_return true;
  };
  EXPECT_EQ(run_bounded(io, 10s, work()), std::optional<bool>(true));
  return out;
}

/// verify-report --json on `e`, with the simulator's policy and roots (null when its output is not JSON).
json::value verify_report_json(const sim::simulator& sim, const evidence& e, std::string& raw) {
  const temp_file report(e.report, ".json"), collateral(e.collateral_json, ".json"), policy(sim.policy_json(), ".json"),
      root(sim.root_ca_pem()), nvidia_root(sim.nvidia_root_ca_pem()), nras_answer(e.nras_answer, ".json"),
      nras_keys(sim.nras_jwks_json(), ".json");
  std::ostringstream out, err;
  const system_clock clock;
  std::vector<std::string> args = {"--report", report.path(), "--nonce", e.nonce_hex, "--spki-sha256", e.spki_hex,
                                   "--collateral", collateral.path(), "--policy", policy.path(), "--root-ca",
                                   root.path(), "--nvidia-root-ca", nvidia_root.path(), "--json"};
  if (!e.nras_answer.empty()) {
    args.insert(args.end(), {"--nras-response", nras_answer.path(), "--nras-jwks", nras_keys.path(), "--nras-key-pin",
                             sim.nras_key_pin()});
  }
  const int code = app::verify_report_command(args, out, err, clock);
  EXPECT_NE(code, 2) << err.str();
  raw = out.str();
  boost::system::error_code ec;
  auto v = json::parse(raw, ec);
  if (ec || !v.is_object()) return nullptr;
  return v;
}

/// verify-report's first_failure code on `e` ("" when it accepts).
std::string verify_report_code(const sim::simulator& sim, const evidence& e) {
  std::string raw;
  const auto v = verify_report_json(sim, e, raw);
  if (!v.is_object()) return "<not JSON: " + raw + ">";
  const auto& failure = v.as_object().at("first_failure");
  if (failure.is_null()) return "";
  const auto* c = failure.as_object().if_contains("code");
  return c && c->is_string() ? std::string(c->as_string()) : "<no code>";
}

struct fault_case {
  const char* name;
  sim::backend_faults faults;
  const char* expected_code;  ///< "" for an accepted backend
};

class OnePipeline : public ::testing::TestWithParam<fault_case> {};

TEST_P(OnePipeline, ProxyAndVerifyReportNameTheSameFailure) {
  sim::simulator_options o = harness_options();  // GPU faults hit GPU 0 of 1
  o.domains[0].faults = GetParam().faults;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  const std::string proxy_code = r.status == 200 ? "" : error_code_of(r);

  const temp_file upstream_ca(sim.upstream_ca_pem());
  const auto e = capture(sim, upstream_ca);
  ASSERT_FALSE(e.report.empty());
  EXPECT_EQ(verify_report_code(sim, e), proxy_code) << "proxy answered " << r.status << " " << r.body;
  EXPECT_EQ(proxy_code, GetParam().expected_code) << r.body;
}

using tampering = sim::workload_tampering;
INSTANTIATE_TEST_SUITE_P(
    Switches, OnePipeline,
    ::testing::Values(fault_case{"healthy", {}, ""},
                      fault_case{"wrong_fingerprint", {.wrong_fingerprint = true}, "fingerprint_mismatch"},
                      fault_case{"wrong_nonce", {.wrong_nonce = true}, "nonce_mismatch"},
                      fault_case{"untrusted_root", {.untrusted_root = true}, "untrusted_chain"},
                      fault_case{"revoked_pck", {.revoked_pck = true}, "certificate_revoked"},
                      fault_case{"out_of_date_tcb", {.out_of_date_tcb = true}, "tcb_status"},
                      fault_case{"debug_td", {.debug_td = true}, "debug_td"},
                      fault_case{"altered_event", {.tampered_workload = tampering::altered_event}, "event_log_replay"},
                      fault_case{"changed_compose", {.tampered_workload = tampering::changed_compose}, "compose_hash"},
                      fault_case{"foreign_app_id", {.tampered_workload = tampering::foreign_app_id}, "app_id"},
                      fault_case{"foreign_os_image", {.tampered_workload = tampering::foreign_os_image}, "os_image_hash"},
                      fault_case{"foreign_kms", {.tampered_workload = tampering::foreign_kms}, "key_provider"},
                      fault_case{"foreign_mrtd", {.tampered_workload = tampering::foreign_mrtd}, "mrtd"},
                      // GPU evidence (docs/gpu-signatures-e2ee.md §1.4): every local check is the
                      // gpu_evidence factor; the simulator's policy requires GPUs.
                      fault_case{"gpu_wrong_nonce", {.gpu_wrong_nonce = true}, "gpu_evidence"},
                      fault_case{"gpu_bad_signature", {.gpu_bad_signature = true}, "gpu_evidence"},
                      fault_case{"gpu_foreign_root", {.gpu_foreign_root = true}, "gpu_evidence"},
                      fault_case{"gpu_missing_payload", {.gpu_missing_payload = true}, "gpu_evidence"},
                      fault_case{"gpu_fewer", {.gpu_fewer = true}, "gpu_evidence"},
                      fault_case{"gpu_payload_nonce", {.gpu_payload_nonce = true}, "gpu_evidence"}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

/// The status of factor `name` in a verify-report --json result ("" when absent).
std::string factor_status(const json::value& result, std::string_view name) {
  for (const auto& f : result.at("factors").as_array()) {
    if (f.at("name").as_string() == name) return std::string(f.at("status").as_string());
  }
  return "";
}

TEST(OnePipelineGpus, VerifyReportPassesTheGpusAHealthySimulatorServes) {
  sim::simulator sim;  // 8 GPUs per CVM, like NEAR
  const temp_file upstream_ca(sim.upstream_ca_pem());
  const auto e = capture(sim, upstream_ca);
  ASSERT_FALSE(e.report.empty());
  std::string raw;
  const auto v = verify_report_json(sim, e, raw);
  ASSERT_TRUE(v.is_object()) << raw;
  EXPECT_TRUE(v.at("ok").as_bool()) << raw;
  EXPECT_EQ(factor_status(v, "gpu_evidence"), "pass") << raw;
  EXPECT_EQ(factor_status(v, "gpu_measurements"), "pass") << raw;
  EXPECT_EQ(factor_status(v, "gpu_nras"), "pass") << raw;
  EXPECT_NE(raw.find("8 HOPPER GPUs"), std::string::npos) << raw;
}

}  // namespace
}  // namespace vp::test
