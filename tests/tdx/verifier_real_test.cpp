// The verifier against real Intel-signed quotes and collateral (../shared/testdata),
// each case driven by its own expected.json, verified "as of" its capture time.

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "collateral/bundle.hpp"
#include "core/hex.hpp"
#include "support/testdata.hpp"
#include "tdx/verifier.hpp"

namespace vp::tdx {
namespace {

namespace json = boost::json;

json::value parse_json(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message();
  return v;
}

std::vector<std::string> strings(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) out.emplace_back(s.as_string().c_str());
  return out;
}

bytes read_bytes(const std::filesystem::path& rel) {
  const std::string s = test::read_shared(rel);
  return bytes(s.begin(), s.end());
}

const std::vector<std::string> tdx_cases = {
    "v4-phala-uptodate",
    "v5-google-quote-phala-collateral-uptodate",
    "v5-google-quote-google-tcbinfo-uptodate",
    "v4-phala-near-uptodate",
    "v5-phala-no-matching-tcb-level",
    "v4-google-spr-e4-no-matching-tcb-level",
    "v4-phala-old-platform-a-no-matching-tcb-level",
    "v4-phala-old-platform-b-no-matching-tcb-level",
    "sgx-v3-phala-config-and-sw-hardening",
};

// Verifies one case at `at` and checks the outcome against an expected.json object
// carrying `result` and either `tcb_status`/`advisory_ids` or `error_kind`.
void expect_outcome(const std::string& name, const bytes& quote, const collateral_v3& collateral, std::int64_t at,
                    const json::object& expected) {
  SCOPED_TRACE(name + " at " + std::to_string(at));
  const auto verdict = verify_quote(quote, collateral, intel_sgx_root_ca(), from_unix_seconds(at));
  if (expected.at("result").as_string() == "ok") {
    ASSERT_TRUE(verdict) << to_string(verdict.error().kind) << ": " << verdict.error().message;
    EXPECT_EQ(to_string(verdict->status), expected.at("tcb_status").as_string().c_str());
    EXPECT_EQ(verdict->advisory_ids, strings(expected.at("advisory_ids")));
  } else {
    ASSERT_FALSE(verdict) << "expected " << expected.at("error_kind").as_string().c_str();
    EXPECT_EQ(to_string(verdict.error().kind), expected.at("error_kind").as_string().c_str())
        << verdict.error().message;
    EXPECT_FALSE(verdict.error().message.empty());
  }
}

class RealTdxCase : public testing::TestWithParam<std::string> {};

TEST_P(RealTdxCase, MatchesExpectedJsonAtEveryListedTime) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::filesystem::path dir = std::filesystem::path("tdx") / GetParam();
  const bytes quote = read_bytes(dir / "quote.bin");
  const auto collateral = parse_collateral_v3_json(test::read_shared(dir / "collateral.json"));
  ASSERT_TRUE(collateral) << collateral.error().message;
  const json::object expected = parse_json(test::read_shared(dir / "expected.json")).as_object();
  const std::int64_t at = expected.at("verify_at_unix").as_int64();

  if (const auto* tdx_only = expected.if_contains("tdx_only_verifier")) {
    // The SGX quote: out of scope for a TDX verifier, rejected before any collateral check.
    const auto verdict = verify_quote(quote, *collateral, intel_sgx_root_ca(), from_unix_seconds(at));
    ASSERT_FALSE(verdict);
    EXPECT_EQ(verdict.error().kind, errc::unsupported_quote) << verdict.error().message;
    EXPECT_EQ(tdx_only->at("error_kind").as_string(), "unsupported_tee_type");
    EXPECT_NE(verdict.error().message.find("TEE type"), std::string::npos) << verdict.error().message;
    return;
  }
  expect_outcome(GetParam(), quote, *collateral, at, expected);
  if (const auto* also = expected.if_contains("also")) {
    for (const auto& extra : also->as_array()) {
      expect_outcome(GetParam(), quote, *collateral, extra.at("verify_at_unix").as_int64(), extra.as_object());
    }
  }
}

TEST_P(RealTdxCase, QuoteFactsMatchExpectedJson) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::filesystem::path dir = std::filesystem::path("tdx") / GetParam();
  const bytes data = read_bytes(dir / "quote.bin");
  const json::object facts = parse_json(test::read_shared(dir / "expected.json")).at("quote").as_object();
  EXPECT_EQ(static_cast<std::int64_t>(data.size()), facts.at("size").as_int64());
  const auto q = parse_quote(data);
  if (facts.at("version").as_int64() == 3) {
    ASSERT_FALSE(q);
    EXPECT_EQ(q.error().kind, errc::unsupported_quote);
    return;
  }
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->header.version, facts.at("version").as_int64());
  EXPECT_EQ(q->body_type, facts.at("body_type").as_int64());
  EXPECT_EQ(static_cast<std::int64_t>(q->trailing_bytes), facts.at("bytes_after_signature_data").as_int64());
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, RealTdxCase, testing::ValuesIn(tdx_cases),
                         [](const testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(RealTdxCases, EveryCaseDirectoryIsCovered) {
  VP_REQUIRE_SHARED_TESTDATA();
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(*test::shared_testdata_dir() / "tdx")) {
    if (entry.is_directory()) on_disk.insert(entry.path().filename().string());
  }
  EXPECT_EQ(on_disk, std::set<std::string>(tdx_cases.begin(), tdx_cases.end()));
}

// --- NEAR AI captures: every quote verifies with the Intel PCS collateral captured with it.

const std::vector<std::string> nearai_captures = {
    "direct-2026-03-22-ecdsa", "direct-2026-04-24-ed25519", "direct-2026-06-29-ed25519",
    "gateway-2026-04-24", "gateway-2026-06-29",
};

const json::value* at_pointer(const json::value& root, std::string_view pointer) {
  if (pointer.empty()) return &root;
  boost::system::error_code ec;
  const json::value* v = root.find_pointer(pointer, ec);
  return ec ? nullptr : v;
}

class RealNearCapture : public testing::TestWithParam<std::string> {};

TEST_P(RealNearCapture, EveryQuoteVerifiesWithItsCapturedCollateral) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::filesystem::path dir = std::filesystem::path("nearai") / GetParam();
  const json::value report = parse_json(test::read_shared(dir / "report.json"));
  const json::object expected = parse_json(test::read_shared(dir / "expected.json")).as_object();
  const auto& attestations = expected.at("attestations").as_array();
  ASSERT_FALSE(attestations.empty());
  for (const auto& entry : attestations) {
    const std::string pointer = entry.at("json_pointer").as_string().c_str();
    SCOPED_TRACE(GetParam() + pointer);
    const json::value* attestation = at_pointer(report, pointer);
    ASSERT_NE(attestation, nullptr);
    const auto quote = from_hex(attestation->at("intel_quote").as_string());
    ASSERT_TRUE(quote);
    const auto collateral =
        vp::collateral::load_collateral(*test::shared_testdata_dir() / dir / entry.at("pcs_dir").as_string().c_str());
    ASSERT_TRUE(collateral) << collateral.error().message;
    const json::object& dcap = entry.at("dcap").as_object();
    const auto verdict =
        verify_quote(*quote, *collateral, intel_sgx_root_ca(), from_unix_seconds(dcap.at("verify_at_unix").as_int64()));
    ASSERT_TRUE(verdict) << to_string(verdict.error().kind) << ": " << verdict.error().message;
    EXPECT_EQ(to_string(verdict->status), dcap.at("tcb_status").as_string().c_str());
    EXPECT_EQ(verdict->advisory_ids, strings(dcap.at("advisory_ids")));
    EXPECT_EQ(to_string(verdict->platform_status), dcap.at("platform_tcb_status").as_string().c_str());
    EXPECT_EQ(verdict->tdx_module_identity, dcap.at("tdx_module").at("id").as_string().c_str());
    ASSERT_TRUE(verdict->tdx_module_status);
    EXPECT_EQ(to_string(*verdict->tdx_module_status), dcap.at("tdx_module").at("status").as_string().c_str());
    EXPECT_EQ(to_string(verdict->qe_status), dcap.at("qe").at("status").as_string().c_str());

    const json::object& facts = entry.at("quote").as_object();
    EXPECT_EQ(to_hex_upper(verdict->fmspc), facts.at("fmspc").as_string().c_str());
    EXPECT_EQ(to_string(verdict->pck_ca), facts.at("pck_ca").as_string().c_str());
    EXPECT_EQ(to_hex(verdict->td.mr_td), facts.at("mrtd").as_string().c_str());
    EXPECT_EQ(to_hex(verdict->td.mr_seam), facts.at("mr_seam").as_string().c_str());
    EXPECT_EQ(to_hex(verdict->td.mr_config_id), facts.at("mr_config_id").as_string().c_str());
    EXPECT_EQ(to_hex(verdict->td.td_attributes), facts.at("td_attributes").as_string().c_str());
    EXPECT_EQ(to_hex(verdict->td.tee_tcb_svn), facts.at("tee_tcb_svn").as_string().c_str());
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(to_hex(verdict->td.rtmr[i]), facts.at("rtmr" + std::to_string(i)).as_string().c_str());
    }
    EXPECT_EQ(to_hex(verdict->td.report_data), facts.at("report_data").as_string().c_str());
    EXPECT_GE(verdict->collateral_expires_at, from_unix_seconds(dcap.at("verify_at_unix").as_int64()));
  }
}

TEST_P(RealNearCapture, ExpiredAtTodaysDate) {
  // All shared collateral has long expired: verifying at a much later time must fail
  // with an expiry error, never pass.
  VP_REQUIRE_SHARED_TESTDATA();
  const std::filesystem::path dir = std::filesystem::path("nearai") / GetParam();
  const json::value report = parse_json(test::read_shared(dir / "report.json"));
  const json::object expected = parse_json(test::read_shared(dir / "expected.json")).as_object();
  const auto& entry = expected.at("attestations").as_array().at(0);
  const json::value* attestation = at_pointer(report, entry.at("json_pointer").as_string());
  ASSERT_NE(attestation, nullptr);
  const auto quote = from_hex(attestation->at("intel_quote").as_string());
  const auto collateral =
      vp::collateral::load_collateral(*test::shared_testdata_dir() / dir / entry.at("pcs_dir").as_string().c_str());
  ASSERT_TRUE(quote && collateral);
  const auto verdict = verify_quote(*quote, *collateral, intel_sgx_root_ca(), from_unix_seconds(1795000000));
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().kind, errc::collateral_expired) << verdict.error().message;
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, RealNearCapture, testing::ValuesIn(nearai_captures),
                         [](const testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace vp::tdx
