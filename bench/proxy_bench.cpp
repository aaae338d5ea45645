// The proxy against a direct connection to the same backend, measured in one run
// (README "Performance"): the simulator's backend on 127.0.0.1, reached either directly
// over TLS (what a client without the proxy does) or through the proxy in-process.
// bench_main.cpp prints the ratios.

#include <benchmark/benchmark.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <memory>
#include <optional>
#include <stdexcept>

#include "core/log.hpp"
#include "server/proxy_harness.hpp"
#include "support/http_test_client.hpp"

namespace vp::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

constexpr const char* domain = "sim.completions.near.ai";
constexpr unsigned stream_tokens = 16;

/// A client talking TLS straight to the backend, as an SDK would without the proxy.
class direct_client {
 public:
  direct_client(std::uint16_t port, const std::string& ca_pem) : ctx_(ssl::context::tls_client), port_(port) {
    ctx_.add_certificate_authority(asio::buffer(ca_pem));
    ctx_.set_verify_mode(ssl::verify_peer);
  }

  std::string exchange(const test::client_request& r) {
    if (!stream_) connect();
    http::request<http::string_body> req;
    req.version(11);
    req.method_string(r.method);
    req.target(r.target);
    req.set(http::field::host, domain);
    for (const auto& [n, v] : r.headers) req.insert(n, v);
    req.body() = r.body;
    req.prepare_payload();
    http::write(*stream_, req);
    http::response<http::string_body> res;
    http::read(*stream_, buffer_, res);
    if (res.result_int() != 200) throw std::runtime_error("direct request failed");
    if (!res.keep_alive()) stream_.reset();
    return std::move(res.body());
  }

  void disconnect() { stream_.reset(); }

 private:
  void connect() {
    stream_.emplace(ioc_, ctx_);
    buffer_.clear();
    beast::get_lowest_layer(*stream_).connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    SSL_set_tlsext_host_name(stream_->native_handle(), domain);
    stream_->set_verify_callback(ssl::host_name_verification(domain));
    stream_->handshake(ssl::stream_base::client);
  }

  asio::io_context ioc_;
  ssl::context ctx_;
  std::uint16_t port_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

/// One simulator and two proxies (pooled + verdict cache; and reference-like: a new
/// connection and attestation per request), built on first use and shared.
struct environment {
  environment()
      : sim(options()),
        proxy(sim),
        per_request_proxy(sim,
                          [](server::proxy_config& c) {
                            c.attestation_ttl = std::chrono::seconds(0);
                            c.pool_max_connections = 0;
                          }),
        sealing_proxy(sim,
                      [](server::proxy_config& c) {
                        c.e2ee = proxy::e2ee_mode::on;
                        c.verify_signatures = proxy::signature_mode::check;
                      }),
        signing_proxy(sim, [](server::proxy_config& c) { c.verify_signatures = proxy::signature_mode::check; }) {}

  static sim::simulator_options options() {
    sim::simulator_options o;
    o.stream_tokens = stream_tokens;
    return o;
  }

  static environment& get() {
    static environment* env = [] {
      log::set_min_level(log::level::error);
      return new environment();  // lives until exit: the servers' threads must not race static destruction
    }();
    return *env;
  }

  sim::simulator sim;
  test::running_proxy proxy;
  test::running_proxy per_request_proxy;
  /// What a user gets by default: E2EE on, every answer's signature looked up and checked.
  test::running_proxy sealing_proxy;
  /// Signatures checked, no E2EE: the cost of the lookup alone.
  test::running_proxy signing_proxy;
};

void check(const test::client_response& r, benchmark::State& state) {
  if (r.status != 200 || !r.complete) state.SkipWithError(("request failed: " + r.error + r.body).c_str());
}

void BM_Direct_Chat(benchmark::State& state) {
  auto& env = environment::get();
  direct_client client(env.sim.backend_port(domain), env.sim.upstream_ca_pem());
  const auto request = test::chat_request("sim-model", false);
  for (auto _ : state) benchmark::DoNotOptimize(client.exchange(request));
}
BENCHMARK(BM_Direct_Chat)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Proxy_Chat(benchmark::State& state) {
  auto& env = environment::get();
  test::http_test_client client(env.proxy.port());
  const auto request = test::chat_request("sim-model", false);
  check(client.send(request), state);  // first request: attestation, outside the timing
  for (auto _ : state) check(client.send(request), state);
}
BENCHMARK(BM_Proxy_Chat)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Direct_Stream(benchmark::State& state) {
  auto& env = environment::get();
  direct_client client(env.sim.backend_port(domain), env.sim.upstream_ca_pem());
  const auto request = test::chat_request("sim-model", true);
  for (auto _ : state) benchmark::DoNotOptimize(client.exchange(request));
}
BENCHMARK(BM_Direct_Stream)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Proxy_Stream(benchmark::State& state) {
  auto& env = environment::get();
  test::http_test_client client(env.proxy.port());
  const auto request = test::chat_request("sim-model", true);
  check(client.send(request), state);
  for (auto _ : state) check(client.send(request), state);
}
BENCHMARK(BM_Proxy_Stream)->Unit(benchmark::kMicrosecond)->UseRealTime();

void stream_through(test::running_proxy& proxy, benchmark::State& state, bool stream) {
  test::http_test_client client(proxy.port());
  const auto request = test::chat_request("sim-model", stream);
  check(client.send(request), state);
  for (auto _ : state) check(client.send(request), state);
}

// The defaults (E2EE on, signatures checked): the request sealed, every event decrypted,
// the signature looked up on the connection and verified before the stream's last chunk.
void BM_ProxyE2ee_Chat(benchmark::State& state) { stream_through(environment::get().sealing_proxy, state, false); }
BENCHMARK(BM_ProxyE2ee_Chat)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ProxyE2ee_Stream(benchmark::State& state) { stream_through(environment::get().sealing_proxy, state, true); }
BENCHMARK(BM_ProxyE2ee_Stream)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Only the signature check after each completion (no E2EE): its added latency.
void BM_ProxySigned_Stream(benchmark::State& state) {
  stream_through(environment::get().signing_proxy, state, true);
}
BENCHMARK(BM_ProxySigned_Stream)->Unit(benchmark::kMicrosecond)->UseRealTime();

// A new TLS connection per request: the baseline for what the reference proxy does.
void BM_Direct_NewConnection(benchmark::State& state) {
  auto& env = environment::get();
  direct_client client(env.sim.backend_port(domain), env.sim.upstream_ca_pem());
  const auto request = test::chat_request("sim-model", false);
  for (auto _ : state) {
    benchmark::DoNotOptimize(client.exchange(request));
    client.disconnect();
  }
}
BENCHMARK(BM_Direct_NewConnection)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The reference proxy's behaviour: new client and upstream connections, and a full
// attestation (report request, quote verification, binding) on every request.
void BM_Proxy_AttestEveryRequest(benchmark::State& state) {
  auto& env = environment::get();
  const auto request = test::chat_request("sim-model", false);
  for (auto _ : state) check(test::http_exchange(env.per_request_proxy.port(), request), state);
}
BENCHMARK(BM_Proxy_AttestEveryRequest)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace vp::bench
