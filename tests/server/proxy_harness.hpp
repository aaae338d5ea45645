#pragma once
// The proxy server in-process against an in-process simulator: the proxy runs on its own
// io_context thread (or `threads` of them, one per shard, as --threads does) with the configuration a user gets from verified-proxy-sim's flags
// (root CA, upstream CA, NVIDIA root CA, PCCS, endpoints, --connect-to, and the policy
// pinning the simulator's workload and GPUs), so the end-to-end tests exercise the same
// trust configuration.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "app/collateral_options.hpp"
#include "app/workload_policy.hpp"
#include "core/bytes.hpp"
#include "core/text.hpp"
#include "gpu/evidence.hpp"
#include "net/spawn.hpp"
#include "server/proxy_server.hpp"
#include "sim/simulator.hpp"
#include "support/http_test_client.hpp"
#include "support/test_http_server.hpp"

namespace vp::test {

/// The error object of an OpenAI-style error body (null when the body is not one).
inline boost::json::value error_of(const client_response& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error")) return nullptr;
  return v.as_object().at("error");
}

/// The `code` of an error body, or a marker naming what came instead.
inline std::string error_code_of(const client_response& r) {
  auto e = error_of(r);
  if (!e.is_object()) return "<not an error body: " + r.body + r.error + ">";
  const auto* code = e.as_object().if_contains("code");
  return code && code->is_string() ? std::string(code->as_string()) : "<null>";
}

inline std::string error_message_of(const client_response& r) {
  auto e = error_of(r);
  if (!e.is_object()) return {};
  const auto* m = e.as_object().if_contains("message");
  return m && m->is_string() ? std::string(m->as_string()) : std::string();
}

/// The value of the field `name` (case-insensitive) in fields as a backend received them
/// ("" when absent).
inline std::string header_of(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (text::ascii_iequals(n, name)) return v;
  }
  return {};
}

/// A JSON string's value, or a marker that it is not one.
inline std::string str(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "<not a string>";
}

/// GPUs per CVM in the end-to-end tests that are not about GPUs: one, so that every
/// request path still verifies GPU evidence under a policy that requires it — but not
/// NEAR's eight: 8 GPUs cost each test ~85 ms of CPU (8 device identities minted, 8 SPDM
/// signatures, the proxy's 40 P-384 verifications), which doubled the simulator-heavy part
/// of the suite (~10 s → ~21 s). Tests about GPUs keep simulator_options::gpus's default
/// of 8, as verified-proxy-sim does.
inline constexpr std::size_t harness_gpus = 1;

/// The default simulator options with harness_gpus GPUs per CVM.
inline sim::simulator_options harness_options() {
  sim::simulator_options o;
  o.gpus = harness_gpus;
  return o;
}

/// A prompt the backends' side must never see in plaintext under E2EE.
inline constexpr std::string_view secret_prompt = "SECRET-PROMPT-MARKER";

/// harness_options() with 4-token streams: enough to see a stream decrypted event by event.
inline sim::simulator_options short_stream_options() {
  sim::simulator_options o = harness_options();
  o.stream_tokens = 4;
  return o;
}

/// A GPU trust anchor from PEM (the simulator's --nvidia-root-ca); throws on bad PEM.
inline std::shared_ptr<const gpu::trust_anchor> load_gpu_root(const std::string& pem) {
  auto anchor = gpu::load_trust_anchor(pem);
  if (!anchor) throw std::runtime_error("GPU root CA: " + anchor.error());
  return std::make_shared<const gpu::trust_anchor>(std::move(*anchor));
}

class running_proxy {
 public:
  explicit running_proxy(const sim::simulator& sim, const std::function<void(server::proxy_config&)>& tweak = {},
                         std::shared_ptr<const policy::workload_policy> policy_override = nullptr,
                         const std::vector<std::string>& domains = {"sim.completions.near.ai"},
                         std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> gpu_crls = nullptr,
                         std::size_t threads = 1)
      : upstream_ca_(sim.upstream_ca_pem()), policy_(sim.policy_json(), ".json") {
    std::vector<boost::asio::any_io_executor> executors;
    for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
      shards_.push_back(std::make_unique<boost::asio::io_context>(1));
      executors.push_back(shards_.back()->get_executor());
    }
    server::proxy_config config;
    config.listen_port = 0;
    config.endpoints_url = sim.endpoints_url();
    config.upstream_tls.ca_file = upstream_ca_.path();
    config.shutdown_grace = std::chrono::seconds(5);
    std::string error;
    for (const auto& domain : domains) {
      config.connect_to.push_back(*proxy::parse_connect_to(sim.connect_to(domain), error));
    }
    // --nras-url / --nras-jwks-url / --nras-key-pin: the simulator's fake NVIDIA service.
    config.nras.attest_url = sim.nras_url();
    config.nras.jwks_url = sim.nras_jwks_url();
    config.nras.key_pins = {sim.nras_key_pin()};
    // The relay's tests look at the bytes as the client sent them and as the backend
    // answered, one request per exchange: E2EE rewrites both and a signature lookup follows
    // each answer. The tests of those (integrity_end_to_end_test.cpp) set the modes.
    config.e2ee = proxy::e2ee_mode::off;
    config.verify_signatures = proxy::signature_mode::off;
    if (tweak) tweak(config);
    std::shared_ptr<const tdx::trust_anchor> anchor = tdx::load_trust_anchor(as_bytes(sim.root_ca_pem())).value();
    // --nvidia-root-ca: the simulated GPUs chain to the simulator's synthetic NVIDIA root.
    auto gpu_anchor = load_gpu_root(sim.nvidia_root_ca_pem());
    app::collateral_config collateral;
    collateral.pccs_urls = {sim.pccs_url()};
    collateral.no_cache = true;
    auto source = app::make_collateral_source(control().get_executor(), collateral, anchor, *clock_);
    auto policy = policy_override ? policy_override : app::load_workload_policy(policy_.path()).policy;
    server::proxy_dependencies dependencies{source, anchor, clock_, policy, std::move(gpu_anchor)};
    dependencies.gpu_crls = std::move(gpu_crls);  // --gpu-crl-dir
    server_ = std::make_unique<server::proxy_server>(executors, config, std::move(dependencies));
    server_->start();
    for (auto& shard : shards_) {
      threads_.emplace_back([&io = *shard] { net::run_contained(io, "test proxy event loop"); });
    }
  }

  ~running_proxy() {
    stop();
    for (auto& t : threads_) t.join();
  }

  std::uint16_t port() const { return server_->port(); }

  server::proxy_statistics statistics() {
    // Several shards: statistics() itself visits each on its thread.
    if (shards_.size() > 1) return server_->statistics();
    std::promise<server::proxy_statistics> p;
    boost::asio::post(control(), [&] { p.set_value(server_->statistics()); });
    return p.get_future().get();
  }

  /// The statistics once `n` signature verdicts are in (at most 10 s): under check, a JSON
  /// answer reaches the client before its signature is looked up.
  server::proxy_statistics statistics_after_verdicts(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      auto s = statistics();
      if (s.signatures_valid + s.signatures_invalid + s.signatures_unavailable >= n ||
          std::chrono::steady_clock::now() > deadline) {
        return s;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  /// Graceful stop; returns once every client connection closed.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    std::promise<void> done;
    boost::asio::post(control(), [&] { server_->stop([&] { done.set_value(); }); });
    done.get_future().wait();
    for (auto& shard : shards_) shard->stop();
  }

  /// Starts a graceful stop without waiting; `wait_stopped` waits.
  std::future<void> begin_stop() {
    stopped_ = true;
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    boost::asio::post(control(), [this, done] { server_->stop([done] { done->set_value(); }); });
    return f;
  }

  std::size_t threads() const { return shards_.size(); }

 private:
  temp_file upstream_ca_;
  temp_file policy_;  ///< the policy that pins the simulator's workload (as verified-proxy-sim writes it)
  std::shared_ptr<const clock> clock_ = std::make_shared<system_clock>();
  boost::asio::io_context& control() { return *shards_.front(); }
  /// One io_context per shard, each run by its own thread; the first is the control one.
  std::vector<std::unique_ptr<boost::asio::io_context>> shards_;
  std::unique_ptr<server::proxy_server> server_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace vp::test
