#pragma once
// Access to the shared real-world vectors (../shared/testdata). They are read in place,
// never copied into the project; where they are absent, tests that need them skip.

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

namespace vp::test {

/// The shared testdata directory ($VP_TESTDATA_DIR, else the path configured at build
/// time), or nullopt when it does not exist.
std::optional<std::filesystem::path> shared_testdata_dir();

/// Reads a file below the shared testdata directory; fails the test if unreadable.
std::string read_shared(const std::filesystem::path& relative);

/// Directory of the built programs (for tests that run the CLI as a child process).
std::filesystem::path binary_dir();

}  // namespace vp::test

/// Skips the current test with a clear message when the shared vectors are absent.
#define VP_REQUIRE_SHARED_TESTDATA()                                                     \
  do {                                                                                   \
    if (!::vp::test::shared_testdata_dir()) {                                            \
      GTEST_SKIP() << "shared test vectors not found (../shared/testdata or "            \
                      "$VP_TESTDATA_DIR): real Intel/NEAR captures not tested";          \
    }                                                                                    \
  } while (0)
