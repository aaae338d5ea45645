#pragma once
// The discovery list (`--endpoints-url`, issue #5 "Routing"): fetched at startup,
// refreshed when older than `refresh`, one fetch at a time, and the last good list kept
// when a refresh fails (a backend outage of the list must not stop routing by model).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "net/http_client.hpp"
#include "proxy/routing.hpp"

namespace vp::server {

using endpoint_list = std::shared_ptr<const std::vector<proxy::endpoint>>;

class endpoints_directory {
 public:
  endpoints_directory(boost::asio::any_io_executor executor, std::string url, std::chrono::seconds refresh,
                      net::http_client_options http_options);
  ~endpoints_directory();
  endpoints_directory(const endpoints_directory&) = delete;
  endpoints_directory& operator=(const endpoints_directory&) = delete;

  /// Starts the first fetch in the background (startup).
  void start();

  /// The current list. Refreshes in the background when it is stale (callers get the
  /// stale list meanwhile); waits for the fetch only when no list was ever obtained.
  /// The error names the URL and why no list is available.
  boost::asio::awaitable<boost::system::result<endpoint_list, std::string>> get();

  /// Fetches completed (successful or not), for tests and logs.
  std::size_t fetch_count() const { return fetches_; }

 private:
  boost::asio::awaitable<void> refresh();
  void spawn_refresh();

  boost::asio::any_io_executor executor_;
  std::string url_;
  std::chrono::seconds refresh_;
  std::unique_ptr<net::http_client> client_;
  endpoint_list list_;
  std::string last_error_;
  std::chrono::steady_clock::time_point next_refresh_{};
  bool refreshing_ = false;
  std::size_t fetches_ = 0;
  /// Waiters for the in-flight fetch park on this timer; the fetch cancels it.
  std::shared_ptr<boost::asio::steady_timer> done_;
  std::shared_ptr<bool> alive_;
};

}  // namespace vp::server
