#pragma once
// Collateral from files: a QuoteCollateralV3 JSON file, or a directory holding the
// seven raw Intel PCS responses (the layout of testdata/nearai/*/pcs/).

#include <filesystem>

#include "tdx/collateral.hpp"

namespace vp::app {

/// Loads collateral from `path` (file or directory). Errors: malformed_collateral
/// naming the unreadable file.
tdx::result<tdx::collateral_v3> load_collateral(const std::filesystem::path& path);

}  // namespace vp::app
