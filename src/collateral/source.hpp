#pragma once
// Where verified collateral comes from: Intel PCS / a PCCS over the network, an offline
// bundle tree, or a cache in front of either. Every source returns collateral that is
// authenticated against its trust anchor and valid at its clock's "now"; expired
// collateral is never handed out for a verdict.

#include <boost/asio/awaitable.hpp>

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <string>

#include "collateral/error.hpp"
#include "core/clock.hpp"
#include "tdx/verifier.hpp"

namespace vp::collateral {

/// Collateral is per platform model (FMSPC) and PCK issuing CA.
struct platform_key {
  std::array<std::uint8_t, 6> fmspc{};
  tdx::pck_ca_type ca = tdx::pck_ca_type::platform;
  auto operator<=>(const platform_key&) const = default;
};

/// "90C06F000000/platform"
std::string to_string(const platform_key& key);

/// Authenticated collateral plus what callers and caches need to know about it.
struct verified_collateral {
  std::shared_ptr<const tdx::collateral_v3> raw;  ///< what was accepted (for the disk cache)
  std::shared_ptr<const tdx::prepared_collateral> collateral;
  tdx::collateral_summary summary;
};

class source {
 public:
  virtual ~source() = default;
  /// Collateral for `key`, authenticated and valid now.
  virtual boost::asio::awaitable<result<verified_collateral>> get(platform_key key) = 0;
};

/// Checks shared by every source, applied to raw collateral: authenticate it against
/// `anchor` (tdx::prepare_collateral), require it to describe `key`, to be valid at `now`
/// (every window, inclusive) and to have tcbEvaluationDataNumber >= `min_tcb_evaluation_data_number`.
/// `origin` (a URL or a path) is named in every error.
result<verified_collateral> accept(const tdx::collateral_v3& raw, const platform_key& key,
                                   const tdx::trust_anchor& anchor, unix_time now,
                                   std::uint32_t min_tcb_evaluation_data_number, const std::string& origin);

}  // namespace vp::collateral
