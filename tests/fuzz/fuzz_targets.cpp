#include "fuzz/fuzz_targets.hpp"

#include <string_view>

#include "crypto/x509.hpp"
#include "tdx/collateral.hpp"
#include "tdx/pck_extension.hpp"
#include "tdx/quote.hpp"
#include "tdx/tcb_info.hpp"
#include "tdx/verifier.hpp"

namespace vp::fuzz {

void quote_input(const std::uint8_t* data, std::size_t size) {
  const auto q = tdx::parse_quote(byte_view(data, size));
  if (!q) return;
  // Touch every view so that an out-of-range span shows up under ASan.
  std::size_t sum = 0;
  for (byte_view v : {q->signed_region, q->signature, q->attestation_key, q->qe_report_bytes,
                      q->qe_report_signature, q->qe_auth_data}) {
    for (std::uint8_t b : v) sum += b;
  }
  for (char c : q->pck_chain_pem) sum += static_cast<unsigned char>(c);
  if (auto certs = crypto::parse_pem_certificates(q->pck_chain_pem); certs && !certs->empty()) {
    (void)tdx::parse_pck_extension(certs->front().get());
  }
  (void)sum;
}

void collateral_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)tdx::parse_tcb_info(text);
  (void)tdx::parse_qe_identity(text);
  (void)tdx::split_signed_response(text, "tcbInfo");
  (void)crypto::parse_crl(byte_view(data, size));
  if (auto c = tdx::parse_collateral_v3_json(text)) (void)tdx::prepare_collateral(*c, tdx::intel_sgx_root_ca());
}

}  // namespace vp::fuzz
