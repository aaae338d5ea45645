// X.509 helpers on Intel's real certificates and CRLs: encodings, validity windows,
// names, and OpenSSL path validation with CRLs.

#include "crypto/x509.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "core/hex.hpp"
#include "core/time.hpp"
#include "crypto/digest.hpp"
#include "support/testdata.hpp"

namespace vp::crypto {
namespace {

bytes shared_bytes(const char* rel) {
  const std::string s = test::read_shared(rel);
  return bytes(s.begin(), s.end());
}

constexpr const char* pcs = "nearai/direct-2026-06-29-ed25519/pcs/";

TEST(X509, PemChainsStopAtNulAndRejectGarbage) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::string chain = test::read_shared(std::string(pcs) + "pck_crl_issuer_chain.pem");
  auto certs = parse_pem_certificates(chain);
  ASSERT_TRUE(certs);
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ(common_name(X509_get_subject_name((*certs)[0].get())), "Intel SGX PCK Platform CA");
  EXPECT_EQ(common_name(X509_get_subject_name((*certs)[1].get())), "Intel SGX Root CA");
  // Quotes end their chain with a NUL; whatever follows it is not parsed.
  certs = parse_pem_certificates(chain + std::string(1, '\0') + "garbage");
  ASSERT_TRUE(certs);
  EXPECT_EQ(certs->size(), 2u);
  EXPECT_FALSE(parse_pem_certificates(""));
  EXPECT_FALSE(parse_pem_certificates("no certificate here"));
  std::string corrupt = chain;
  corrupt[100] = '!';
  EXPECT_FALSE(parse_pem_certificates(corrupt));
}

TEST(X509, CrlInAllThreeEncodings) {
  VP_REQUIRE_SHARED_TESTDATA();
  const bytes der = shared_bytes("nearai/direct-2026-06-29-ed25519/pcs/pck_crl.der");
  const auto from_der = parse_crl(der);
  ASSERT_TRUE(from_der);
  EXPECT_EQ(crl_der(from_der.get()), der);
  const std::string hex = "  " + to_hex(der) + "\n";
  const auto from_hex_text = parse_crl(as_bytes(hex));
  ASSERT_TRUE(from_hex_text);
  EXPECT_EQ(crl_der(from_hex_text.get()), der);
  bio_ptr bio{BIO_new(BIO_s_mem())};
  PEM_write_bio_X509_CRL(bio.get(), from_der.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  const auto from_pem = parse_crl(byte_view(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(len)));
  ASSERT_TRUE(from_pem);
  EXPECT_EQ(crl_der(from_pem.get()), der);
  EXPECT_TRUE(crl_has_required_extensions(from_der.get()));

  bytes trailing = der;
  trailing.push_back(0);
  EXPECT_FALSE(parse_crl(trailing));
  EXPECT_FALSE(parse_crl(bytes{}));
  EXPECT_FALSE(parse_crl(as_bytes("zz")));
}

TEST(X509, ValidityWindowsAreInclusive) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto root = parse_der_certificate(shared_bytes("intel/sgx_root_ca.der"));
  ASSERT_TRUE(root);
  const auto window = certificate_validity(root.get());
  ASSERT_TRUE(window);
  EXPECT_EQ(format_rfc3339_utc(window->from), "2018-05-21T10:45:10Z");
  EXPECT_EQ(format_rfc3339_utc(window->until), "2049-12-31T23:59:59Z");
  EXPECT_TRUE(window->contains(window->from));
  EXPECT_TRUE(window->contains(window->until));
  EXPECT_FALSE(window->contains(window->until + std::chrono::seconds{1}));
  EXPECT_FALSE(window->contains(window->from - std::chrono::seconds{1}));

  const auto crl = parse_crl(shared_bytes("nearai/direct-2026-06-29-ed25519/pcs/root_ca_crl.der"));
  ASSERT_TRUE(crl);
  const auto crl_window = crl_validity(crl.get());
  ASSERT_TRUE(crl_window);
  EXPECT_LT(crl_window->from, crl_window->until);
}

TEST(X509, SpkiFingerprintIsSha256OfTheSubjectPublicKeyInfo) {
  VP_REQUIRE_SHARED_TESTDATA();
  // The gateway's TLS certificate and the peer SPKI recorded on the same connection.
  const auto report = boost::json::parse(test::read_shared("nearai/gateway-2026-06-29/report.json"));
  const std::string spki = test::read_shared("nearai/gateway-2026-06-29/peer_spki.der");
  const std::string pem(report.at("tls_certificate").as_string());
  const auto certs = parse_pem_certificates(pem);
  ASSERT_TRUE(certs);
  EXPECT_EQ(spki_der(certs->front().get()), bytes(spki.begin(), spki.end()));
  const std::string request = test::read_shared("nearai/gateway-2026-06-29/request.json");
  const std::string fingerprint = to_hex(spki_sha256(certs->front().get()));
  EXPECT_NE(request.find("\"" + fingerprint + "\""), std::string::npos) << fingerprint;
}

TEST(X509, VerifyChainAppliesCrlsToEveryCertificate) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto chain = parse_pem_certificates(test::read_shared(std::string(pcs) + "pck_crl_issuer_chain.pem"));
  ASSERT_TRUE(chain);
  const auto root_crl = parse_crl(shared_bytes("nearai/direct-2026-06-29-ed25519/pcs/root_ca_crl.der"));
  X509* leaf = (*chain)[0].get();
  X509* root = (*chain)[1].get();
  X509_CRL* crls[] = {root_crl.get()};
  EXPECT_TRUE(verify_chain(leaf, {}, root, crls).ok());
  EXPECT_TRUE(verify_chain(leaf, {}, root, {}).ok());
  // A wrong anchor: the intermediate cannot chain to itself.
  const auto wrong = verify_chain(leaf, {}, leaf, crls);
  EXPECT_FALSE(wrong.ok());
  // Without a CRL that covers the root, CRL_CHECK_ALL fails closed.
  const auto pck_crl = parse_crl(shared_bytes("nearai/direct-2026-06-29-ed25519/pcs/pck_crl.der"));
  X509_CRL* only_pck[] = {pck_crl.get()};
  const auto missing = verify_chain(leaf, {}, root, only_pck);
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.error, X509_V_ERR_UNABLE_TO_GET_CRL) << missing.message;
}

}  // namespace
}  // namespace vp::crypto
