// The deadline that moves without reprogramming its timer: it never fires before the time
// last set, it fires once that time passed, and a cancelled or destroyed one never runs
// its action.

#include "net/lazy_deadline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>

namespace vp::net {
namespace {

using namespace std::chrono_literals;
using clock = lazy_deadline::clock;

TEST(LazyDeadline, PostponedItFiresAtTheLaterTimeNotTheFirst) {
  boost::asio::io_context ioc;
  lazy_deadline deadline(ioc.get_executor());
  std::optional<clock::time_point> fired_at;
  int runs = 0;
  deadline.on_expiry([&] {
    fired_at = clock::now();
    ++runs;
  });
  deadline.expire_after(20ms);
  const auto due = clock::now() + 150ms;
  deadline.expire_at(due);  // postponed: the timer armed for 20 ms re-arms itself
  ioc.run_for(5s);
  ASSERT_TRUE(fired_at);
  EXPECT_GE(*fired_at, due);
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(deadline.expired());
}

TEST(LazyDeadline, BroughtForwardItFiresAtTheEarlierTime) {
  boost::asio::io_context ioc;
  lazy_deadline deadline(ioc.get_executor());
  bool fired = false;
  deadline.on_expiry([&] {
    fired = true;
    ioc.stop();
  });
  deadline.expire_after(1h);
  const auto due = clock::now() + 30ms;
  deadline.expire_at(due);
  ioc.run_for(5s);
  EXPECT_TRUE(fired) << "the hour-long wait was not replaced by the earlier deadline";
  EXPECT_GE(clock::now(), due);
}

TEST(LazyDeadline, CancelledItNeverRunsItsActionAndKeepsWhetherTheLastOneExpired) {
  boost::asio::io_context ioc;
  lazy_deadline deadline(ioc.get_executor());
  int runs = 0;
  deadline.on_expiry([&] { ++runs; });
  deadline.expire_after(10ms);
  deadline.cancel();
  boost::asio::steady_timer later(ioc, 100ms);
  later.async_wait([](const boost::system::error_code&) {});
  ioc.run_for(5s);
  EXPECT_EQ(runs, 0);
  EXPECT_FALSE(deadline.expired());

  deadline.expire_after(10ms);
  ioc.restart();
  ioc.run_for(5s);
  EXPECT_EQ(runs, 1);
  deadline.cancel();
  EXPECT_TRUE(deadline.expired()) << "cancel() after expiry must not hide why an operation ended";
  deadline.expire_after(1h);
  EXPECT_FALSE(deadline.expired()) << "a new deadline starts unexpired";
}

TEST(LazyDeadline, DestroyedWithAWaitPendingItRunsNothing) {
  boost::asio::io_context ioc;
  int runs = 0;
  {
    lazy_deadline deadline(ioc.get_executor());
    deadline.on_expiry([&] { ++runs; });
    deadline.expire_after(10ms);
  }
  boost::asio::steady_timer later(ioc, 100ms);
  later.async_wait([](const boost::system::error_code&) {});
  ioc.run_for(5s);
  EXPECT_EQ(runs, 0);
}

}  // namespace
}  // namespace vp::net
