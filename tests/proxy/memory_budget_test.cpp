#include "proxy/memory_budget.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace vp::proxy {
namespace {

TEST(MemoryBudget, LeasesGrowShrinkAndReturnWhatTheyHold) {
  memory_budget budget(100);
  auto a = budget.open();
  auto b = budget.open();
  EXPECT_TRUE(a.resize(60));
  EXPECT_FALSE(b.resize(41));  // 60 + 41 > 100
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.resize(40));
  EXPECT_EQ(budget.in_use(), 100u);
  EXPECT_TRUE(a.resize(10));  // shrinking always succeeds and gives back the rest
  EXPECT_EQ(budget.in_use(), 50u);
  {
    auto moved = std::move(a);
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(moved.size(), 10u);
  }
  EXPECT_EQ(budget.in_use(), 40u);
  b = budget.open();
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST(MemoryBudget, NeverOvercommitsNearTheLimitOrOnOverflow) {
  memory_budget budget(std::size_t(-1) / 2);
  auto a = budget.open();
  EXPECT_TRUE(a.resize(std::size_t(-1) / 2));
  auto b = budget.open();
  EXPECT_FALSE(b.resize(1));
  EXPECT_FALSE(b.resize(std::size_t(-1)));
  EXPECT_FALSE(memory_budget::lease().resize(1));  // a lease on no budget holds nothing
}

TEST(MemoryBudget, ConcurrentLeasesNeverExceedTheLimit) {
  memory_budget budget(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        auto lease = budget.open();
        if (lease.resize(300)) {
          EXPECT_LE(budget.in_use(), 1000u);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(budget.in_use(), 0u);
}

}  // namespace
}  // namespace vp::proxy
