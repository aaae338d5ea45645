#pragma once
// `verified-proxy verify-quote`: verifies a TDX quote offline and prints one JSON object.

#include <iosfwd>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace vp::app {

/// `args` are the flags after "verify-quote". `clock` supplies the default for --at.
int verify_quote_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         const clock& clock);

}  // namespace vp::app
