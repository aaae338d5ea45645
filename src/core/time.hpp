#pragma once
// RFC 3339 UTC timestamps as Intel writes them in TCB info and QE identity
// ("2026-03-22T00:50:51Z"); GCC 12's libstdc++ has no std::chrono::parse.

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace vp {

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (optionally with fractional seconds, which are
/// truncated). Only UTC ("Z") is accepted; anything else, including impossible
/// dates, yields nullopt.
std::optional<unix_time> parse_rfc3339_utc(std::string_view text);

/// Formats as `YYYY-MM-DDTHH:MM:SSZ`.
std::string format_rfc3339_utc(unix_time t);

}  // namespace vp
