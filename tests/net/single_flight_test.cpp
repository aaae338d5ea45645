#include "net/single_flight.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vp::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// Work that finishes when `gate` is cancelled, counting how often it ran.
struct gated_work {
  asio::steady_timer& gate;
  int& runs;
  bool fail = false;
  asio::awaitable<int> operator()() const {
    ++runs;
    co_await gate.async_wait(asio::as_tuple(asio::use_awaitable));
    if (fail) throw std::runtime_error("leader failed");
    co_return 42;
  }
};

TEST(SingleFlight, HundredConcurrentCallersShareOneRun) {
  asio::io_context io;
  single_flight<std::string, int> flights;
  asio::steady_timer gate(io, std::chrono::steady_clock::time_point::max());
  int runs = 0;
  int results = 0;
  int joined_count = 0;
  for (int i = 0; i < 100; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          bool joined = false;
          const int v = co_await flights.run("k", gated_work{gate, runs}, -1, &joined);
          if (v == 42) ++results;
          if (joined) ++joined_count;
        },
        asio::detached);
  }
  io.run_for(50ms);
  EXPECT_TRUE(flights.in_flight("k"));
  gate.cancel();
  io.restart();
  io.run_for(1s);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(results, 100);
  EXPECT_EQ(joined_count, 99);
  EXPECT_EQ(flights.size(), 0u);
}

TEST(SingleFlight, WaitersAreReleasedWhenTheLeaderThrows) {
  asio::io_context io;
  single_flight<std::string, int> flights;
  asio::steady_timer gate(io, std::chrono::steady_clock::time_point::max());
  int runs = 0;
  int abandoned = 0;
  bool leader_threw = false;
  asio::co_spawn(io, flights.run("k", gated_work{gate, runs, true}, -1),
                 [&](std::exception_ptr e, int) { leader_threw = e != nullptr; });
  for (int i = 0; i < 10; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          if (co_await flights.run("k", gated_work{gate, runs}, -1) == -1) ++abandoned;
        },
        asio::detached);
  }
  io.run_for(20ms);
  gate.cancel();
  io.restart();
  io.run_for(1s);
  EXPECT_TRUE(leader_threw);
  EXPECT_EQ(abandoned, 10);
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(flights.in_flight("k"));  // the next caller starts afresh
}

TEST(SingleFlight, DistinctKeysRunSeparatelyAndLaterCallsRunAgain) {
  asio::io_context io;
  single_flight<std::string, int> flights;
  int runs = 0;
  const auto work = [&]() -> asio::awaitable<int> {
    ++runs;
    co_return runs;
  };
  int a = 0, b = 0, c = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { a = co_await flights.run("a", work, -1); }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { b = co_await flights.run("b", work, -1); }, asio::detached);
  io.run();
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { c = co_await flights.run("a", work, -1); }, asio::detached);
  io.restart();
  io.run();
  EXPECT_EQ(runs, 3);
  EXPECT_NE(a, b);
  EXPECT_EQ(c, 3);
}

/// `count` io_contexts, each run by its own thread until destroyed (the proxy's shards).
struct thread_pool_of_contexts {
  explicit thread_pool_of_contexts(std::size_t count) : contexts(count) {
    for (auto& io : contexts) {
      guards.push_back(asio::make_work_guard(io));
      threads.emplace_back([&io] { io.run(); });
    }
  }
  ~thread_pool_of_contexts() {
    for (auto& g : guards) g.reset();
    for (auto& io : contexts) io.stop();
    for (auto& t : threads) t.join();
  }
  std::vector<asio::io_context> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
};

/// Polls `done` (every millisecond, at most 60 s: generous for ThreadSanitizer).
template <class Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(SingleFlightThreads, CallersOnEightThreadsShareOneRunAndWakeOnTheirOwnThreads) {
  single_flight<std::string, int> flights;
  std::atomic<int> runs{0}, results{0}, joined_count{0}, on_own_thread{0}, finished{0};
  std::atomic<bool> release{false};
  constexpr int callers = 100;
  // The leader's work runs until every other caller waits for it, so all of them join.
  const auto work = [&]() -> asio::awaitable<int> {
    ++runs;
    asio::steady_timer poll(co_await asio::this_coro::executor);
    while (!release.load()) {
      poll.expires_after(1ms);
      co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return 42;
  };
  {
    thread_pool_of_contexts pool(8);
    for (int i = 0; i < callers; ++i) {
      auto& io = pool.contexts[static_cast<std::size_t>(i) % pool.contexts.size()];
      asio::co_spawn(
          io,
          [&, &io = io]() -> asio::awaitable<void> {
            bool joined = false;
            const int v = co_await flights.run("k", work, -1, &joined);
            if (v == 42) ++results;
            if (joined) ++joined_count;
            if (io.get_executor().running_in_this_thread()) ++on_own_thread;
            ++finished;
          },
          asio::detached);
    }
    ASSERT_TRUE(eventually([&] { return flights.waiting("k") == callers - 1; }));
    release = true;
    ASSERT_TRUE(eventually([&] { return finished.load() == callers; }));
  }
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(results.load(), callers);
  EXPECT_EQ(joined_count.load(), callers - 1);
  EXPECT_EQ(on_own_thread.load(), callers);
  EXPECT_EQ(flights.size(), 0u);
}

}  // namespace
}  // namespace vp::net
