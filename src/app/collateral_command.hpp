#pragma once
// `verified-proxy collateral fetch`: writes an offline bundle from PCS / a PCCS.

#include <iosfwd>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace vp::app {

/// `args` are the words after "collateral".
int collateral_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                       const clock& clock);

}  // namespace vp::app
