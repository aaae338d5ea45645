#pragma once
// What every program of the project (verified-proxy, its subcommands, verified-proxy-sim)
// says the same way: its version, the width its --help is wrapped to, and the one-line
// hint after a usage error.

#include <boost/program_options/options_description.hpp>

#include <string>
#include <string_view>

#include "core/version.hpp"

namespace vp::app {

/// The project version (project(... VERSION) in CMakeLists.txt).
inline constexpr std::string_view version = VP_VERSION;

/// Every --help is wrapped to this many columns (program_options' line length and the
/// hand-written usage text alike), so that all commands read alike.
inline constexpr unsigned help_width = 110;

/// A group of flags for --help, wrapped to help_width with the descriptions in the last 70
/// columns: wider than any URL a description names, so program_options (which splits a
/// word longer than the column) never breaks one. A flag too long for the first column
/// puts its description on the next line.
boost::program_options::options_description options_group(const std::string& caption = "");

/// "verified-proxy 0.1.0": the answer to --version of `program`.
std::string version_line(std::string_view program);

/// "Run `verified-proxy verify-quote --help` for its flags.": printed after a usage error
/// of `command` (the whole command as the user types it).
std::string help_hint(std::string_view command);

}  // namespace vp::app
