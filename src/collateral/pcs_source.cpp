#include "collateral/pcs_source.hpp"

#include "collateral/bundle.hpp"
#include "collateral/pcs_client.hpp"

namespace vp::collateral {

pcs_source::pcs_source(std::shared_ptr<net::http_client> client, pcs_source_options options,
                       std::shared_ptr<const tdx::trust_anchor> anchor, const clock& clock)
    : client_(std::move(client)), options_(std::move(options)), anchor_(std::move(anchor)), clock_(clock) {
  if (options_.urls.empty()) options_.urls.emplace_back(intel_pcs_url);
}

boost::asio::awaitable<result<pcs_source::fetched>> pcs_source::fetch_accepted(const platform_key& key) {
  std::string failures;
  errc last = errc::unavailable;
  const auto note = [&failures, &last](errc kind, const std::string& message) {
    last = kind;
    failures += (failures.empty() ? "" : "; ") + message;
  };
  // Services are tried in the configured order; the first whose collateral is accepted
  // wins. Each failure is kept so that the final error says what every one did.
  for (const auto& url : options_.urls) {
    auto responses = co_await fetch_pcs_responses(*client_, url, key);
    if (!responses) {
      note(responses.error().kind, responses.error().message);
      continue;
    }
    auto raw = tdx::collateral_from_pcs_responses(*responses);
    if (!raw) {
      note(errc::invalid, url + ": " + raw.error().message);
      continue;
    }
    auto accepted = accept(*raw, key, *anchor_, clock_.now(), options_.min_tcb_evaluation_data_number, url);
    if (!accepted) {
      note(accepted.error().kind, accepted.error().message);
      continue;
    }
    co_return fetched{std::move(*responses), std::move(*accepted)};
  }
  co_return error{last, "no collateral for " + to_string(key) + ": " + failures};
}

boost::asio::awaitable<result<tdx::pcs_responses>> pcs_source::fetch_raw(platform_key key) {
  auto got = co_await fetch_accepted(key);
  if (!got) co_return got.error();
  co_return std::move(got->responses);
}

boost::asio::awaitable<result<verified_collateral>> pcs_source::get(platform_key key) {
  auto got = co_await fetch_accepted(key);
  if (!got) co_return got.error();
  co_return std::move(got->collateral);
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
