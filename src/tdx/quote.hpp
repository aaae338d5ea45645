#pragma once
// Intel TDX DCAP quote v4 / v5 layout (docs/tdx-dcap-verification.md §1). The parser is
// pure and bounds-checked: every length comes from untrusted bytes and is checked
// before use. Integers in the quote are little-endian; ECDSA values are big-endian.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/bytes.hpp"
#include "tdx/error.hpp"

namespace vp::tdx {

inline constexpr std::size_t quote_header_size = 48;
inline constexpr std::size_t td_report10_size = 584;
inline constexpr std::size_t td_report15_size = 648;
inline constexpr std::size_t enclave_report_size = 384;
inline constexpr std::uint32_t tee_type_tdx = 0x81;
inline constexpr std::uint16_t attestation_key_type_ecdsa_p256 = 2;
inline constexpr std::uint16_t certification_data_qe_report = 6;
inline constexpr std::uint16_t certification_data_pck_chain = 5;
inline constexpr std::uint16_t body_type_td10 = 2;  // v5 body descriptor types
inline constexpr std::uint16_t body_type_td15 = 3;
/// Intel's QE vendor id 939A7233-F79C-4CA9-940A-0DB3957F0607.
inline constexpr std::array<std::uint8_t, 16> intel_qe_vendor_id = {
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

struct quote_header {
  std::uint16_t version = 0;
  std::uint16_t attestation_key_type = 0;
  std::uint32_t tee_type = 0;
  std::uint16_t qe_svn = 0;
  std::uint16_t pce_svn = 0;
  std::array<std::uint8_t, 16> qe_vendor_id{};
  std::array<std::uint8_t, 20> user_data{};
};

using measurement = std::array<std::uint8_t, 48>;

/// TD report body, TD 1.0 fields plus the TD 1.5 extras when present.
struct td_report {
  std::array<std::uint8_t, 16> tee_tcb_svn{};
  measurement mr_seam{};
  measurement mr_signer_seam{};
  std::array<std::uint8_t, 8> seam_attributes{};
  std::array<std::uint8_t, 8> td_attributes{};
  std::array<std::uint8_t, 8> xfam{};
  measurement mr_td{};
  measurement mr_config_id{};
  measurement mr_owner{};
  measurement mr_owner_config{};
  std::array<measurement, 4> rtmr{};
  std::array<std::uint8_t, 64> report_data{};
  // TD 1.5 only (v5 body type 3).
  std::optional<std::array<std::uint8_t, 16>> tee_tcb_svn_2;
  std::optional<measurement> mr_service_td;

  /// TDATTRIBUTES bit 0 (TUD.DEBUG).
  bool debug() const { return (td_attributes[0] & 0x01) != 0; }
  /// TDATTRIBUTES bit 28 (SEC.SEPT_VE_DISABLE).
  bool sept_ve_disable() const { return (td_attributes[3] & 0x10) != 0; }
};

/// SGX enclave report body (the QE report).
struct enclave_report {
  std::array<std::uint8_t, 16> cpu_svn{};
  std::uint32_t misc_select = 0;
  std::array<std::uint8_t, 16> attributes{};
  std::array<std::uint8_t, 32> mr_enclave{};
  std::array<std::uint8_t, 32> mr_signer{};
  std::uint16_t isv_prod_id = 0;
  std::uint16_t isv_svn = 0;
  std::array<std::uint8_t, 64> report_data{};
};

/// A parsed quote. The byte_view / string_view members point into the buffer given to
/// parse_quote(), which must outlive this object.
struct quote {
  quote_header header;
  std::uint16_t body_type = body_type_td10;  ///< 2 (TD 1.0) or 3 (TD 1.5); v4 is always 2
  td_report td;
  byte_view signed_region;      ///< header ‖ [v5 descriptor] ‖ body: what the quote signature covers
  byte_view signature;          ///< 64 bytes r‖s
  byte_view attestation_key;    ///< 64 bytes X‖Y
  byte_view qe_report_bytes;    ///< 384 raw bytes, as signed by the PCK key
  enclave_report qe_report;
  byte_view qe_report_signature;  ///< 64 bytes r‖s
  byte_view qe_auth_data;
  std::string_view pck_chain_pem;  ///< certification data type 5, possibly NUL-terminated
  std::size_t trailing_bytes = 0;  ///< bytes after the signature data (unsigned, ignored)
};

/// Parses and structurally validates a TDX quote. Errors: malformed_quote (truncated,
/// inconsistent lengths, wrong body size) or unsupported_quote (version, key type, TEE
/// type, QE vendor, certification data types this verifier does not accept).
result<quote> parse_quote(byte_view data);

}  // namespace vp::tdx
