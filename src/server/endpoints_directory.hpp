#pragma once
// The discovery list (`--endpoints-url`, issue #5 "Routing"): fetched at startup,
// refreshed when older than `refresh`, one fetch at a time, and the last good list kept
// when a refresh fails (a backend outage of the list must not stop routing by model).
//
// Thread-safe: every shard of the proxy routes through one directory. Its fetches run on
// the executor it was given (its HTTP client and single flight live there); the list is
// read under a mutex held for a pointer copy, so routing by model costs no thread hop.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <functional>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "net/http_client.hpp"
#include "net/single_flight.hpp"
#include "proxy/routing.hpp"

namespace vp::server {

using endpoint_list = std::shared_ptr<const std::vector<proxy::endpoint>>;

/// Reads a fetched list body; nullopt with `error` set when it is not a usable list.
using list_parser = std::function<std::optional<std::vector<proxy::endpoint>>(std::string_view body, std::string& error)>;

class endpoints_directory {
 public:
  /// `parse`: null = NEAR's /endpoints format (proxy::parse_endpoints).
  endpoints_directory(boost::asio::any_io_executor executor, std::string url, std::chrono::seconds refresh,
                      net::http_client_options http_options, list_parser parse = nullptr);
  ~endpoints_directory();
  endpoints_directory(const endpoints_directory&) = delete;
  endpoints_directory& operator=(const endpoints_directory&) = delete;

  /// Starts the first fetch in the background (startup).
  void start();

  /// The current list. Refreshes in the background when it is stale (callers get the
  /// stale list meanwhile); waits for the fetch only when no list was ever obtained.
  /// The error names the URL and why no list is available.
  boost::asio::awaitable<boost::system::result<endpoint_list, std::string>> get();
  /// The list get() would answer at once (and the background refresh it would start), or
  /// null when get() must wait for the first fetch: a routed request takes it without a
  /// coroutine of its own.
  endpoint_list held();

  /// Fetches completed (successful or not), for tests and logs.
  std::size_t fetch_count() const;

  /// How one fetch ended: a list of `domains` / `models` (ok), or `error`.
  struct fetch_outcome {
    bool ok = false;
    std::size_t domains = 0;
    std::size_t models = 0;
    std::string error;
  };
  /// Called after every fetch (the status board records when and how it ended).
  void on_fetch(std::function<void(const fetch_outcome&)> observer) { observer_ = std::move(observer); }

  /// Starts a background fetch when one is due (a stale list, or a failed fetch's back-off
  /// over) and none is under way; never waits (a health check must answer at once).
  void refresh_if_due();

 private:
  /// Fetches the list once; true when a new list is in use.
  boost::asio::awaitable<bool> refresh();
  /// refresh() through the single flight, on behalf of a background fetch or a caller.
  boost::asio::awaitable<bool> refresh_shared();
  void spawn_refresh();
  /// Asks the directory's executor for a background fetch (once until it has run).
  void request_refresh();
  /// get() without a list yet, on the directory's executor.
  boost::asio::awaitable<boost::system::result<endpoint_list, std::string>> first_list();

  boost::asio::any_io_executor executor_;
  std::string url_;
  std::chrono::seconds refresh_;
  list_parser parse_;
  std::function<void(const fetch_outcome&)> observer_;
  std::unique_ptr<net::http_client> client_;
  /// Guards what any thread reads (written only on executor_).
  mutable std::mutex mutex_;
  endpoint_list list_;
  std::string last_error_;
  std::chrono::steady_clock::time_point next_refresh_{};
  std::size_t fetches_ = 0;
  /// A background fetch was requested and has not ended yet.
  std::atomic<bool> refresh_requested_{false};
  /// One fetch at a time; shared with the background fetch, which may outlive `this`
  /// (it then stops at `alive_`).
  using fetch_flights = net::single_flight<int, bool>;
  std::shared_ptr<fetch_flights> flights_;
  std::shared_ptr<bool> alive_;
};

}  // namespace vp::server
