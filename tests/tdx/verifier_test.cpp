// The tampering matrix: one test per verification rule of docs/tdx-dcap-verification.md
// §2 and §5, each violating exactly that rule on an otherwise valid synthetic quote and
// collateral (tests/support/test_pki.hpp), and asserting the exact errc plus a message
// that names what failed. Positive variants pin what must keep verifying.
//
// Isolation: every negative test starts from the defaults (valid, UpToDate at
// default_time) and changes one knob; where the construction is not a single knob (a
// re-issued certificate, a foreign CRL), a control case shows the same construction
// without the fault still verifies.

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"
#include "testpki/test_pki.hpp"
#include "tdx/verifier.hpp"

namespace vp::test {
namespace {

using tdx::errc;
using tdx::pck_ca_type;
using tdx::tcb_status;
using verdict = tdx::result<tdx::verified_quote>;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr seconds one_second{1};
// Odd instants inside every default validity window, so that ±1 s around them stays
// inside all other windows.
constexpr unix_time window_start = utc_date(2025, 12, 25) + hours(1) + minutes(2) + seconds(3);
constexpr unix_time window_end = utc_date(2026, 1, 10) + hours(4) + minutes(5) + seconds(6);

// ---------------------------------------------------------------------------------------
// Shared fixtures: one key set for the whole file (key generation is the slow part).

const test_pki& pki() {
  static const test_pki p;
  return p;
}

/// Other keys, same names: nothing it issues chains to pki()'s root.
const test_pki& foreign_pki() {
  static const test_pki p;
  return p;
}

std::shared_ptr<const tdx::trust_anchor> anchor_of(const test_pki& p) {
  auto a = tdx::load_trust_anchor(p.root_der());
  if (!a) throw std::runtime_error("load_trust_anchor: " + a.error().message);
  return *a;
}

const tdx::trust_anchor& anchor() {
  static const auto a = anchor_of(pki());
  return *a;
}

verdict verify(const bytes& quote, const tdx::collateral_v3& collateral, unix_time at = default_time) {
  return tdx::verify_quote(quote, collateral, anchor(), at);
}

verdict verify(const quote_spec& q, const collateral_spec& c = {}, unix_time at = default_time) {
  return verify(pki().mint(q), pki().collateral(c), at);
}

/// Everything (quote, collateral, anchor) from `p`, e.g. a re-issued PKI.
verdict verify_on(const test_pki& p, const quote_spec& q = {}, const collateral_spec& c = {},
                  unix_time at = default_time) {
  return tdx::verify_quote(p.mint(q), p.collateral(c), *anchor_of(p), at);
}

std::string name(tcb_status s) { return std::string(tdx::to_string(s)); }

::testing::AssertionResult verifies(const verdict& r) {
  if (r) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "rejected: " << tdx::to_string(r.error().kind) << ": "
                                       << r.error().message;
}

/// Rejected with exactly `kind`, and the message contains `needle`.
::testing::AssertionResult rejected(const verdict& r, errc kind, std::string_view needle) {
  if (r) {
    return ::testing::AssertionFailure() << "verified (status " << name(r->status) << "), expected "
                                         << tdx::to_string(kind) << " naming '" << needle << "'";
  }
  if (r.error().kind != kind || r.error().message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "got " << tdx::to_string(r.error().kind) << ": '" << r.error().message
                                         << "', expected " << tdx::to_string(kind) << " naming '" << needle << "'";
  }
  return ::testing::AssertionSuccess();
}

tdx_module_spec& module_identity(collateral_spec& c, std::string_view id) {
  for (auto& m : c.tcb_info.tdx_module_identities.value()) {
    if (m.id == id) return m;
  }
  throw std::invalid_argument("no module identity " + std::string(id));
}

// Raw edits of minted quotes (integers are little-endian, docs §1).
void put_u16_at(bytes& b, std::size_t off, std::uint16_t v) {
  b.at(off) = static_cast<std::uint8_t>(v & 0xFFu);
  b.at(off + 1) = static_cast<std::uint8_t>(v >> 8);
}

std::uint32_t u32_at(const bytes& b, std::size_t off) {
  return static_cast<std::uint32_t>(b.at(off)) | (static_cast<std::uint32_t>(b.at(off + 1)) << 8) |
         (static_cast<std::uint32_t>(b.at(off + 2)) << 16) | (static_cast<std::uint32_t>(b.at(off + 3)) << 24);
}

void put_u32_at(bytes& b, std::size_t off, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b.at(off + i) = static_cast<std::uint8_t>((v >> (8 * i)) & 0xFFu);
}

/// `cert` with its signature replaced by one from `key` (name, key and extensions kept).
std::string resigned_pem(const X509* cert, EVP_PKEY* key) {
  const crypto::x509_ptr copy{X509_dup(cert)};
  if (!copy || X509_sign(copy.get(), key, EVP_sha256()) <= 0) throw std::runtime_error("X509_sign");
  const crypto::bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), copy.get()) != 1) throw std::runtime_error("PEM_write_bio_X509");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

void expect_same_td(const tdx::td_report& got, const tdx::td_report& want) {
  EXPECT_EQ(got.tee_tcb_svn, want.tee_tcb_svn);
  EXPECT_EQ(got.mr_seam, want.mr_seam);
  EXPECT_EQ(got.mr_signer_seam, want.mr_signer_seam);
  EXPECT_EQ(got.seam_attributes, want.seam_attributes);
  EXPECT_EQ(got.td_attributes, want.td_attributes);
  EXPECT_EQ(got.xfam, want.xfam);
  EXPECT_EQ(got.mr_td, want.mr_td);
  EXPECT_EQ(got.mr_config_id, want.mr_config_id);
  EXPECT_EQ(got.mr_owner, want.mr_owner);
  EXPECT_EQ(got.mr_owner_config, want.mr_owner_config);
  EXPECT_EQ(got.rtmr, want.rtmr);
  EXPECT_EQ(got.report_data, want.report_data);
}

// =======================================================================================
// Positives

TEST(VerifierMatrixPositive, DefaultV4QuoteIsUpToDateWithEveryResultField) {
  quote_spec q;
  q.td.mr_config_id[0] = 0x11;
  q.td.mr_owner[47] = 0x22;
  q.td.mr_owner_config[5] = 0x33;
  q.td.rtmr[3][0] = 0x44;
  const auto r = verify(q);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(r->quote_version, 4);
  EXPECT_EQ(r->tee_type, 0x81u);
  EXPECT_EQ(r->body_type, tdx::body_type_td10);
  EXPECT_EQ(r->fmspc, default_fmspc);
  EXPECT_EQ(r->pce_id, default_pce_id);
  EXPECT_EQ(r->pck_ca, pck_ca_type::platform);
  expect_same_td(r->td, q.td);
  EXPECT_FALSE(r->td.tee_tcb_svn_2);
  EXPECT_FALSE(r->td.mr_service_td);
  EXPECT_EQ(name(r->status), "UpToDate");
  EXPECT_EQ(name(r->platform_status), "UpToDate");
  ASSERT_TRUE(r->tdx_module_status);
  EXPECT_EQ(name(*r->tdx_module_status), "UpToDate");
  EXPECT_EQ(r->tdx_module_identity, "TDX_01");
  EXPECT_EQ(name(r->qe_status), "UpToDate");
  EXPECT_TRUE(r->advisory_ids.empty());
  EXPECT_EQ(r->tcb_date, utc_date(2024, 3, 13));
  EXPECT_EQ(r->tcb_evaluation_data_number, 17u);
  EXPECT_FALSE(r->relaunch_advised);
  // PCK CRL, TCB info and QE identity all end 2026-01-19; everything else later.
  EXPECT_EQ(r->collateral_expires_at, utc_date(2026, 1, 19));
}

TEST(VerifierMatrixPositive, TcbEvaluationDataNumberIsTheLowerOfBoth) {
  collateral_spec c;
  c.tcb_info.tcb_evaluation_data_number = 19;
  c.qe_identity.tcb_evaluation_data_number = 16;
  const auto r = verify(quote_spec{}, c);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(r->tcb_evaluation_data_number, 16u);
  c.tcb_info.tcb_evaluation_data_number = 15;
  const auto s = verify(quote_spec{}, c);
  ASSERT_TRUE(verifies(s));
  EXPECT_EQ(s->tcb_evaluation_data_number, 15u);
}

TEST(VerifierMatrixPositive, V5QuotesWithBothBodyTypesAreUpToDate) {
  {
    SCOPED_TRACE("v5 TD 1.0");
    const quote_spec q = quote_spec::v5(tdx::body_type_td10);
    const auto r = verify(q);
    ASSERT_TRUE(verifies(r));
    EXPECT_EQ(r->quote_version, 5);
    EXPECT_EQ(r->body_type, tdx::body_type_td10);
    EXPECT_EQ(name(r->status), "UpToDate");
    expect_same_td(r->td, q.td);
    EXPECT_FALSE(r->td.tee_tcb_svn_2);
  }
  {
    SCOPED_TRACE("v5 TD 1.5");
    quote_spec q = quote_spec::v5(tdx::body_type_td15);
    tdx::measurement service_td{};
    service_td[0] = 0x5e;
    q.td.mr_service_td = service_td;
    const auto r = verify(q);
    ASSERT_TRUE(verifies(r));
    EXPECT_EQ(r->quote_version, 5);
    EXPECT_EQ(r->body_type, tdx::body_type_td15);
    EXPECT_EQ(name(r->status), "UpToDate");
    expect_same_td(r->td, q.td);
    ASSERT_TRUE(r->td.tee_tcb_svn_2);
    EXPECT_EQ(*r->td.tee_tcb_svn_2, q.td.tee_tcb_svn);  // minted as TEE_TCB_SVN when unset
    ASSERT_TRUE(r->td.mr_service_td);
    EXPECT_EQ(*r->td.mr_service_td, service_td);
    EXPECT_FALSE(r->relaunch_advised);
  }
}

TEST(VerifierMatrixPositive, ProcessorCaChainWithProcessorPckCrl) {
  quote_spec q;
  q.pck.issuer = pck_ca_type::processor;
  collateral_spec c;
  c.pck_crl_issuer = pck_ca_type::processor;
  const auto r = verify(q, c);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(r->pck_ca, pck_ca_type::processor);
  EXPECT_EQ(name(r->status), "UpToDate");
}

TEST(VerifierMatrixPositive, TrailingBytesAfterSignatureDataAreIgnored) {
  quote_spec zeros;
  zeros.trailing = bytes(70, 0x00);  // the Phala v4 samples' padding
  EXPECT_TRUE(verifies(verify(zeros)));
  quote_spec junk;
  junk.trailing = {0xde, 0xad, 0xbe, 0xef, 0x01};
  EXPECT_TRUE(verifies(verify(junk)));
}

TEST(VerifierMatrixPositive, QeAuthDataOfAnyLengthIsHashedAsPresent) {
  for (std::size_t len : {std::size_t{0}, std::size_t{100}}) {
    SCOPED_TRACE(len);
    quote_spec q;
    q.qe_auth_data = bytes(len, 0x5a);
    EXPECT_TRUE(verifies(verify(q)));
  }
}

TEST(VerifierMatrixPositive, LowerCaseFmspcInTcbInfo) {
  collateral_spec c;
  c.tcb_info.lower_case_fmspc = true;
  ASSERT_NE(pki().collateral(c).tcb_info.find("\"fmspc\":\"90c06f000000\""), std::string::npos);
  const auto r = verify(quote_spec{}, c);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(r->fmspc, default_fmspc);
}

TEST(VerifierMatrixPositive, NoModuleIdentitiesNeededForTdx10Module) {
  // 2023-era tcbInfo (no tdxModuleIdentities) with TEE_TCB_SVN[1] == 0: the module is
  // judged by tcbInfo.tdxModule and the platform level compares TEE_TCB_SVN from index 0.
  quote_spec q;
  q.td.tee_tcb_svn = {6, 0, 3};
  collateral_spec c;
  c.tcb_info.tdx_module_identities.reset();
  ASSERT_EQ(pki().collateral(c).tcb_info.find("tdxModuleIdentities"), std::string::npos);
  const auto r = verify(q, c);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->status), "UpToDate");
  EXPECT_EQ(r->tdx_module_identity, "");
  EXPECT_FALSE(r->tdx_module_status);
}

TEST(VerifierMatrixPositive, ReissuedPkiWithDefaultsVerifiesAgainstItsOwnRoot) {
  // Control for every reissue()-based test below.
  const test_pki r = pki().reissue(pki_spec{});
  EXPECT_TRUE(verifies(verify_on(r)));
}

TEST(VerifierMatrixPositive, CollateralExpiresAtIsTheEarliestOfEverythingUsed) {
  // Each case makes one item the earliest (at an odd second) and expects exactly it.
  const unix_time base = utc_date(2026, 1, 2) + hours(3) + minutes(4) + seconds(5);
  struct scenario {
    const char* what;
    std::optional<pki_spec> reissue;
    quote_spec quote;
    collateral_spec collateral;
    unix_time expected;
  };
  std::vector<scenario> scenarios;
  const auto add = [&](const char* what) -> scenario& {
    scenarios.push_back({what, std::nullopt, {}, {}, base + hours(static_cast<long>(scenarios.size()))});
    return scenarios.back();
  };
  {
    auto& s = add("root CA CRL nextUpdate");
    s.collateral.root_ca_crl.next_update = s.expected;
  }
  {
    auto& s = add("PCK CRL nextUpdate");
    s.collateral.pck_crl.next_update = s.expected;
  }
  {
    auto& s = add("TCB info nextUpdate");
    s.collateral.tcb_info.next_update = s.expected;
  }
  {
    auto& s = add("QE identity nextUpdate");
    s.collateral.qe_identity.next_update = s.expected;
  }
  {
    auto& s = add("PCK leaf notAfter");
    s.quote.pck.cert.not_after = s.expected;
  }
  {
    auto& s = add("PCK Platform CA notAfter");
    s.reissue = pki_spec{};
    s.reissue->platform_ca.not_after = s.expected;
  }
  {
    auto& s = add("PCK Processor CA notAfter (processor chain)");
    s.reissue = pki_spec{};
    s.reissue->processor_ca.not_after = s.expected;
    s.quote.pck.issuer = pck_ca_type::processor;
    s.collateral.pck_crl_issuer = pck_ca_type::processor;
  }
  {
    auto& s = add("root notAfter");
    s.reissue = pki_spec{};
    s.reissue->root.not_after = s.expected;
  }
  {
    auto& s = add("TCB signing notAfter");
    s.reissue = pki_spec{};
    s.reissue->tcb_signing.not_after = s.expected;
  }
  for (const auto& s : scenarios) {
    SCOPED_TRACE(s.what);
    const auto r = s.reissue ? verify_on(pki().reissue(*s.reissue), s.quote, s.collateral)
                             : verify(s.quote, s.collateral);
    ASSERT_TRUE(verifies(r));
    EXPECT_EQ(format_rfc3339_utc(r->collateral_expires_at), format_rfc3339_utc(s.expected));
  }
}

// =======================================================================================
// Prepared collateral: authenticated once per anchor, windows re-checked at every call

TEST(VerifierMatrixPrepared, WindowsAreRecheckedOnEveryCall) {
  collateral_spec c;
  c.tcb_info.next_update = window_end;
  const auto prepared = tdx::prepare_collateral(pki().collateral(c), anchor());
  ASSERT_TRUE(prepared) << prepared.error().message;
  quote_spec q;
  q.pck.cert.not_after = window_start;
  const bytes expiring_leaf = pki().mint(q);
  const bytes quote = pki().mint();
  // The first call authenticates and caches the PCK chain; its window still counts.
  EXPECT_TRUE(verifies(tdx::verify_quote(expiring_leaf, **prepared, anchor(), window_start)));
  EXPECT_TRUE(rejected(tdx::verify_quote(expiring_leaf, **prepared, anchor(), window_start + one_second),
                       errc::certificate_expired, "'Test SGX PCK Certificate'"));
  EXPECT_TRUE(verifies(tdx::verify_quote(quote, **prepared, anchor(), window_end)));
  EXPECT_TRUE(rejected(tdx::verify_quote(quote, **prepared, anchor(), window_end + one_second),
                       errc::collateral_expired, "TCB info expired"));
}

TEST(VerifierMatrixPrepared, EachQuoteIsJudgedOnItsOwnChain) {
  collateral_spec c;
  c.pck_crl.revoked_serials = {0x4002};
  const auto prepared = tdx::prepare_collateral(pki().collateral(c), anchor());
  ASSERT_TRUE(prepared) << prepared.error().message;
  quote_spec revoked;
  revoked.pck.cert.serial = 0x4002;
  const bytes good = pki().mint();
  const bytes bad = pki().mint(revoked);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    EXPECT_TRUE(verifies(tdx::verify_quote(good, **prepared, anchor(), default_time)));
    EXPECT_TRUE(rejected(tdx::verify_quote(bad, **prepared, anchor(), default_time), errc::certificate_revoked,
                         "'Test SGX PCK Certificate'"));
  }
}

TEST(VerifierMatrixPrepared, CollateralIsBoundToItsAnchor) {
  const auto prepared = tdx::prepare_collateral(pki().collateral(), anchor());
  ASSERT_TRUE(prepared) << prepared.error().message;
  const auto foreign = anchor_of(foreign_pki());
  EXPECT_TRUE(rejected(tdx::verify_quote(pki().mint(), **prepared, *foreign, default_time), errc::untrusted_chain,
                       "another trust anchor"));
  const auto other = tdx::prepare_collateral(pki().collateral(), *foreign);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind, errc::untrusted_chain);
  EXPECT_NE(other.error().message.find("root CA CRL"), std::string::npos) << other.error().message;
}

// =======================================================================================
// S0: header and structure (docs §1, §2.3)

TEST(VerifierMatrixHeader, VersionOtherThan4Or5IsUnsupported) {
  for (std::uint16_t version : {std::uint16_t{3}, std::uint16_t{6}}) {
    SCOPED_TRACE(version);
    quote_spec q;
    q.header.version = version;
    EXPECT_TRUE(rejected(verify(q), errc::unsupported_quote, "version " + std::to_string(version)));
  }
}

TEST(VerifierMatrixHeader, AttestationKeyTypeOtherThanP256IsUnsupported) {
  quote_spec q;
  q.header.attestation_key_type = 3;  // ECDSA-384: defined, supported nowhere
  EXPECT_TRUE(rejected(verify(q), errc::unsupported_quote, "attestation key type 3"));
}

TEST(VerifierMatrixHeader, SgxTeeTypeIsUnsupported) {
  quote_spec q;
  q.header.tee_type = 0;
  EXPECT_TRUE(rejected(verify(q), errc::unsupported_quote, "TEE type 0x00000000"));
}

TEST(VerifierMatrixHeader, ForeignQeVendorIsUnsupported) {
  quote_spec q;
  q.header.qe_vendor_id[15] ^= 0x01;
  EXPECT_TRUE(rejected(verify(q), errc::unsupported_quote, "QE vendor id"));
}

TEST(VerifierMatrixHeader, UncheckedHeaderFieldsAreStillCoveredByTheSignature) {
  // QE SVN / PCE SVN are reserved for TDX and not checked, but they are signed.
  quote_spec q;
  q.header.qe_svn = 7;
  q.header.pce_svn = 9;
  EXPECT_TRUE(verifies(verify(q)));
  minted_quote m = pki().mint_detailed();
  m.data[8] ^= 0x01;  // QE SVN, after signing
  EXPECT_TRUE(rejected(verify(m.data, pki().collateral()), errc::invalid_signature, "quote signature"));
}

TEST(VerifierMatrixHeader, OuterCertificationDataTypeOtherThan6IsUnsupported) {
  quote_spec q;
  q.certification_data_type = 5;
  EXPECT_TRUE(rejected(verify(q), errc::unsupported_quote, "outer certification data type 5"));
}

TEST(VerifierMatrixHeader, InnerCertificationDataTypeOtherThan5IsUnsupported) {
  for (int t : {1, 2, 3, 4, 6}) {
    const auto type = static_cast<std::uint16_t>(t);
    SCOPED_TRACE(type);
    quote_spec q;
    q.inner_certification_data_type = type;
    EXPECT_TRUE(rejected(verify(q), errc::unsupported_quote, "PCK certification data type " + std::to_string(type)));
  }
}

TEST(VerifierMatrixHeader, V5BodyTypeThatIsNotATdReportIsUnsupported) {
  for (std::uint16_t type : {std::uint16_t{1}, std::uint16_t{4}}) {
    SCOPED_TRACE(type);
    const quote_spec q = quote_spec::v5(type);
    EXPECT_TRUE(rejected(verify(q), errc::unsupported_quote, "body type " + std::to_string(type)));
  }
}

TEST(VerifierMatrixHeader, V5BodySizeMustMatchItsType) {
  {
    quote_spec q = quote_spec::v5(tdx::body_type_td15);
    q.body_size = 584;
    EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "declares 584 bytes, expected 648"));
  }
  {
    quote_spec q = quote_spec::v5(tdx::body_type_td10);
    q.body_size = 648;
    EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "declares 648 bytes, expected 584"));
  }
}

TEST(VerifierMatrixHeader, TruncatedQuotesAreMalformed) {
  const bytes full = pki().mint();
  const tdx::collateral_v3 c = pki().collateral();
  struct cut {
    std::size_t size;
    const char* needle;
  };
  for (const cut& k : {cut{0, "header"}, cut{47, "header"}, cut{600, "TD report"}, cut{632, "signature data length"},
                       cut{700, "signature data declares"}, cut{full.size() - 1, "signature data declares"}}) {
    SCOPED_TRACE(k.size);
    const bytes q(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(k.size));
    EXPECT_TRUE(rejected(verify(q, c), errc::malformed_quote, k.needle));
  }
}

TEST(VerifierMatrixHeader, InconsistentDeclaredLengthsAreMalformed) {
  // The length fields are outside the signed region: edit them after minting.
  const minted_quote base = pki().mint_detailed();
  const tdx::collateral_v3 c = pki().collateral();
  const quote_layout& l = base.layout;
  struct edit {
    const char* what;
    std::size_t offset;
    std::int64_t delta;
    bool add_trailing_byte;
    const char* needle;
  };
  const edit edits[] = {
      {"signature data length +1", l.signature_data_offset, +1, false, "signature data declares"},
      {"signature data length +1 with a trailing byte", l.signature_data_offset, +1, true,
       "QE report certification data declares"},
      {"signature data length -1", l.signature_data_offset, -1, false, "QE report certification data declares"},
      {"certification data size +1", l.certification_data_offset + 2, +1, false,
       "QE report certification data declares"},
      {"certification data size -1", l.certification_data_offset + 2, -1, false,
       "QE report certification data declares"},
      {"PCK chain size +1", l.inner_certification_data_offset + 2, +1, false, "PCK certificate chain declares"},
      {"PCK chain size -1", l.inner_certification_data_offset + 2, -1, false, "PCK certificate chain declares"},
  };
  for (const edit& e : edits) {
    SCOPED_TRACE(e.what);
    bytes q = base.data;
    put_u32_at(q, e.offset, static_cast<std::uint32_t>(static_cast<std::int64_t>(u32_at(q, e.offset)) + e.delta));
    if (e.add_trailing_byte) q.push_back(0);
    EXPECT_TRUE(rejected(verify(q, c), errc::malformed_quote, e.needle));
  }
  {
    SCOPED_TRACE("PCK chain size 2^32-1");
    bytes q = base.data;
    put_u32_at(q, l.inner_certification_data_offset + 2, 0xFFFFFFFFu);
    EXPECT_TRUE(rejected(verify(q, c), errc::malformed_quote, "PCK certificate chain declares"));
  }
  {
    SCOPED_TRACE("QE auth data size beyond the certification data");
    bytes q = base.data;
    put_u16_at(q, l.qe_auth_data_offset, 0xFFFF);
    EXPECT_TRUE(rejected(verify(q, c), errc::malformed_quote, "truncated QE report certification data"));
  }
  EXPECT_TRUE(verifies(verify(base.data, c))) << "control";
}

TEST(VerifierMatrixHeader, DeclaredLengthKnobsOfTheMinterAreMalformed) {
  quote_spec q;
  q.signature_data_size = 10;
  EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "truncated signature data header"));
  quote_spec inner;
  inner.inner_certification_data_size = 1;
  EXPECT_TRUE(rejected(verify(inner), errc::malformed_quote, "PCK certificate chain declares 1 bytes"));
}

// =======================================================================================
// S2/S3: PCK certificate chain (docs §2.5)

TEST(VerifierMatrixPckChain, LeafFromAnUntrustedRootIsUntrusted) {
  // A complete foreign PKI (other keys, same names). With our collateral, the quote's
  // chain ends in a root that is not the pinned anchor, checked before anything else.
  const test_pki& other = foreign_pki();
  EXPECT_TRUE(rejected(verify(other.mint(), pki().collateral()), errc::untrusted_chain,
                       "not the trusted root certificate"));
  // With the foreign PKI's own collateral the root CA CRL, checked against the pinned
  // anchor, is the first thing to fail.
  EXPECT_TRUE(rejected(verify(other.mint(), other.collateral()), errc::untrusted_chain,
                       "root CA CRL signature does not verify"));
}

TEST(VerifierMatrixPckChain, CertificateNotSignedByItsIssuerIsUntrusted) {
  // Same subjects and keys as the genuine certificates, only the signature is by a
  // foreign key: every name and key comparison passes, OpenSSL path validation fails.
  const std::string leaf = pki().issue_pck_leaf_pem(pck_leaf_spec{});
  const std::string ca = pki().pem(pki_cert::platform_ca);
  const std::string root = pki().root_pem();
  {
    SCOPED_TRACE("intermediate signed by a foreign root key");
    quote_spec q;
    q.pck_chain_pem = leaf + resigned_pem(pki().certificate(pki_cert::platform_ca), foreign_pki().key(pki_key::root)) +
                      root;
    EXPECT_TRUE(rejected(verify(q), errc::untrusted_chain, "PCK certificate chain: 'Test SGX PCK Platform CA'"));
  }
  {
    SCOPED_TRACE("leaf signed by a foreign CA key");
    const bytes der = pki().issue_pck_leaf_der(pck_leaf_spec{});
    const unsigned char* p = der.data();
    const crypto::x509_ptr cert{d2i_X509(nullptr, &p, static_cast<long>(der.size()))};
    ASSERT_TRUE(cert);
    quote_spec q;
    q.pck_chain_pem = resigned_pem(cert.get(), foreign_pki().key(pki_key::platform_ca)) + ca + root;
    EXPECT_TRUE(rejected(verify(q), errc::untrusted_chain, "PCK certificate chain: 'Test SGX PCK Certificate'"));
  }
  {
    quote_spec q;
    q.pck_chain_pem = leaf + ca + root;
    EXPECT_TRUE(verifies(verify(q))) << "control: the genuine certificates";
  }
}

TEST(VerifierMatrixPckChain, RootWithSameKeyButOtherBytesIsUntrusted) {
  pki_spec s;
  s.root.serial = 0x1002;
  const test_pki r = pki().reissue(s);
  // Same names and keys: both CRLs of pki() verify against r's certificates; only the
  // root bytes differ from the anchor.
  EXPECT_TRUE(rejected(verify(r.mint(), pki().collateral()), errc::untrusted_chain,
                       "not the trusted root certificate"));
  // Control: r's re-issued intermediate (same key, same name) under the pinned root is
  // accepted, as Intel's re-issued certificates must be.
  quote_spec q;
  q.pck_chain_pem = r.issue_pck_leaf_pem(q.pck) + r.pem(pki_cert::platform_ca) + pki().root_pem();
  EXPECT_TRUE(verifies(verify(r.mint(q), pki().collateral())));
}

TEST(VerifierMatrixPckChain, ChainsOfTwoOrFourCertificatesAreUntrusted) {
  const std::string leaf = pki().issue_pck_leaf_pem(pck_leaf_spec{});
  const std::string ca = pki().pem(pki_cert::platform_ca);
  const std::string root = pki().root_pem();
  quote_spec two;
  two.pck_chain_pem = leaf + ca;
  EXPECT_TRUE(rejected(verify(two), errc::untrusted_chain, "has 2 certificates, expected 3"));
  quote_spec four;
  four.pck_chain_pem = leaf + ca + root + root;
  EXPECT_TRUE(rejected(verify(four), errc::untrusted_chain, "has 4 certificates, expected 3"));
  quote_spec one;
  one.pck_chain_pem = leaf;
  EXPECT_TRUE(rejected(verify(one), errc::untrusted_chain, "has 1 certificates, expected 3"));
  quote_spec three;
  three.pck_chain_pem = leaf + ca + root;
  EXPECT_TRUE(verifies(verify(three))) << "control: the same pieces as a 3-certificate chain";
}

TEST(VerifierMatrixPckChain, WrongCommonNamesAreUntrusted) {
  {
    SCOPED_TRACE("leaf");
    quote_spec q;
    q.pck.cert.common_name = "Test SGX Platform Key";
    EXPECT_TRUE(rejected(verify(q), errc::untrusted_chain, "'Test SGX Platform Key'"));
  }
  {
    SCOPED_TRACE("intermediate");
    pki_spec s;
    s.platform_ca.common_name = "Test SGX PCK Platform Issuer";  // no "CA"
    EXPECT_TRUE(rejected(verify_on(pki().reissue(s)), errc::untrusted_chain, "'Test SGX PCK Platform Issuer'"));
  }
  {
    SCOPED_TRACE("root");
    pki_spec s;
    s.root.common_name = "Test SGX Root";  // no "SGX Root CA"
    EXPECT_TRUE(rejected(verify_on(pki().reissue(s)), errc::untrusted_chain, "'Test SGX Root'"));
  }
}

TEST(VerifierMatrixPckChain, GarbagePemIsMalformed) {
  for (const char* pem : {"garbage", "",
                          "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"}) {
    SCOPED_TRACE(pem);
    quote_spec q;
    q.pck_chain_pem = pem;
    EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "PCK certificate chain"));
  }
}

TEST(VerifierMatrixPckChain, PckLeafRevokedInPckCrl) {
  collateral_spec c;
  c.pck_crl.revoked_serials = {0x1234, quote_spec{}.pck.cert.serial};
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::certificate_revoked, "'Test SGX PCK Certificate'"));
  // Processor chain, processor CRL.
  quote_spec q;
  q.pck.issuer = pck_ca_type::processor;
  c.pck_crl_issuer = pck_ca_type::processor;
  EXPECT_TRUE(rejected(verify(q, c), errc::certificate_revoked, "'Test SGX PCK Certificate'"));
}

TEST(VerifierMatrixPckChain, IntermediateRevokedInRootCrl) {
  collateral_spec c;
  c.root_ca_crl.revoked_serials = {pki_spec{}.platform_ca.serial};
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::certificate_revoked, "'Test SGX PCK Platform CA'"));
}

TEST(VerifierMatrixPckChain, RootListedOnItsOwnCrlIsRevoked) {
  collateral_spec c;
  c.root_ca_crl.revoked_serials = {pki_spec{}.root.serial};
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::certificate_revoked, "'Test SGX Root CA'"));
}

TEST(VerifierMatrixPckChain, TcbSigningCertificateRevokedInRootCrl) {
  collateral_spec c;
  c.root_ca_crl.revoked_serials = {pki_spec{}.tcb_signing.serial};
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::certificate_revoked, "'Test SGX TCB Signing'"));
}

TEST(VerifierMatrixPckChain, RevocationIsScopedToTheIssuer) {
  // A serial listed by a CRL of another issuer revokes nothing: the root CRL naming the
  // leaf's serial, the PCK CRL naming the intermediate's, the Processor CA revoked while
  // the quote chains through the Platform CA.
  collateral_spec c;
  c.root_ca_crl.revoked_serials = {quote_spec{}.pck.cert.serial, pki_spec{}.processor_ca.serial};
  c.pck_crl.revoked_serials = {pki_spec{}.platform_ca.serial, pki_spec{}.root.serial};
  EXPECT_TRUE(verifies(verify(quote_spec{}, c)));
}

TEST(VerifierMatrixPckChain, PckCrlIssuerChainMustLeadToTheAnchor) {
  tdx::collateral_v3 c = pki().collateral();
  c.pck_crl_issuer_chain = foreign_pki().pck_crl_issuer_chain_pem(pck_ca_type::platform);
  EXPECT_TRUE(rejected(verify(pki().mint(), c), errc::untrusted_chain, "PCK CRL issuer chain"));
}

// =======================================================================================
// S1: CRLs (docs §2.4)

TEST(VerifierMatrixCrl, PckCrlFromTheOtherIntermediateIsUntrusted) {
  {
    SCOPED_TRACE("platform leaf, processor CRL");
    collateral_spec c;
    c.pck_crl_issuer = pck_ca_type::processor;
    EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::untrusted_chain, "PCK CRL is issued by"));
  }
  {
    SCOPED_TRACE("processor leaf, platform CRL");
    quote_spec q;
    q.pck.issuer = pck_ca_type::processor;
    EXPECT_TRUE(rejected(verify(q), errc::untrusted_chain, "PCK CRL is issued by"));
  }
}

TEST(VerifierMatrixCrl, PckCrlWithTheRightNameButAnotherKeyIsUntrusted) {
  // A Processor CA re-issued under the Platform CA's name signs the PCK CRL: the issuer
  // name matches, the signature does not.
  pki_spec s;
  s.processor_ca.common_name = pki_spec{}.platform_ca.common_name;
  const test_pki r = pki().reissue(s);
  tdx::collateral_v3 c = pki().collateral();
  c.pck_crl = r.issue_crl(pki_cert::processor_ca, collateral_spec{}.pck_crl);
  EXPECT_TRUE(rejected(verify(pki().mint(), c), errc::untrusted_chain, "PCK CRL signature does not verify"));
}

TEST(VerifierMatrixCrl, CorruptCrlSignaturesAreUntrusted) {
  collateral_spec pck;
  pck.pck_crl.corrupt_signature = true;
  EXPECT_TRUE(rejected(verify(quote_spec{}, pck), errc::untrusted_chain, "PCK CRL signature does not verify"));
  collateral_spec root;
  root.root_ca_crl.corrupt_signature = true;
  EXPECT_TRUE(rejected(verify(quote_spec{}, root), errc::untrusted_chain, "root CA CRL signature does not verify"));
}

TEST(VerifierMatrixCrl, MissingCrlNumberOrAkiIsMalformed) {
  struct scenario {
    const char* what;
    collateral_spec c;
    const char* needle;
  };
  std::vector<scenario> scenarios(4);
  scenarios[0] = {"PCK CRL without CRL Number", {}, "PCK CRL lacks"};
  scenarios[0].c.pck_crl.crl_number_extension = false;
  scenarios[1] = {"PCK CRL without AKI", {}, "PCK CRL lacks"};
  scenarios[1].c.pck_crl.authority_key_identifier = false;
  scenarios[2] = {"root CRL without CRL Number", {}, "root CA CRL lacks"};
  scenarios[2].c.root_ca_crl.crl_number_extension = false;
  scenarios[3] = {"root CRL without AKI", {}, "root CA CRL lacks"};
  scenarios[3].c.root_ca_crl.authority_key_identifier = false;
  for (const auto& s : scenarios) {
    SCOPED_TRACE(s.what);
    EXPECT_TRUE(rejected(verify(quote_spec{}, s.c), errc::malformed_collateral, s.needle));
  }
}

TEST(VerifierMatrixCrl, ExpiredCrlsAreExpiredCollateral) {
  collateral_spec pck;
  pck.pck_crl.next_update = default_time - one_second;
  EXPECT_TRUE(rejected(verify(quote_spec{}, pck), errc::collateral_expired, "PCK CRL expired"));
  collateral_spec root;
  root.root_ca_crl.next_update = default_time - one_second;
  EXPECT_TRUE(rejected(verify(quote_spec{}, root), errc::collateral_expired, "root CA CRL expired"));
}

TEST(VerifierMatrixCrl, CrlsNotYetValidAreNotYetValidCollateral) {
  collateral_spec pck;
  pck.pck_crl.this_update = default_time + one_second;
  EXPECT_TRUE(rejected(verify(quote_spec{}, pck), errc::collateral_not_yet_valid, "PCK CRL is not valid yet"));
  collateral_spec root;
  root.root_ca_crl.this_update = default_time + one_second;
  EXPECT_TRUE(
      rejected(verify(quote_spec{}, root), errc::collateral_not_yet_valid, "root CA CRL is not valid yet"));
}

TEST(VerifierMatrixCrl, GarbageCrlBytesAreMalformed) {
  const bytes q = pki().mint();
  tdx::collateral_v3 pck = pki().collateral();
  pck.pck_crl = {0x30, 0x03, 0x02, 0x01, 0x01};
  EXPECT_TRUE(rejected(verify(q, pck), errc::malformed_collateral, "PCK CRL does not parse"));
  tdx::collateral_v3 root = pki().collateral();
  root.root_ca_crl.clear();
  EXPECT_TRUE(rejected(verify(q, root), errc::malformed_collateral, "root CA CRL does not parse"));
  tdx::collateral_v3 trailing = pki().collateral();
  trailing.pck_crl.push_back(0x00);
  EXPECT_TRUE(rejected(verify(q, trailing), errc::malformed_collateral, "PCK CRL does not parse"));
}

// =======================================================================================
// Validity windows: inclusive at both ends (RFC 5280; docs §2.15)

TEST(VerifierMatrixTimes, TcbInfoWindow) {
  collateral_spec c;
  c.tcb_info.issue_date = window_start;
  c.tcb_info.next_update = window_end;
  const bytes q = pki().mint();
  const tdx::collateral_v3 coll = pki().collateral(c);
  EXPECT_TRUE(verifies(verify(q, coll, window_start)));
  EXPECT_TRUE(verifies(verify(q, coll, window_end)));
  EXPECT_TRUE(rejected(verify(q, coll, window_start - one_second), errc::collateral_not_yet_valid, "TCB info"));
  EXPECT_TRUE(rejected(verify(q, coll, window_end + one_second), errc::collateral_expired, "TCB info expired"));
}

TEST(VerifierMatrixTimes, QeIdentityWindow) {
  collateral_spec c;
  c.qe_identity.issue_date = window_start;
  c.qe_identity.next_update = window_end;
  const bytes q = pki().mint();
  const tdx::collateral_v3 coll = pki().collateral(c);
  EXPECT_TRUE(verifies(verify(q, coll, window_start)));
  EXPECT_TRUE(verifies(verify(q, coll, window_end)));
  EXPECT_TRUE(rejected(verify(q, coll, window_start - one_second), errc::collateral_not_yet_valid, "QE identity"));
  EXPECT_TRUE(rejected(verify(q, coll, window_end + one_second), errc::collateral_expired, "QE identity expired"));
}

TEST(VerifierMatrixTimes, PckCrlWindow) {
  collateral_spec c;
  c.pck_crl.this_update = window_start;
  c.pck_crl.next_update = window_end;
  const bytes q = pki().mint();
  const tdx::collateral_v3 coll = pki().collateral(c);
  EXPECT_TRUE(verifies(verify(q, coll, window_start)));
  EXPECT_TRUE(verifies(verify(q, coll, window_end)));
  EXPECT_TRUE(rejected(verify(q, coll, window_start - one_second), errc::collateral_not_yet_valid, "PCK CRL"));
  EXPECT_TRUE(rejected(verify(q, coll, window_end + one_second), errc::collateral_expired, "PCK CRL expired"));
}

TEST(VerifierMatrixTimes, RootCaCrlWindow) {
  collateral_spec c;
  c.root_ca_crl.this_update = window_start;
  c.root_ca_crl.next_update = window_end;
  const bytes q = pki().mint();
  const tdx::collateral_v3 coll = pki().collateral(c);
  EXPECT_TRUE(verifies(verify(q, coll, window_start)));
  EXPECT_TRUE(verifies(verify(q, coll, window_end)));
  EXPECT_TRUE(rejected(verify(q, coll, window_start - one_second), errc::collateral_not_yet_valid, "root CA CRL"));
  EXPECT_TRUE(rejected(verify(q, coll, window_end + one_second), errc::collateral_expired, "root CA CRL expired"));
}

TEST(VerifierMatrixTimes, PckLeafValidity) {
  quote_spec q;
  q.pck.cert.not_before = window_start;
  q.pck.cert.not_after = window_end;
  const bytes quote = pki().mint(q);
  const tdx::collateral_v3 coll = pki().collateral();
  EXPECT_TRUE(verifies(verify(quote, coll, window_start)));
  EXPECT_TRUE(verifies(verify(quote, coll, window_end)));
  EXPECT_TRUE(rejected(verify(quote, coll, window_start - one_second), errc::certificate_not_yet_valid,
                       "'Test SGX PCK Certificate'"));
  EXPECT_TRUE(rejected(verify(quote, coll, window_end + one_second), errc::certificate_expired,
                       "'Test SGX PCK Certificate'"));
}

/// The long-lived certificate `which` of a re-issued PKI gets the test window.
void expect_reissued_certificate_window(cert_spec pki_spec::*which, const char* cn) {
  pki_spec s;
  (s.*which).not_before = window_start;
  (s.*which).not_after = window_end;
  const test_pki r = pki().reissue(s);
  const auto a = anchor_of(r);
  const bytes quote = r.mint();
  const tdx::collateral_v3 coll = r.collateral();
  const auto at = [&](unix_time t) { return tdx::verify_quote(quote, coll, *a, t); };
  EXPECT_TRUE(verifies(at(window_start)));
  EXPECT_TRUE(verifies(at(window_end)));
  EXPECT_TRUE(rejected(at(window_start - one_second), errc::certificate_not_yet_valid, cn));
  EXPECT_TRUE(rejected(at(window_end + one_second), errc::certificate_expired, cn));
}

TEST(VerifierMatrixTimes, IntermediateValidity) {
  expect_reissued_certificate_window(&pki_spec::platform_ca, "'Test SGX PCK Platform CA'");
}

TEST(VerifierMatrixTimes, TcbSigningValidity) {
  expect_reissued_certificate_window(&pki_spec::tcb_signing, "'Test SGX TCB Signing'");
}

TEST(VerifierMatrixTimes, RootValidity) {
  expect_reissued_certificate_window(&pki_spec::root, "'Test SGX Root CA'");
}

// =======================================================================================
// S4/S5: TCB info and QE identity signatures and issuer chains (docs §2.6, §2.7)

TEST(VerifierMatrixCollateralSignature, CorruptSignatures) {
  collateral_spec tcb;
  tcb.corrupt_tcb_info_signature = true;
  EXPECT_TRUE(rejected(verify(quote_spec{}, tcb), errc::invalid_signature, "TCB info signature"));
  collateral_spec qe;
  qe.corrupt_qe_identity_signature = true;
  EXPECT_TRUE(rejected(verify(quote_spec{}, qe), errc::invalid_signature, "QE identity signature"));
}

TEST(VerifierMatrixCollateralSignature, TextChangedAfterSigning) {
  const bytes q = pki().mint();
  {
    SCOPED_TRACE("tcbInfo");
    tdx::collateral_v3 c = pki().collateral();
    tcb_info_spec other;
    other.tcb_evaluation_data_number = 18;
    c.tcb_info = test_pki::tcb_info_json(other);  // parses, but is not what was signed
    EXPECT_TRUE(rejected(verify(q, c), errc::invalid_signature, "TCB info signature"));
  }
  {
    SCOPED_TRACE("enclaveIdentity");
    tdx::collateral_v3 c = pki().collateral();
    qe_identity_spec other;
    other.levels[0].status = "OutOfDate";
    c.qe_identity = test_pki::qe_identity_json(other);
    EXPECT_TRUE(rejected(verify(q, c), errc::invalid_signature, "QE identity signature"));
  }
  {
    SCOPED_TRACE("same JSON value, other bytes (whitespace)");
    tdx::collateral_v3 c = pki().collateral();
    c.tcb_info = " " + c.tcb_info;
    EXPECT_TRUE(rejected(verify(q, c), errc::invalid_signature, "TCB info signature"));
  }
}

TEST(VerifierMatrixCollateralSignature, SignerWithoutTcbSigningCommonNameIsUntrusted) {
  // Same key, same issuer, other CN: only the CN check can reject.
  pki_spec s;
  s.tcb_signing.common_name = "Test SGX Collateral Signer";
  const std::string renamed = pki().reissue(s).pem(pki_cert::tcb_signing) + pki().root_pem();
  const std::string renewed = pki().reissue(pki_spec{}).pem(pki_cert::tcb_signing) + pki().root_pem();
  const bytes q = pki().mint();
  {
    tdx::collateral_v3 c = pki().collateral();
    c.tcb_info_issuer_chain = renamed;
    EXPECT_TRUE(rejected(verify(q, c), errc::untrusted_chain, "'Test SGX Collateral Signer'"));
  }
  {
    tdx::collateral_v3 c = pki().collateral();
    c.qe_identity_issuer_chain = renamed;
    EXPECT_TRUE(rejected(verify(q, c), errc::untrusted_chain, "'Test SGX Collateral Signer'"));
  }
  {
    // Control: a renewed TCB signing certificate (same key and name, new bytes), as
    // Intel issued in May 2025, is accepted.
    tdx::collateral_v3 c = pki().collateral();
    c.tcb_info_issuer_chain = renewed;
    c.qe_identity_issuer_chain = renewed;
    EXPECT_TRUE(verifies(verify(q, c)));
  }
  {
    // A PCK CA is not a TCB signer.
    tdx::collateral_v3 c = pki().collateral();
    c.tcb_info_issuer_chain = pki().pck_crl_issuer_chain_pem(pck_ca_type::platform);
    EXPECT_TRUE(rejected(verify(q, c), errc::untrusted_chain, "'Test SGX PCK Platform CA'"));
  }
}

TEST(VerifierMatrixCollateralSignature, IssuerChainsMustEndInTheAnchor) {
  const bytes q = pki().mint();
  pki_spec same_key;
  same_key.root.serial = 0x1002;
  const test_pki r = pki().reissue(same_key);
  const std::string foreign_root = pki().pem(pki_cert::tcb_signing) + foreign_pki().root_pem();
  const std::string reissued_root = pki().pem(pki_cert::tcb_signing) + r.root_pem();
  for (const std::string* chain : {&foreign_root, &reissued_root}) {
    tdx::collateral_v3 tcb = pki().collateral();
    tcb.tcb_info_issuer_chain = *chain;
    EXPECT_TRUE(rejected(verify(q, tcb), errc::untrusted_chain, "TCB info issuer chain ends in"));
    tdx::collateral_v3 qe = pki().collateral();
    qe.qe_identity_issuer_chain = *chain;
    EXPECT_TRUE(rejected(verify(q, qe), errc::untrusted_chain, "QE identity issuer chain ends in"));
  }
}

TEST(VerifierMatrixCollateralSignature, IssuerChainsMustBeSignedByTheAnchor) {
  // A foreign TCB signing certificate placed under our root: its signature fails.
  const bytes q = pki().mint();
  const std::string chain = foreign_pki().pem(pki_cert::tcb_signing) + pki().root_pem();
  tdx::collateral_v3 tcb = pki().collateral();
  tcb.tcb_info_issuer_chain = chain;
  EXPECT_TRUE(rejected(verify(q, tcb), errc::untrusted_chain, "TCB info issuer chain"));
  tdx::collateral_v3 qe = pki().collateral();
  qe.qe_identity_issuer_chain = chain;
  EXPECT_TRUE(rejected(verify(q, qe), errc::untrusted_chain, "QE identity issuer chain"));
}

TEST(VerifierMatrixCollateralSignature, IssuerChainsMustHaveExactlyTwoCertificates) {
  const bytes q = pki().mint();
  const std::string signer = pki().pem(pki_cert::tcb_signing);
  const std::string root = pki().root_pem();
  for (const std::string& chain : {signer, signer + root + root}) {
    tdx::collateral_v3 tcb = pki().collateral();
    tcb.tcb_info_issuer_chain = chain;
    EXPECT_TRUE(rejected(verify(q, tcb), errc::untrusted_chain, "expected 2"));
    tdx::collateral_v3 qe = pki().collateral();
    qe.qe_identity_issuer_chain = chain;
    EXPECT_TRUE(rejected(verify(q, qe), errc::untrusted_chain, "expected 2"));
  }
  tdx::collateral_v3 garbage = pki().collateral();
  garbage.tcb_info_issuer_chain = "not PEM";
  EXPECT_TRUE(rejected(verify(q, garbage), errc::malformed_collateral, "TCB info issuer chain"));
}

TEST(VerifierMatrixCollateralSignature, SignatureOfWrongLengthIsMalformed) {
  const bytes q = pki().mint();
  tdx::collateral_v3 tcb = pki().collateral();
  tcb.tcb_info_signature.pop_back();
  EXPECT_TRUE(rejected(verify(q, tcb), errc::malformed_collateral, "TCB info signature"));
  tdx::collateral_v3 qe = pki().collateral();
  qe.qe_identity_signature.push_back(0);
  EXPECT_TRUE(rejected(verify(q, qe), errc::malformed_collateral, "QE identity signature"));
}

TEST(VerifierMatrixCollateralSignature, WrongIdOrVersionIsMalformed) {
  struct scenario {
    const char* what;
    collateral_spec c;
    const char* needle;
  };
  std::vector<scenario> scenarios(5);
  scenarios[0] = {"tcbInfo id SGX", {}, "\"SGX\" is not \"TDX\""};
  scenarios[0].c.tcb_info.id = "SGX";
  scenarios[1] = {"tcbInfo version 2", {}, "version: 2 is not 3"};
  scenarios[1].c.tcb_info.version = 2;
  scenarios[2] = {"enclaveIdentity id QE", {}, "\"QE\" is not \"TD_QE\""};
  scenarios[2].c.qe_identity.id = "QE";
  scenarios[3] = {"enclaveIdentity version 1", {}, "version: 1 is not 2"};
  scenarios[3].c.qe_identity.version = 1;
  scenarios[4] = {"enclaveIdentity version 3", {}, "version: 3 is not 2"};
  scenarios[4].c.qe_identity.version = 3;
  for (const auto& s : scenarios) {
    SCOPED_TRACE(s.what);
    EXPECT_TRUE(rejected(verify(quote_spec{}, s.c), errc::malformed_collateral, s.needle));
  }
}

TEST(VerifierMatrixCollateralSignature, UnknownStatusStringIsUnknownTcbStatus) {
  {
    SCOPED_TRACE("platform level");
    collateral_spec c;
    c.tcb_info.levels[1].status = "Unknown";
    EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::unknown_tcb_status, "\"Unknown\""));
  }
  {
    SCOPED_TRACE("module level");
    collateral_spec c;
    module_identity(c, "TDX_03").levels[0].status = "uptodate";
    EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::unknown_tcb_status, "\"uptodate\""));
  }
  {
    SCOPED_TRACE("QE level");
    collateral_spec c;
    c.qe_identity.levels[1].status = "Fine";
    EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::unknown_tcb_status, "\"Fine\""));
  }
  {
    SCOPED_TRACE("matched module level with a platform-only status");
    // Defined for platform levels, not for modules (Intel VALID_MODULE_TCB_STATUSES).
    collateral_spec c;
    module_identity(c, "TDX_01").levels[0].status = "ConfigurationNeeded";
    EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::unknown_tcb_status, "ConfigurationNeeded"));
  }
}

// =======================================================================================
// S6: the SGX extension of the PCK leaf (docs §2.8)

TEST(VerifierMatrixSgxExtension, FmspcMismatch) {
  quote_spec q;
  q.pck.sgx.fmspc[5] = 0x01;
  EXPECT_TRUE(rejected(verify(q), errc::fmspc_mismatch, "FMSPC 90C06F000001 != TCB info FMSPC 90C06F000000"));
  collateral_spec c;
  c.tcb_info.fmspc[0] = 0x00;
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::fmspc_mismatch, "FMSPC"));
}

TEST(VerifierMatrixSgxExtension, PceIdMismatch) {
  quote_spec q;
  q.pck.sgx.pce_id = {0x01, 0x00};
  EXPECT_TRUE(rejected(verify(q), errc::pceid_mismatch, "PCE-ID 0100 != TCB info PCE-ID 0000"));
}

TEST(VerifierMatrixSgxExtension, WrongEntryCountsAreMalformed) {
  {
    SCOPED_TRACE("6 top-level entries");
    quote_spec q;
    q.pck.sgx.omit_entries = {7};
    EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "has 6 entries"));
  }
  for (std::size_t n : {std::size_t{17}, std::size_t{19}}) {
    SCOPED_TRACE(n);
    quote_spec q;
    q.pck.sgx.tcb_entry_count = n;
    EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "TCB has " + std::to_string(n) + " entries"));
  }
}

TEST(VerifierMatrixSgxExtension, OutOfRangeSvnsAreMalformed) {
  quote_spec q;
  q.pck.sgx.tcb_components[3] = 256;
  EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "TCB component 4"));
  quote_spec negative;
  negative.pck.sgx.tcb_components[0] = -1;
  EXPECT_TRUE(rejected(verify(negative), errc::malformed_quote, "TCB component 1"));
  quote_spec pcesvn;
  pcesvn.pck.sgx.pce_svn = 65536;
  EXPECT_TRUE(rejected(verify(pcesvn), errc::malformed_quote, "PCESVN"));
}

TEST(VerifierMatrixSgxExtension, MissingExtensionIsMalformed) {
  quote_spec q;
  q.pck.sgx.omit = true;
  EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "SGX extension: missing"));
  quote_spec garbage;
  garbage.pck.sgx.raw_value = bytes{0x04, 0x01, 0x00};
  EXPECT_TRUE(rejected(verify(garbage), errc::malformed_quote, "SGX extension"));
}

TEST(VerifierMatrixSgxExtension, ExtensionShapeMustMatchTheIssuingCa) {
  quote_spec platform5;
  platform5.pck.sgx.platform_entries = false;  // Processor-CA shape under the Platform CA
  EXPECT_TRUE(rejected(verify(platform5), errc::untrusted_chain, "processor-CA SGX extension"));
  quote_spec processor7;
  processor7.pck.issuer = pck_ca_type::processor;
  processor7.pck.sgx.platform_entries = true;
  collateral_spec c;
  c.pck_crl_issuer = pck_ca_type::processor;
  EXPECT_TRUE(rejected(verify(processor7, c), errc::untrusted_chain, "platform-CA SGX extension"));
}

// =======================================================================================
// S7-S9: QE report signature, binding and identity (docs §2.9, §2.10)

TEST(VerifierMatrixQe, CorruptQeReportSignature) {
  quote_spec q;
  q.corrupt_qe_report_signature = true;
  EXPECT_TRUE(rejected(verify(q), errc::invalid_signature, "QE report signature"));
}

TEST(VerifierMatrixQe, QeReportSignedByAnotherPckKeyIsInvalid) {
  // A valid signature over the same 384 bytes, by a key other than the PCK leaf's.
  minted_quote m = pki().mint_detailed();
  const bytes sig = foreign_pki().sign(pki_key::pck_leaf, byte_view{m.data.data() + m.layout.qe_report_offset,
                                                                    tdx::enclave_report_size});
  std::copy(sig.begin(), sig.end(), m.data.begin() + static_cast<std::ptrdiff_t>(m.layout.qe_report_signature_offset));
  EXPECT_TRUE(rejected(verify(m.data, pki().collateral()), errc::invalid_signature, "QE report signature"));
}

TEST(VerifierMatrixQe, ReportDataNotBindingTheKey) {
  {
    SCOPED_TRACE("report data override");
    quote_spec q;
    q.qe_report_data = std::array<std::uint8_t, 64>{};
    EXPECT_TRUE(rejected(verify(q), errc::qe_report_binding, "QE report data"));
  }
  {
    SCOPED_TRACE("upper 32 bytes non-zero");
    minted_quote m = pki().mint_detailed();
    m.data[m.layout.qe_report_offset + 320 + 63] = 0x01;
    pki().resign_qe_report(m);
    EXPECT_TRUE(rejected(verify(m.data, pki().collateral()), errc::qe_report_binding, "QE report data"));
  }
  {
    SCOPED_TRACE("QE auth data changed after the QE hashed it");
    minted_quote m = pki().mint_detailed();
    m.data[m.layout.qe_auth_data_offset + 2] ^= 0x01;
    EXPECT_TRUE(rejected(verify(m.data, pki().collateral()), errc::qe_report_binding, "QE report data"));
  }
}

TEST(VerifierMatrixQe, IdentityFieldsUnderTheMaskMustMatch) {
  struct scenario {
    const char* what;
    quote_spec q;
    const char* needle;
  };
  std::vector<scenario> scenarios(6);
  scenarios[0] = {"MRSIGNER", {}, "QE MRSIGNER"};
  scenarios[0].q.qe_report.mr_signer[31] ^= 0x01;
  scenarios[1] = {"ISVPRODID", {}, "QE ISVPRODID 3 != isvprodid 2"};
  scenarios[1].q.qe_report.isv_prod_id = 3;
  scenarios[2] = {"MISCSELECT", {}, "QE MISCSELECT"};
  scenarios[2].q.qe_report.misc_select = 1;
  scenarios[3] = {"ATTRIBUTES DEBUG bit", {}, "QE ATTRIBUTES"};
  scenarios[3].q.qe_report.attributes[0] |= 0x02;
  scenarios[4] = {"ATTRIBUTES bit 0 cleared", {}, "QE ATTRIBUTES"};
  scenarios[4].q.qe_report.attributes[0] = 0x14;
  scenarios[5] = {"ATTRIBUTES byte 7", {}, "QE ATTRIBUTES"};
  scenarios[5].q.qe_report.attributes[7] = 0x80;
  for (const auto& s : scenarios) {
    SCOPED_TRACE(s.what);
    EXPECT_TRUE(rejected(verify(s.q), errc::qe_identity_mismatch, s.needle));
  }
}

TEST(VerifierMatrixQe, BitsOutsideTheMasksDoNotMatter) {
  quote_spec q;
  q.qe_report.attributes[0] = 0x11;  // bit 2 is outside attributesMask FB
  for (std::size_t i = 8; i < 16; ++i) q.qe_report.attributes[i] = 0xFF;  // mask bytes 8..15 are 0
  q.qe_report.mr_enclave[0] ^= 0xFF;  // MRENCLAVE is not part of the identity
  EXPECT_TRUE(verifies(verify(q)));
  quote_spec misc;
  misc.qe_report.misc_select = 1;
  collateral_spec c;
  c.qe_identity.misc_select_mask = 0xFFFFFFFE;
  EXPECT_TRUE(verifies(verify(misc, c)));
}

TEST(VerifierMatrixQe, IsvSvnBelowEveryLevelHasNoMatchingLevel) {
  quote_spec q;
  q.qe_report.isv_svn = 1;  // levels 4 and 2
  EXPECT_TRUE(rejected(verify(q), errc::no_matching_tcb_level, "QE ISVSVN 1"));
}

TEST(VerifierMatrixQe, OutOfDateQeLevel) {
  quote_spec q;
  q.qe_report.isv_svn = 3;  // matches {2: OutOfDate, INTEL-SA-00837}
  const auto r = verify(q);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->status), "OutOfDate");
  EXPECT_EQ(name(r->qe_status), "OutOfDate");
  EXPECT_EQ(name(r->platform_status), "UpToDate");
  EXPECT_EQ(r->advisory_ids, std::vector<std::string>{"INTEL-SA-00837"});
}

TEST(VerifierMatrixQe, QeLevelsAreWalkedInJsonOrder) {
  // Intel does not sort QE levels: the first entry with isvsvn <= ISVSVN wins.
  collateral_spec c;
  c.qe_identity.levels = {{2, utc_date(2023, 8, 9), "OutOfDate", {"INTEL-SA-00837"}},
                          {4, utc_date(2024, 3, 13), "UpToDate", {}}};
  const auto r = verify(quote_spec{}, c);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->qe_status), "OutOfDate");
}

TEST(VerifierMatrixQe, RevokedQeLevel) {
  quote_spec q;
  q.qe_report.isv_svn = 3;
  collateral_spec c;
  c.qe_identity.levels[1].status = "Revoked";
  EXPECT_TRUE(rejected(verify(q, c), errc::tcb_revoked, "QE level Revoked"));
}

// =======================================================================================
// S10: quote signature (docs §2.11)

TEST(VerifierMatrixQuoteSignature, CorruptSignature) {
  quote_spec q;
  q.corrupt_quote_signature = true;
  EXPECT_TRUE(rejected(verify(q), errc::invalid_signature, "quote signature"));
}

TEST(VerifierMatrixQuoteSignature, BodyEditedWithoutResigning) {
  minted_quote m = pki().mint_detailed();
  m.data[m.layout.body_offset + 520] ^= 0x01;  // REPORTDATA
  const tdx::collateral_v3 c = pki().collateral();
  EXPECT_TRUE(rejected(verify(m.data, c), errc::invalid_signature, "quote signature"));
  pki().resign_quote(m);
  EXPECT_TRUE(verifies(verify(m.data, c))) << "control: the same edit, re-signed";
}

TEST(VerifierMatrixQuoteSignature, V5DescriptorIsSigned) {
  minted_quote m = pki().mint_detailed(quote_spec::v5(tdx::body_type_td15));
  minted_quote last = m;
  // The last TD 1.5 byte (MRSERVICETD) proves the whole 648-byte body is signed.
  last.data[last.layout.signed_size - 1] ^= 0x01;
  EXPECT_TRUE(rejected(verify(last.data, pki().collateral()), errc::invalid_signature, "quote signature"));
}

TEST(VerifierMatrixQuoteSignature, AttestationKeyNotOnTheCurveIsMalformed) {
  quote_spec q;
  std::array<std::uint8_t, 64> bogus{};
  bogus.fill(0x01);  // the QE report still binds these bytes: only the point check fails
  q.attestation_key = bogus;
  EXPECT_TRUE(rejected(verify(q), errc::malformed_quote, "not a point on P-256"));
}

TEST(VerifierMatrixQuoteSignature, ReplacedAttestationKey) {
  // The QE vouches for a valid key that did not sign: the binding holds, the signature
  // does not.
  quote_spec q;
  q.attestation_key = pki().public_xy(pki_key::root);
  EXPECT_TRUE(rejected(verify(q), errc::invalid_signature, "quote signature"));
  // The key swapped in the quote after the QE report was made: the binding check (S8)
  // runs before the quote signature (S10) and rejects first.
  minted_quote m = pki().mint_detailed();
  const auto other = pki().public_xy(pki_key::tcb_signing);
  std::copy(other.begin(), other.end(), m.data.begin() + static_cast<std::ptrdiff_t>(m.layout.attestation_key_offset));
  EXPECT_TRUE(rejected(verify(m.data, pki().collateral()), errc::qe_report_binding, "QE report data"));
}

// =======================================================================================
// S17: TD attributes (docs §2.18)

TEST(VerifierMatrixTd, DebugTdIsRejected) {
  quote_spec q;
  q.td.td_attributes[0] |= 0x01;
  EXPECT_TRUE(rejected(verify(q), errc::debug_td, "DEBUG"));
}

TEST(VerifierMatrixTd, SeptVeDisableClearedStillVerifies) {
  quote_spec q;
  q.td.td_attributes[3] = 0x00;
  const auto r = verify(q);
  ASSERT_TRUE(verifies(r));
  EXPECT_FALSE(r->td.sept_ve_disable());
  EXPECT_FALSE(r->td.debug());
  EXPECT_EQ(r->td.td_attributes, q.td.td_attributes);
}

// =======================================================================================
// S11: TDX module identity (docs §2.12)

TEST(VerifierMatrixTdxModule, NonZeroMrSignerSeam) {
  quote_spec q;
  q.td.mr_signer_seam[0] = 0x01;
  EXPECT_TRUE(rejected(verify(q), errc::tdx_module_mismatch, "MRSIGNERSEAM"));
  quote_spec legacy = q;  // TDX 1.0 module: judged by tcbInfo.tdxModule
  legacy.td.tee_tcb_svn[1] = 0;
  EXPECT_TRUE(rejected(verify(legacy), errc::tdx_module_mismatch, "tcbInfo.tdxModule"));
}

TEST(VerifierMatrixTdxModule, NonZeroSeamAttributes) {
  quote_spec q;
  q.td.seam_attributes[7] = 0x80;
  EXPECT_TRUE(rejected(verify(q), errc::tdx_module_mismatch, "SEAMATTRIBUTES"));
  // Intel's literal rule: zero, whatever the mask or expected attributes say.
  collateral_spec c;
  module_identity(c, "TDX_01").attributes_mask = {};
  EXPECT_TRUE(rejected(verify(q, c), errc::tdx_module_mismatch, "SEAMATTRIBUTES"));
}

TEST(VerifierMatrixTdxModule, MissingModuleIdentity) {
  quote_spec q;
  q.td.tee_tcb_svn[1] = 2;
  EXPECT_TRUE(rejected(verify(q), errc::tdx_module_mismatch, "TDX_02"));
  // 2023-era collateral without identities, but a TDX 1.5 module.
  collateral_spec c;
  c.tcb_info.tdx_module_identities.reset();
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::tdx_module_mismatch, "TDX_01"));
}

TEST(VerifierMatrixTdxModule, ModuleMrSignerComesFromTheSelectedIdentity) {
  collateral_spec c;
  module_identity(c, "TDX_01").mr_signer[0] = 0xAA;  // the quote's MRSIGNERSEAM is zero
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::tdx_module_mismatch, "TDX module identity TDX_01"));
  quote_spec q;
  q.td.mr_signer_seam[0] = 0xAA;
  EXPECT_TRUE(verifies(verify(q, c)));
}

TEST(VerifierMatrixTdxModule, ModuleSvnBelowEveryLevel) {
  quote_spec q;
  q.td.tee_tcb_svn[0] = 1;  // TDX_01 levels 4 and 2
  EXPECT_TRUE(rejected(verify(q), errc::no_matching_tcb_level, "TDX module SVN TEE_TCB_SVN[0] = 1"));
}

TEST(VerifierMatrixTdxModule, OutOfDateModuleLevel) {
  quote_spec q;
  q.td.tee_tcb_svn[0] = 3;  // TDX_01 {2: OutOfDate}
  const auto r = verify(q);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->status), "OutOfDate");
  ASSERT_TRUE(r->tdx_module_status);
  EXPECT_EQ(name(*r->tdx_module_status), "OutOfDate");
  EXPECT_EQ(name(r->platform_status), "UpToDate");
  EXPECT_EQ(r->tdx_module_identity, "TDX_01");
}

TEST(VerifierMatrixTdxModule, RevokedModuleLevel) {
  quote_spec q;
  q.td.tee_tcb_svn[0] = 3;
  collateral_spec c;
  module_identity(c, "TDX_01").levels[1].status = "Revoked";
  EXPECT_TRUE(rejected(verify(q, c), errc::tcb_revoked, "TDX_01 level Revoked"));
}

// =======================================================================================
// S12-S16: platform TCB level and Intel's status combination (docs §2.13, §2.14)

TEST(VerifierMatrixPlatformTcb, EachLevelStatusIsReportedWithItsAdvisories) {
  const std::vector<std::string> advisories = {"INTEL-SA-00615", "INTEL-SA-00289"};
  for (const char* status : {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                             "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"}) {
    SCOPED_TRACE(status);
    collateral_spec c;
    c.tcb_info.levels[0].status = status;
    c.tcb_info.levels[0].advisory_ids = advisories;
    c.tcb_info.levels[0].tcb_date = utc_date(2024, 11, 12);
    const auto r = verify(quote_spec{}, c);
    ASSERT_TRUE(verifies(r));
    EXPECT_EQ(name(r->status), status);
    EXPECT_EQ(name(r->platform_status), status);
    EXPECT_EQ(r->advisory_ids, advisories);
    EXPECT_EQ(r->tcb_date, utc_date(2024, 11, 12));
  }
}

TEST(VerifierMatrixPlatformTcb, RevokedLevel) {
  collateral_spec c;
  c.tcb_info.levels[0].status = "Revoked";
  EXPECT_TRUE(rejected(verify(quote_spec{}, c), errc::tcb_revoked, "platform level Revoked"));
}

TEST(VerifierMatrixPlatformTcb, LowerLevelIsMatchedWithItsStatusAndDate) {
  quote_spec q;
  q.pck.sgx.pce_svn = 6;  // below the UpToDate level (11), above the OutOfDate one (5)
  const auto r = verify(q);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->status), "OutOfDate");
  EXPECT_EQ(r->tcb_date, utc_date(2018, 1, 4));
  EXPECT_EQ(r->advisory_ids, (std::vector<std::string>{"INTEL-SA-00106", "INTEL-SA-00115", "INTEL-SA-00837"}));
}

TEST(VerifierMatrixPlatformTcb, PckComponentBelowEveryLevel) {
  quote_spec q;
  q.pck.sgx.tcb_components[0] = 1;
  EXPECT_TRUE(rejected(verify(q), errc::no_matching_tcb_level, "SGX component[0] 1 < 2"));
}

TEST(VerifierMatrixPlatformTcb, PceSvnBelowEveryLevel) {
  quote_spec q;
  q.pck.sgx.pce_svn = 4;
  EXPECT_TRUE(rejected(verify(q), errc::no_matching_tcb_level, "PCESVN 4 < 5"));
}

TEST(VerifierMatrixPlatformTcb, TeeTcbSvnBelowEveryLevel) {
  quote_spec q;
  q.td.tee_tcb_svn[2] = 1;
  EXPECT_TRUE(rejected(verify(q), errc::no_matching_tcb_level, "TEE_TCB_SVN[2] 1 < 2"));
}

TEST(VerifierMatrixPlatformTcb, ModuleSvnIsSkippedWhenAModuleIdentityRatesIt) {
  // TEE_TCB_SVN 04 01 03 against levels requiring [5,0,2,…]: Intel compares from index
  // 2 when TEE_TCB_SVN[1] > 0 (automata-dcap-attestation #69).
  quote_spec q;
  q.td.tee_tcb_svn = {4, 1, 3};
  const auto r = verify(q);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->status), "UpToDate");
  // With TEE_TCB_SVN[1] == 0 index 0 counts: 4 < 5 matches no level.
  quote_spec legacy;
  legacy.td.tee_tcb_svn = {4, 0, 3};
  EXPECT_TRUE(rejected(verify(legacy), errc::no_matching_tcb_level, "TEE_TCB_SVN[0] 4 < 5"));
}

TEST(VerifierMatrixPlatformTcb, IntelStatusCombinationTable) {
  struct row {
    const char* platform;
    const char* module;  // nullptr: TEE_TCB_SVN[1] = 0, no module status
    const char* qe;
    const char* expected;  // nullptr: tcb_revoked
  };
  const row rows[] = {
      // Intel, not dcap-qvl: QE OutOfDate + ConfigurationNeeded → OutOfDateConfigurationNeeded.
      {"ConfigurationNeeded", "UpToDate", "OutOfDate", "OutOfDateConfigurationNeeded"},
      {"ConfigurationAndSWHardeningNeeded", "UpToDate", "OutOfDate", "OutOfDateConfigurationNeeded"},
      {"ConfigurationNeeded", "OutOfDate", "UpToDate", "OutOfDateConfigurationNeeded"},
      {"ConfigurationAndSWHardeningNeeded", "OutOfDate", "UpToDate", "OutOfDateConfigurationNeeded"},
      {"ConfigurationNeeded", nullptr, "OutOfDate", "OutOfDateConfigurationNeeded"},
      // SW hardening information is dropped by OutOfDate.
      {"SWHardeningNeeded", "UpToDate", "OutOfDate", "OutOfDate"},
      {"SWHardeningNeeded", "OutOfDate", "UpToDate", "OutOfDate"},
      {"UpToDate", "OutOfDate", "OutOfDate", "OutOfDate"},
      {"OutOfDate", "OutOfDate", "OutOfDate", "OutOfDate"},
      {"OutOfDateConfigurationNeeded", "UpToDate", "OutOfDate", "OutOfDateConfigurationNeeded"},
      {"OutOfDateConfigurationNeeded", "OutOfDate", "UpToDate", "OutOfDateConfigurationNeeded"},
      {"ConfigurationNeeded", "UpToDate", "UpToDate", "ConfigurationNeeded"},
      {"SWHardeningNeeded", nullptr, "UpToDate", "SWHardeningNeeded"},
      // Every QE status other than UpToDate / Revoked counts as OutOfDate (docs §2.10).
      {"UpToDate", "UpToDate", "SWHardeningNeeded", "OutOfDate"},
      {"ConfigurationNeeded", "UpToDate", "ConfigurationNeeded", "OutOfDateConfigurationNeeded"},
      // Revoked anywhere wins.
      {"ConfigurationNeeded", "Revoked", "UpToDate", nullptr},
      {"UpToDate", "UpToDate", "Revoked", nullptr},
      {"OutOfDate", "OutOfDate", "Revoked", nullptr},
  };
  for (const row& r : rows) {
    SCOPED_TRACE(std::string(r.platform) + " × " + (r.module ? r.module : "(no module)") + " × " + r.qe);
    quote_spec q;
    if (r.module == nullptr) q.td.tee_tcb_svn[1] = 0;
    collateral_spec c;
    c.tcb_info.levels[0].status = r.platform;
    if (r.module != nullptr) module_identity(c, "TDX_01").levels[0].status = r.module;
    c.qe_identity.levels[0].status = r.qe;
    const auto v = verify(q, c);
    if (r.expected == nullptr) {
      EXPECT_TRUE(rejected(v, errc::tcb_revoked, "Revoked"));
      continue;
    }
    ASSERT_TRUE(verifies(v));
    EXPECT_EQ(name(v->status), r.expected);
    EXPECT_EQ(name(v->platform_status), r.platform);
    EXPECT_EQ(name(v->qe_status), r.qe);
    if (r.module != nullptr) {
      ASSERT_TRUE(v->tdx_module_status);
      EXPECT_EQ(name(*v->tdx_module_status), r.module);
    } else {
      EXPECT_FALSE(v->tdx_module_status);
    }
  }
}

TEST(VerifierMatrixPlatformTcb, AdvisoriesAreTheOrderedUnionOfAllThreeLevels) {
  collateral_spec c;
  c.tcb_info.levels[0].status = "SWHardeningNeeded";
  c.tcb_info.levels[0].advisory_ids = {"INTEL-SA-00001", "INTEL-SA-00002"};
  auto& module = module_identity(c, "TDX_01").levels[0];
  module.status = "OutOfDate";
  module.advisory_ids = {"INTEL-SA-00002", "INTEL-SA-00003"};
  c.qe_identity.levels[0].status = "OutOfDate";
  c.qe_identity.levels[0].advisory_ids = {"INTEL-SA-00004", "INTEL-SA-00001"};
  const auto r = verify(quote_spec{}, c);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->status), "OutOfDate");
  EXPECT_EQ(r->advisory_ids,
            (std::vector<std::string>{"INTEL-SA-00001", "INTEL-SA-00002", "INTEL-SA-00003", "INTEL-SA-00004"}));
}

TEST(VerifierMatrixPlatformTcb, RelaunchAdvisedForTd15OnAnOutdatedModule) {
  // Module TDX_01 at SVN 3 is OutOfDate; the TD was launched on SVN 4 (TEE_TCB_SVN_2),
  // which meets the identity's top level: Intel advises a relaunch (docs §2.16).
  quote_spec q = quote_spec::v5(tdx::body_type_td15);
  q.td.tee_tcb_svn = {3, 1, 3};
  q.td.tee_tcb_svn_2 = std::array<std::uint8_t, 16>{4, 1, 3};
  const auto r = verify(q);
  ASSERT_TRUE(verifies(r));
  EXPECT_EQ(name(r->status), "OutOfDate");
  EXPECT_TRUE(r->relaunch_advised);
  quote_spec same = q;
  same.td.tee_tcb_svn_2 = q.td.tee_tcb_svn;
  const auto s = verify(same);
  ASSERT_TRUE(verifies(s));
  EXPECT_FALSE(s->relaunch_advised);
  quote_spec v4;
  v4.td.tee_tcb_svn = {3, 1, 3};
  const auto t = verify(v4);
  ASSERT_TRUE(verifies(t));
  EXPECT_FALSE(t->relaunch_advised) << "no TEE_TCB_SVN_2 in a TD 1.0 body";
}

}  // namespace
}  // namespace vp::test
