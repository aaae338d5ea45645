#pragma once
// Whole-file reads for the command line and tests (collateral bundles, quotes).

#include <filesystem>
#include <optional>
#include <string>

#include "core/bytes.hpp"

namespace vp {

/// Reads a whole file — a regular one, or a pipe, /dev/stdin or a process substitution
/// (`<(…)`) to its end; nullopt if it cannot be opened or read, or is larger than
/// `max_size` (inputs are untrusted, so nothing is read unbounded).
std::optional<std::string> read_file(const std::filesystem::path& path,
                                     std::size_t max_size = 64u << 20);

}  // namespace vp
