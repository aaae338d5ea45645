// The official OpenAI Node SDK (npm `openai`, pinned and installed by scripts/install-deps)
// pointed at the proxy with E2EE on and signatures checked, the defaults a user gets: the
// application must see plaintext exactly as without the proxy, while the backend receives
// only ciphertext in the covered fields (docs/gpu-signatures-e2ee.md §4) and every answer's
// signature verifies (§3). The SDK runs as a child process (openai_node_client.mjs).

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/text.hpp"
#include "server/proxy_harness.hpp"
#include "sim/openai.hpp"
#include "support/child_process.hpp"

namespace vp::test {
namespace {

constexpr std::string_view domain = "sim.completions.near.ai";
constexpr std::string_view marker = "SECRET-NODE-SDK-PROMPT-MARKER";
constexpr unsigned stream_tokens = 4;

/// The first executable `name` on PATH.
std::optional<std::filesystem::path> program_on_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::string_view rest = path;
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::filesystem::path candidate = std::filesystem::path(rest.substr(0, colon)) / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}



TEST(OpenAiNodeSdk, GetsPlaintextThroughTheProxyWhileTheBackendSeesCiphertextAndEverySignatureVerifies) {
  const auto node = program_on_path("node");
  const std::filesystem::path node_modules = std::filesystem::path(VP_SOURCE_DIR) / ".deps" / "node" / "node_modules";
  if (!node || !std::filesystem::exists(node_modules / "openai" / "package.json")) {
    GTEST_SKIP() << "node or the openai npm package is absent (scripts/install-deps installs it when npm is present)";
  }
  sim::simulator_options options = harness_options();
  options.stream_tokens = stream_tokens;
  sim::simulator sim(options);
  running_proxy proxy(sim, [](server::proxy_config& c) {
    c.e2ee = proxy::e2ee_mode::on;
    c.verify_signatures = proxy::signature_mode::check;
    c.signature_wait = std::chrono::milliseconds(300);
  });

  const std::string script = std::string(VP_SOURCE_DIR) + "/tests/server/openai_node_client.mjs";
  child_process client(node->string(), {script, node_modules.string(),
                                        "http://127.0.0.1:" + std::to_string(proxy.port()) + "/v1", std::string(marker)});
  ASSERT_EQ(client.wait(std::chrono::seconds(60)), 0) << client.output();
  const std::string out = client.output();
  const std::string_view prefix = "openai-node-summary ";
  const auto at = out.find(prefix);
  ASSERT_NE(at, std::string::npos) << out;
  const auto line_end = out.find('\n', at);
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(out.substr(at + prefix.size(), line_end - at - prefix.size()), ec);
  ASSERT_FALSE(ec) << out;
  const auto& summary = parsed.as_object();

  // What the application got: plaintext, as from OpenAI.
  std::string tokens;
  for (unsigned i = 0; i < stream_tokens; ++i) tokens += sim::sim_token(i);
  EXPECT_EQ(str(summary.at("stream_text")), tokens);
  EXPECT_EQ(summary.at("stream_chunks").to_number<std::int64_t>(), stream_tokens);
  EXPECT_EQ(str(summary.at("stream_e2ee")), "v2");
  const std::string chat = str(summary.at("chat_content"));
  EXPECT_TRUE(chat.starts_with("Simulated answer")) << chat;
  EXPECT_TRUE(chat.ends_with(tokens)) << chat;
  EXPECT_EQ(str(summary.at("chat_prompt_echo")), marker);  // the model read the prompt the SDK sent
  const std::string completion = str(summary.at("completion_text"));
  EXPECT_TRUE(completion.starts_with("Simulated answer")) << completion;
  const auto& embeddings = summary.at("embeddings").as_array();
  ASSERT_EQ(embeddings.size(), 2u);
  for (std::size_t i = 0; i < embeddings.size(); ++i) {
    const auto& vector = embeddings[i].as_array();
    ASSERT_EQ(vector.size(), 8u);
    for (std::size_t d = 0; d < vector.size(); ++d) {
      ASSERT_TRUE(vector[d].is_number()) << embeddings[i];
      EXPECT_EQ(vector[d].to_number<double>(), static_cast<double>((i + 1) * (d + 1)) / 64.0);
    }
  }

  // What the backend got: the prompt only sealed, in each of the four requests.
  std::size_t posts = 0;
  for (const auto& x : sim.exchanges(domain)) {
    if (x.method != "POST") continue;  // the proxy's signature lookups
    ++posts;
    EXPECT_EQ(x.body.find(marker), std::string::npos) << x.target << ": " << x.body;
    EXPECT_NE(x.model_body.find(marker), std::string::npos) << x.target << ": the model did not get the plaintext";
    EXPECT_EQ(header_of(x.headers, "X-Encryption-Version"), "2") << x.target;
    EXPECT_FALSE(header_of(x.headers, "X-Client-Pub-Key").empty()) << x.target;
    // And what it answered was sealed too: no generated text in the clear.
    EXPECT_EQ(x.response_entity.find("sim-token-"), std::string::npos) << x.target << ": " << x.response_entity;
  }
  EXPECT_EQ(posts, 4u);

  const auto stats = proxy.statistics_after_verdicts(4);
  EXPECT_EQ(stats.signatures_valid, 4u);
  EXPECT_EQ(stats.signatures_invalid, 0u);
  EXPECT_EQ(stats.signatures_unavailable, 0u);
}

}  // namespace
}  // namespace vp::test
