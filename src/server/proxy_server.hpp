#pragma once
// The verifying proxy's server: accepts OpenAI-compatible clients on
// --host:--port (HTTP/1.1, keep-alive), routes each request to a NEAR AI backend,
// admits the upstream connection only after a positive attestation verdict for the key
// it presents, relays the request and streams the answer back.
//
// Sharded (--threads): one shard per executor (an io_context driven by one thread), each
// with its own acceptor on the listen address (SO_REUSEPORT: the kernel spreads accepted
// connections), its own client sessions, upstream pool and upstream connections — no
// socket is touched from two threads, and the relay path takes no lock. What the shards
// share is thread-safe: the attestation gate (verdict cache and single flight: one
// attestation per key across shards), the status board, the body memory budget, the
// client-connection count and the signature ledger. The model list, the collateral source
// and NVIDIA's attestation service client live on the first shard's executor (the
// control executor); an attestation hops there for its evidence and back.

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "collateral/source.hpp"
#include "core/clock.hpp"
#include "gpu/evidence.hpp"
#include "server/proxy_config.hpp"
#include "tdx/verifier.hpp"

namespace vp::policy {
class workload_policy;
}

namespace vp::server {

class attester;

struct proxy_dependencies {
  std::shared_ptr<collateral::source> collateral;
  std::shared_ptr<const tdx::trust_anchor> anchor;
  std::shared_ptr<const vp::clock> time_source;
  /// The workload policy every attestation is appraised under (required).
  std::shared_ptr<const policy::workload_policy> policy;
  /// The root of GPU evidence chains; null: NVIDIA's Device Identity CA (compiled in).
  std::shared_ptr<const gpu::trust_anchor> gpu_anchor{};
  /// CRLs for the GPU chains (null: revocation unchecked).
  std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> gpu_crls{};
  /// Replaces the NEAR attester built from the above (tests).
  std::shared_ptr<server::attester> attester{};
};

struct proxy_statistics {
  std::size_t attestations = 0;        ///< report requests made
  std::size_t requests = 0;            ///< client requests answered (any status)
  std::size_t upstream_connections = 0;  ///< TLS connections opened to backends
  std::size_t idle_upstream = 0;       ///< verified connections in the pool
  std::size_t client_connections = 0;  ///< open client connections
  std::size_t idle_client_connections = 0;  ///< of which waiting for a request
  /// Answers of signed endpoints by their signature's verdict.
  std::size_t signatures_valid = 0;
  std::size_t signatures_invalid = 0;
  std::size_t signatures_unavailable = 0;
  std::size_t e2ee_sealed = 0;  ///< requests whose fields the proxy sealed to the attested key
  std::size_t shards_serving = 0;  ///< shards (threads) with at least one client connection now
};

class proxy_server {
 public:
  /// Throws std::runtime_error for unusable configuration (e.g. an unreadable
  /// --upstream-ca or --endpoints-ca file). One shard on `executor`.
  proxy_server(boost::asio::any_io_executor executor, proxy_config config, proxy_dependencies dependencies);
  /// One shard per executor, each single-threaded; the first is the control executor
  /// (dependencies.collateral must run there).
  proxy_server(std::vector<boost::asio::any_io_executor> shard_executors, proxy_config config,
               proxy_dependencies dependencies);
  ~proxy_server();
  proxy_server(const proxy_server&) = delete;
  proxy_server& operator=(const proxy_server&) = delete;

  /// Binds and listens, every shard on the same port (throws std::system_error naming the
  /// address when it cannot), starts the discovery-list fetch and accepting clients. Call
  /// before the executors run, or with one shard on its thread.
  void start();

  /// How many shards (threads) serve.
  std::size_t shard_count() const { return shards_.size(); }

  /// The bound port (after start()).
  std::uint16_t port() const;

  /// Graceful shutdown of every shard: stop accepting, close idle client connections, let
  /// requests in flight finish for up to config.shutdown_grace, then cut the rest. `done`
  /// runs once, on the control executor, when every client connection of every shard is
  /// closed. Idempotent; callable from any thread.
  void stop(std::function<void()> done = {});

  /// With one shard, call on its thread. With several, from any thread: it waits while
  /// each other shard reads its own gauges on its thread.
  proxy_statistics statistics() const;

  struct state;

 private:
  std::vector<std::shared_ptr<state>> shards_;
};

}  // namespace vp::server
