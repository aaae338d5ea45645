#include "server/client_watches.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace vp::server {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

void note_start(void* context) { static_cast<std::vector<clock::time_point>*>(context)->push_back(clock::now()); }

TEST(ClientWatches, AWatchStartsOnlyOnceItsExchangeRanForTheDelay) {
  boost::asio::io_context ioc;
  client_watches watches(ioc.get_executor(), 200ms);
  std::vector<clock::time_point> started;
  client_watches::entry e;
  const auto deferred = clock::now();
  watches.defer(e, note_start, &started);
  EXPECT_TRUE(e.waiting());
  ioc.run_for(20ms);
  EXPECT_TRUE(started.empty()) << "too early";
  ioc.run_for(1s);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_GE(started.front() - deferred, 200ms);
  EXPECT_FALSE(e.waiting());
}

TEST(ClientWatches, ACancelledOrEndedExchangeIsNeverWatched) {
  boost::asio::io_context ioc;
  client_watches watches(ioc.get_executor(), 20ms);
  std::vector<clock::time_point> started;
  client_watches::entry cancelled;
  watches.defer(cancelled, note_start, &started);
  {
    client_watches::entry ended;
    watches.defer(ended, note_start, &started);
    EXPECT_EQ(watches.waiting(), 2u);
  }
  EXPECT_EQ(watches.waiting(), 1u) << "an entry leaves the queue when destroyed";
  cancelled.cancel();
  EXPECT_EQ(watches.waiting(), 0u);
  client_watches::entry kept;
  watches.defer(kept, note_start, &started);
  ioc.run_for(150ms);
  EXPECT_EQ(started.size(), 1u) << "only the one still waiting";
}

TEST(ClientWatches, EachWatchWaitsForItsOwnDelayInTheOrderTheyCame) {
  boost::asio::io_context ioc;
  client_watches watches(ioc.get_executor(), 30ms);
  std::vector<clock::time_point> first;
  std::vector<clock::time_point> second;
  client_watches::entry a;
  client_watches::entry b;
  const auto a_at = clock::now();
  watches.defer(a, note_start, &first);
  ioc.run_for(20ms);
  const auto b_at = clock::now();
  watches.defer(b, note_start, &second);
  ioc.run_for(200ms);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GE(first.front() - a_at, 30ms);
  EXPECT_GE(second.front() - b_at, 30ms);
  EXPECT_LE(first.front(), second.front());
}

TEST(ClientWatches, AQuietThreadHasNoTimerWakingItUp) {
  boost::asio::io_context ioc;
  client_watches watches(ioc.get_executor(), 10ms);
  std::vector<clock::time_point> started;
  client_watches::entry e;
  watches.defer(e, note_start, &started);
  EXPECT_TRUE(watches.ticking());
  // Nothing else holds work: run() returns once the timer stopped ticking, a second after
  // the last exchange came.
  const auto began = clock::now();
  ioc.run_for(5s);
  EXPECT_LT(clock::now() - began, 4s);
  EXPECT_FALSE(watches.ticking());
  EXPECT_EQ(started.size(), 1u);
  ioc.restart();
  client_watches::entry again;
  watches.defer(again, note_start, &started);
  EXPECT_TRUE(watches.ticking()) << "a new exchange starts the timer again";
  ioc.run_for(100ms);
  EXPECT_EQ(started.size(), 2u);
}

TEST(ClientWatches, DestroyedWithWatchesWaitingLeavesTheirEntriesUsable) {
  boost::asio::io_context ioc;
  std::vector<clock::time_point> started;
  client_watches::entry e;
  {
    client_watches watches(ioc.get_executor(), 10ms);
    watches.defer(e, note_start, &started);
  }
  EXPECT_FALSE(e.waiting());
  ioc.run_for(50ms);
  EXPECT_TRUE(started.empty());
}

}  // namespace
}  // namespace vp::server
