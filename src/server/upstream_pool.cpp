#include "server/upstream_pool.hpp"

#include <utility>

namespace vp::server {

using steady = std::chrono::steady_clock;

upstream_pool::upstream_pool(boost::asio::any_io_executor executor, upstream_pool_limits limits,
                             std::function<std::size_t()> open_connections)
    : limits_(limits),
      open_connections_(std::move(open_connections)),
      expiry_(std::move(executor)),
      self_(std::make_shared<upstream_pool*>(this)) {}

upstream_pool::~upstream_pool() {
  self_.reset();
  expiry_.cancel();
}

std::optional<upstream::upstream_connection> upstream_pool::take(
    std::string_view domain, const std::function<bool(const upstream::upstream_connection&)>& fresh) {
  const auto it = by_key_.find(domain);
  if (it == by_key_.end()) return std::nullopt;
  auto& list = it->second;
  const auto now = steady::now();
  std::optional<upstream::upstream_connection> out;
  while (!list.empty() && !out) {
    const auto entry = list.back();
    list.pop_back();
    upstream::upstream_connection conn = std::move(entry->conn);
    const auto since = entry->since;
    // The entry (its key's characters included) serves the next put().
    spare_.splice(spare_.end(), entries_, entry);
    if (now - since > limits_.idle_timeout || !conn.reusable() || !fresh(conn)) continue;
    // Bytes that arrived while the connection sat idle were sent before any request.
    if (auto hazard = conn.reuse_hazard()) {
      conn.poison("before its reuse: " + *hazard);
      continue;
    }
    out.emplace(std::move(conn));
  }
  // An emptied key stays (the connection usually comes back to it): drop_empty_keys()
  // bounds how many do.
  return out;
}

void upstream_pool::put(upstream::upstream_connection conn, std::string_view key) {
  // Whatever follows a complete response on the connection (a body after a HEAD answer, a
  // second response) would be read as the answer to the next request, of any client: take()
  // looks for it, as late as it can (once per reuse, whatever arrived in between included).
  if (!conn.reusable() || limits_.max_connections == 0) return;
  close_expired();
  // `conn` is among the open connections: keeping it must not take their number beyond
  // the bound, so older idle ones make way (and `conn` itself when none is left).
  std::size_t open = open_connections_();
  while (!entries_.empty() && open > limits_.max_connections) {
    evict_oldest();
    open = open_connections_();
  }
  if (open > limits_.max_connections) return;
  const std::string_view pool_key = key.empty() ? std::string_view(conn.host()) : key;
  auto list = by_key_.find(pool_key);
  if (list == by_key_.end()) {
    drop_empty_keys();
    list = by_key_.try_emplace(std::string(pool_key)).first;
  }
  if (spare_.empty()) {
    entries_.push_back({std::move(conn), steady::now(), std::string(pool_key)});
  } else {
    entries_.splice(entries_.end(), spare_, spare_.begin());
    auto& entry = entries_.back();
    entry.conn = std::move(conn);
    entry.since = steady::now();
    entry.key.assign(pool_key);
  }
  list->second.push_back(std::prev(entries_.end()));
  arm_expiry();
}

void upstream_pool::drop_empty_keys() {
  // Keys come from routes (a gateway's include the model): those emptied by take() stay
  // until there are more of them than entries, then go.
  if (by_key_.size() <= entries_.size() + 16) return;
  std::erase_if(by_key_, [](const auto& kv) { return kv.second.empty(); });
}

void upstream_pool::make_room_for_one() {
  while (!entries_.empty() && open_connections_() >= limits_.max_connections) evict_oldest();
}

void upstream_pool::evict_oldest() {
  const auto oldest = entries_.begin();
  const auto list = by_key_.find(oldest->key);
  // The oldest entry of all is the oldest of its key.
  list->second.pop_front();
  if (list->second.empty()) by_key_.erase(list);
  entries_.erase(oldest);
}

void upstream_pool::close_expired() {
  const auto now = steady::now();
  while (!entries_.empty() && now - entries_.front().since > limits_.idle_timeout) evict_oldest();
}

void upstream_pool::arm_expiry() {
  if (armed_for_ || entries_.empty()) return;
  // Just past the oldest entry's timeout (close_expired closes what is idle for longer).
  const auto due = entries_.front().since + limits_.idle_timeout + std::chrono::milliseconds(1);
  armed_for_ = due;
  expiry_.expires_at(due);
  expiry_.async_wait([weak = std::weak_ptr<upstream_pool*>(self_)](boost::system::error_code ec) {
    const auto self = weak.lock();
    // Cancelled: by clear() or the destructor (nothing to do), or by nothing else — the
    // timer is re-armed only once its wait has ended.
    if (!self || ec == boost::asio::error::operation_aborted) return;
    upstream_pool& pool = **self;
    pool.armed_for_.reset();
    pool.close_expired();
    pool.arm_expiry();
  });
}

void upstream_pool::clear() {
  by_key_.clear();
  entries_.clear();
  spare_.clear();
  armed_for_.reset();
  expiry_.cancel();
}

std::size_t upstream_pool::idle_count() const { return entries_.size(); }

}  // namespace vp::server
