#include "attest/binding.hpp"

#include "core/hex.hpp"
#include "crypto/digest.hpp"

namespace vp::attest {

// Why each check exists (threat: anyone can run a genuine TDX CVM, e.g. on a public
// dstack cloud, and put any 64 bytes they like into report_data; a network attacker can
// terminate TLS with its own key and replay or relay genuine reports):
//
//  * TLS form only. The padded form (identity ‖ zeros) binds the signing key but no TLS
//    key, so a relay could forward a genuine backend's report over its own connection.
//    A missing fingerprint therefore fails; it is never "not applicable".
//  * live SPKI == attested fingerprint proves that the peer we are talking to holds the
//    key the report names — but the fingerprint is only a JSON claim until step 3.
//  * report_data[0:32] == SHA-256(identity ‖ fingerprint) is what makes the fingerprint
//    (and the signing identity) attested: report_data is inside the quote body the
//    Intel-rooted signature covers, so only code running in that TD chose it.
//  * report_data[32:64] == our fresh nonce proves the quote was produced for this request,
//    not replayed from an earlier one (the server's request_nonce echo proves nothing).
//
// Every value compared against comes from the verified quote or from this client; none
// from the report's echo fields. The compared values are public (no secret timing).

sha256_digest expected_report_data_prefix(byte_view signing_identity, byte_view tls_fingerprint) {
  return crypto::sha256({signing_identity, tls_fingerprint});
}

result<void> check_binding(const tdx::td_report& verified_td, const near_attestation& attestation, byte_view nonce32,
                           byte_view live_spki_sha256) {
  const std::string& where = attestation.json_pointer;
  const std::string prefix = where.empty() ? std::string("report: ") : where + ": ";
  if (nonce32.size() != 32) {
    return make_error(errc::invalid_argument,
                      prefix + "the client nonce must be 32 bytes, got " + std::to_string(nonce32.size()));
  }
  if (live_spki_sha256.size() != 32) {
    return make_error(errc::invalid_argument, prefix + "the live TLS SPKI SHA-256 must be 32 bytes, got " +
                                                  std::to_string(live_spki_sha256.size()));
  }

  if (!attestation.tls_cert_fingerprint) {
    return make_error(errc::missing_tls_fingerprint,
                      prefix + "no tls_cert_fingerprint: the report is not bound to a TLS key (it must be requested "
                               "with include_tls_fingerprint=true and the server must support it)");
  }
  const sha256_digest& fingerprint = *attestation.tls_cert_fingerprint;

  if (!equal_bytes(live_spki_sha256, fingerprint)) {
    return make_error(errc::fingerprint_mismatch, prefix + "SHA-256 of the live TLS peer SPKI is " +
                                                      to_hex(live_spki_sha256) + ", the attested tls_cert_fingerprint is " +
                                                      to_hex(fingerprint));
  }

  const byte_view report_data(verified_td.report_data);
  const sha256_digest expected = expected_report_data_prefix(attestation.signing_address, fingerprint);
  if (!equal_bytes(report_data.first(32), expected)) {
    return make_error(errc::report_data_binding,
                      prefix + "quote report_data[0:32] is " + to_hex(report_data.first(32)) +
                          ", SHA-256(signing_address ‖ tls_cert_fingerprint) is " + to_hex(expected) +
                          " (signing_algo " + std::string(to_string(attestation.signing_algo)) + ", signing_address " +
                          format_signing_address(attestation.signing_algo, attestation.signing_address) +
                          ", tls_cert_fingerprint " + to_hex(fingerprint) + ")");
  }

  if (!equal_bytes(report_data.subspan(32, 32), nonce32)) {
    return make_error(errc::nonce_mismatch, prefix + "quote report_data[32:64] is " +
                                                to_hex(report_data.subspan(32, 32)) + ", the nonce sent is " +
                                                to_hex(nonce32));
  }
  return {};
}

}  // namespace vp::attest
