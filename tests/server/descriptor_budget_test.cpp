#include "server/descriptor_budget.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>

namespace vp::server {
namespace {

TEST(DescriptorBudget, OneDescriptorPerConnectionAfterTheReserve) {
  EXPECT_EQ(connections_within(0), 0u);
  EXPECT_EQ(connections_within(reserved_descriptors), 0u);
  EXPECT_EQ(connections_within(reserved_descriptors + 1), 1u);
  EXPECT_EQ(connections_within(1024), 1024 - reserved_descriptors);
  EXPECT_GT(reserved_descriptors, max_refusals_in_flight);
}

TEST(DescriptorBudget, SoftLimitIsRaisedToTheHardLimit) {
  // Raising the test process's own soft limit is harmless (nothing here uses select()).
  const auto limit = raise_descriptor_limit();
  EXPECT_TRUE(limit.error.empty()) << limit.error;
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(now.rlim_cur), limit.soft);
  if (now.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(limit.soft, limit.hard);
  } else {
    EXPECT_GE(limit.soft, std::uint64_t{1} << 20);
  }
}

}  // namespace
}  // namespace vp::server
