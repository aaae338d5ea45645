#include "collateral/pcs_source.hpp"

#include "collateral/bundle.hpp"
#include "collateral/pcs_client.hpp"

namespace vp::collateral {

pcs_source::pcs_source(std::shared_ptr<net::http_client> client, pcs_source_options options,
                       std::shared_ptr<const tdx::trust_anchor> anchor, const clock& clock)
    : client_(std::move(client)), options_(std::move(options)), anchor_(std::move(anchor)), clock_(clock) {
  if (options_.urls.empty()) options_.urls.emplace_back(intel_pcs_url);
}

boost::asio::awaitable<result<tdx::pcs_responses>> pcs_source::fetch_raw(platform_key key) {
  std::string failures;
  errc last = errc::unavailable;
  // Services are tried in the configured order; the first whose collateral is accepted
  // wins. Each failure is kept so that the final error says what every one did.
  for (const auto& url : options_.urls) {
    auto responses = co_await fetch_pcs_responses(*client_, url, key);
    if (responses) {
      auto raw = tdx::collateral_from_pcs_responses(*responses);
      if (!raw) {
        last = errc::invalid;
        failures += (failures.empty() ? "" : "; ") + url + ": " + raw.error().message;
        continue;
      }
      auto accepted = accept(*raw, key, *anchor_, clock_.now(), options_.min_tcb_evaluation_data_number, url);
      if (accepted) co_return std::move(*responses);
      last = accepted.error().kind;
      failures += (failures.empty() ? "" : "; ") + accepted.error().message;
    } else {
      last = responses.error().kind;
      failures += (failures.empty() ? "" : "; ") + responses.error().message;
    }
  }
  co_return error{last, "no collateral for " + to_string(key) + ": " + failures};
}

boost::asio::awaitable<result<verified_collateral>> pcs_source::get(platform_key key) {
  auto responses = co_await fetch_raw(key);
  if (!responses) co_return responses.error();
  // fetch_raw accepted exactly these bytes; assembling them again cannot fail.
  auto raw = tdx::collateral_from_pcs_responses(*responses);
  if (!raw) co_return error{errc::invalid, raw.error().message};
  co_return accept(*raw, key, *anchor_, clock_.now(), options_.min_tcb_evaluation_data_number, options_.urls.front());
}

bundle_source::bundle_source(std::filesystem::path root, std::shared_ptr<const tdx::trust_anchor> anchor,
                             const clock& clock, std::uint32_t min_tcb_evaluation_data_number)
    : root_(std::move(root)),
      anchor_(std::move(anchor)),
      clock_(clock),
      min_tcb_evaluation_data_number_(min_tcb_evaluation_data_number) {}

boost::asio::awaitable<result<verified_collateral>> bundle_source::get(platform_key key) {
  auto raw = find_in_bundle_tree(root_, key.fmspc, key.ca);
  if (!raw) co_return raw.error();
  co_return accept(*raw, key, *anchor_, clock_.now(), min_tcb_evaluation_data_number_, root_.string());
}

}  // namespace vp::collateral
