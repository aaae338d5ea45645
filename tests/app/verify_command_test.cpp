// `verified-proxy verify`: one live attestation of a simulated backend, in-process and as
// the real programs a person runs (the simulator's config file), with the verdicts a
// person meets — verified, refused naming the check, unreachable — in the table and in
// JSON, directly and behind the simulated gateway.

#include "app/verify_command.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "app/factor_report.hpp"
#include "sim/simulator.hpp"
#include "support/child_process.hpp"
#include "support/command_test.hpp"

namespace vp::app {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* domain = "sim.completions.near.ai";
constexpr const char* hint = "Run `verified-proxy verify --help` for its flags.\n";

/// One GPU per CVM: every GPU factor still runs, at an eighth of the cost.
sim::simulator_options one_gpu(bool gateway = false) {
  sim::simulator_options o;
  o.gpus = 1;
  if (gateway) o.gateway = sim::gateway_options{};
  return o;
}

/// "  PASS  quote                  ": the start of a factor's table row.
std::string row(std::string_view status, std::string_view name) {
  std::string out = "  " + std::string(status) + "  " + std::string(name);
  out.resize(2 + 4 + 2 + 22 + 1, ' ');
  return out;
}

json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.as_object() : json::object{};
}

/// Sets an environment variable for one test.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (saved_) {
      ::setenv(name_, saved_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

class VerifyCommand : public testing::Test {
 protected:
  /// The simulator's proxy flags and policy, less --endpoints-url: a flag of serve's
  /// routing that verify does not take (it names the backend itself).
  std::vector<std::string> flags(const sim::simulator& sim) const {
    std::vector<std::string> out;
    const auto all = sim.write_proxy_files(dir_.path());
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i] == "--endpoints-url") {
        ++i;
        continue;
      }
      out.push_back(all[i]);
    }
    out.push_back("--policy");
    out.push_back(sim.write_policy_file(dir_.path()).string());
    return out;
  }
  std::vector<std::string> args(const sim::simulator& sim, std::vector<std::string> first) const {
    for (auto& f : flags(sim)) first.push_back(std::move(f));
    return first;
  }
  static test::command_outcome verify(const std::vector<std::string>& a) {
    return test::run_command(verify_command, a);
  }

  test::temp_dir dir_{"vp-verify-test"};
};

TEST_F(VerifyCommand, AHealthyBackendIsVerifiedWithEveryFactor) {
  const sim::simulator sim(one_gpu());
  const auto r = verify(args(sim, {domain, "--model", "sim-model"}));
  ASSERT_EQ(r.code, exit_ok) << r.out << r.err;

  EXPECT_NE(r.out.find("Report: direct form, 1 attestation; policy "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Connection: sim.completions.near.ai via 127.0.0.1:" +
                       std::to_string(sim.backend_port(domain)) + ", TLS key sha256 " +
                       shorten_hex(sim.spki_sha256_hex(domain, 0))),
            std::string::npos)
      << r.out;
  for (const char* name : {"quote", "binding", "tcb_status", "td_debug", "event_log_replay", "compose_hash", "app_id",
                           "key_provider", "os_image_hash", "mrtd", "model_name", "gpu_evidence", "gpu_measurements",
                           "gpu_nras"}) {
    EXPECT_NE(r.out.find(row("PASS", name)), std::string::npos) << name << "\n" << r.out;
  }
  EXPECT_EQ(r.out.find("FAIL  "), std::string::npos) << r.out;
  // The summary comes first, in plain words.
  const auto proven = r.out.find("Proven:\n  - genuine Intel TDX hardware");
  EXPECT_NE(proven, std::string::npos) << r.out;
  EXPECT_LT(proven, r.out.find(row("PASS", "quote")));
  EXPECT_NE(r.out.find("bound to the TLS connection verified-proxy opened"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 genuine NVIDIA GPU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Not proven:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("response signatures are not checked here"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Result: VERIFIED: the proxy would forward requests to sim.completions.near.ai"),
            std::string::npos)
      << r.out;

  // One attestation request, and nothing else reached the backend.
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  EXPECT_EQ(sim.request_count(domain), 0u);
}

TEST_F(VerifyCommand, ARefusedBackendExitsOneWithTheProxysReason) {
  sim::simulator sim(one_gpu());
  sim.set_faults(domain, 0, {.wrong_nonce = true});
  auto r = verify(args(sim, {domain}));
  EXPECT_EQ(r.code, exit_rejected) << r.out << r.err;
  EXPECT_NE(r.out.find(row("FAIL", "binding") + "nonce_mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Failed:\n  - binding: nonce_mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Result: REFUSED: Nothing was sent to sim.completions.near.ai: its attestation is not bound "
                       "to this connection (nonce_mismatch)"),
            std::string::npos)
      << r.out;

  // A workload the policy does not pin: refused by its factor, every earlier one passed.
  sim.set_faults(domain, 0, {.tampered_workload = sim::workload_tampering::foreign_app_id});
  r = verify(args(sim, {domain}));
  EXPECT_EQ(r.code, exit_rejected) << r.out << r.err;
  EXPECT_NE(r.out.find(row("PASS", "binding")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(row("FAIL", "app_id")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failed the app_id check of workload policy"), std::string::npos) << r.out;
  EXPECT_EQ(sim.request_count(domain), 0u);
}

TEST_F(VerifyCommand, AnUnreachableBackendExitsTwo) {
  const sim::simulator sim(one_gpu());
  // Port 1 on loopback: nothing listens.
  auto a = args(sim, {"closed.example", "--allow-domain", "closed.example", "--connect-to",
                      "closed.example:443:127.0.0.1:1"});
  auto r = verify(a);
  EXPECT_EQ(r.code, exit_usage) << r.out << r.err;
  EXPECT_NE(r.out.find("Result: REFUSED: Nothing was sent to closed.example: it could not be reached"),
            std::string::npos)
      << r.out;

  a.push_back("--json");
  r = verify(a);
  EXPECT_EQ(r.code, exit_usage);
  const auto o = parse_object(r.out);
  EXPECT_EQ(o.at("ok"), false);
  EXPECT_EQ(o.at("refusal").at("code"), "backend_unreachable");
  EXPECT_EQ(o.at("refusal").at("phase"), "connect");
  EXPECT_TRUE(o.at("tls_spki_sha256").is_null());
  EXPECT_TRUE(o.at("factors").as_array().empty());
}

TEST_F(VerifyCommand, JsonIsOneObjectShapedLikeVerifyReports) {
  sim::simulator sim(one_gpu());
  auto r = verify(args(sim, {domain, "--model", "sim-model", "--json"}));
  ASSERT_EQ(r.code, exit_ok) << r.out << r.err;
  auto o = parse_object(r.out);
  EXPECT_EQ(o.at("ok"), true);
  EXPECT_EQ(o.at("form"), "direct");
  EXPECT_EQ(o.at("tls"), "live");
  EXPECT_EQ(o.at("backend"), domain);
  EXPECT_EQ(o.at("model"), "sim-model");
  EXPECT_EQ(o.at("dialled").as_string(), "127.0.0.1:" + std::to_string(sim.backend_port(domain)));
  EXPECT_EQ(o.at("tls_spki_sha256").as_string(), sim.spki_sha256_hex(domain, 0));
  EXPECT_EQ(o.at("nonce").as_string().size(), 64u);
  EXPECT_TRUE(o.at("refusal").is_null());
  EXPECT_TRUE(o.at("first_failure").is_null());
  EXPECT_TRUE(o.at("policy").is_string());
  EXPECT_TRUE(o.at("verified_at").is_int64());
  EXPECT_FALSE(o.at("summary").at("proven").as_array().empty());
  const auto& attestation = o.at("attestations").at(0).as_object();
  EXPECT_EQ(attestation.at("role"), "model");
  EXPECT_EQ(attestation.at("ok"), true);
  EXPECT_EQ(attestation.at("tls_cert_fingerprint").as_string(), sim.spki_sha256_hex(domain, 0));
  std::vector<std::string> names;
  for (const auto& f : o.at("factors").as_array()) {
    const auto& factor = f.as_object();
    for (const char* key : {"attestation", "name", "status", "detail"}) EXPECT_TRUE(factor.contains(key)) << key;
    names.emplace_back(factor.at("name").as_string());
  }
  EXPECT_EQ(names.front(), "quote");
  EXPECT_NE(std::find(names.begin(), names.end(), "gpu_nras"), names.end());
  // Full hex in JSON: the binding's detail names the whole fingerprint.
  EXPECT_NE(json::serialize(o.at("factors").at(1)).find(sim.spki_sha256_hex(domain, 0)), std::string::npos);

  sim.set_faults(domain, 0, {.debug_td = true});
  r = verify(args(sim, {domain, "--json"}));
  EXPECT_EQ(r.code, exit_rejected) << r.out;
  o = parse_object(r.out);
  EXPECT_EQ(o.at("ok"), false);
  EXPECT_EQ(o.at("first_failure").at("name"), "quote");
  EXPECT_EQ(o.at("refusal").at("code"), "debug_td");
  EXPECT_TRUE(o.at("refusal").at("message").as_string().starts_with("Nothing was sent to sim.completions.near.ai"));
}

TEST_F(VerifyCommand, TheGatewayFormAttestsTheGatewayAndTheModelBehindIt) {
  sim::simulator sim(one_gpu(true));
  const scoped_env key("NEARAI_API_KEY", "sk-test-verify");
  auto r = verify(args(sim, {"--gateway", "--model", "sim-model"}));
  ASSERT_EQ(r.code, exit_ok) << r.out << r.err;
  EXPECT_NE(r.out.find("Report: gateway form, 2 attestations"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Attestation /gateway_attestation: gateway CVM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Attestation /model_attestations/0: model CVM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  - gateway CVM /gateway_attestation: bound to the TLS connection verified-proxy opened"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  - model CVM /model_attestations/0: that it terminates the gateway's connection"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Result: VERIFIED: the proxy would forward requests to cloud-api.near.ai (model sim-model)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(sim.gateway_attestation_count(), 1u);
  EXPECT_TRUE(sim.gateway_exchanges().empty());

  sim.set_gateway_faults({.model_other_nonce = true});
  r = verify(args(sim, {"--gateway", "--model", "sim-model", "--json"}));
  EXPECT_EQ(r.code, exit_rejected) << r.out << r.err;
  const auto o = parse_object(r.out);
  EXPECT_EQ(o.at("backend"), "cloud-api.near.ai (model sim-model)");
  EXPECT_EQ(o.at("refusal").at("code"), "nonce_mismatch");
  EXPECT_EQ(o.at("refusal").at("attestation"), "/model_attestations/0");
  EXPECT_EQ(o.at("attestations").at(0).at("json_pointer"), "/gateway_attestation");
  EXPECT_EQ(o.at("attestations").at(0).at("ok"), true);
  EXPECT_EQ(o.at("attestations").at(1).at("ok"), false);

  // The gateway answers reports only to API keys: without one nothing is asked.
  const scoped_env no_key("NEARAI_API_KEY", nullptr);
  r = verify(args(sim, {"--gateway", "--model", "sim-model"}));
  EXPECT_EQ(r.code, exit_usage);
  EXPECT_NE(r.err.find("NEARAI_API_KEY"), std::string::npos) << r.err;
  EXPECT_EQ(sim.gateway_attestation_count(), 2u);
}

TEST_F(VerifyCommand, UsageErrorsExitTwoWithTheHint) {
  const scoped_env key("NEARAI_API_KEY", "sk-test-verify");
  for (const auto& a : std::vector<std::vector<std::string>>{
           {},
           {domain, "--gateway", "--model", "m"},
           {"--gateway"},
           {"not a host!"},
           {"example.com"},
           {domain, "--port", "9000"},
           {domain, "--connect-timeout", "soon"},
           {domain, "--bogus"}}) {
    const auto r = verify(a);
    EXPECT_EQ(r.code, exit_usage) << testing::PrintToString(a);
    EXPECT_TRUE(r.err.ends_with(hint)) << testing::PrintToString(a) << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_NE(verify({"example.com"}).err.find("example.com is not allowed by --allow-domain (*.completions.near.ai)"),
            std::string::npos);
  EXPECT_NE(verify({"cloud-api.near.ai"}).err.find("the gateway is attested with --gateway"), std::string::npos);

  const auto help = verify({"--help"});
  EXPECT_EQ(help.code, exit_ok);
  EXPECT_NE(help.out.find("Usage: verified-proxy verify DOMAIN"), std::string::npos);
  EXPECT_NE(help.out.find("--connect-to"), std::string::npos);
  // Listening is serve's alone.
  EXPECT_EQ(help.out.find("--port"), std::string::npos);
  EXPECT_EQ(help.out.find("--endpoints-url"), std::string::npos);
}

TEST_F(VerifyCommand, ReadsServesConfigFileAndIgnoresWhatOnlyServingUses) {
  const sim::simulator sim(one_gpu());
  // Serve's keys (listening, routing, serving) beside the backend's, as in a user's file.
  std::string toml = "port = 9000\nlog-format = \"json\"\nendpoints-url = \"http://127.0.0.1:1/endpoints\"\n"
                     "attestation-ttl = \"10m\"\ne2ee = \"required\"\n";
  const auto f = flags(sim);
  for (std::size_t i = 0; i < f.size(); ++i) {
    const std::string key = f[i].substr(2);
    if (i + 1 == f.size() || f[i + 1].starts_with("--")) {
      toml += key + " = true\n";
    } else {
      toml += key + " = " + json::serialize(json::value(f[++i])) + "\n";
    }
  }
  const std::string config = dir_.write("config.toml", toml);
  const auto r = verify({"--config", config, domain});
  EXPECT_EQ(r.code, exit_ok) << r.out << r.err;
  EXPECT_NE(r.out.find("Result: VERIFIED"), std::string::npos) << r.out;

  // A key no command knows is the file's error, named with its line.
  const std::string typo = dir_.write("typo.toml", "prot = 9000\n");
  const auto bad = verify({"--config", typo, domain});
  EXPECT_EQ(bad.code, exit_usage);
  EXPECT_NE(bad.err.find("typo.toml:1: unknown key 'prot' (did you mean 'port'?)"), std::string::npos) << bad.err;
}

TEST(VerifyProcess, ThePrintedSimulatorConfigVerifiesItsBackend) {
  const test::temp_dir dir("vp-verify-process");
  test::child_process sim(test::built_program("verified-proxy-sim"), {"--out", dir.path().string(), "--gpus", "1"});
  ASSERT_TRUE(sim.wait_for_output("Serving until", 20s)) << sim.output();
  test::child_process verify(test::built_program("verified-proxy"),
                             {"verify", "--config", (dir.path() / "config.toml").string(), domain, "--model",
                              "sim-model"});
  EXPECT_EQ(verify.wait(30s), std::optional<int>(exit_ok)) << verify.output();
  EXPECT_NE(verify.output().find("Result: VERIFIED"), std::string::npos) << verify.output();
  sim.send_signal(SIGINT);
  EXPECT_EQ(sim.wait(10s), std::optional<int>(0));
}

}  // namespace
}  // namespace vp::app
