#pragma once
// Collateral from Intel PCS or PCCS URLs, tried in order; the first service whose
// collateral is accepted wins.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "collateral/source.hpp"
#include "net/http_client.hpp"

namespace vp::collateral {

struct pcs_source_options {
  std::vector<std::string> urls;  ///< default (empty): Intel PCS
  std::uint32_t min_tcb_evaluation_data_number = 0;
};

class pcs_source final : public source {
 public:
  pcs_source(std::shared_ptr<net::http_client> client, pcs_source_options options,
             std::shared_ptr<const tdx::trust_anchor> anchor, const clock& clock);
  boost::asio::awaitable<result<verified_collateral>> get(platform_key key) override;

  /// The raw responses of the first service that answers them all and whose collateral
  /// authenticates (for `collateral fetch`, which writes a bundle).
  boost::asio::awaitable<result<tdx::pcs_responses>> fetch_raw(platform_key key);

 private:
  struct fetched {
    tdx::pcs_responses responses;
    verified_collateral collateral;
  };
  /// The first service's collateral that is accepted, authenticated exactly once.
  boost::asio::awaitable<result<fetched>> fetch_accepted(const platform_key& key);

  std::shared_ptr<net::http_client> client_;
  pcs_source_options options_;
  std::shared_ptr<const tdx::trust_anchor> anchor_;
  const clock& clock_;
};

/// Offline: collateral from a bundle tree (never touches the network).
class bundle_source final : public source {
 public:
  bundle_source(std::filesystem::path root, std::shared_ptr<const tdx::trust_anchor> anchor, const clock& clock,
                std::uint32_t min_tcb_evaluation_data_number = 0);
  boost::asio::awaitable<result<verified_collateral>> get(platform_key key) override;

 private:
  std::filesystem::path root_;
  std::shared_ptr<const tdx::trust_anchor> anchor_;
  const clock& clock_;
  std::uint32_t min_tcb_evaluation_data_number_;
};

}  // namespace vp::collateral
