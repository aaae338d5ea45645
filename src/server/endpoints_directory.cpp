#include "server/endpoints_directory.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.hpp"
#include "net/spawn.hpp"

namespace vp::server {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {
// After a failed fetch, the next attempt waits this long (the list stays in use).
constexpr std::chrono::seconds retry_after_failure{30};
}  // namespace

endpoints_directory::endpoints_directory(asio::any_io_executor executor, std::string url, std::chrono::seconds refresh,
                                         net::http_client_options http_options)
    : executor_(executor),
      url_(std::move(url)),
      refresh_(refresh),
      client_(std::make_unique<net::http_client>(executor, std::move(http_options))),
      alive_(std::make_shared<bool>(true)) {}

endpoints_directory::~endpoints_directory() { *alive_ = false; }

void endpoints_directory::start() {
  if (!refreshing_) spawn_refresh();
}

void endpoints_directory::spawn_refresh() {
  refreshing_ = true;
  done_ = std::make_shared<asio::steady_timer>(executor_, steady::time_point::max());
  net::spawn_logged(
      executor_,
      [this, alive = alive_]() -> asio::awaitable<void> {
        co_await refresh();
        if (!*alive) co_return;
        refreshing_ = false;
        done_->cancel();
      },
      "endpoints list refresh");
}

asio::awaitable<void> endpoints_directory::refresh() {
  auto alive = alive_;
  // Named, not a braced temporary: GCC 12 miscompiles string-literal initializers in
  // co_await operands ("array used as initializer").
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Accept", "application/json");
  auto response = co_await client_->get(url_, std::move(headers));
  if (!*alive) co_return;
  ++fetches_;
  std::string error;
  if (!response) {
    error = response.error().message;
  } else if (response->status != 200) {
    error = url_ + " answered HTTP " + std::to_string(response->status);
  } else if (auto parsed = proxy::parse_endpoints(response->body, error)) {
    std::size_t models = 0;
    for (const auto& e : *parsed) models += e.models.size();
    log::info("endpoints: " + std::to_string(parsed->size()) + " domains, " + std::to_string(models) +
              " models from " + url_);
    list_ = std::make_shared<const std::vector<proxy::endpoint>>(std::move(*parsed));
    last_error_.clear();
    next_refresh_ = steady::now() + refresh_;
    co_return;
  } else {
    error = url_ + ": " + error;
  }
  last_error_ = error;
  next_refresh_ = steady::now() + retry_after_failure;
  log::warn("endpoints: fetch failed" + std::string(list_ ? " (keeping the last good list)" : "") + ": " + error);
}

asio::awaitable<boost::system::result<endpoint_list, std::string>> endpoints_directory::get() {
  if (!refreshing_ && (!list_ || steady::now() >= next_refresh_)) {
    // Without a list, a failed fetch is retried on demand, still one at a time.
    if (list_ || steady::now() >= next_refresh_ || fetches_ == 0) spawn_refresh();
  }
  if (!list_ && refreshing_) {
    auto done = done_;
    co_await done->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (list_) co_return list_;
  co_return "no endpoint list: " + (last_error_.empty() ? std::string("not fetched yet") : last_error_);
}

}  // namespace vp::server
