// Parser tests on real quotes: offsets, v4/v5 layouts, and that every truncation or
// inconsistent length is a typed error rather than a crash or an over-read.

#include <gtest/gtest.h>

#include <functional>

#include "core/hex.hpp"
#include "support/testdata.hpp"
#include "tdx/quote.hpp"

namespace vp::tdx {
namespace {

bytes read_quote(const char* name) {
  const std::string s = test::read_shared(std::string("tdx/") + name + "/quote.bin");
  return bytes(s.begin(), s.end());
}

void put_le16(bytes& b, std::size_t off, std::uint16_t v) {
  b[off] = static_cast<std::uint8_t>(v);
  b[off + 1] = static_cast<std::uint8_t>(v >> 8);
}

void put_le32(bytes& b, std::size_t off, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

TEST(ParseQuote, V4Layout) {
  VP_REQUIRE_SHARED_TESTDATA();
  const bytes data = read_quote("v4-phala-uptodate");
  const auto q = parse_quote(data);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->header.version, 4);
  EXPECT_EQ(q->header.tee_type, 0x81u);
  EXPECT_EQ(q->body_type, body_type_td10);
  EXPECT_EQ(q->signed_region.size(), 632u);  // §1.2
  EXPECT_EQ(q->signed_region.data(), data.data());
  EXPECT_EQ(q->trailing_bytes, 70u);
  EXPECT_EQ(q->qe_auth_data.size(), 32u);
  EXPECT_FALSE(q->td.tee_tcb_svn_2);
  EXPECT_EQ(to_hex(byte_view(q->td.tee_tcb_svn).first(3)), "060103");
  EXPECT_TRUE(q->pck_chain_pem.starts_with("-----BEGIN CERTIFICATE-----"));
  EXPECT_EQ(q->qe_report.isv_prod_id, 2);
  EXPECT_EQ(q->qe_report.isv_svn, 6);
  // TD report fields at their §1.3 offsets (48 + relative offset for v4).
  EXPECT_TRUE(std::equal(q->td.mr_td.begin(), q->td.mr_td.end(), data.begin() + 48 + 136));
  EXPECT_TRUE(std::equal(q->td.report_data.begin(), q->td.report_data.end(), data.begin() + 48 + 520));
  EXPECT_TRUE(std::equal(q->td.rtmr[3].begin(), q->td.rtmr[3].end(), data.begin() + 48 + 472));
}

TEST(ParseQuote, V5TdReport15Layout) {
  VP_REQUIRE_SHARED_TESTDATA();
  const bytes data = read_quote("v5-google-quote-phala-collateral-uptodate");
  const auto q = parse_quote(data);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->header.version, 5);
  EXPECT_EQ(q->body_type, body_type_td15);
  EXPECT_EQ(q->signed_region.size(), 702u);
  ASSERT_TRUE(q->td.tee_tcb_svn_2);
  ASSERT_TRUE(q->td.mr_service_td);
  EXPECT_TRUE(std::equal(q->td.mr_td.begin(), q->td.mr_td.end(), data.begin() + 54 + 136));
}

TEST(ParseQuote, IgnoresNonZeroTrailingBytes) {
  VP_REQUIRE_SHARED_TESTDATA();
  const bytes data = read_quote("v4-google-spr-e4-no-matching-tcb-level");
  const auto q = parse_quote(data);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->trailing_bytes, 39u);
}

TEST(ParseQuote, EveryTruncationIsMalformedNotACrash) {
  VP_REQUIRE_SHARED_TESTDATA();
  const bytes data = read_quote("v5-google-quote-phala-collateral-uptodate");
  const auto full = parse_quote(data);
  ASSERT_TRUE(full);
  const std::size_t needed = data.size() - full->trailing_bytes;
  for (std::size_t len = 0; len < needed; ++len) {
    const bytes prefix(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(len));
    const auto q = parse_quote(prefix);
    ASSERT_FALSE(q) << "prefix of " << len << " bytes parsed";
    ASSERT_EQ(q.error().kind, errc::malformed_quote) << len << ": " << q.error().message;
  }
  EXPECT_TRUE(parse_quote(byte_view(data).first(needed)));
}

TEST(ParseQuote, HeaderFieldsAreChecked) {
  VP_REQUIRE_SHARED_TESTDATA();
  const bytes good = read_quote("v4-phala-uptodate");
  struct mutation {
    const char* what;
    std::function<void(bytes&)> apply;
    errc expected;
  };
  const std::vector<mutation> mutations = {
      {"version 3", [](bytes& b) { put_le16(b, 0, 3); }, errc::unsupported_quote},
      {"version 6", [](bytes& b) { put_le16(b, 0, 6); }, errc::unsupported_quote},
      {"P-384 key type", [](bytes& b) { put_le16(b, 2, 3); }, errc::unsupported_quote},
      {"SGX TEE type", [](bytes& b) { put_le32(b, 4, 0); }, errc::unsupported_quote},
      {"foreign QE vendor", [](bytes& b) { b[12] ^= 1; }, errc::unsupported_quote},
      {"signature data longer than the quote", [](bytes& b) { put_le32(b, 632, 0xffffffff); }, errc::malformed_quote},
      {"outer certification type 5", [](bytes& b) { put_le16(b, 636 + 128, 5); }, errc::unsupported_quote},
      {"certification data size off by one", [](bytes& b) {
         const std::uint32_t size = static_cast<std::uint32_t>(b[636 + 130] | (b[636 + 131] << 8) |
                                                               (b[636 + 132] << 16) | (b[636 + 133] << 24));
         put_le32(b, 636 + 130, size - 1);
       }, errc::malformed_quote},
      {"inner certification type 4", [](bytes& b) { put_le16(b, 636 + 134 + 384 + 64 + 2 + 32, 4); },
       errc::unsupported_quote},
      {"PCK chain size too large", [](bytes& b) { put_le32(b, 636 + 134 + 384 + 64 + 2 + 32 + 2, 0x7fffffff); },
       errc::malformed_quote},
      {"QE auth data size too large", [](bytes& b) { put_le16(b, 636 + 134 + 384 + 64, 0xffff); },
       errc::malformed_quote},
  };
  for (const auto& m : mutations) {
    bytes data = good;
    m.apply(data);
    const auto q = parse_quote(data);
    ASSERT_FALSE(q) << m.what;
    EXPECT_EQ(q.error().kind, m.expected) << m.what << ": " << q.error().message;
  }
}

TEST(ParseQuote, V5BodyDescriptorIsChecked) {
  VP_REQUIRE_SHARED_TESTDATA();
  const bytes good = read_quote("v5-google-quote-phala-collateral-uptodate");
  bytes wrong_size = good;
  put_le32(wrong_size, 50, 584);  // claims TD 1.0 size for a TD 1.5 body
  auto q = parse_quote(wrong_size);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().kind, errc::malformed_quote);
  bytes sgx_body = good;
  put_le16(sgx_body, 48, 1);  // SGX enclave report body inside a TDX quote
  q = parse_quote(sgx_body);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().kind, errc::unsupported_quote);
}

TEST(ParseQuote, EmptyAndTinyInputs) {
  EXPECT_EQ(parse_quote({}).error().kind, errc::malformed_quote);
  const bytes tiny(47, 0);
  EXPECT_EQ(parse_quote(tiny).error().kind, errc::malformed_quote);
}

}  // namespace
}  // namespace vp::tdx
