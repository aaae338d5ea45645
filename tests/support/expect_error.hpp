#pragma once
// One assertion for "this result failed with this kind, and the message says why",
// shared by the tests of every layer whose results carry {kind, message}.

#include <gtest/gtest.h>

#include <string_view>

namespace vp::test {

/// Succeeds when `r` holds an error of `kind` whose message contains `needle`.
/// `to_string(kind)` is found by argument-dependent lookup in the kind's namespace.
template <class Result, class Kind>
::testing::AssertionResult fails_with(const Result& r, Kind kind, std::string_view needle) {
  if (r) return ::testing::AssertionFailure() << "succeeded, expected " << to_string(kind);
  if (r.error().kind != kind) {
    return ::testing::AssertionFailure() << "got " << to_string(r.error().kind) << " (" << r.error().message
                                         << "), expected " << to_string(kind);
  }
  if (r.error().message.find(needle) == std::string_view::npos) {
    return ::testing::AssertionFailure() << "message \"" << r.error().message << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace vp::test
