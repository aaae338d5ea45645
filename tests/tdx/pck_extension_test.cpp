// The SGX extension decoder on real PCK certificates (values from expected.json) and on
// synthetic ones that break each of Intel's structural rules.

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "testpki/test_pki.hpp"
#include "support/testdata.hpp"
#include "tdx/pck_extension.hpp"
#include "tdx/quote.hpp"

namespace vp::tdx {
namespace {

const test::test_pki& pki() {
  static const test::test_pki instance;
  return instance;
}

result<pck_extension> parse_synthetic(const test::pck_leaf_spec& spec) {
  const bytes der = pki().issue_pck_leaf_der(spec);
  const crypto::x509_ptr leaf = crypto::parse_der_certificate(der);
  EXPECT_TRUE(leaf);
  return parse_pck_extension(leaf.get());
}

TEST(PckExtension, RealNearQuoteMatchesExpectedJson) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto report = boost::json::parse(test::read_shared("nearai/direct-2026-03-22-ecdsa/report.json"));
  const auto quote_bytes = from_hex(report.at("intel_quote").as_string());
  ASSERT_TRUE(quote_bytes);
  const auto q = parse_quote(*quote_bytes);
  ASSERT_TRUE(q) << q.error().message;
  const auto chain = crypto::parse_pem_certificates(q->pck_chain_pem);
  ASSERT_TRUE(chain);
  const auto ext = parse_pck_extension(chain->front().get());
  ASSERT_TRUE(ext) << ext.error().message;
  EXPECT_EQ(to_hex_upper(ext->fmspc), "90C06F000000");
  EXPECT_EQ(ext->ca, pck_ca_type::platform);
  EXPECT_EQ(to_hex(ext->pce_id), "0000");
  EXPECT_EQ(ext->pce_svn, 13);
  const std::array<std::uint8_t, 16> comps = {3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(ext->sgx_tcb_components, comps);
  // In every real sample the .2.18 CPUSVN equals the 16 components.
  EXPECT_EQ(ext->cpu_svn, comps);
}

TEST(PckExtension, SyntheticPlatformAndProcessorCertificates) {
  test::pck_leaf_spec spec;
  spec.sgx.tcb_components = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 255, 0, 0, 0, 0, 1};
  spec.sgx.pce_svn = 65535;
  spec.sgx.fmspc = {0x00, 0xA0, 0x67, 0x11, 0x00, 0x00};
  auto ext = parse_synthetic(spec);
  ASSERT_TRUE(ext) << ext.error().message;
  EXPECT_EQ(ext->ca, pck_ca_type::platform);
  EXPECT_EQ(ext->sgx_tcb_components[10], 255);
  EXPECT_EQ(ext->sgx_tcb_components[15], 1);
  EXPECT_EQ(ext->pce_svn, 65535);
  EXPECT_EQ(to_hex_upper(ext->fmspc), "00A067110000");

  spec.issuer = pck_ca_type::processor;
  ext = parse_synthetic(spec);
  ASSERT_TRUE(ext) << ext.error().message;
  EXPECT_EQ(ext->ca, pck_ca_type::processor);
}

TEST(PckExtension, StructuralViolationsAreMalformed) {
  struct variant {
    const char* what;
    void (*apply)(test::sgx_extension_spec&);
  };
  const variant variants[] = {
      {"missing extension", [](test::sgx_extension_spec& s) { s.omit = true; }},
      {"6 entries", [](test::sgx_extension_spec& s) { s.omit_entries = {7}; }},
      {"4 entries", [](test::sgx_extension_spec& s) {
         s.platform_entries = false;
         s.omit_entries = {5};
       }},
      {"17 TCB entries", [](test::sgx_extension_spec& s) { s.tcb_entry_count = 17; }},
      {"19 TCB entries", [](test::sgx_extension_spec& s) { s.tcb_entry_count = 19; }},
      {"component 256", [](test::sgx_extension_spec& s) { s.tcb_components[3] = 256; }},
      {"negative component", [](test::sgx_extension_spec& s) { s.tcb_components[0] = -1; }},
      {"PCESVN 65536", [](test::sgx_extension_spec& s) { s.pce_svn = 65536; }},
      {"SGX type 3", [](test::sgx_extension_spec& s) { s.sgx_type = 3; }},
      {"not DER", [](test::sgx_extension_spec& s) { s.raw_value = bytes{0x30, 0x05, 0x01}; }},
      {"trailing bytes", [](test::sgx_extension_spec& s) {
         s.raw_value = test::test_pki::sgx_extension_der(test::sgx_extension_spec{}, pck_ca_type::platform);
         s.raw_value->push_back(0);
       }},
  };
  for (const auto& v : variants) {
    test::pck_leaf_spec spec;
    v.apply(spec.sgx);
    const auto ext = parse_synthetic(spec);
    ASSERT_FALSE(ext) << v.what;
    EXPECT_EQ(ext.error().kind, errc::malformed_quote) << v.what;
    EXPECT_NE(ext.error().message.find("SGX extension"), std::string::npos) << v.what << ": " << ext.error().message;
  }
}

}  // namespace
}  // namespace vp::tdx
