#pragma once
// The long-lived secrets and public material of one simulated NEAR deployment: the test
// DCAP PKI that mints its quotes (plus a second, untrusted one), the collateral its PCCS
// serves (valid around the moment the deployment was created), the "web PKI" CA that
// issues the backends' TLS certificates, and the workload the quotes measure.
//
// Test-only trust: the root CA here is generated at start-up and printed; a proxy that
// trusts it (--root-ca) trusts anything this process says. Failures inside OpenSSL
// throw std::runtime_error (the simulator works on its own, trusted inputs).

#include <array>
#include <cstdint>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "sim/options.hpp"
#include "sim/workload.hpp"
#include "tdx/quote.hpp"
#include "testpki/nvidia_pki.hpp"
#include "testpki/test_pki.hpp"

namespace vp::sim {

/// The PCK certificate serial the PCK CRL lists as revoked (the revoked_pck fault).
inline constexpr std::uint64_t revoked_pck_serial = 0x4dead;

/// The raw PCS v4 responses the simulated PCCS serves (docs/tdx-dcap-verification.md
/// §3.1): signed JSON bodies byte for byte, CRLs as DER, issuer chains as PEM (URL-encoded
/// only on the wire).
struct pccs_content {
  std::string fmspc_hex;  ///< upper case, the only platform served
  std::string tcb_info;   ///< {"tcbInfo":{…},"signature":"…"}
  std::string tcb_info_issuer_chain;
  std::string qe_identity;  ///< {"enclaveIdentity":{…},"signature":"…"}
  std::string qe_identity_issuer_chain;
  std::string pck_crl_platform;  ///< DER; lists revoked_pck_serial
  std::string pck_crl_platform_issuer_chain;
  std::string pck_crl_processor;  ///< DER
  std::string pck_crl_processor_issuer_chain;
  std::string root_ca_crl;  ///< DER
};

/// A TLS server identity for one backend instance: a P-256 key and a certificate for the
/// domain issued by the deployment's web CA.
struct tls_identity {
  std::string cert_pem;  ///< leaf ‖ web CA
  std::string key_pem;
  sha256_digest spki_sha256{};  ///< SHA-256 of the leaf's DER SubjectPublicKeyInfo (§2)
};

/// What a policy pins about the GPUs this deployment mints (docs/gpu-signatures-e2ee.md
/// §1.7), read back from a minted chain and evidence rather than restated.
struct gpu_pins {
  std::string hwmodel;         ///< CN of the BROM certificate ("GH100 A01 GSP BROM")
  std::string driver_version;  ///< "570.172.08"
  std::string vbios_version;   ///< "96.00.CF.00.02"
  std::string measurement_record_sha256_hex;  ///< SHA-256 of the signed MeasurementRecord
};

class deployment {
 public:
  /// Generates both PKIs and the web CA and signs collateral valid from `now` − 1 day to
  /// `now` + 30 days (TCB info, QE identity and both CRLs). `up_to_date_tcb_level_age`:
  /// see simulator_options. `gpus`: the GPUs each CVM is configured with (vm_config).
  explicit deployment(unix_time now, std::optional<std::chrono::days> up_to_date_tcb_level_age = std::nullopt,
                      std::size_t gpus = 8);
  ~deployment();
  deployment(const deployment&) = delete;
  deployment& operator=(const deployment&) = delete;

  /// The quote trust anchor (the proxy's --root-ca), PEM.
  const std::string& root_ca_pem() const { return root_ca_pem_; }
  /// The CA of every backend TLS certificate (the proxy's --upstream-ca), PEM.
  const std::string& upstream_ca_pem() const { return upstream_ca_pem_; }
  const pccs_content& pccs() const { return pccs_; }
  const workload_identity& workload() const { return workload_; }
  /// The TD report fields every quote of this deployment carries, before the per-instance
  /// RTMRs and report_data are filled in.
  const tdx::td_report& td_template() const { return td_template_; }

  /// A fresh key and certificate for `domain` (SAN DNS:domain, serverAuth, valid from one
  /// hour ago for 90 days). Thread-safe.
  tls_identity issue_tls_identity(std::string_view domain) const;

  /// A quote measuring `mr_td` and `rtmrs` and carrying `report_data`, with the
  /// attestation faults of `faults` applied (untrusted_root, revoked_pck, out_of_date_tcb,
  /// debug_td; the binding and workload faults are the caller's). Thread-safe.
  bytes mint_quote(const tdx::measurement& mr_td, const std::array<tdx::measurement, 4>& rtmrs,
                   const std::array<std::uint8_t, 64>& report_data, const backend_faults& faults) const;

  /// The same for a CVM of another workload: its MRTD and MRCONFIGID instead of the
  /// deployment's (the gateway). Thread-safe.
  bytes mint_quote(const tdx::measurement& mr_td, const tdx::measurement& mr_config_id,
                   const std::array<tdx::measurement, 4>& rtmrs, const std::array<std::uint8_t, 64>& report_data,
                   const backend_faults& faults) const;

  /// The synthetic NVIDIA device PKI every GPU of this deployment chains to (its root is
  /// the proxy's --nvidia-root-ca). Made on first use: its keys cost time, and most
  /// simulators of the test suite never mint GPU evidence before they are gone. Thread-safe.
  const test::nvidia_test_pki& gpu_pki() const;
  /// The fake NRAS signing identity (its RSA intermediate key is the slow part: on first
  /// use as well). Thread-safe.
  const test::fake_nras_signer& nras_signer() const;
  /// The measurements the GPUs of this deployment report (computed on first use).
  const gpu_pins& gpu_pinned() const;

 private:
  struct web_ca;
  test::test_pki pki_;
  test::test_pki foreign_pki_;
  std::unique_ptr<web_ca> web_ca_;
  std::string root_ca_pem_;
  std::string upstream_ca_pem_;
  pccs_content pccs_;
  workload_identity workload_;
  tdx::td_report td_template_;
  mutable std::once_flag gpu_pki_once_, pins_once_;
  mutable std::unique_ptr<test::nvidia_test_pki> gpu_pki_;
  mutable gpu_pins pins_;
};

}  // namespace vp::sim
