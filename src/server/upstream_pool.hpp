#pragma once
// Idle, verified keep-alive connections per domain (issue #5: "where we beat the
// reference by orders of magnitude" — no TCP + TLS handshake and no attestation per
// request). A pooled connection is handed out only while its key's verdict is fresh; the
// caller passes that test in, so the pool itself knows nothing about attestation.

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "upstream/attested_connection.hpp"

namespace vp::server {

class upstream_pool {
 public:
  upstream_pool(std::size_t max_idle_per_domain, std::chrono::steady_clock::duration idle_timeout);

  /// The most recently returned idle connection of `domain` (a pool key) whose key passes `fresh`;
  /// connections idle for longer than the timeout, whose key is no longer fresh, or that
  /// hold bytes nobody asked for (upstream_connection::reuse_hazard: poisoned, logged),
  /// are closed on the way.
  std::optional<upstream::upstream_connection> take(std::string_view domain,
                                                    const std::function<bool(const sha256_digest& spki)>& fresh);

  /// Returns a connection positioned between messages, to the pool of `key` (empty: its
  /// host; a gateway's connections are pooled per model, each with its own verdict).
  /// Closed instead unless reusable() and free of reuse hazards (poisoned and logged
  /// then); the oldest idle connection of the key is closed when its pool is full.
  void put(upstream::upstream_connection conn, std::string_view key = {});

  /// Closes every idle connection (shutdown).
  void clear();
  std::size_t idle_count() const;

 private:
  struct idle {
    upstream::upstream_connection conn;
    std::chrono::steady_clock::time_point since;
  };
  std::size_t max_idle_;
  std::chrono::steady_clock::duration idle_timeout_;
  std::map<std::string, std::deque<idle>, std::less<>> idle_;
};

}  // namespace vp::server
