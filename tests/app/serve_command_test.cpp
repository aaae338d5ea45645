#include "app/serve_command.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli.hpp"

namespace vp::app {
namespace {

using namespace std::chrono_literals;

std::optional<serve_settings> parse(std::vector<std::string> args, int& code, std::string* err_text = nullptr) {
  std::ostringstream out, err;
  auto s = parse_serve_settings(args, out, err, code);
  if (err_text) *err_text = err.str();
  return s;
}

TEST(ServeCommand, DefaultsAreTheDocumentedOnes) {
  int code = -1;
  const auto s = parse({}, code);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->proxy.listen_host, "127.0.0.1");
  EXPECT_EQ(s->proxy.listen_port, 8080);
  EXPECT_EQ(s->proxy.endpoints_url, "https://completions.near.ai/endpoints");
  EXPECT_EQ(s->proxy.endpoints_refresh, 300s);
  EXPECT_EQ(s->proxy.allow_domains, std::vector<std::string>{"*.completions.near.ai"});
  EXPECT_EQ(s->proxy.max_body, 32u << 20);
  EXPECT_EQ(s->proxy.max_client_connections, 4096u);
  EXPECT_EQ(s->proxy.attestation_ttl, 3600s);
  EXPECT_EQ(s->proxy.negative_ttl, 30s);
  EXPECT_TRUE(s->proxy.upstream_tls.webpki);
  EXPECT_TRUE(s->root_ca.empty());
  EXPECT_EQ(s->proxy.backend, server::backend_kind::direct);
  EXPECT_EQ(s->proxy.gateway_host, "cloud-api.near.ai");
  EXPECT_EQ(s->proxy.e2ee, proxy::e2ee_mode::on);
  EXPECT_EQ(s->proxy.pool_idle_timeout, 55s);
  EXPECT_EQ(s->proxy.pool_max_connections, std::nullopt) << "as many as client connections";
  EXPECT_TRUE(s->proxy.tls_resumption);
  EXPECT_EQ(s->threads, default_thread_count());
  EXPECT_GE(s->threads, 1u);
}

TEST(ServeCommand, ThreadsFlagSetsTheShardCountAndZeroMeansOnePerCore) {
  int code = -1;
  const auto four = parse({"--threads", "4"}, code);
  ASSERT_TRUE(four);
  EXPECT_EQ(four->threads, 4u);
  const auto per_core = parse({"--threads", "0"}, code);
  ASSERT_TRUE(per_core);
  EXPECT_EQ(per_core->threads, default_thread_count());
  for (const char* bad : {"-1", "two", "1025"}) {
    std::string err;
    EXPECT_FALSE(parse({"--threads", bad}, code, &err)) << bad;
    EXPECT_EQ(code, exit_usage) << bad;
    EXPECT_NE(err.find("--threads"), std::string::npos) << err;
  }
}

TEST(ServeCommand, GatewayModeDefaultsToRequiredEncryption) {
  int code = -1;
  const auto s = parse({"--backend", "gateway"}, code);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->proxy.backend, server::backend_kind::gateway);
  EXPECT_EQ(s->proxy.e2ee, proxy::e2ee_mode::required);
  const auto relaxed = parse({"--backend", "gateway", "--e2ee", "on", "--gateway-url", "https://GW.Example/v1"}, code);
  ASSERT_TRUE(relaxed);
  EXPECT_EQ(relaxed->proxy.e2ee, proxy::e2ee_mode::on);
  EXPECT_EQ(relaxed->proxy.gateway_host, "gw.example");
  std::string err;
  EXPECT_FALSE(parse({"--backend", "gateway", "--e2ee", "off"}, code, &err));
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("gateway read every prompt"), std::string::npos) << err;
}

TEST(ServeCommand, GatewayUrlIsAnHttpsHostOnly) {
  std::string error;
  EXPECT_EQ(parse_gateway_url("https://cloud-api.near.ai", error), "cloud-api.near.ai");
  EXPECT_EQ(parse_gateway_url("https://cloud-api.near.ai/", error), "cloud-api.near.ai");
  for (const char* bad : {"http://cloud-api.near.ai", "cloud-api.near.ai", "https://cloud-api.near.ai:8443",
                          "https://u@cloud-api.near.ai", "https://cloud-api.near.ai/other", "https://x?y=1",
                          "https://10.0.0.1", ""}) {
    EXPECT_FALSE(parse_gateway_url(bad, error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(ServeCommand, FlagsFillTheConfiguration) {
  int code = -1;
  const auto s = parse({"--host", "0.0.0.0", "--port", "9000", "--max-body", "1MiB", "--max-connections", "16",
                        "--allow-domain", "a.example",
                        "--allow-domain", "*.b.example", "--connect-to", "a.example:443:127.0.0.1:8443",
                        "--attestation-ttl", "10m", "--idle-timeout", "1500ms", "--no-webpki", "--root-ca", "r.pem",
                        "--endpoints-url", "http://127.0.0.1:1/endpoints", "--pccs-url", "http://127.0.0.1:2",
                        "--pool-idle-timeout", "2m", "--tls-resumption", "off"},
                       code);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->proxy.listen_host, "0.0.0.0");
  EXPECT_EQ(s->proxy.listen_port, 9000);
  EXPECT_EQ(s->proxy.max_body, 1u << 20);
  EXPECT_EQ(s->proxy.max_client_connections, 16u);
  EXPECT_EQ(s->proxy.allow_domains, (std::vector<std::string>{"a.example", "*.b.example"}));
  ASSERT_EQ(s->proxy.connect_to.size(), 1u);
  EXPECT_EQ(s->proxy.connect_to[0].address_port, 8443);
  EXPECT_EQ(s->proxy.attestation_ttl, 600s);
  EXPECT_EQ(s->proxy.timeouts.idle, 1500ms);
  EXPECT_FALSE(s->proxy.upstream_tls.webpki);
  EXPECT_EQ(s->root_ca, "r.pem");
  EXPECT_EQ(s->collateral.pccs_urls, std::vector<std::string>{"http://127.0.0.1:2"});
  EXPECT_EQ(s->proxy.pool_idle_timeout, 120s);
  EXPECT_FALSE(s->proxy.tls_resumption);
}

TEST(ServeCommand, BadFlagsAreUsageErrorsNamingTheFlag) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--port", "70000"},
                                                                {"--max-body", "lots"},
                                                                {"--max-connections", "0"},
                                                                {"--max-connections", "-1"},
                                                                {"--max-connections", "12k"},
                                                                {"--max-connections", "99999999999"},
                                                                {"--idle-timeout", "soon"},
                                                                {"--connect-to", "nonsense"},
                                                                {"--endpoints-url", "ftp://x"},
                                                                {"--no-webpki", "--upstream-ca", "ca.pem"},
                                                                {"--log-level", "loud"},
                                                                {"--backend", "chutes"},
                                                                {"--allow-domain", ""},
                                                                {"--allow-domain", "*."},
                                                                {"--allow-domain", "https://a.example"},
                                                                {"--attestation-ttl", "0"},
                                                                {"--attestation-ttl", "500ms"},
                                                                {"--negative-ttl", "0s"},
                                                                {"--endpoints-refresh", "0"},
                                                                {"--gateway-url", "http://x.example"},
                                                                {"--pool-idle-timeout", "0"},
                                                                {"--pool-idle-timeout", "later"},
                                                                {"--tls-resumption", "maybe"},
                                                                {"--no-such-flag"}}) {
    int code = -1;
    std::string err;
    EXPECT_FALSE(parse(args, code, &err)) << args[0];
    EXPECT_EQ(code, exit_usage) << args[0];
    EXPECT_NE(err.find("verified-proxy:"), std::string::npos) << err;
  }
}

TEST(ServeCommand, HelpListsEveryFlag) {
  int code = -1;
  std::ostringstream out, err;
  EXPECT_FALSE(parse_serve_settings({"--help"}, out, err, code));
  EXPECT_EQ(code, exit_ok);
  for (const char* flag : {"--host", "--port", "--endpoints-url", "--allow-domain", "--max-body", "--attestation-ttl",
                           "--upstream-ca", "--no-webpki", "--connect-to", "--root-ca", "--pccs-url", "--collateral-dir",
                           "--connect-timeout", "--tls-timeout", "--attestation-timeout", "--response-timeout",
                           "--idle-timeout", "--policy", "--max-connections", "--backend", "--gateway-url",
                           "--pool-idle-timeout", "--tls-resumption"}) {
    EXPECT_NE(out.str().find(flag), std::string::npos) << flag;
  }
}

TEST(ServeCommand, MaxConnectionsIsLoweredToWhatTheDescriptorLimitCarries) {
  server::proxy_config config;
  config.max_client_connections = 4096;
  auto line = fit_connections_to_descriptors(config, {1024, 4096, ""});
  EXPECT_EQ(config.max_client_connections, server::connections_within(1024));
  EXPECT_EQ(config.max_client_connections, 1024u - server::reserved_descriptors);
  EXPECT_EQ(config.max_descriptors, 1024u - server::reserved_descriptors) << "clients and backend connections";
  EXPECT_NE(line.find("file descriptor limit 1024 (hard 4096)"), std::string::npos) << line;
  EXPECT_NE(line.find("not --max-connections 4096"), std::string::npos) << line;
  EXPECT_NE(line.find("serving at most " + std::to_string(config.max_client_connections)), std::string::npos) << line;

  config.max_client_connections = 4096;
  EXPECT_EQ(fit_connections_to_descriptors(config, {1u << 20, 1u << 20, ""}), "");
  EXPECT_EQ(config.max_client_connections, 4096u);
  EXPECT_EQ(config.max_descriptors, (1u << 20) - server::reserved_descriptors);

  // A reserve that does not fit still leaves one connection; a failed raise is said.
  line = fit_connections_to_descriptors(config, {64, 64, "setrlimit(RLIMIT_NOFILE): Operation not permitted"});
  EXPECT_EQ(config.max_client_connections, 1u);
  EXPECT_NE(line.find("carries 0 connections"), std::string::npos) << line;
  EXPECT_TRUE(line.ends_with("; setrlimit(RLIMIT_NOFILE): Operation not permitted")) << line;
}

TEST(ServeCommand, UnusablePortIsAConfigurationError) {
  std::ostringstream out, err;
  // Port 1 needs privileges we do not have in tests, or is otherwise refused; an invalid
  // host is refused for sure.
  EXPECT_EQ(run({"serve", "--host", "not-an-ip", "--port", "0", "--endpoints-url", "http://127.0.0.1:1/e"}, out, err),
            exit_usage);
  EXPECT_NE(err.str().find("not-an-ip"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace vp::app

namespace vp::app {
namespace {

TEST(ServeCommand, MalformedPolicyFileRefusesToStart) {
  const auto path = std::filesystem::temp_directory_path() / ("vp-bad-policy-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream(path) << R"({"model": {"mrtd": ["not hex"]}})";
  }
  std::ostringstream out, err;
  EXPECT_EQ(run({"serve", "--policy", path.string(), "--port", "0", "--endpoints-url", "http://127.0.0.1:1/e",
                 "--no-cache"},
                out, err),
            exit_usage);
  EXPECT_NE(err.str().find(path.string()), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("mrtd"), std::string::npos) << err.str();
  std::filesystem::remove(path);
  std::ostringstream out2, err2;
  EXPECT_EQ(run({"serve", "--policy", "/nonexistent/policy.json", "--port", "0"}, out2, err2), exit_usage);
  EXPECT_NE(err2.str().find("cannot read policy file"), std::string::npos) << err2.str();
}

}  // namespace
}  // namespace vp::app
