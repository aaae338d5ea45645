#pragma once
// Intel TDX DCAP quote verification: quote bytes + collateral + trust anchor + a point
// in time → a verified result or a typed error. Follows Intel's QVL where the
// references disagree, and is stricter than all of them where they are lax
// (docs/tdx-dcap-verification.md §5). No I/O, no clock reads: `at` is given.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "crypto/ossl.hpp"
#include "tdx/collateral.hpp"
#include "tdx/error.hpp"
#include "tdx/pck_extension.hpp"
#include "tdx/quote.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::tdx {

/// The root every chain must end in, compared byte for byte.
struct trust_anchor {
  crypto::x509_ptr certificate;
  bytes der;
  sha256_digest der_sha256{};
};

/// The genuine Intel SGX Root CA (compiled in; SHA-256 of its DER is
/// 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3).
const trust_anchor& intel_sgx_root_ca();

/// A trust anchor from a PEM or DER certificate (tests, private PKIs).
/// Errors: malformed_collateral.
result<std::shared_ptr<const trust_anchor>> load_trust_anchor(byte_view pem_or_der);

/// Collateral parsed and authenticated once against one trust anchor, so that
/// verifying many quotes with it costs only the quote's own checks. What is cached is
/// timeless: the issuer chains lead to the anchor and are not revoked by the root CA
/// CRL, both CRLs are authentic, the TCB info and QE identity signatures verify.
/// Every validity window (certificates, CRLs, TCB info, QE identity) is still checked by
/// each verify_quote call at its own time.
class prepared_collateral;

/// Errors: malformed_collateral, unknown_tcb_status, untrusted_chain,
/// certificate_revoked, invalid_signature.
result<std::shared_ptr<const prepared_collateral>> prepare_collateral(const collateral_v3& raw,
                                                                      const trust_anchor& anchor);

/// What a collateral source needs to know about prepared collateral.
struct collateral_summary {
  std::array<std::uint8_t, 6> fmspc{};
  pck_ca_type pck_ca = pck_ca_type::platform;  ///< the CA that issued the PCK CRL
  unix_time valid_from{};   ///< latest issueDate / thisUpdate / notBefore of its parts
  unix_time valid_until{};  ///< earliest nextUpdate / notAfter of its parts
  /// The lower of the TCB info's and QE identity's tcbEvaluationDataNumber.
  std::uint32_t tcb_evaluation_data_number = 0;
};

collateral_summary summarize(const prepared_collateral& collateral);

/// The platform a quote comes from, read from its PCK certificate without verifying
/// anything: only to pick which collateral to fetch. Errors: as parse_quote and
/// parse_pck_extension.
struct platform_id {
  std::array<std::uint8_t, 6> fmspc{};
  pck_ca_type pck_ca = pck_ca_type::platform;
};
result<platform_id> identify_platform(byte_view quote);

struct verified_quote {
  std::uint16_t quote_version = 0;
  std::uint32_t tee_type = 0;
  std::uint16_t body_type = 0;  ///< 2 = TD 1.0, 3 = TD 1.5
  std::array<std::uint8_t, 6> fmspc{};
  std::array<std::uint8_t, 2> pce_id{};
  pck_ca_type pck_ca = pck_ca_type::platform;
  td_report td;
  tcb_status status = tcb_status::up_to_date;  ///< Intel's combined status
  tcb_status platform_status = tcb_status::up_to_date;
  std::optional<tcb_status> tdx_module_status;
  std::string tdx_module_identity;  ///< "TDX_01" etc., "" for a TDX 1.0 module
  tcb_status qe_status = tcb_status::up_to_date;
  std::vector<std::string> advisory_ids;
  unix_time tcb_date{};  ///< tcbDate of the matched platform TCB level
  /// When a component (platform, TDX module, QE) is not UpToDate: the earliest tcbDate
  /// of the TCB levels newer than the one it matched, i.e. when Intel published the TCB
  /// this platform falls short of (a workload policy's grace window runs from it).
  /// nullopt when every component is UpToDate or no newer level exists.
  std::optional<unix_time> newer_tcb_date;
  std::uint32_t tcb_evaluation_data_number = 0;
  bool relaunch_advised = false;
  /// Earliest of every certificate notAfter, CRL nextUpdate and collateral nextUpdate
  /// used: the verdict must not be relied on after this time.
  unix_time collateral_expires_at{};
};

/// Verifies `quote` as of `at` with collateral prepared for `anchor` (another anchor is
/// rejected as untrusted_chain). Errors: every errc kind; the message names the step.
result<verified_quote> verify_quote(byte_view quote, const prepared_collateral& collateral,
                                    const trust_anchor& anchor, unix_time at);

/// Convenience: prepare_collateral + verify_quote.
result<verified_quote> verify_quote(byte_view quote, const collateral_v3& collateral,
                                    const trust_anchor& anchor, unix_time at);

}  // namespace vp::tdx
