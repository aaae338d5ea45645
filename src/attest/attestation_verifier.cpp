#include "attest/attestation_verifier.hpp"

#include "attest/binding.hpp"
#include "core/hex.hpp"

namespace vp::attest {
namespace {

std::string where(const near_attestation& a) { return a.json_pointer.empty() ? "report" : a.json_pointer; }

std::string platform_name(const std::array<std::uint8_t, 6>& fmspc, tdx::pck_ca_type ca) {
  return to_hex_upper(fmspc) + "/" + std::string(tdx::to_string(ca));
}

error rejected(const near_attestation& a, const tdx::error& e) {
  return error{errc::quote_rejected,
               where(a) + ": quote rejected: " + std::string(tdx::to_string(e.kind)) + ": " + e.message, e.kind};
}

}  // namespace

result<attestation_verdict> verify_attestation(const near_attestation& attestation, byte_view nonce32,
                                               byte_view live_spki_sha256, const tdx::prepared_collateral& collateral,
                                               const tdx::trust_anchor& anchor, unix_time now) {
  if (nonce32.size() != 32 || live_spki_sha256.size() != 32) {
    return make_error(errc::invalid_argument, where(attestation) + ": nonce and live TLS SPKI SHA-256 must be 32 bytes "
                                                  "each, got " + std::to_string(nonce32.size()) + " and " +
                                                  std::to_string(live_spki_sha256.size()));
  }

  // Collateral for another platform would fail inside verify_quote as an FMSPC mismatch,
  // indistinguishable from a forged quote; naming it lets the caller fetch the right set.
  const auto platform = tdx::identify_platform(attestation.intel_quote);
  if (!platform) return rejected(attestation, platform.error());
  const tdx::collateral_summary summary = tdx::summarize(collateral);
  if (platform->fmspc != summary.fmspc || platform->pck_ca != summary.pck_ca) {
    return make_error(errc::collateral_mismatch, where(attestation) + ": the quote is from platform " +
                                                     platform_name(platform->fmspc, platform->pck_ca) +
                                                     ", the collateral is for " +
                                                     platform_name(summary.fmspc, summary.pck_ca));
  }

  auto quote = tdx::verify_quote(attestation.intel_quote, collateral, anchor, now);
  if (!quote) return rejected(attestation, quote.error());

  // Binding uses the report_data of the quote just verified, never the JSON echoes.
  if (auto bound = check_binding(quote->td, attestation, nonce32, live_spki_sha256); !bound) return bound.error();

  attestation_verdict verdict;
  verdict.collateral_expires_at = quote->collateral_expires_at;
  verdict.quote = std::move(*quote);
  verdict.signing_algo = attestation.signing_algo;
  verdict.signing_address = attestation.signing_address;
  verdict.tls_cert_fingerprint = *attestation.tls_cert_fingerprint;
  return verdict;
}

}  // namespace vp::attest
