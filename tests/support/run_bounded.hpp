#pragma once
// Runs one coroutine to completion on an io_context on the calling thread, bounded in
// time: a hang in the code under test fails the test instead of stalling the suite.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <thread>
#include <utility>

namespace vp::test {

/// The coroutine's result, or nullopt when it did not finish within `limit`; an exception
/// it threw is rethrown here.
template <class T>
std::optional<T> run_bounded(boost::asio::io_context& ioc, std::chrono::steady_clock::duration limit,
                             boost::asio::awaitable<T> work) {
  std::optional<T> out;
  std::exception_ptr failure;
  // T need not be default-constructible (co_spawn's value handlers require it).
  auto store = [](boost::asio::awaitable<T> w, std::optional<T>& slot) -> boost::asio::awaitable<void> {
    slot.emplace(co_await std::move(w));
  };
  boost::asio::co_spawn(ioc, store(std::move(work), out), [&](std::exception_ptr e) { failure = e; });
  ioc.run_for(limit);
  if (failure) std::rethrow_exception(failure);
  return out;
}

/// Polls `done` until it holds or `limit` passed (for state another thread updates, where
/// no event can be awaited); true if it held.
template <class Predicate>
bool eventually(Predicate done, std::chrono::steady_clock::duration limit = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace vp::test
