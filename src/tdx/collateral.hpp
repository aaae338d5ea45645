#pragma once
// Quote collateral in its exchange forms: dcap-qvl's QuoteCollateralV3 JSON
// (docs/tdx-dcap-verification.md §3.4) and the raw Intel PCS / PCCS responses
// (§3.1) that a bundle directory holds. Nothing here is trusted: the verifier checks
// every signature, chain and time.

#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "tdx/error.hpp"

namespace vp::tdx {

/// QuoteCollateralV3: signed JSON kept as exact text, CRLs as DER, signatures r‖s.
struct collateral_v3 {
  std::string pck_crl_issuer_chain;   ///< PEM, intermediate CA first, root last
  bytes root_ca_crl;                  ///< DER
  bytes pck_crl;                      ///< DER
  std::string tcb_info_issuer_chain;  ///< PEM, TCB signing cert first, root last
  std::string tcb_info;               ///< exact signed text of the tcbInfo object
  bytes tcb_info_signature;           ///< 64 bytes r‖s
  std::string qe_identity_issuer_chain;
  std::string qe_identity;            ///< exact signed text of the enclaveIdentity object
  bytes qe_identity_signature;        ///< 64 bytes r‖s
};

/// Parses the QuoteCollateralV3 JSON form: byte fields as hex strings (dcap-qvl's
/// serde form) or arrays of numbers (its pure-JS fetcher's form); CRLs may hold DER,
/// PEM or hex text and are normalised to DER. Unknown fields are ignored.
/// Errors: malformed_collateral naming the field.
result<collateral_v3> parse_collateral_v3_json(std::string_view json);

/// Serialises to the QuoteCollateralV3 JSON form (hex byte fields).
std::string to_collateral_v3_json(const collateral_v3& c);

/// The signed object of a PCS response such as `{"tcbInfo":{…},"signature":"…"}`.
struct signed_json {
  std::string body;   ///< exact text of the object under `key`, byte for byte
  bytes signature;    ///< 64 bytes r‖s
};

/// Extracts the exact text of the value under `key` ("tcbInfo" or "enclaveIdentity")
/// and the decoded `signature` from a raw PCS response body. The text is located by a
/// string-aware scan and checked to parse to the same JSON value, so a response whose
/// bytes were re-serialised is still signature-checked on exactly what was served.
/// Errors: malformed_collateral.
result<signed_json> split_signed_response(std::string_view response_body, std::string_view key);

/// The seven raw responses of a bundle directory (laid out like
/// testdata/nearai/*/pcs/): bodies byte for byte, issuer chains URL-decoded PEM.
struct pcs_responses {
  std::string tcb_info;                 ///< body of /tdx/certification/v4/tcb
  std::string tcb_info_issuer_chain;
  std::string qe_identity;              ///< body of /tdx/certification/v4/qe/identity
  std::string qe_identity_issuer_chain;
  bytes pck_crl;                        ///< DER, PEM or hex
  std::string pck_crl_issuer_chain;
  bytes root_ca_crl;                    ///< DER, PEM or hex
};

/// Assembles QuoteCollateralV3 from raw responses. Errors: malformed_collateral.
result<collateral_v3> collateral_from_pcs_responses(const pcs_responses& r);

}  // namespace vp::tdx
