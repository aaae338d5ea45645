// The real programs as child processes: verified-proxy-sim stands up the deployment and
// writes the proxy's flags; verified-proxy runs with exactly those flags, serves, and
// shuts down cleanly on SIGTERM — what a user does following the README.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

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

TEST(ServeProcess, ProxyRunsFromTheSimulatorsConfigFile) {
  const auto dir = fresh_dir("vp-serve-config");
  child_process sim(built_program("verified-proxy-sim"), {"--out", dir.string(), "--stream-tokens", "4"});
  ASSERT_TRUE(sim.wait_for_output("Serving until", 20s)) << sim.output();
  const auto config = std::filesystem::absolute(dir / "config.toml");
  EXPECT_NE(sim.output().find("verified-proxy --config " + config.string()), std::string::npos) << sim.output();

  // Absolute paths only: the printed command works from any directory.
  const toml::table table = toml::parse_file(config.string());
  for (const char* key : {"root-ca", "upstream-ca", "nvidia-root-ca", "policy"}) {
    const auto path = table[key].value<std::string>();
    ASSERT_TRUE(path) << key;
    EXPECT_TRUE(std::filesystem::path(*path).is_absolute()) << key << " = " << *path;
    EXPECT_TRUE(std::filesystem::exists(*path)) << *path;
  }

  // Flags still override the file (here: a free port instead of 8080, JSON log lines).
  child_process proxy(built_program("verified-proxy"),
                      {"--config", config.string(), "--port", "0", "--log-format", "json"});
  ASSERT_TRUE(proxy.wait_for_output("endpoints: 1 domains", 20s)) << proxy.output();
  const auto port = listening_port(proxy.output());
  ASSERT_NE(port, 0) << proxy.output();
  const auto answer = http_exchange(port, chat_request("sim-model", false));
  EXPECT_EQ(answer.status, 200u) << answer.body << proxy.output();
  ASSERT_TRUE(proxy.wait_for_output("200 in", 5s));

  proxy.send_signal(SIGTERM);
  EXPECT_EQ(proxy.wait(10s), std::optional<int>(0));
  const auto log = proxy.output();
  EXPECT_NE(log.find("config file: " + config.string()), std::string::npos) << log;
  EXPECT_NE(log.find("attested sim.completions.near.ai"), std::string::npos) << log;
  // --log-format json: every line one object with ts, level and msg.
  std::istringstream lines(log);
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    boost::system::error_code ec;
    const auto value = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    ASSERT_TRUE(value.is_object()) << line;
    EXPECT_EQ(value.as_object().size(), 3u) << line;
    EXPECT_TRUE(value.as_object().contains("ts") && value.as_object().contains("level") &&
                value.as_object().contains("msg"))
        << line;
  }
  EXPECT_GT(count, 5u);

  sim.send_signal(SIGINT);
  EXPECT_EQ(sim.wait(10s), std::optional<int>(0));
  std::filesystem::remove_all(dir);
}

TEST(ServeProcess, PortInUseIsAStartupErrorNamingTheAddress) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor taken(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = std::to_string(taken.local_endpoint().port());
  child_process proxy(built_program("verified-proxy"),
                      {"--port", port, "--endpoints-url", "http://127.0.0.1:1/endpoints", "--no-cache"});
  EXPECT_EQ(proxy.wait(20s), std::optional<int>(2));
  const auto output = proxy.output();
  EXPECT_NE(output.find("verified-proxy: cannot listen on 127.0.0.1:" + port + ": Address already in use"),
            std::string::npos)
      << output;
  // Our words, not Boost's: no error category, number or header path.
  EXPECT_EQ(output.find("[system:"), std::string::npos) << output;
  EXPECT_EQ(output.find("/usr/include"), std::string::npos) << output;
}

}  // namespace
}  // namespace vp::test
