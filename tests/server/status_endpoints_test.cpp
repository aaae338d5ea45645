// The proxy's own endpoints under /_proxy/ end to end, against the simulator: one backend
// verified, one refused by its workload (a foreign app id). The status JSON lists both keys
// with their factors and the refusal; healthz follows the discovery list; the metrics move
// and parse with Prometheus's own parser; the status page renders in a real headless
// Chromium; the Host rule refuses what a rebinding web page would send; and nothing under
// the prefix ever reaches a backend.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "observe/status_page.hpp"
#include "server/proxy_harness.hpp"
#include "support/child_process.hpp"
#include "support/command_test.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr std::string_view good_domain = "sim.completions.near.ai";
constexpr std::string_view bad_domain = "bad.completions.near.ai";

/// Two domains: sim-model on a healthy CVM, bad-model on one measured as another app.
sim::simulator_options two_backends() {
  sim::simulator_options o = harness_options();
  sim::domain_options bad;
  bad.domain = std::string(bad_domain);
  bad.models = {"bad-model"};
  bad.faults.tampered_workload = sim::workload_tampering::foreign_app_id;
  o.domains.push_back(bad);
  return o;
}

const std::vector<std::string> both_domains = {std::string(good_domain), std::string(bad_domain)};

client_request get(std::string target) {
  client_request r;
  r.target = std::move(target);
  return r;
}

/// GET with a Host field of the test's choosing (the test client always sends its own).
client_response get_with_host(std::uint16_t port, std::string_view target, std::string_view host) {
  http_test_client client(port);
  return client.send_raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) +
                         "\r\nConnection: close\r\n\r\n");
}

json::value status_of(std::uint16_t port) {
  const auto r = http_exchange(port, get("/_proxy/status"));
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  return json::parse(r.body);
}

const json::object* backend_named(const json::value& status, std::string_view key) {
  for (const auto& b : status.at("backends").as_array()) {
    if (b.at("verdict_key").as_string() == key) return &b.as_object();
  }
  return nullptr;
}

const json::object* factor_named(const json::object& entity, std::string_view name) {
  for (const auto& f : entity.at("factors").as_array()) {
    if (f.at("name").as_string() == name) return &f.as_object();
  }
  return nullptr;
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds within = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// One verified request (sim-model) and one refused (bad-model).
void verified_and_refused(std::uint16_t port) {
  const auto ok = http_exchange(port, chat_request("sim-model", false, secret_prompt));
  ASSERT_EQ(ok.status, 200u) << ok.body;
  const auto refused = http_exchange(port, chat_request("bad-model", false, secret_prompt));
  ASSERT_EQ(refused.status, 502u) << refused.body;
  ASSERT_EQ(error_code_of(refused), "app_id");
}

/// The value of the first sample line starting with `series` ("name{labels}"), or -1.
long long sample_value(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(metrics.substr(at + series.size() + 2));
}

TEST(StatusEndpoints, StatusListsTheVerifiedAndTheRefusedKeyWithTheirFactors) {
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  verified_and_refused(proxy.port());

  const auto r = http_exchange(proxy.port(), get("/_proxy/status"));
  ASSERT_EQ(r.status, 200u) << r.body;
  // Nothing a client sent is shown: neither its key nor its prompt.
  EXPECT_EQ(r.body.find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(r.body.find(secret_prompt), std::string::npos);
  const auto status = json::parse(r.body);
  EXPECT_EQ(status.at("configuration").at("listen").as_string(), "127.0.0.1:" + std::to_string(proxy.port()));
  EXPECT_TRUE(status.at("discovery").at("usable").as_bool());
  EXPECT_EQ(status.at("discovery").at("models").to_number<std::uint64_t>(), 2u);

  const auto* good = backend_named(status, good_domain);
  ASSERT_NE(good, nullptr) << r.body;
  EXPECT_EQ(good->at("verdict").as_string(), "trusted");
  EXPECT_EQ(good->at("spki_sha256").as_string(), sim.spki_sha256_hex(good_domain, 0));
  EXPECT_EQ(good->at("tcb_status").as_string(), "UpToDate");
  EXPECT_TRUE(good->at("trusted_until").is_string());
  EXPECT_TRUE(good->at("failure").is_null());
  const auto& good_entity = good->at("entities").as_array().at(0).as_object();
  EXPECT_TRUE(good_entity.at("ok").as_bool());
  for (const char* name : {"quote", "binding", "app_id", "mrtd", "gpu_evidence", "gpu_nras"}) {
    const auto* f = factor_named(good_entity, name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->at("status").as_string(), "pass") << name << ": " << f->at("detail");
    EXPECT_FALSE(f->at("detail").as_string().empty()) << name;
  }

  const auto* bad = backend_named(status, bad_domain);
  ASSERT_NE(bad, nullptr) << r.body;
  EXPECT_EQ(bad->at("verdict").as_string(), "refused");
  EXPECT_EQ(bad->at("spki_sha256").as_string(), sim.spki_sha256_hex(bad_domain, 0));
  EXPECT_TRUE(bad->at("trusted_until").is_null());
  EXPECT_EQ(bad->at("failure").at("code").as_string(), "app_id");
  EXPECT_EQ(bad->at("failure").at("phase").as_string(), "policy");
  const auto& bad_entity = bad->at("entities").as_array().at(0).as_object();
  EXPECT_FALSE(bad_entity.at("ok").as_bool());
  const auto* app_id = factor_named(bad_entity, "app_id");
  ASSERT_NE(app_id, nullptr);
  EXPECT_EQ(app_id->at("status").as_string(), "fail");

  const auto& failures = status.at("domain_failures").as_array();
  ASSERT_EQ(failures.size(), 1u) << r.body;
  EXPECT_EQ(failures[0].at("domain").as_string(), bad_domain);
  EXPECT_EQ(failures[0].at("code").as_string(), "app_id");
  EXPECT_EQ(failures[0].at("status").to_number<std::uint64_t>(), 502u);
  EXPECT_TRUE(failures[0].at("at").is_string());

  const auto& totals = status.at("totals");
  EXPECT_EQ(totals.at("forwarded").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(totals.at("refused").at("app_id").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(totals.at("attestations").at("trusted").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(totals.at("attestations").at("refused").to_number<std::uint64_t>(), 1u);
  EXPECT_GT(totals.at("bytes_to_client").to_number<std::uint64_t>(), 0u);
  EXPECT_GT(totals.at("bytes_to_backend").to_number<std::uint64_t>(), 0u);
  EXPECT_GE(totals.at("collateral").at("fetches").to_number<std::uint64_t>(), 2u);
  EXPECT_GE(totals.at("nras").at("attest_fetches").to_number<std::uint64_t>(), 1u);
  // The verified connection goes back to the pool once the relay has finished (polled:
  // that may come just after the client has its answer); the refused one is closed.
  EXPECT_TRUE(eventually([&] {
    const auto c = status_of(proxy.port()).at("connections");
    return c.at("upstream_pooled").to_number<std::uint64_t>() == 1u && c.at("upstream_open").to_number<std::uint64_t>() == 1u;
  }));
}

TEST(StatusEndpoints, NothingUnderTheReservedPrefixReachesABackend) {
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  verified_and_refused(proxy.port());
  const auto requests = sim.request_count(good_domain);
  const auto attestations = sim.attestation_count(good_domain) + sim.attestation_count(bad_domain);

  for (const char* target : {"/_proxy/", "/_proxy", "/_proxy/status", "/_proxy/healthz", "/_proxy/metrics",
                             "/_proxy/v1/chat/completions", "/_proxy/../v1/models"}) {
    auto request = get(target);
    request.headers.emplace_back("X-Backend-Domain", std::string(good_domain));
    const auto r = http_exchange(proxy.port(), request);
    EXPECT_TRUE(r.status == 200u || r.status == 404u) << target << ": " << r.status << " " << r.body;
  }
  auto post = chat_request("sim-model", false);
  post.target = "/_proxy/status";
  const auto r = http_exchange(proxy.port(), post);
  EXPECT_EQ(r.status, 405u) << r.body;
  EXPECT_EQ(error_code_of(r), "method_not_allowed");
  EXPECT_EQ(r.header("Allow").value_or(""), "GET");

  const auto unknown = http_exchange(proxy.port(), get("/_proxy/nope"));
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(error_code_of(unknown), "not_found");

  EXPECT_EQ(sim.request_count(good_domain), requests);
  EXPECT_EQ(sim.request_count(bad_domain), 0u);
  EXPECT_EQ(sim.attestation_count(good_domain) + sim.attestation_count(bad_domain), attestations);
}

TEST(StatusEndpoints, OnlyLoopbackHostsMayReadThem) {
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  const std::string port = std::to_string(proxy.port());
  for (const std::string& host : std::vector<std::string>{"evil.example:" + port, "127.0.0.1.nip.io:" + port,
                                                          "attacker.test"}) {
    for (const char* target : {"/_proxy/status", "/_proxy/", "/_proxy/metrics", "/_proxy/healthz", "/_proxy/nope"}) {
      const auto r = get_with_host(proxy.port(), target, host);
      EXPECT_EQ(r.status, 403u) << host << target << ": " << r.body;
      EXPECT_EQ(error_code_of(r), "host_not_local") << host << target;
      EXPECT_EQ(r.body.find("\"backends\""), std::string::npos);
    }
  }
  for (const std::string& host : std::vector<std::string>{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port}) {
    const auto r = get_with_host(proxy.port(), "/_proxy/status", host);
    EXPECT_EQ(r.status, 200u) << host << ": " << r.body;
  }
}

TEST(StatusEndpoints, ThePageIsServedFromTheBinaryWithItsPolicy) {
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  const auto r = http_exchange(proxy.port(), get("/_proxy/"));
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Type").value_or(""), "text/html; charset=utf-8");
  EXPECT_EQ(r.header("Content-Security-Policy").value_or(""), observe::status_page_csp());
  EXPECT_EQ(r.header("X-Frame-Options").value_or(""), "DENY");
  EXPECT_EQ(r.header("Cache-Control").value_or(""), "no-store");
  EXPECT_EQ(r.body, observe::status_page_html());
}

TEST(StatusEndpoints, HealthzIsOkOnceTheDiscoveryListIsUsable) {
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  client_response r;
  ASSERT_TRUE(eventually([&] {
    r = http_exchange(proxy.port(), get("/_proxy/healthz"));
    return r.status == 200u;
  })) << r.status << " " << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"status":"ok"})"));
}

TEST(StatusEndpoints, HealthzIs503WithTheReasonWhenTheDiscoveryListIsUnreachable) {
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, [](server::proxy_config& c) { c.endpoints_url = "http://127.0.0.1:1/endpoints"; },
                      nullptr, both_domains);
  client_response r;
  // Polled until the first fetch has failed (until then the reason is "not fetched yet").
  ASSERT_TRUE(eventually([&] {
    r = http_exchange(proxy.port(), get("/_proxy/healthz"));
    return r.status == 503u && r.body.find("not fetched yet") == std::string::npos;
  })) << r.status << " " << r.body;
  const auto health = json::parse(r.body);
  EXPECT_EQ(health.at("status").as_string(), "unavailable");
  const std::string reason(health.at("reason").as_string());
  EXPECT_NE(reason.find("http://127.0.0.1:1/endpoints"), std::string::npos) << reason;

  const auto status = status_of(proxy.port());
  EXPECT_FALSE(status.at("discovery").at("usable").as_bool());
  EXPECT_TRUE(status.at("discovery").at("last_error").is_string());
}

TEST(StatusEndpoints, MetricsMoveWithRequestsAndAttestations) {
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  const auto before = http_exchange(proxy.port(), get("/_proxy/metrics"));
  ASSERT_EQ(before.status, 200u);
  EXPECT_EQ(before.header("Content-Type").value_or(""), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(sample_value(before.body, R"(verified_proxy_requests_total{route="chat",status="200",code=""})"), -1);
  EXPECT_EQ(sample_value(before.body, "verified_proxy_upstream_connections_created_total"), 0);

  verified_and_refused(proxy.port());
  const auto after = http_exchange(proxy.port(), get("/_proxy/metrics")).body;
  EXPECT_EQ(sample_value(after, R"(verified_proxy_requests_total{route="chat",status="200",code=""})"), 1) << after;
  EXPECT_EQ(sample_value(after, R"(verified_proxy_requests_total{route="chat",status="502",code="app_id"})"), 1);
  EXPECT_EQ(sample_value(after, R"(verified_proxy_attestations_total{outcome="trusted"})"), 1);
  EXPECT_EQ(sample_value(after, R"(verified_proxy_attestations_total{outcome="app_id"})"), 1);
  EXPECT_EQ(sample_value(after, "verified_proxy_attestation_duration_seconds_count"), 2);
  EXPECT_EQ(sample_value(after, "verified_proxy_appraisal_duration_seconds_count"), 2);
  EXPECT_EQ(sample_value(after, "verified_proxy_upstream_connections_created_total"), 2);
  EXPECT_TRUE(eventually([&] {
    const auto now = http_exchange(proxy.port(), get("/_proxy/metrics")).body;
    return sample_value(now, "verified_proxy_upstream_connections_pooled") == 1 &&
           sample_value(now, "verified_proxy_upstream_connections_open") == 1;
  }));
  EXPECT_GE(sample_value(after, "verified_proxy_collateral_fetches_total"), 2);
  EXPECT_GE(sample_value(after, R"(verified_proxy_nras_fetches_total{kind="attest"})"), 1);
  EXPECT_GT(sample_value(after, R"(verified_proxy_relayed_bytes_total{direction="to_client"})"), 0);
  EXPECT_GT(sample_value(after, R"(verified_proxy_relayed_bytes_total{direction="to_backend"})"), 0);
  EXPECT_EQ(sample_value(after, "verified_proxy_active_streams"), 0);
  EXPECT_GE(sample_value(after, "verified_proxy_client_connections_open"), 1);
  EXPECT_GE(sample_value(after, R"(verified_proxy_requests_total{route="proxy",status="200",code=""})"), 1);
}

TEST(StatusEndpoints, AStreamIsCountedWhileItIsRelayed) {
  sim::simulator_options o = two_backends();
  o.stream_tokens = 4;
  o.token_delay = 200ms;  // keeps the stream open while the metrics are read
  sim::simulator sim(o);
  running_proxy proxy(sim, {}, nullptr, both_domains);
  std::thread streaming([&] { http_exchange(proxy.port(), chat_request("sim-model", true)); });
  const bool seen = eventually([&] {
    return sample_value(http_exchange(proxy.port(), get("/_proxy/metrics")).body, "verified_proxy_active_streams") == 1;
  });
  streaming.join();
  EXPECT_TRUE(seen);
  EXPECT_TRUE(eventually([&] {
    return sample_value(http_exchange(proxy.port(), get("/_proxy/metrics")).body, "verified_proxy_active_streams") == 0;
  }));
}

TEST(StatusEndpoints, BehindTheGatewayAKeyIsTheGatewayAndTheModelWithBothAttestations) {
  sim::simulator_options o = harness_options();
  o.gateway = sim::gateway_options{};
  sim::simulator sim(o);
  const std::string rule = sim.gateway_domain() + ":443:127.0.0.1:" + std::to_string(sim.gateway_port());
  running_proxy proxy(sim, [&](server::proxy_config& c) {
    c.backend = server::backend_kind::gateway;
    c.gateway_host = sim.gateway_domain();
    std::string error;
    c.connect_to.push_back(*proxy::parse_connect_to(rule, error));
    c.e2ee = proxy::e2ee_mode::required;
    c.verify_signatures = proxy::signature_mode::check;
  });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, secret_prompt));
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(proxy.statistics_after_verdicts(1).signatures_valid, 1u);

  const auto status = status_of(proxy.port());
  EXPECT_EQ(status.at("configuration").at("backend").as_string(), "gateway");
  EXPECT_EQ(status.at("configuration").at("gateway_host").as_string(), sim.gateway_domain());
  EXPECT_EQ(status.at("configuration").at("e2ee").as_string(), "required");
  EXPECT_EQ(status.at("discovery").at("kind").as_string(), "gateway_models");
  EXPECT_TRUE(status.at("discovery").at("usable").as_bool());
  const auto* key = backend_named(status, sim.gateway_domain() + " model=sim-model");
  ASSERT_NE(key, nullptr) << status;
  EXPECT_EQ(key->at("verdict").as_string(), "trusted");
  EXPECT_EQ(key->at("spki_sha256").as_string(), sim.gateway_spki_sha256_hex());
  EXPECT_EQ(key->at("report_form").as_string(), "gateway");
  const auto& entities = key->at("entities").as_array();
  ASSERT_GE(entities.size(), 2u);
  EXPECT_EQ(entities[0].at("role").as_string(), "gateway");
  EXPECT_EQ(entities[0].at("json_pointer").as_string(), "/gateway_attestation");
  EXPECT_TRUE(entities[0].at("connection_facing").as_bool());
  EXPECT_EQ(entities[1].at("role").as_string(), "model");
  EXPECT_FALSE(entities[1].at("connection_facing").as_bool());
  EXPECT_NE(factor_named(entities[1].as_object(), "gpu_evidence"), nullptr);
  const auto& totals = status.at("totals");
  EXPECT_EQ(totals.at("e2ee_sealed").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(totals.at("signatures").at("valid").to_number<std::uint64_t>(), 1u);
}

// ---------------------------------------------------------------------------------------
// Real clients: Prometheus's own parser, a headless browser.

constexpr const char* system_python = "/usr/bin/python3";

TEST(StatusEndpoints, MetricsParseWithThePrometheusClientParser) {
  if (!std::filesystem::exists(system_python)) GTEST_SKIP() << system_python << " is absent";
  {
    child_process probe(system_python, {"-c", "import prometheus_client.parser"});
    if (probe.wait(30s) != 0) GTEST_SKIP() << "python3-prometheus-client is not installed (" << probe.output() << ")";
  }
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  verified_and_refused(proxy.port());
  const auto metrics = http_exchange(proxy.port(), get("/_proxy/metrics"));
  ASSERT_EQ(metrics.status, 200u);
  temp_dir dir("vp-metrics");
  const std::string file = dir.write("metrics.txt", metrics.body);
  // Every family and sample as the parser sees them; it raises on anything off-format.
  const std::string script =
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "text = open(sys.argv[1], encoding='utf-8').read()\n"
      "for family in text_string_to_metric_families(text):\n"
      "    print('FAMILY', family.name, family.type)\n"
      "    for s in family.samples:\n"
      "        print('SAMPLE', s.name, sorted(s.labels.items()), s.value)\n"
      "print('PARSED')\n";
  child_process parser(system_python, {"-c", script, file});
  ASSERT_EQ(parser.wait(60s), 0) << parser.output();
  const std::string out = parser.output();
  ASSERT_NE(out.find("PARSED"), std::string::npos) << out;
  for (const char* family :
       {"FAMILY verified_proxy_requests counter", "FAMILY verified_proxy_attestations counter",
        "FAMILY verified_proxy_attestation_duration_seconds histogram",
        "FAMILY verified_proxy_appraisal_duration_seconds histogram",
        "FAMILY verified_proxy_upstream_connections_open gauge", "FAMILY verified_proxy_upstream_connections_pooled gauge",
        "FAMILY verified_proxy_upstream_connections_created counter", "FAMILY verified_proxy_collateral_fetches counter",
        "FAMILY verified_proxy_collateral_fetch_failures counter", "FAMILY verified_proxy_nras_fetches counter",
        "FAMILY verified_proxy_nras_fetch_failures counter", "FAMILY verified_proxy_relayed_bytes counter",
        "FAMILY verified_proxy_active_streams gauge", "FAMILY verified_proxy_client_connections_open gauge"}) {
    EXPECT_NE(out.find(std::string(family) + "\n"), std::string::npos) << family << "\n" << out;
  }
  EXPECT_NE(out.find("SAMPLE verified_proxy_requests_total [('code', 'app_id'), ('route', 'chat'), ('status', '502')] "
                     "1.0"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("SAMPLE verified_proxy_attestation_duration_seconds_bucket [('le', '+Inf')] 2.0"),
            std::string::npos)
      << out;
}

constexpr const char* chromium = "/usr/bin/chromium";
constexpr const char* timeout_program = "/usr/bin/timeout";

/// Runs headless Chromium on `url` with `extra` flags, bounded: timeout(1) signals the
/// whole process group Chromium starts (its renderer and helpers included).
std::string run_chromium(const std::filesystem::path& profile, const std::vector<std::string>& extra,
                         const std::string& url) {
  std::vector<std::string> args = {"-k", "5s", "90s", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                   "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + profile.string(),
                                   "--virtual-time-budget=8000"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(url);
  child_process browser(timeout_program, args);
  const auto code = browser.wait(120s);
  EXPECT_EQ(code, 0) << browser.output();
  return browser.output();
}

TEST(StatusEndpoints, ThePageRendersBothBackendsInAHeadlessBrowser) {
  if (!std::filesystem::exists(chromium)) GTEST_SKIP() << chromium << " is absent";
  if (!std::filesystem::exists(timeout_program)) GTEST_SKIP() << timeout_program << " is absent";
  sim::simulator sim(two_backends());
  running_proxy proxy(sim, {}, nullptr, both_domains);
  verified_and_refused(proxy.port());
  temp_dir profile("vp-chromium");
  const std::string url = "http://127.0.0.1:" + std::to_string(proxy.port()) + "/_proxy/";

  const std::string dom = run_chromium(profile.path() / "dump", {"--dump-dom"}, url);
  // What the page's script rendered from /_proxy/status (the served HTML has none of it).
  EXPECT_NE(dom.find("data-verdict=\"trusted\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("data-verdict=\"refused\""), std::string::npos) << dom;
  EXPECT_NE(dom.find(">TRUSTED<"), std::string::npos);
  EXPECT_NE(dom.find(">REFUSED<"), std::string::npos);
  EXPECT_NE(dom.find(std::string(">") + std::string(good_domain) + "<"), std::string::npos);
  EXPECT_NE(dom.find(std::string(">") + std::string(bad_domain) + "<"), std::string::npos);
  EXPECT_NE(dom.find(">app_id<"), std::string::npos);
  EXPECT_NE(dom.find(">gpu_evidence<"), std::string::npos);
  EXPECT_NE(dom.find("data-factor-status=\"fail\""), std::string::npos);
  EXPECT_NE(dom.find("1 of 2 backend keys not trusted"), std::string::npos);
  // The header line says when the status was last rendered, not that the proxy was unreachable.
  EXPECT_NE(dom.find("id=\"meta\">version "), std::string::npos);
  EXPECT_EQ(dom.find("class=\"meta stale\""), std::string::npos);

  const auto png = std::filesystem::path(VP_BINARY_DIR) / "status-page.png";
  std::filesystem::remove(png);
  run_chromium(profile.path() / "shot", {"--screenshot=" + png.string(), "--window-size=1280,1600",
                                         "--hide-scrollbars"},
               url);
  ASSERT_TRUE(std::filesystem::exists(png));
  EXPECT_GT(std::filesystem::file_size(png), 10'000u);
  std::ifstream file(png, std::ios::binary);
  std::string magic(8, '\0');
  file.read(magic.data(), 8);
  EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n");
}

}  // namespace
}  // namespace vp::test
