// failure_detail: the context prefixes the layers add are dropped once, and nothing else.

#include "core/failure.hpp"

#include <gtest/gtest.h>

namespace vp {
namespace {

TEST(FailureDetail, DropsTheContextTheFieldsAlreadySay) {
  EXPECT_EQ(failure_detail(failure{"debug_td", failure_phase::quote,
                                   "attesting h (at 127.0.0.1:1): debug_td: report: quote rejected: debug_td: bit set",
                                   {}, true}),
            "bit set");
  EXPECT_EQ(failure_detail(failure{"app_id", failure_phase::policy,
                                   "/model_attestations/0: workload policy 'nearai': app_id: not pinned.",
                                   "/model_attestations/0", true}),
            "not pinned");
}

TEST(FailureDetail, KeepsWhatIsNotContext) {
  // A segment that is not the code, the pointer or a known prefix ends the stripping.
  EXPECT_EQ(failure_detail(failure{"x", failure_phase::quote, "plain: with a colon", {}, true}), "plain: with a colon");
  EXPECT_EQ(failure_detail(failure{"app_id", failure_phase::policy, "/other: app_id: y", "/model_attestations/0", true}),
            "/other: app_id: y");
  // Nothing but context left: the message itself rather than an empty detail.
  EXPECT_EQ(failure_detail(failure{"debug_td", failure_phase::quote, "debug_td: ", {}, true}), "debug_td: ");
}

}  // namespace
}  // namespace vp
