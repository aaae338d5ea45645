#pragma once
// The command line: dispatches to sub-commands. main() only calls run().

#include <iosfwd>
#include <string>
#include <vector>

namespace vp::app {

/// Exit codes shared by every command.
inline constexpr int exit_ok = 0;        ///< verified / success
inline constexpr int exit_rejected = 1;  ///< verification ran and rejected
inline constexpr int exit_usage = 2;     ///< bad flags or unreadable input

/// Runs the command line `args` (without the program name); returns the exit code.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace vp::app
