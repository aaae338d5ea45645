#include <gtest/gtest.h>

#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "support/testdata.hpp"
#include "tdx/verifier.hpp"

namespace vp::tdx {
namespace {

TEST(IntelRootCa, IsTheGenuineCertificate) {
  const trust_anchor& root = intel_sgx_root_ca();
  ASSERT_TRUE(root.certificate);
  EXPECT_EQ(to_hex(root.der_sha256), "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
  EXPECT_EQ(root.der.size(), 659u);
  EXPECT_EQ(crypto::common_name(X509_get_subject_name(root.certificate.get())), "Intel SGX Root CA");
  // Self-signed: its own key verifies its signature.
  EXPECT_EQ(X509_verify(root.certificate.get(), X509_get0_pubkey(root.certificate.get())), 1);
}

TEST(IntelRootCa, EqualsTheSharedCopy) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::string der = test::read_shared("intel/sgx_root_ca.der");
  EXPECT_EQ(bytes(der.begin(), der.end()), intel_sgx_root_ca().der);
}

TEST(TrustAnchor, LoadsPemAndDerAndRejectsGarbage) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::string pem = test::read_shared("intel/sgx_root_ca.pem");
  const auto from_pem = load_trust_anchor(as_bytes(pem));
  ASSERT_TRUE(from_pem) << from_pem.error().message;
  EXPECT_EQ((*from_pem)->der, intel_sgx_root_ca().der);
  const auto from_der = load_trust_anchor(intel_sgx_root_ca().der);
  ASSERT_TRUE(from_der);
  EXPECT_EQ((*from_der)->der_sha256, intel_sgx_root_ca().der_sha256);
  const auto garbage = load_trust_anchor(as_bytes("not a certificate"));
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().kind, errc::malformed_collateral);
  // Two certificates are not one anchor.
  const auto two = load_trust_anchor(as_bytes(pem + pem));
  EXPECT_FALSE(two);
}

}  // namespace
}  // namespace vp::tdx
