// GPU chain revocation against operator CRLs (docs/gpu-signatures-e2ee.md §1.5, L14):
// only an authentic, current CRL of a certificate's issuer counts; the BROM certificate
// is OCSP-only, so it stays unchecked unless its issuer's CRL is given.

#include "gpu/revocation.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "crypto/x509.hpp"
#include "testpki/nvidia_pki.hpp"

namespace vp::gpu {
namespace {

using issuer = test::nvidia_test_pki::crl_issuer;

const test::nvidia_test_pki& pki() {
  static const test::nvidia_test_pki p;
  return p;
}

const unix_time now = test::utc_date(2026, 6, 29);
const unix_time last_week = now - std::chrono::days(7);
const unix_time next_month = now + std::chrono::days(30);

/// GPU 0 of a synthetic payload, verified.
const verified_gpu& gpu0() {
  static const verified_gpu g = [] {
    test::payload_spec spec;
    spec.gpus.resize(1);
    const auto payload = parse_payload(pki().payload(spec)).value();
    auto anchor = load_trust_anchor(pki().root_pem());
    if (!anchor) throw std::runtime_error(anchor.error());
    return verify(payload, payload.nonce, *anchor, now, 1).value().at(0);
  }();
  return g;
}

revocation_result check(const std::vector<bytes>& crl_ders, unix_time at = now) {
  std::vector<crypto::x509_crl_ptr> owned;
  std::vector<X509_CRL*> crls;
  for (const auto& d : crl_ders) {
    owned.push_back(crypto::parse_crl(d));
    crls.push_back(owned.back().get());
  }
  return check_revocation(gpu0(), crls, at);
}

TEST(GpuRevocation, WithoutCrlsEverythingIsUnchecked) {
  const auto r = check({});
  EXPECT_EQ(r.status, revocation_status::unchecked);
  EXPECT_NE(r.detail.find("\"GH100 A01 GSP BROM\" unchecked"), std::string::npos) << r.detail;
}

TEST(GpuRevocation, NvidiasTwoCrlsLeaveOnlyTheBromUnchecked) {
  const auto r = check({pki().crl(issuer::root, {}, last_week, next_month),
                        pki().crl(issuer::identity, {}, last_week, next_month)});
  EXPECT_EQ(r.status, revocation_status::unchecked);
  EXPECT_NE(r.detail.find("\"NVIDIA GH100 Provisioner ICA 1\" good"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("\"NVIDIA GH100 Identity\" good"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("\"GH100 A01 GSP BROM\" unchecked"), std::string::npos) << r.detail;
}

TEST(GpuRevocation, EveryIssuersCrlMakesTheChainGood) {
  const auto r = check({pki().crl(issuer::root, {}, last_week, next_month),
                        pki().crl(issuer::identity, {}, last_week, next_month),
                        pki().crl(issuer::provisioner, {}, last_week, next_month)});
  EXPECT_EQ(r.status, revocation_status::good) << r.detail;
}

TEST(GpuRevocation, ARevokedCertificateOfTheChainIsRevoked) {
  const auto& chain = gpu0().chain_der;
  // The BROM (by the Provisioner ICA's CRL), the ICA (by the Identity's), the Identity (by the root's).
  for (const auto& [which, position] : {std::pair{issuer::provisioner, 1}, std::pair{issuer::identity, 2},
                                        std::pair{issuer::root, 3}}) {
    const auto r = check({pki().crl(which, {chain[static_cast<std::size_t>(position)]}, last_week, next_month)});
    EXPECT_EQ(r.status, revocation_status::revoked) << position;
    EXPECT_NE(r.detail.find("revoked"), std::string::npos) << r.detail;
  }
}

TEST(GpuRevocation, ForgedOrStaleCrlsProveNothing) {
  const auto& chain = gpu0().chain_der;
  // A CRL with the right issuer name, signed by another key: ignored, so no revocation...
  auto r = check({pki().crl(issuer::identity, {chain[2]}, last_week, next_month, /*foreign_key=*/true)});
  EXPECT_EQ(r.status, revocation_status::unchecked);
  // ...and no "good" either.
  EXPECT_NE(r.detail.find("\"NVIDIA GH100 Provisioner ICA 1\" unchecked"), std::string::npos) << r.detail;
  // A CRL past its nextUpdate, or not yet issued, is not current.
  r = check({pki().crl(issuer::identity, {}, last_week - std::chrono::days(60), last_week)});
  EXPECT_NE(r.detail.find("\"NVIDIA GH100 Provisioner ICA 1\" unchecked"), std::string::npos) << r.detail;
  r = check({pki().crl(issuer::identity, {}, now + std::chrono::days(1), next_month)});
  EXPECT_NE(r.detail.find("\"NVIDIA GH100 Provisioner ICA 1\" unchecked"), std::string::npos) << r.detail;
}

}  // namespace
}  // namespace vp::gpu
