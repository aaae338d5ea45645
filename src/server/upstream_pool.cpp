#include "server/upstream_pool.hpp"

namespace vp::server {

using steady = std::chrono::steady_clock;

upstream_pool::upstream_pool(std::size_t max_idle_per_domain, steady::duration idle_timeout)
    : max_idle_(max_idle_per_domain), idle_timeout_(idle_timeout) {}

std::optional<upstream::upstream_connection> upstream_pool::take(
    std::string_view domain, const std::function<bool(const sha256_digest& spki)>& fresh) {
  const auto it = idle_.find(domain);
  if (it == idle_.end()) return std::nullopt;
  auto& list = it->second;
  const auto now = steady::now();
  std::optional<upstream::upstream_connection> out;
  while (!list.empty() && !out) {
    idle entry = std::move(list.back());
    list.pop_back();
    if (now - entry.since > idle_timeout_ || !entry.conn.reusable() || !fresh(entry.conn.spki_sha256())) continue;
    // Bytes that arrived while the connection sat idle were sent before any request.
    if (auto hazard = entry.conn.reuse_hazard()) {
      entry.conn.poison("while idle in the pool: " + *hazard);
      continue;
    }
    out.emplace(std::move(entry.conn));
  }
  if (list.empty()) idle_.erase(it);
  return out;
}

void upstream_pool::put(upstream::upstream_connection conn, std::string_view key) {
  if (!conn.reusable() || max_idle_ == 0) return;
  // Whatever follows a complete response on the connection (a body after a HEAD answer,
  // a second response) would be read as the answer to the next request, of any client.
  if (auto hazard = conn.reuse_hazard()) {
    conn.poison("after a response: " + *hazard);
    return;
  }
  auto& list = idle_[key.empty() ? conn.host() : std::string(key)];
  // Expired entries sit at the front (oldest first).
  const auto now = steady::now();
  while (!list.empty() && now - list.front().since > idle_timeout_) list.pop_front();
  if (list.size() >= max_idle_) list.pop_front();
  list.push_back({std::move(conn), now});
}

void upstream_pool::clear() { idle_.clear(); }

std::size_t upstream_pool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [domain, list] : idle_) n += list.size();
  return n;
}

}  // namespace vp::server
