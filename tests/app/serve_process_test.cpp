// The real programs as child processes: verified-proxy-sim stands up the deployment and
// writes the proxy's flags; verified-proxy runs with exactly those flags, serves, and
// shuts down cleanly on SIGTERM — what a user does following the README.

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>

#include "support/child_process.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::filesystem::path fresh_dir(std::string_view name) {
  auto dir = std::filesystem::temp_directory_path() /
             (std::string(name) + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  return dir;
}

std::uint16_t listening_port(const std::string& log) {
  static const std::regex pattern("listening on http://127\\.0\\.0\\.1:([0-9]+)/v1");
  std::smatch m;
  if (!std::regex_search(log, m, pattern)) return 0;
  return static_cast<std::uint16_t>(std::stoi(m[1].str()));
}

TEST(ServeProcess, ProxyRunsWithTheSimulatorsFlagsAndStopsOnSigterm) {
  const auto dir = fresh_dir("vp-serve-process");
  child_process sim(built_program("verified-proxy-sim"), {"--out", dir.string(), "--stream-tokens", "4"});
  ASSERT_TRUE(sim.wait_for_output("Serving until", 20s)) << sim.output();

  auto args = read_lines(dir / "proxy-args.txt");
  ASSERT_FALSE(args.empty());
  args.insert(args.begin(), {"serve", "--port", "0"});
  child_process proxy(built_program("verified-proxy"), args);
  ASSERT_TRUE(proxy.wait_for_output("listening on", 20s)) << proxy.output();
  ASSERT_TRUE(proxy.wait_for_output("endpoints: 1 domains", 20s)) << proxy.output();
  const auto port = listening_port(proxy.output());
  ASSERT_NE(port, 0) << proxy.output();

  const auto plain = http_exchange(port, chat_request("sim-model", false, "PROMPT-NOT-IN-LOGS"));
  EXPECT_EQ(plain.status, 200u) << plain.body << proxy.output();
  const auto streamed = http_exchange(port, chat_request("sim-model", true));
  EXPECT_EQ(streamed.status, 200u);
  EXPECT_NE(streamed.body.find("[DONE]"), std::string::npos);
  ASSERT_TRUE(proxy.wait_for_output("200 in", 5s));

  proxy.send_signal(SIGTERM);
  EXPECT_EQ(proxy.wait(10s), std::optional<int>(0));
  const auto log = proxy.output();
  EXPECT_NE(log.find("attested sim.completions.near.ai"), std::string::npos) << log;
  EXPECT_NE(log.find("SIGTERM: shutting down"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  // Never prompts, bodies or credentials in the log.
  EXPECT_EQ(log.find("PROMPT-NOT-IN-LOGS"), std::string::npos);
  EXPECT_EQ(log.find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(log.find("Authorization"), std::string::npos);

  sim.send_signal(SIGINT);
  EXPECT_EQ(sim.wait(10s), std::optional<int>(0));
  std::filesystem::remove_all(dir);
}

TEST(ServeProcess, PortInUseIsAStartupErrorNamingTheAddress) {
  child_process first(built_program("verified-proxy"),
                      {"--port", "0", "--endpoints-url", "http://127.0.0.1:1/endpoints", "--no-cache"});
  ASSERT_TRUE(first.wait_for_output("listening on", 20s)) << first.output();
  const auto port = listening_port(first.output());
  ASSERT_NE(port, 0);
  child_process second(built_program("verified-proxy"), {"--port", std::to_string(port), "--endpoints-url",
                                                         "http://127.0.0.1:1/endpoints", "--no-cache"});
  EXPECT_EQ(second.wait(20s), std::optional<int>(2));
  EXPECT_NE(second.output().find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << second.output();
  first.send_signal(SIGINT);
  EXPECT_EQ(first.wait(10s), std::optional<int>(0));
}

}  // namespace
}  // namespace vp::test
