#pragma once
// A synthetic, Intel-like DCAP PKI for tests: a test root CA, PCK Platform / Processor
// CAs, PCK leaf certificates carrying the SGX extension, a TCB Signing certificate, both
// CRLs, signed tcbInfo / enclaveIdentity JSON and TDX quotes v4 / v5
// (docs/tdx-dcap-verification.md §1, §2.1, §2.4, §2.8, §3.2, §3.3).
//
// Why it exists: the real vectors (../shared/testdata) are absent from a fresh clone and
// cannot be edited without breaking Intel's signatures. Here every field is a spec value,
// and every signature is recomputed after the spec is applied, so a test can violate ONE
// verification rule while all others still hold. The defaults of quote_spec and
// collateral_spec match each other (FMSPC, PCE-ID, TCB components, module identity, QE
// identity) and give a fully valid, UpToDate verdict at default_time.
//
// Typical use:
//   static const vp::test::test_pki pki;                 // keys: once per suite
//   vp::test::quote_spec q;                                // valid v4 quote
//   q.td.report_data[0] ^= 1;                              // edited body, re-signed
//   auto quote = pki.mint(q);
//   auto coll = pki.collateral({});                        // matching collateral
//   auto anchor = vp::tdx::load_trust_anchor(pki.root_der());
//   vp::tdx::verify_quote(quote, coll, **anchor, vp::test::default_time);
//
// Failures inside this library (OpenSSL refusing an operation) throw std::runtime_error:
// this is test-only code working on its own, trusted inputs.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "crypto/ossl.hpp"
#include "tdx/collateral.hpp"
#include "tdx/pck_extension.hpp"
#include "tdx/quote.hpp"

namespace vp::test {

/// Midnight UTC of a calendar date.
constexpr unix_time utc_date(int y, unsigned m, unsigned d) {
  return unix_time{std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} /
                                         std::chrono::day{d}}
                       .time_since_epoch()};
}

/// 2026-01-01T00:00:00Z: every default validity window below contains it.
inline constexpr unix_time default_time = utc_date(2026, 1, 1);

/// Defaults shared by the quote and the collateral specs, so that they match.
inline constexpr std::array<std::uint8_t, 6> default_fmspc = {0x90, 0xC0, 0x6F, 0x00, 0x00, 0x00};
inline constexpr std::array<std::uint8_t, 2> default_pce_id = {0x00, 0x00};
/// The TD_QE MRSIGNER Intel publishes (docs §3.3).
inline constexpr std::array<std::uint8_t, 32> default_qe_mrsigner = {
    0xDC, 0x9E, 0x2A, 0x7C, 0x6F, 0x94, 0x8F, 0x17, 0x47, 0x4E, 0x34, 0xA7, 0xFC, 0x43, 0xED, 0x03,
    0x0F, 0x7C, 0x15, 0x63, 0xF1, 0xBA, 0xBD, 0xDF, 0x63, 0x40, 0xC8, 0x2E, 0x0E, 0x54, 0xA8, 0xC5};
inline constexpr std::uint16_t default_qe_isv_prod_id = 2;

// ---------------------------------------------------------------------------------------
// Certificates and CRLs

/// Subject and validity of one certificate. The subject is CN=<common_name>,
/// O=<organization>, L=Santa Clara, ST=CA, C=US, like Intel's.
struct cert_spec {
  std::string common_name;
  std::uint64_t serial = 1;
  unix_time not_before{};
  unix_time not_after{};
  std::string organization = "Test Corporation";
};

/// The long-lived part of the PKI. CN choices contain what Intel's QVL checks: "SGX Root
/// CA", "CA", "SGX TCB Signing".
struct pki_spec {
  cert_spec root{"Test SGX Root CA", 0x1001, utc_date(2018, 5, 21), utc_date(2049, 12, 31)};
  cert_spec platform_ca{"Test SGX PCK Platform CA", 0x2001, utc_date(2018, 5, 21), utc_date(2033, 5, 21)};
  cert_spec processor_ca{"Test SGX PCK Processor CA", 0x2002, utc_date(2018, 5, 21),
                         utc_date(2033, 5, 21)};
  cert_spec tcb_signing{"Test SGX TCB Signing", 0x3001, utc_date(2025, 5, 6), utc_date(2032, 5, 6)};
};

/// The keys test_pki holds. `pck_leaf` signs QE reports (one key for every minted leaf).
enum class pki_key { root, platform_ca, processor_ca, tcb_signing, pck_leaf };
/// The long-lived certificates test_pki holds.
enum class pki_cert { root, platform_ca, processor_ca, tcb_signing };

/// The Intel SGX extension (OID 1.2.840.113741.1.13.1) of a PCK leaf (docs §2.8).
/// Integer fields are `long` so that a test can encode values out of the u8 / u16 ranges
/// Intel allows.
struct sgx_extension_spec {
  std::array<std::uint8_t, 16> ppid = {0x81, 0x1d, 0xca, 0x2a, 0x26, 0xb9, 0x52, 0xe8,
                                       0x5b, 0xb6, 0x44, 0x8b, 0x09, 0x7b, 0xa4, 0xfd};
  /// .2.1 … .2.16: what TCB-level matching compares.
  std::array<long, 16> tcb_components = {3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
  long pce_svn = 11;  ///< .2.17
  std::array<std::uint8_t, 16> cpu_svn = {3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};  ///< .2.18
  std::array<std::uint8_t, 2> pce_id = default_pce_id;  ///< .3
  std::array<std::uint8_t, 6> fmspc = default_fmspc;    ///< .4
  long sgx_type = 1;                                   ///< .5 ENUMERATED (1 = Scalable)
  std::array<std::uint8_t, 16> platform_instance_id = {0x07, 0x82, 0x84, 0x74, 0x60, 0x3e, 0x70, 0x19,
                                                       0xdc, 0x93, 0x07, 0x75, 0xff, 0xe8, 0xcd, 0xd2};
  bool dynamic_platform = true;  ///< .7.1
  bool cached_keys = true;       ///< .7.2
  bool smt_enabled = true;       ///< .7.3

  // Tampering knobs (defaults produce Intel's exact structure).
  /// nullopt: .6/.7 present iff the issuer is the Platform CA (7 vs 5 entries).
  std::optional<bool> platform_entries;
  /// Top-level entries to leave out, by OID suffix (1 … 7).
  std::vector<int> omit_entries;
  /// Entries in the .2 TCB SEQUENCE: < 18 drops from the end (.2.18 first), > 18 appends
  /// INTEGER entries .2.19, .2.20, ….
  std::size_t tcb_entry_count = 18;
  /// Replaces the whole extension value (the DER inside the OCTET STRING).
  std::optional<bytes> raw_value;
  /// The leaf carries no SGX extension at all.
  bool omit = false;
};

/// A PCK leaf certificate ("Test SGX PCK Certificate", CA:FALSE), issued by the Platform
/// or the Processor CA, with the PKI's PCK key.
struct pck_leaf_spec {
  tdx::pck_ca_type issuer = tdx::pck_ca_type::platform;
  cert_spec cert{"Test SGX PCK Certificate", 0x4001, utc_date(2025, 2, 6), utc_date(2032, 2, 6)};
  sgx_extension_spec sgx;
};

/// A CRL (v2, ECDSA-SHA256) with Intel's required extensions (docs §2.4).
struct crl_spec {
  unix_time this_update{};
  unix_time next_update{};
  /// Serials listed as revoked (reason keyCompromise, like Intel's PCK CRL).
  std::vector<std::uint64_t> revoked_serials;
  long crl_number = 1;
  bool crl_number_extension = true;          ///< false: omit CRL Number
  bool authority_key_identifier = true;      ///< false: omit AKI
  bool corrupt_signature = false;            ///< flip a bit of the signature value
};

// ---------------------------------------------------------------------------------------
// TCB info and QE identity JSON (docs §3.2, §3.3)

/// One {svn, category?, type?} entry; empty category / type are omitted, as Intel does.
struct tcb_component_spec {
  long svn = 0;
  std::string category;
  std::string type;
};

/// One tcbInfo.tcbLevels entry. Components are vectors (16 each by default) so a test can
/// emit the wrong count.
struct tcb_level_spec {
  std::vector<tcb_component_spec> sgx_components;
  long pce_svn = 0;
  std::vector<tcb_component_spec> tdx_components;
  unix_time tcb_date{};
  std::string status = "UpToDate";
  std::vector<std::string> advisory_ids;  ///< "advisoryIDs" emitted only when non-empty
};

/// One level of a TDX module identity.
struct tdx_module_level_spec {
  long isv_svn = 0;
  unix_time tcb_date{};
  std::string status = "UpToDate";
  std::vector<std::string> advisory_ids;
};

/// tcbInfo.tdxModule (id and levels unused) or one tdxModuleIdentities entry.
struct tdx_module_spec {
  std::string id;
  std::array<std::uint8_t, 48> mr_signer{};
  std::array<std::uint8_t, 8> attributes{};
  std::array<std::uint8_t, 8> attributes_mask = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::vector<tdx_module_level_spec> levels;
};

/// tcbInfo v3, id TDX. Defaults: levels and module identities shaped like Intel's 2025
/// data (UpToDate level {[2,2,2,2,3,1,0,5,0…], 11, [5,0,2,0…]}, an OutOfDate level with
/// PCESVN 5, identities TDX_03 and TDX_01), issued 2025-12-20, next update 2026-01-19.
struct tcb_info_spec {
  std::string id = "TDX";
  long version = 3;
  unix_time issue_date = utc_date(2025, 12, 20);
  unix_time next_update = utc_date(2026, 1, 19);
  std::array<std::uint8_t, 6> fmspc = default_fmspc;
  std::array<std::uint8_t, 2> pce_id = default_pce_id;
  long tcb_type = 0;
  long tcb_evaluation_data_number = 17;
  tdx_module_spec tdx_module;
  /// nullopt: the key is omitted (2023-era data).
  std::optional<std::vector<tdx_module_spec>> tdx_module_identities;
  std::vector<tcb_level_spec> levels;
  bool lower_case_fmspc = false;  ///< Intel has served both cases (docs §4.8)

  tcb_info_spec();
};

/// One enclaveIdentity.tcbLevels entry.
struct qe_tcb_level_spec {
  long isv_svn = 0;
  unix_time tcb_date{};
  std::string status = "UpToDate";
  std::vector<std::string> advisory_ids;
};

/// enclaveIdentity v2, id TD_QE. Defaults: Intel's TD_QE values; levels {4: UpToDate},
/// {2: OutOfDate}; issued 2025-12-20, next update 2026-01-19.
struct qe_identity_spec {
  std::string id = "TD_QE";
  long version = 2;
  unix_time issue_date = utc_date(2025, 12, 20);
  unix_time next_update = utc_date(2026, 1, 19);
  long tcb_evaluation_data_number = 17;
  /// Written as the hex of the 4 little-endian report bytes (Intel's convention).
  std::uint32_t misc_select = 0;
  std::uint32_t misc_select_mask = 0xFFFFFFFF;
  std::array<std::uint8_t, 16> attributes = {0x11};
  std::array<std::uint8_t, 16> attributes_mask = {0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  std::array<std::uint8_t, 32> mr_signer = default_qe_mrsigner;
  long isv_prod_id = default_qe_isv_prod_id;
  std::vector<qe_tcb_level_spec> levels = {
      {4, utc_date(2024, 3, 13), "UpToDate", {}},
      {2, utc_date(2023, 8, 9), "OutOfDate", {"INTEL-SA-00837"}}};
};

/// Everything collateral() assembles. Defaults match quote_spec's defaults.
struct collateral_spec {
  tcb_info_spec tcb_info;
  qe_identity_spec qe_identity;
  crl_spec root_ca_crl{utc_date(2025, 7, 1), utc_date(2026, 7, 1), {}, 1, true, true, false};
  crl_spec pck_crl{utc_date(2025, 12, 20), utc_date(2026, 1, 19), {}, 1, true, true, false};
  /// Which intermediate issues the PCK CRL (and heads pck_crl_issuer_chain).
  tdx::pck_ca_type pck_crl_issuer = tdx::pck_ca_type::platform;
  /// Exact text to sign instead of the JSON generated from tcb_info / qe_identity
  /// (malformed or oddly shaped collateral with a valid signature).
  std::optional<std::string> tcb_info_text;
  std::optional<std::string> qe_identity_text;
  bool corrupt_tcb_info_signature = false;
  bool corrupt_qe_identity_signature = false;
};

// ---------------------------------------------------------------------------------------
// Quotes (docs §1)

/// TD report defaults: TEE_TCB_SVN 06 01 03 (module SVN 6, identity TDX_01, late
/// microcode 3), MRSIGNERSEAM and SEAMATTRIBUTES zero, TDATTRIBUTES SEPT_VE_DISABLE only,
/// recognisable fill patterns in the measurements. No TD 1.5 fields.
tdx::td_report default_td_report();

/// QE report defaults: Intel's TD_QE MRSIGNER / ISVPRODID 2 / ISVSVN 6, ATTRIBUTES
/// 0x15… (matches the identity under its mask). report_data is ignored by mint() unless
/// quote_spec::qe_report_data says otherwise.
tdx::enclave_report default_qe_report();

/// Every byte of a quote. Defaults: a valid v4 TD 1.0 quote from Intel's QE vendor.
struct quote_spec {
  tdx::quote_header header = default_header();
  /// v5 body descriptor type (2 = TD 1.0, 3 = TD 1.5; 1 writes a 584-byte body). With
  /// header.version != 5 there is no descriptor and the body is TD 1.0.
  std::uint16_t body_type = tdx::body_type_td10;
  /// Declared v5 body size instead of the true one.
  std::optional<std::uint32_t> body_size;
  /// For TD 1.5 bodies: nullopt tee_tcb_svn_2 is written as tee_tcb_svn, nullopt
  /// mr_service_td as zeros.
  tdx::td_report td = default_td_report();
  tdx::enclave_report qe_report = default_qe_report();
  /// nullopt: SHA-256(attestation key ‖ qe_auth_data) ‖ 32 zero bytes (the binding).
  std::optional<std::array<std::uint8_t, 64>> qe_report_data;
  bytes qe_auth_data = default_qe_auth_data();  ///< at most 65535 bytes
  pck_leaf_spec pck;

  // Signature data framing.
  std::uint16_t certification_data_type = tdx::certification_data_qe_report;
  std::uint16_t inner_certification_data_type = tdx::certification_data_pck_chain;
  /// Text to embed instead of leaf ‖ intermediate ‖ root PEM.
  std::optional<std::string> pck_chain_pem;
  bool nul_terminate_chain = true;  ///< real quotes end the chain with '\0' (counted)
  std::optional<std::uint32_t> signature_data_size;            ///< declared u32 instead of true
  std::optional<std::uint32_t> certification_data_size;        ///< outer (type 6) size
  std::optional<std::uint32_t> inner_certification_data_size;  ///< inner (type 5) size
  bytes trailing;  ///< unsigned bytes after the signature data

  // Signatures.
  /// Written into the quote instead of the signing key's X‖Y (the QE report binding is
  /// computed over what the quote carries, so only the quote signature check fails).
  std::optional<std::array<std::uint8_t, 64>> attestation_key;
  bool corrupt_quote_signature = false;
  bool corrupt_qe_report_signature = false;

  /// A valid v5 quote with the given body type.
  static quote_spec v5(std::uint16_t body_type = tdx::body_type_td15);
  static tdx::quote_header default_header();
  static bytes default_qe_auth_data();  ///< 00 01 … 1F, as in Intel's QE output
};

/// Where the parts of a minted quote are (absolute offsets into minted_quote::data).
struct quote_layout {
  std::size_t body_offset = 0;                ///< 48 (v4) or 54 (v5)
  std::size_t body_size = 0;                  ///< 584 or 648 bytes actually written
  std::size_t signed_size = 0;                ///< end of the region the quote signature covers
  std::size_t signature_data_offset = 0;      ///< the u32 signature data length
  std::size_t quote_signature_offset = 0;     ///< 64 bytes r‖s
  std::size_t attestation_key_offset = 0;     ///< 64 bytes X‖Y
  std::size_t certification_data_offset = 0;  ///< u16 type 6, u32 size
  std::size_t qe_report_offset = 0;           ///< 384 bytes
  std::size_t qe_report_signature_offset = 0; ///< 64 bytes r‖s
  std::size_t qe_auth_data_offset = 0;        ///< u16 size, then the data
  std::size_t inner_certification_data_offset = 0;  ///< u16 type 5, u32 size
  std::size_t pck_chain_offset = 0;           ///< the PEM text
  std::size_t pck_chain_size = 0;             ///< bytes written, including the NUL
  std::size_t trailing_offset = 0;            ///< == size without trailing bytes
};

/// A minted quote plus what a test needs to tamper with it after the fact.
struct minted_quote {
  bytes data;
  quote_layout layout;
  std::array<std::uint8_t, 64> attestation_key{};  ///< X‖Y of the key that signed
  std::shared_ptr<EVP_PKEY> attestation_private_key;
  std::string pck_chain_pem;  ///< leaf ‖ intermediate ‖ root, without the NUL
  bytes pck_leaf_der;
};

// ---------------------------------------------------------------------------------------

/// The keys and long-lived certificates of one synthetic PKI. Construction generates five
/// P-256 keys; create one per test suite and share it (all members are const and
/// thread-compatible). Move-only.
class test_pki {
 public:
  explicit test_pki(const pki_spec& spec = {});
  ~test_pki();
  test_pki(test_pki&&) noexcept;
  test_pki& operator=(test_pki&&) noexcept;
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;

  /// A PKI with the same keys whose long-lived certificates are re-issued from `spec`
  /// (e.g. a root with other bytes but the same key, an expired intermediate).
  test_pki reissue(const pki_spec& spec) const;

  const pki_spec& spec() const;

  /// The quote bytes for `spec`: a fresh attestation key, the QE report signed by the PCK
  /// key, the chain leaf ‖ intermediate ‖ root.
  bytes mint(const quote_spec& spec = {}) const;
  /// As mint(), with offsets and keys for tampering after the fact.
  minted_quote mint_detailed(const quote_spec& spec = {}) const;

  /// Re-computes the quote signature over data[0, layout.signed_size) (edit the signed
  /// region of a minted quote, then re-sign it).
  void resign_quote(minted_quote& q) const;
  /// Re-signs the 384 QE report bytes in place with the PCK key.
  void resign_qe_report(minted_quote& q) const;

  /// Collateral matching `spec`: CRLs as DER, JSON signed with the TCB signing key.
  tdx::collateral_v3 collateral(const collateral_spec& spec = {}) const;

  /// A PCK leaf certificate (DER / PEM).
  bytes issue_pck_leaf_der(const pck_leaf_spec& spec) const;
  std::string issue_pck_leaf_pem(const pck_leaf_spec& spec) const;
  /// A CRL signed by `issuer` (DER).
  bytes issue_crl(pki_cert issuer, const crl_spec& spec) const;

  /// The long-lived certificates.
  X509* certificate(pki_cert which) const;
  bytes der(pki_cert which) const;
  std::string pem(pki_cert which) const;
  bytes root_der() const { return der(pki_cert::root); }
  std::string root_pem() const { return pem(pki_cert::root); }

  /// PEM chains as PCS serves them in its issuer-chain headers.
  std::string tcb_issuer_chain_pem() const;  ///< TCB signing ‖ root
  std::string pck_crl_issuer_chain_pem(tdx::pck_ca_type ca) const;  ///< CA ‖ root
  /// leaf ‖ CA ‖ root, as embedded in quotes (no NUL).
  std::string pck_chain_pem(const pck_leaf_spec& leaf) const;

  EVP_PKEY* key(pki_key which) const;
  /// Raw X‖Y of a key's public point.
  std::array<std::uint8_t, 64> public_xy(pki_key which) const;
  /// ECDSA-SHA256 over `message` as raw r‖s (64 bytes).
  bytes sign(pki_key which, byte_view message) const;

  /// The exact JSON text of the tcbInfo / enclaveIdentity object (compact, Intel's key
  /// order).
  static std::string tcb_info_json(const tcb_info_spec& spec);
  static std::string qe_identity_json(const qe_identity_spec& spec);
  /// The DER of the SGX extension value (the content of its OCTET STRING).
  static bytes sgx_extension_der(const sgx_extension_spec& spec, tdx::pck_ca_type issuer);

 private:
  struct state;
  explicit test_pki(std::unique_ptr<state> s);
  std::unique_ptr<state> s_;
};

/// A new P-256 key.
crypto::evp_pkey_ptr generate_p256_key();
/// Raw X‖Y of a P-256 key.
std::array<std::uint8_t, 64> p256_public_xy(EVP_PKEY* key);
/// ECDSA-SHA256 as raw r‖s with any key.
bytes sign_p256_sha256_raw(EVP_PKEY* key, byte_view message);

/// The 16 SGX components of a TCB level with Intel's category / type labels.
std::vector<tcb_component_spec> sgx_components(const std::array<long, 16>& svns);
/// The 16 TDX components with Intel's labels (0, 1 "TDX Module", 2 "TDX Late Microcode
/// Update").
std::vector<tcb_component_spec> tdx_components(const std::array<long, 16>& svns);

}  // namespace vp::test
