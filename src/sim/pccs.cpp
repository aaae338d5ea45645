#include "sim/pccs.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <optional>
#include <string>

#include "core/hex.hpp"

namespace vp::sim {
namespace {

namespace http = boost::beast::http;

plain_response text(unsigned status, std::string body) {
  return make_plain_response(status, "text/plain", std::move(body));
}

plain_response with_chain(std::string content_type, std::string body, const char* header, const std::string& pem) {
  plain_response r = make_plain_response(200, std::move(content_type), std::move(body));
  r.set(header, boost::urls::encode(pem, boost::urls::unreserved_chars));
  return r;
}

}  // namespace

plain_response pccs_answer(const pccs_content& content, const plain_request& request) {
  if (request.method() != http::verb::get) return text(405, "method not allowed");
  const auto url = boost::urls::parse_origin_form(request.target());
  if (!url) return text(400, "bad request target");
  const std::string path = url->path();
  const auto param = [&](std::string_view name) -> std::optional<std::string> {
    const auto params = url->params();
    const auto it = params.find(name);
    if (it == params.end() || !(*it).has_value) return std::nullopt;
    return std::string((*it).value);
  };

  if (path == "/tdx/certification/v4/tcb") {
    const auto fmspc = param("fmspc");
    const auto decoded = fmspc ? from_hex(*fmspc) : std::nullopt;
    if (!decoded || decoded->size() != 6) return text(400, "bad fmspc");
    if (to_hex_upper(*decoded) != content.fmspc_hex) return text(404, "no TCB info for FMSPC " + *fmspc);
    return with_chain("application/json", content.tcb_info, "TCB-Info-Issuer-Chain", content.tcb_info_issuer_chain);
  }
  if (path == "/tdx/certification/v4/qe/identity") {
    return with_chain("application/json", content.qe_identity, "SGX-Enclave-Identity-Issuer-Chain",
                      content.qe_identity_issuer_chain);
  }
  if (path == "/sgx/certification/v4/pckcrl") {
    const auto ca = param("ca");
    if (ca == "platform") {
      return with_chain("application/pkix-crl", content.pck_crl_platform, "SGX-PCK-CRL-Issuer-Chain",
                        content.pck_crl_platform_issuer_chain);
    }
    if (ca == "processor") {
      return with_chain("application/pkix-crl", content.pck_crl_processor, "SGX-PCK-CRL-Issuer-Chain",
                        content.pck_crl_processor_issuer_chain);
    }
    return text(400, "bad ca");
  }
  if (path == "/sgx/certification/v4/rootcacrl") return text(200, to_hex(as_bytes(content.root_ca_crl)));
  return text(404, "no such route: " + path);
}

}  // namespace vp::sim
