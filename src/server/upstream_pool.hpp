#pragma once
// Idle, verified keep-alive connections per domain (issue #5: "where we beat the
// reference by orders of magnitude" — no TCP + TLS handshake and no attestation per
// request). A pooled connection is handed out only while its key's verdict is fresh; the
// caller passes that test in, so the pool itself knows nothing about attestation.
//
// Sized to the load, not per domain: every connection a finished request returns is kept
// while the upstream connections open in all (in use + idle, as `open_connections`
// counts them) stay within `max_connections`; beyond that the least recently used idle
// one anywhere is closed. An idle connection holds a descriptor and its TLS state, so a
// timer closes those idle longer than `idle_timeout` even when no request comes to
// take or return one. One pool per executor (no shared state): it is not thread-safe.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "upstream/attested_connection.hpp"

namespace vp::server {

struct upstream_pool_limits {
  /// Upstream connections open at once, in use plus idle, beyond which idle ones are
  /// closed (0: nothing is pooled).
  std::size_t max_connections = 0;
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(55);
};

class upstream_pool {
 public:
  /// `open_connections`: the upstream connections that exist now (connecting, in use or
  /// idle here), e.g. tls_client_context::open_connections.
  upstream_pool(boost::asio::any_io_executor executor, upstream_pool_limits limits,
                std::function<std::size_t()> open_connections);
  ~upstream_pool();
  upstream_pool(const upstream_pool&) = delete;
  upstream_pool& operator=(const upstream_pool&) = delete;

  /// The most recently returned idle connection of `domain` (a pool key) whose key passes `fresh`;
  /// connections idle for longer than the timeout, whose key is no longer fresh, or that
  /// hold bytes nobody asked for (upstream_connection::reuse_hazard: poisoned, logged),
  /// are closed on the way.
  std::optional<upstream::upstream_connection> take(
      std::string_view domain, const std::function<bool(const upstream::upstream_connection&)>& fresh);

  /// Returns a connection positioned between messages, to the pool of `key` (empty: its
  /// host; a gateway's connections are pooled per model, each with its own verdict).
  /// Closed instead unless reusable() (reuse hazards are looked for by take()); the least
  /// recently used idle connections (of any key) are closed while more than
  /// max_connections are open.
  void put(upstream::upstream_connection conn, std::string_view key = {});

  /// Before a new upstream connection is opened: closes the least recently used idle one
  /// if the new one would bring the open connections beyond max_connections.
  void make_room_for_one();

  /// Closes every idle connection (shutdown).
  void clear();
  std::size_t idle_count() const;

 private:
  struct idle {
    upstream::upstream_connection conn;
    std::chrono::steady_clock::time_point since;
    std::string key;
  };
  // Least recently returned first: `since` grows along the list, so the oldest (the first
  // to expire, the first to evict) is at the front; each key's deque holds its entries in
  // the same order (the most recent at the back, handed out first).
  using entry_list = std::list<idle>;
  void evict_oldest();
  void drop_empty_keys();
  void close_expired();
  void arm_expiry();

  upstream_pool_limits limits_;
  std::function<std::size_t()> open_connections_;
  entry_list entries_;
  /// Entries taken, their connection moved out: put() reuses them (no allocation per
  /// request). At most as many as were ever idle at once.
  entry_list spare_;
  std::map<std::string, std::deque<entry_list::iterator>, std::less<>> by_key_;
  boost::asio::steady_timer expiry_;
  std::optional<std::chrono::steady_clock::time_point> armed_for_;
  /// The expiry handler's way to know the pool still exists (it may run after ~upstream_pool).
  std::shared_ptr<upstream_pool*> self_;
};

}  // namespace vp::server
