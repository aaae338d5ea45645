#include "net/single_flight.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <stdexcept>
#include <string>

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
  single_flight<std::string, int> flights(io.get_executor());
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
  single_flight<std::string, int> flights(io.get_executor());
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
  single_flight<std::string, int> flights(io.get_executor());
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

}  // namespace
}  // namespace vp::net
