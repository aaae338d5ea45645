#include "server/endpoints_directory.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
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
                                         net::http_client_options http_options, list_parser parse)
    : executor_(executor),
      url_(std::move(url)),
      refresh_(refresh),
      parse_(parse ? std::move(parse)
                   : [](std::string_view body, std::string& error) { return proxy::parse_endpoints(body, error); }),
      client_(std::make_unique<net::http_client>(executor, std::move(http_options))),
      flights_(std::make_shared<fetch_flights>()),
      alive_(std::make_shared<bool>(true)) {}

endpoints_directory::~endpoints_directory() { *alive_ = false; }

void endpoints_directory::start() { request_refresh(); }

std::size_t endpoints_directory::fetch_count() const {
  const std::lock_guard lock(mutex_);
  return fetches_;
}

void endpoints_directory::request_refresh() {
  if (refresh_requested_.exchange(true)) return;
  asio::post(executor_, [this, alive = alive_] {
    if (*alive) spawn_refresh();
  });
}

asio::awaitable<bool> endpoints_directory::refresh_shared() {
  const auto flights = flights_;
  const auto alive = alive_;
  // Named, not temporaries in the co_await operand: GCC 12 destroys such temporaries
  // twice, and mishandles co_await inside && and ?:.
  auto work = [this, alive]() -> asio::awaitable<bool> {
    if (!*alive) co_return false;
    const bool fetched = co_await refresh();
    co_return fetched;
  };
  const bool fetched = co_await flights->run(0, std::move(work), false);
  co_return fetched;
}

void endpoints_directory::spawn_refresh() {
  net::spawn_logged(
      executor_,
      [this, alive = alive_]() -> asio::awaitable<void> {
        co_await refresh_shared();
        if (*alive) refresh_requested_ = false;
      },
      "endpoints list refresh");
}

asio::awaitable<bool> endpoints_directory::refresh() {
  auto alive = alive_;
  // Named, not a braced temporary: GCC 12 miscompiles string-literal initializers in
  // co_await operands ("array used as initializer").
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Accept", "application/json");
  auto response = co_await client_->get(url_, std::move(headers));
  if (!*alive) co_return false;
  {
    const std::lock_guard lock(mutex_);
    ++fetches_;
  }
  std::string error;
  if (!response) {
    error = response.error().message;
  } else if (response->status != 200) {
    error = url_ + " answered HTTP " + std::to_string(response->status);
  } else if (auto parsed = parse_(response->body, error)) {
    std::size_t models = 0;
    for (const auto& e : *parsed) models += e.models.size();
    log::info("endpoints: " + std::to_string(parsed->size()) + " domains, " + std::to_string(models) +
              " models from " + url_);
    const std::size_t domains = parsed->size();
    auto list = std::make_shared<const std::vector<proxy::endpoint>>(std::move(*parsed));
    {
      const std::lock_guard lock(mutex_);
      list_ = std::move(list);
      last_error_.clear();
      next_refresh_ = steady::now() + refresh_;
    }
    if (observer_) observer_(fetch_outcome{true, domains, models, {}});
    co_return true;
  } else {
    error = url_ + ": " + error;
  }
  {
    const std::lock_guard lock(mutex_);
    last_error_ = error;
    next_refresh_ = steady::now() + retry_after_failure;
  }
  // Only this executor writes list_: read here without the lock.
  if (observer_) observer_(fetch_outcome{false, 0, 0, error});
  if (list_) {
    log::warn("endpoints: refresh failed (keeping the last good list, next try in " +
              std::to_string(retry_after_failure.count()) + " s): " + error);
  } else {
    // The first thing a user without network (or behind a proxy) sees: say what it means
    // for their requests and how to try the proxy anyway.
    log::warn("endpoints: cannot fetch the discovery list (" + error + "); requests routed by model are refused until "
              "it can be fetched, tried again in " + std::to_string(retry_after_failure.count()) +
              " s and on the next request. Offline? verified-proxy-sim runs a simulated NEAR deployment on this "
              "machine (README: Simulator)");
  }
  co_return false;
}

void endpoints_directory::refresh_if_due() {
  bool due = false;
  {
    const std::lock_guard lock(mutex_);
    due = steady::now() >= next_refresh_;
  }
  if (due) request_refresh();
}

endpoint_list endpoints_directory::held() {
  endpoint_list list;
  bool due = false;
  {
    const std::lock_guard lock(mutex_);
    list = list_;
    due = steady::now() >= next_refresh_;
  }
  // A stale list is served while it is refreshed in the background.
  if (list && due) request_refresh();
  return list;
}

asio::awaitable<boost::system::result<endpoint_list, std::string>> endpoints_directory::get() {
  if (auto list = held()) co_return list;
  // Named, not a temporary in the co_await operand (GCC 12). The caller resumes on its
  // own executor.
  auto waiting = first_list();
  auto out = co_await asio::co_spawn(executor_, std::move(waiting), asio::use_awaitable);
  co_return out;
}

asio::awaitable<boost::system::result<endpoint_list, std::string>> endpoints_directory::first_list() {
  // No list yet: wait for the fetch in flight, or start one (a failed fetch is retried on
  // demand, after its back-off, still one at a time). Only this executor writes the
  // members: read here without the lock.
  const bool due = steady::now() >= next_refresh_;
  if (flights_->in_flight(0) || due || fetches_ == 0) co_await refresh_shared();
  if (list_) co_return list_;
  co_return "the discovery list could not be fetched (" +
      (last_error_.empty() ? std::string("not fetched yet") : last_error_) + "); retry once it is reachable";
}

}  // namespace vp::server
