#include "collateral/pcs_client.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>

#include "core/hex.hpp"

namespace vp::collateral {
namespace {

// Issuer chains travel in these headers (PCCS constants/index.js). v3-era services
// name the TCB info chain SGX-TCB-Info-Issuer-Chain; both are accepted.
constexpr std::string_view tcb_chain_headers[] = {"TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"};
constexpr std::string_view qe_chain_headers[] = {"SGX-Enclave-Identity-Issuer-Chain"};
constexpr std::string_view pck_crl_chain_headers[] = {"SGX-PCK-CRL-Issuer-Chain"};

struct fetched {
  std::string body;
  std::string chain;
};

boost::asio::awaitable<result<fetched>> fetch_one(net::http_client& client, const std::string& url,
                                                  std::span<const std::string_view> chain_headers) {
  auto response = co_await client.get(url);
  if (!response) co_return error{errc::unavailable, response.error().message};
  if (response->status != 200) {
    co_return error{errc::unavailable, "GET " + url + ": HTTP " + std::to_string(response->status)};
  }
  if (response->body.empty()) co_return error{errc::invalid, "GET " + url + ": empty body"};
  fetched out{std::move(response->body), {}};
  if (chain_headers.empty()) co_return out;
  std::optional<std::string_view> header;
  for (auto name : chain_headers) {
    if ((header = response->header(name))) break;
  }
  if (!header) {
    co_return error{errc::invalid, "GET " + url + ": missing issuer chain header " + std::string(chain_headers.front())};
  }
  auto chain = decode_issuer_chain_header(*header);
  if (!chain) co_return error{errc::invalid, "GET " + url + ": " + chain.error().message};
  out.chain = std::move(*chain);
  co_return out;
}

bytes to_bytes(const std::string& s) { return bytes(s.begin(), s.end()); }

}  // namespace

pcs_urls make_pcs_urls(std::string_view base, const platform_key& key) {
  while (base.ends_with('/')) base.remove_suffix(1);
  const std::string root(base);
  const std::string ca(tdx::to_string(key.ca));
  bool intel = false;
  if (auto url = boost::urls::parse_uri(base)) intel = url->host() == "api.trustedservices.intel.com";
  return pcs_urls{
      root + "/tdx/certification/v4/tcb?fmspc=" + to_hex_upper(key.fmspc),
      root + "/tdx/certification/v4/qe/identity",
      root + "/sgx/certification/v4/pckcrl?ca=" + ca + "&encoding=der",
      intel ? std::string(intel_root_ca_crl_url) : root + "/sgx/certification/v4/rootcacrl",
  };
}

result<std::string> decode_issuer_chain_header(std::string_view value) {
  auto pct = boost::urls::make_pct_string_view(value);
  if (!pct) return error{errc::invalid, "issuer chain header is not valid percent-encoding"};
  std::string pem;
  pct->decode({}, boost::urls::string_token::assign_to(pem));
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return error{errc::invalid, "issuer chain header holds no PEM certificate"};
  }
  return pem;
}

boost::asio::awaitable<result<tdx::pcs_responses>> fetch_pcs_responses(net::http_client& client, std::string_view base,
                                                                      const platform_key& key) {
  const pcs_urls urls = make_pcs_urls(base, key);
  auto tcb = co_await fetch_one(client, urls.tcb_info, tcb_chain_headers);
  if (!tcb) co_return tcb.error();
  auto qe = co_await fetch_one(client, urls.qe_identity, qe_chain_headers);
  if (!qe) co_return qe.error();
  auto pck_crl = co_await fetch_one(client, urls.pck_crl, pck_crl_chain_headers);
  if (!pck_crl) co_return pck_crl.error();
  auto root_crl = co_await fetch_one(client, urls.root_ca_crl, {});
  if (!root_crl) co_return root_crl.error();
  co_return tdx::pcs_responses{std::move(tcb->body),         std::move(tcb->chain),
                               std::move(qe->body),          std::move(qe->chain),
                               to_bytes(pck_crl->body),      std::move(pck_crl->chain),
                               to_bytes(root_crl->body)};
}

}  // namespace vp::collateral
