#pragma once
// The Intel SGX extension (OID 1.2.840.113741.1.13.1) of a PCK leaf certificate,
// decoded with OpenSSL's ASN.1 parser (docs/tdx-dcap-verification.md §2.8).

#include <openssl/x509.h>

#include <array>
#include <cstdint>

#include "tdx/error.hpp"

namespace vp::tdx {

enum class pck_ca_type { platform, processor };

std::string_view to_string(pck_ca_type t) noexcept;

struct pck_extension {
  std::array<std::uint8_t, 16> ppid{};
  /// TCB components .2.1 … .2.16: what TCB-level matching compares (Intel), not CPUSVN.
  std::array<std::uint8_t, 16> sgx_tcb_components{};
  std::uint16_t pce_svn = 0;
  std::array<std::uint8_t, 16> cpu_svn{};  ///< .2.18, informational
  std::array<std::uint8_t, 2> pce_id{};
  std::array<std::uint8_t, 6> fmspc{};
  int sgx_type = 0;
  pck_ca_type ca = pck_ca_type::platform;  ///< 7 entries: Platform CA, 5: Processor CA
};

/// Decodes the SGX extension of `pck_leaf`. Intel's rules: exactly 5 (Processor CA) or
/// 7 (Platform CA) top-level entries, exactly 18 TCB entries, components fit in u8,
/// PCESVN in u16. Errors: malformed_quote (the certificate travels inside the quote).
result<pck_extension> parse_pck_extension(const X509* pck_leaf);

}  // namespace vp::tdx
