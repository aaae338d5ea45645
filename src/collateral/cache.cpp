#include "collateral/cache.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdlib>

#include "collateral/bundle.hpp"
#include "core/hex.hpp"
#include "core/time.hpp"
#include "net/spawn.hpp"

namespace vp::collateral {

namespace asio = boost::asio;

namespace {

/// When a copy becomes due for a background refresh.
unix_time refresh_point(const tdx::collateral_summary& s, double refresh_after) {
  const auto window = s.valid_until - s.valid_from;
  return s.valid_from + std::chrono::duration_cast<std::chrono::seconds>(window * refresh_after);
}

}  // namespace

std::filesystem::path default_cache_directory() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "verified-proxy" / "collateral";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".cache" / "verified-proxy" / "collateral";
  }
  return {};
}

/// One fetch in progress; later callers for the same platform wait on `done`.
cached_source::cached_source(asio::any_io_executor executor, std::shared_ptr<source> upstream, cache_options options,
                             std::shared_ptr<const tdx::trust_anchor> anchor, const clock& clock)
    : executor_(std::move(executor)),
      upstream_(std::move(upstream)),
      options_(std::move(options)),
      anchor_(std::move(anchor)),
      clock_(clock) {}

cached_source::~cached_source() = default;

std::filesystem::path cached_source::file_for(const platform_key& key) const {
  return options_.directory / (to_hex_upper(key.fmspc) + "-" + std::string(tdx::to_string(key.ca)) + ".json");
}

bool cached_source::fresh(const entry& e, unix_time now) const {
  return e.value.summary.valid_from <= now && now <= e.value.summary.valid_until;
}

bool cached_source::refresh_due(const platform_key& key, const entry& e, unix_time now) const {
  return now >= refresh_point(e.value.summary, options_.refresh_after) && now >= e.retry_not_before &&
         !flights_.in_flight(key);
}

void cached_source::start_background_refresh(const platform_key& key) {
  net::spawn_logged(
      executor_,
      [self = shared_from_this(), key]() -> asio::awaitable<void> { co_await self->fetch_shared(key); },
      "collateral refresh");
}

std::optional<verified_collateral> cached_source::load_from_disk(const platform_key& key, unix_time now) {
  if (options_.directory.empty()) return std::nullopt;
  const auto path = file_for(key);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto raw = read_collateral_file(path);
  if (raw) {
    auto accepted = accept(*raw, key, *anchor_, now, options_.min_tcb_evaluation_data_number, path.string());
    if (accepted) return std::move(*accepted);
    if (accepted.error().kind == errc::expired) return std::nullopt;  // stale, not corrupt: replaced on refetch
  }
  // Corrupt, truncated or unauthentic: never trusted, removed so it is refetched.
  std::filesystem::remove(path, ec);
  return std::nullopt;
}

asio::awaitable<result<verified_collateral>> cached_source::get(platform_key key) {
  const unix_time now = clock_.now();
  if (auto it = entries_.find(key); it != entries_.end() && fresh(it->second, now)) {
    if (refresh_due(key, it->second, now)) start_background_refresh(key);
    co_return it->second.value;
  }
  if (!entries_.contains(key)) {
    if (auto loaded = load_from_disk(key, now)) {
      entry& e = entries_[key] = entry{std::move(*loaded), {}};
      if (refresh_due(key, e, now)) start_background_refresh(key);
      co_return e.value;
    }
  }
  co_return co_await fetch_shared(key);
}

asio::awaitable<result<verified_collateral>> cached_source::fetch_shared(platform_key key) {
  result<verified_collateral> abandoned =
      error{errc::unavailable, "collateral fetch for " + to_string(key) + " was abandoned"};
  // Named, not a temporary in the co_await operand (GCC 12 destroys those twice).
  auto work = [this, key]() { return fetch_now(key); };
  auto fetched = co_await flights_.run(key, std::move(work), std::move(abandoned));
  co_return fetched;
}

asio::awaitable<result<verified_collateral>> cached_source::fetch_now(platform_key key) {
  ++upstream_fetches_;
  result<verified_collateral> fetched = co_await upstream_->get(key);
  const unix_time now = clock_.now();
  if (fetched) {
    entry& e = entries_[key] = entry{*fetched, {}};
    // Upstream may serve collateral that is itself past its refresh point (a PCCS that
    // has not updated yet). Refreshing it again at once would turn every request into
    // a refetch, so it waits like after a failed refresh.
    if (now >= refresh_point(e.value.summary, options_.refresh_after)) e.retry_not_before = now + options_.retry_after;
    if (!options_.directory.empty() && fetched->raw) {
      std::error_code ec;
      std::filesystem::create_directories(options_.directory, ec);
      // A failed write only costs a refetch after a restart; the verdict is unaffected.
      (void)write_collateral_file(file_for(key), *fetched->raw);
    }
  } else if (auto it = entries_.find(key); it != entries_.end()) {
    it->second.retry_not_before = now + options_.retry_after;
    if (fresh(it->second, now)) fetched = it->second.value;  // a failed refresh keeps the valid copy
    else {
      fetched = error{fetched.error().kind == errc::unavailable ? errc::expired : fetched.error().kind,
                      "cached collateral for " + to_string(key) + " expired at " +
                          format_rfc3339_utc(it->second.value.summary.valid_until) +
                          " and could not be refreshed: " + fetched.error().message};
    }
  }
  co_return fetched;
}

}  // namespace vp::collateral
