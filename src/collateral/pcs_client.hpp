#pragma once
// The Intel PCS / PCCS v4 API (docs/tdx-dcap-verification.md §3.1): four GETs per
// platform, issuer chains from URL-encoded PEM headers.

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>

#include "collateral/error.hpp"
#include "collateral/source.hpp"
#include "net/http_client.hpp"
#include "tdx/collateral.hpp"

namespace vp::collateral {

inline constexpr std::string_view intel_pcs_url = "https://api.trustedservices.intel.com";
/// Intel PCS serves no root CA CRL route; the root certificate's CRL distribution point.
inline constexpr std::string_view intel_root_ca_crl_url = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

struct pcs_urls {
  std::string tcb_info;     ///< {base}/tdx/certification/v4/tcb?fmspc=HEX
  std::string qe_identity;  ///< {base}/tdx/certification/v4/qe/identity
  std::string pck_crl;      ///< {base}/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der
  std::string root_ca_crl;  ///< Intel: the CRL distribution point; a PCCS: {base}/sgx/certification/v4/rootcacrl
};

/// The four URLs for `key` under `base` (trailing '/' tolerated). The base is Intel PCS
/// when its host is api.trustedservices.intel.com.
pcs_urls make_pcs_urls(std::string_view base, const platform_key& key);

/// URL-decodes an issuer-chain header value into PEM. Errors: invalid.
result<std::string> decode_issuer_chain_header(std::string_view value);

/// Fetches the four responses from one service. Errors: unavailable (network, HTTP
/// status other than 200: the message names the URL and status), invalid (missing or
/// garbled issuer-chain header, empty body).
boost::asio::awaitable<result<tdx::pcs_responses>> fetch_pcs_responses(net::http_client& client, std::string_view base,
                                                                      const platform_key& key);

}  // namespace vp::collateral
