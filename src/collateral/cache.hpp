#pragma once
// A cache in front of a collateral source: in memory and on disk (one QuoteCollateralV3
// file per platform, mode 0600, written atomically), keyed by (FMSPC, CA type), valid
// until the earliest expiry among its parts. Collateral is refreshed ahead of expiry in
// the background; concurrent requests for one platform share one fetch. Nothing read
// from disk is trusted: it is authenticated again, and a corrupt or unauthentic file is
// deleted and refetched. Expired collateral is never returned.
//
// Threading: one cache belongs to one single-threaded executor (the proxy's io_context),
// which is what makes its maps safe without locks.

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>

#include "collateral/source.hpp"
#include "net/single_flight.hpp"

namespace vp::collateral {

struct cache_options {
  /// Where cache files live; empty: memory only.
  std::filesystem::path directory;
  /// Refresh in the background once this fraction of the validity window has passed.
  double refresh_after = 0.75;
  /// After a failed refresh, wait this long before trying again (requests keep being
  /// served from the still-valid copy meanwhile).
  std::chrono::seconds retry_after{300};
  std::uint32_t min_tcb_evaluation_data_number = 0;
};

/// $XDG_CACHE_HOME/verified-proxy/collateral, else $HOME/.cache/verified-proxy/collateral;
/// empty if neither variable is set.
std::filesystem::path default_cache_directory();

class cached_source final : public source, public std::enable_shared_from_this<cached_source> {
 public:
  /// Create with std::make_shared (background refreshes hold a reference).
  cached_source(boost::asio::any_io_executor executor, std::shared_ptr<source> upstream, cache_options options,
                std::shared_ptr<const tdx::trust_anchor> anchor, const clock& clock);
  ~cached_source() override;

  boost::asio::awaitable<result<verified_collateral>> get(platform_key key) override;

  /// Fetches from the upstream source so far (all platforms).
  std::size_t upstream_fetches() const { return upstream_fetches_; }
  /// The cache file of `key`.
  std::filesystem::path file_for(const platform_key& key) const;

 private:
  struct entry {
    verified_collateral value;
    unix_time retry_not_before{};
  };

  bool fresh(const entry& e, unix_time now) const;
  bool refresh_due(const platform_key& key, const entry& e, unix_time now) const;
  void start_background_refresh(const platform_key& key);
  std::optional<verified_collateral> load_from_disk(const platform_key& key, unix_time now);
  boost::asio::awaitable<result<verified_collateral>> fetch_shared(platform_key key);
  boost::asio::awaitable<result<verified_collateral>> fetch_now(platform_key key);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<source> upstream_;
  cache_options options_;
  std::shared_ptr<const tdx::trust_anchor> anchor_;
  const clock& clock_;
  std::map<platform_key, entry> entries_;
  net::single_flight<platform_key, result<verified_collateral>, std::less<platform_key>> flights_;
  std::size_t upstream_fetches_ = 0;
};

}  // namespace vp::collateral
