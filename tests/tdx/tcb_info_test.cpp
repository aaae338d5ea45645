#include "tdx/tcb_info.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "support/testdata.hpp"

namespace vp::tdx {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

unix_time at(const char* rfc3339) { return *parse_rfc3339_utc(rfc3339); }

/// The exact inner JSON text of `field` ("tcb_info" / "qe_identity") of a case's
/// dcap-qvl QuoteCollateralV3 file.
std::string collateral_text(const std::string& tdx_case, const char* field) {
  const std::string doc = test::read_shared("tdx/" + tdx_case + "/collateral.json");
  boost::system::error_code ec;
  const json::value v = json::parse(doc, ec);
  if (ec || !v.is_object() || !v.as_object().contains(field) || !v.as_object().at(field).is_string()) {
    ADD_FAILURE() << "cannot read " << field << " from " << tdx_case;
    return {};
  }
  return std::string(v.as_object().at(field).as_string());
}

template <class T>
void expect_error(const result<T>& r, errc kind, const std::string& fragment) {
  ASSERT_FALSE(r.has_value()) << "expected " << to_string(kind) << " mentioning " << fragment;
  EXPECT_EQ(to_string(r.error().kind), to_string(kind)) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr(fragment));
}

// ---------------------------------------------------------------------------------
// Status names

TEST(TcbStatusNames, RoundTripsIntelSpellings) {
  const std::vector<std::pair<tcb_status, std::string>> all = {
      {tcb_status::up_to_date, "UpToDate"},
      {tcb_status::sw_hardening_needed, "SWHardeningNeeded"},
      {tcb_status::configuration_needed, "ConfigurationNeeded"},
      {tcb_status::configuration_and_sw_hardening_needed, "ConfigurationAndSWHardeningNeeded"},
      {tcb_status::out_of_date, "OutOfDate"},
      {tcb_status::out_of_date_configuration_needed, "OutOfDateConfigurationNeeded"},
      {tcb_status::revoked, "Revoked"},
  };
  for (const auto& [status, name] : all) {
    EXPECT_EQ(to_string(status), name);
    EXPECT_EQ(parse_tcb_status(name), status) << name;
  }
}

TEST(TcbStatusNames, RejectsAnythingElse) {
  for (const char* s : {"", "Unknown", "uptodate", "UPTODATE", "UpToDate ", "OutOfDateConfigurationNeeded2",
                        "TD_RELAUNCH_ADVISED", "TCB_NOT_SUPPORTED"}) {
    EXPECT_FALSE(parse_tcb_status(s)) << s;
  }
}

// ---------------------------------------------------------------------------------
// Real collateral

TEST(TcbInfoParse, RealPhalaV1) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto r = parse_tcb_info(collateral_text("v4-phala-uptodate", "tcb_info"));
  ASSERT_TRUE(r) << r.error().message;
  const tcb_info& t = *r;
  EXPECT_EQ(t.id, "TDX");
  EXPECT_EQ(t.version, 3);
  EXPECT_EQ(to_unix_seconds(t.issue_date), 1750328163);  // 2025-06-19T10:16:03Z
  EXPECT_EQ(to_unix_seconds(t.next_update), 1752920163);
  EXPECT_EQ(t.fmspc, (std::array<std::uint8_t, 6>{0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00}));
  EXPECT_EQ(t.pce_id, (std::array<std::uint8_t, 2>{0x00, 0x00}));
  EXPECT_EQ(t.tcb_type, 0);
  EXPECT_EQ(t.tcb_evaluation_data_number, 17u);

  EXPECT_EQ(t.tdx_module.id, "");
  EXPECT_EQ(t.tdx_module.mr_signer, (std::array<std::uint8_t, 48>{}));
  EXPECT_EQ(t.tdx_module.attributes, (std::array<std::uint8_t, 8>{}));
  std::array<std::uint8_t, 8> all_ff;
  all_ff.fill(0xFF);
  EXPECT_EQ(t.tdx_module.attributes_mask, all_ff);

  ASSERT_EQ(t.tdx_module_identities.size(), 2u);
  EXPECT_EQ(t.tdx_module_identities[0].id, "TDX_03");
  ASSERT_EQ(t.tdx_module_identities[0].levels.size(), 1u);
  EXPECT_EQ(t.tdx_module_identities[0].levels[0].isv_svn, 3);
  const auto& tdx01 = t.tdx_module_identities[1];
  EXPECT_EQ(tdx01.id, "TDX_01");
  EXPECT_EQ(tdx01.attributes_mask, all_ff);
  ASSERT_EQ(tdx01.levels.size(), 2u);
  EXPECT_EQ(tdx01.levels[0].isv_svn, 4);
  EXPECT_EQ(tdx01.levels[0].status, tcb_status::up_to_date);
  EXPECT_EQ(tdx01.levels[0].tcb_date, at("2024-03-13T00:00:00Z"));
  EXPECT_EQ(tdx01.levels[1].isv_svn, 2);
  EXPECT_EQ(tdx01.levels[1].status, tcb_status::out_of_date);
  EXPECT_EQ(tdx01.levels[1].tcb_date, at("2023-08-09T00:00:00Z"));

  ASSERT_EQ(t.levels.size(), 2u);
  const tcb_level& first = t.levels[0];
  EXPECT_EQ(first.sgx_components, (std::array<std::uint8_t, 16>{2, 2, 2, 2, 3, 1, 0, 5}));
  EXPECT_EQ(first.pce_svn, 11);
  EXPECT_EQ(first.tdx_components, (std::array<std::uint8_t, 16>{5, 0, 2}));
  EXPECT_EQ(first.tcb_date, at("2024-03-13T00:00:00Z"));
  EXPECT_EQ(first.status, tcb_status::up_to_date);
  EXPECT_TRUE(first.advisory_ids.empty());

  const tcb_level& second = t.levels[1];
  EXPECT_EQ(second.pce_svn, 5);
  EXPECT_EQ(second.status, tcb_status::out_of_date);
  EXPECT_EQ(second.tcb_date, at("2018-01-04T00:00:00Z"));
  ASSERT_EQ(second.advisory_ids.size(), 14u);
  EXPECT_EQ(second.advisory_ids.front(), "INTEL-SA-00106");
  EXPECT_EQ(second.advisory_ids.back(), "INTEL-SA-00837");
}

TEST(TcbInfoParse, RealGoogle2023HasNoModuleIdentitiesAndLowerCaseFmspc) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto r = parse_tcb_info(collateral_text("v4-google-spr-e4-no-matching-tcb-level", "tcb_info"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fmspc, (std::array<std::uint8_t, 6>{0x50, 0x80, 0x6F, 0x00, 0x00, 0x00}));  // "50806f000000"
  EXPECT_EQ(r->tcb_evaluation_data_number, 15u);
  EXPECT_EQ(to_unix_seconds(r->issue_date), to_unix_seconds(at("2023-06-18T08:42:58Z")));
  EXPECT_TRUE(r->tdx_module_identities.empty());
  ASSERT_EQ(r->levels.size(), 2u);
  EXPECT_EQ(r->levels[0].sgx_components, (std::array<std::uint8_t, 16>{5, 5, 2, 2, 3, 1, 0, 3}));
  EXPECT_EQ(r->levels[0].tdx_components, (std::array<std::uint8_t, 16>{3, 0, 5}));
  EXPECT_EQ(r->levels[1].advisory_ids.size(), 13u);
}

TEST(TcbInfoParse, FmspcCaseDoesNotMatter) {
  VP_REQUIRE_SHARED_TESTDATA();
  // The same FMSPC written "90c06f000000" (Google) and "90C06F000000" (Phala).
  auto lower = parse_tcb_info(collateral_text("v5-google-quote-google-tcbinfo-uptodate", "tcb_info"));
  auto upper = parse_tcb_info(collateral_text("v5-google-quote-phala-collateral-uptodate", "tcb_info"));
  ASSERT_TRUE(lower) << lower.error().message;
  ASSERT_TRUE(upper) << upper.error().message;
  EXPECT_EQ(lower->fmspc, (std::array<std::uint8_t, 6>{0x90, 0xC0, 0x6F, 0x00, 0x00, 0x00}));
  EXPECT_EQ(lower->fmspc, upper->fmspc);
  EXPECT_EQ(upper->levels.size(), 3u);
  EXPECT_EQ(upper->tcb_evaluation_data_number, 18u);
  ASSERT_EQ(upper->tdx_module_identities.size(), 2u);
  ASSERT_EQ(upper->tdx_module_identities[1].levels.size(), 3u);
  EXPECT_EQ(upper->tdx_module_identities[1].levels[1].advisory_ids,
            (std::vector<std::string>{"INTEL-SA-01036", "INTEL-SA-01099"}));
}

TEST(TcbInfoParse, EveryTdxCaseParses) {
  VP_REQUIRE_SHARED_TESTDATA();
  for (const char* c : {"v4-phala-uptodate", "v5-google-quote-phala-collateral-uptodate",
                        "v5-google-quote-google-tcbinfo-uptodate", "v4-phala-near-uptodate",
                        "v5-phala-no-matching-tcb-level", "v4-google-spr-e4-no-matching-tcb-level",
                        "v4-phala-old-platform-a-no-matching-tcb-level",
                        "v4-phala-old-platform-b-no-matching-tcb-level"}) {
    auto t = parse_tcb_info(collateral_text(c, "tcb_info"));
    EXPECT_TRUE(t) << c << ": " << t.error().message;
    auto q = parse_qe_identity(collateral_text(c, "qe_identity"));
    EXPECT_TRUE(q) << c << ": " << q.error().message;
  }
}

TEST(TcbInfoParse, RejectsSgxCollateral) {
  VP_REQUIRE_SHARED_TESTDATA();
  // A TDX-only verifier must not accept SGX TCB info (id "SGX") or the SGX QE identity.
  expect_error(parse_tcb_info(collateral_text("sgx-v3-phala-config-and-sw-hardening", "tcb_info")),
               errc::malformed_collateral, "tcbInfo.id");
  expect_error(parse_qe_identity(collateral_text("sgx-v3-phala-config-and-sw-hardening", "qe_identity")),
               errc::malformed_collateral, "enclaveIdentity.id");
}

TEST(QeIdentityParse, RealPhalaV1) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto r = parse_qe_identity(collateral_text("v4-phala-uptodate", "qe_identity"));
  ASSERT_TRUE(r) << r.error().message;
  const qe_identity& q = *r;
  EXPECT_EQ(q.id, "TD_QE");
  EXPECT_EQ(q.version, 2);
  EXPECT_EQ(to_unix_seconds(q.issue_date), 1750329147);  // 2025-06-19T10:32:27Z
  EXPECT_EQ(to_unix_seconds(q.next_update), 1752921147);
  EXPECT_EQ(q.tcb_evaluation_data_number, 17u);
  EXPECT_EQ(q.misc_select, 0u);
  EXPECT_EQ(q.misc_select_mask, 0xFFFFFFFFu);
  EXPECT_EQ(q.attributes, (std::array<std::uint8_t, 16>{0x11}));
  EXPECT_EQ(q.attributes_mask,
            (std::array<std::uint8_t, 16>{0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(q.mr_signer, (std::array<std::uint8_t, 32>{0xDC, 0x9E, 0x2A, 0x7C, 0x6F, 0x94, 0x8F, 0x17,
                                                        0x47, 0x4E, 0x34, 0xA7, 0xFC, 0x43, 0xED, 0x03,
                                                        0x0F, 0x7C, 0x15, 0x63, 0xF1, 0xBA, 0xBD, 0xDF,
                                                        0x63, 0x40, 0xC8, 0x2E, 0x0E, 0x54, 0xA8, 0xC5}));
  EXPECT_EQ(q.isv_prod_id, 2);
  ASSERT_EQ(q.levels.size(), 1u);
  EXPECT_EQ(q.levels[0].isv_svn, 4);
  EXPECT_EQ(q.levels[0].status, tcb_status::up_to_date);
  EXPECT_EQ(q.levels[0].tcb_date, at("2024-03-13T00:00:00Z"));
  EXPECT_TRUE(q.levels[0].advisory_ids.empty());
}

TEST(TcbInfoParse, ParsesRawPcsBodyInnerObject) {
  VP_REQUIRE_SHARED_TESTDATA();
  // A PCS response wraps the object: {"tcbInfo":{…},"signature":"…"}. The wrapper
  // itself is not a tcbInfo.
  const std::string body = test::read_shared("nearai/gateway-2026-04-24/pcs/gateway/tcb_info.json");
  expect_error(parse_tcb_info(body), errc::malformed_collateral, "tcbInfo.id: missing");
  const json::value v = json::parse(body);
  auto r = parse_tcb_info(json::serialize(v.as_object().at("tcbInfo")));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fmspc, (std::array<std::uint8_t, 6>{0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00}));  // "b0c06f000000"
  EXPECT_EQ(r->tcb_evaluation_data_number, 18u);
  EXPECT_EQ(r->levels.size(), 3u);
}

// ---------------------------------------------------------------------------------
// Synthetic collateral: a minimal valid document, then one defect at a time.

json::array components(std::initializer_list<int> leading) {
  json::array a;
  for (int svn : leading) a.push_back(json::object{{"svn", svn}, {"category", "BIOS"}});
  while (a.size() < 16) a.push_back(json::object{{"svn", 0}});
  return a;
}

json::object platform_level(int pce, const char* status) {
  return json::object{
      {"tcb", json::object{{"sgxtcbcomponents", components({2, 2, 2, 2, 3, 1, 0, 5})},
                           {"pcesvn", pce},
                           {"tdxtcbcomponents", components({5, 0, 2})}}},
      {"tcbDate", "2024-03-13T00:00:00Z"},
      {"tcbStatus", status}};
}

json::object valid_tcb_info() {
  const std::string zero96(96, '0');
  json::object o;
  o["id"] = "TDX";
  o["version"] = 3;
  o["issueDate"] = "2025-06-19T10:16:03Z";
  o["nextUpdate"] = "2025-07-19T10:16:03Z";
  o["fmspc"] = "B0C06F000000";
  o["pceId"] = "0000";
  o["tcbType"] = 0;
  o["tcbEvaluationDataNumber"] = 17;
  o["tdxModule"] = json::object{{"mrsigner", zero96}, {"attributes", "0000000000000000"},
                                {"attributesMask", "FFFFFFFFFFFFFFFF"}};
  o["tdxModuleIdentities"] = json::array{json::object{
      {"id", "TDX_01"},
      {"mrsigner", zero96},
      {"attributes", "0000000000000000"},
      {"attributesMask", "FFFFFFFFFFFFFFFF"},
      {"tcbLevels", json::array{json::object{{"tcb", json::object{{"isvsvn", 4}}},
                                             {"tcbDate", "2024-03-13T00:00:00Z"},
                                             {"tcbStatus", "UpToDate"}},
                                json::object{{"tcb", json::object{{"isvsvn", 2}}},
                                             {"tcbDate", "2023-08-09T00:00:00Z"},
                                             {"tcbStatus", "OutOfDate"},
                                             {"advisoryIDs", json::array{"INTEL-SA-01036"}}}}}}};
  json::object second = platform_level(5, "OutOfDate");
  second["advisoryIDs"] = json::array{"INTEL-SA-00106", "INTEL-SA-00115"};
  o["tcbLevels"] = json::array{platform_level(11, "UpToDate"), second};
  return o;
}

json::object valid_qe_identity() {
  json::object o;
  o["id"] = "TD_QE";
  o["version"] = 2;
  o["issueDate"] = "2025-06-19T10:32:27Z";
  o["nextUpdate"] = "2025-07-19T10:32:27Z";
  o["tcbEvaluationDataNumber"] = 17;
  o["miscselect"] = "00000000";
  o["miscselectMask"] = "FFFFFFFF";
  o["attributes"] = "11000000000000000000000000000000";
  o["attributesMask"] = "FBFFFFFFFFFFFFFF0000000000000000";
  o["mrsigner"] = "DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5";
  o["isvprodid"] = 2;
  o["tcbLevels"] = json::array{json::object{{"tcb", json::object{{"isvsvn", 4}}},
                                            {"tcbDate", "2024-03-13T00:00:00Z"},
                                            {"tcbStatus", "UpToDate"}},
                               json::object{{"tcb", json::object{{"isvsvn", 2}}},
                                            {"tcbDate", "2023-02-15T00:00:00Z"},
                                            {"tcbStatus", "OutOfDate"},
                                            {"advisoryIDs", json::array{"INTEL-SA-00837"}}}};
  return o;
}

result<tcb_info> parse_tcb(const json::value& v) { return parse_tcb_info(json::serialize(v)); }
result<qe_identity> parse_qe(const json::value& v) { return parse_qe_identity(json::serialize(v)); }

json::object& level0(json::object& o) { return o["tcbLevels"].as_array()[0].as_object(); }
json::object& level0_tcb(json::object& o) { return level0(o)["tcb"].as_object(); }

TEST(TcbInfoParse, SyntheticBaselineParses) {
  auto r = parse_tcb(valid_tcb_info());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->levels.size(), 2u);
  EXPECT_EQ(r->levels[1].advisory_ids, (std::vector<std::string>{"INTEL-SA-00106", "INTEL-SA-00115"}));
  ASSERT_EQ(r->tdx_module_identities.size(), 1u);
  EXPECT_EQ(r->tdx_module_identities[0].levels[1].advisory_ids, (std::vector<std::string>{"INTEL-SA-01036"}));
  auto q = parse_qe(valid_qe_identity());
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->levels.size(), 2u);
  EXPECT_EQ(q->levels[1].advisory_ids, (std::vector<std::string>{"INTEL-SA-00837"}));
}

TEST(TcbInfoParse, RejectsWrongIdAndVersion) {
  auto o = valid_tcb_info();
  o["id"] = "SGX";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.id");
  o = valid_tcb_info();
  o["id"] = "tdx";  // ids are case-sensitive
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.id");
  o = valid_tcb_info();
  o["version"] = 2;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.version: 2 is not 3");
  o["version"] = 4;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.version: 4 is not 3");
  o["version"] = "3";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.version: expected an integer");
  o["version"] = 3.0;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.version: expected an integer");
  o = valid_tcb_info();
  o["tcbType"] = 1;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbType");
}

TEST(TcbInfoParse, RequiresExactly16ComponentsEach) {
  auto o = valid_tcb_info();
  level0_tcb(o)["sgxtcbcomponents"].as_array().pop_back();
  expect_error(parse_tcb(o), errc::malformed_collateral,
               "tcbInfo.tcbLevels[0].tcb.sgxtcbcomponents: has 15 entries, expected exactly 16");
  o = valid_tcb_info();
  level0_tcb(o)["tdxtcbcomponents"].as_array().push_back(json::object{{"svn", 0}});
  expect_error(parse_tcb(o), errc::malformed_collateral,
               "tcbInfo.tcbLevels[0].tcb.tdxtcbcomponents: has 17 entries, expected exactly 16");
  o = valid_tcb_info();
  level0_tcb(o).erase("tdxtcbcomponents");  // an SGX-shaped level inside TDX TCB info
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[0].tcb.tdxtcbcomponents: missing");
  o = valid_tcb_info();
  level0_tcb(o)["sgxtcbcomponents"].as_array()[4] = 3;  // a bare number, not {svn}
  expect_error(parse_tcb(o), errc::malformed_collateral, "sgxtcbcomponents[4]: expected an object");
  o = valid_tcb_info();
  level0_tcb(o)["sgxtcbcomponents"].as_array()[4].as_object()["category"] = 7;
  expect_error(parse_tcb(o), errc::malformed_collateral, "sgxtcbcomponents[4].category");
}

TEST(TcbInfoParse, RejectsSvnsOutOfRange) {
  auto o = valid_tcb_info();
  level0_tcb(o)["sgxtcbcomponents"].as_array()[3].as_object()["svn"] = 256;
  expect_error(parse_tcb(o), errc::malformed_collateral,
               "tcbInfo.tcbLevels[0].tcb.sgxtcbcomponents[3].svn: 256 is out of range 0..255");
  o = valid_tcb_info();
  level0_tcb(o)["tdxtcbcomponents"].as_array()[15].as_object()["svn"] = -1;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tdxtcbcomponents[15].svn: -1 is negative");
  o = valid_tcb_info();
  level0_tcb(o)["tdxtcbcomponents"].as_array()[0].as_object()["svn"] = 1.5;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tdxtcbcomponents[0].svn: expected an integer");
  o = valid_tcb_info();
  level0_tcb(o)["tdxtcbcomponents"].as_array()[0].as_object()["svn"] = 255;  // the top of the range is fine
  EXPECT_TRUE(parse_tcb(o));
  o = valid_tcb_info();
  level0_tcb(o)["pcesvn"] = 65536;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[0].tcb.pcesvn: 65536 is out of range");
  o = valid_tcb_info();
  level0_tcb(o)["pcesvn"] = 65535;
  EXPECT_TRUE(parse_tcb(o));
  o = valid_tcb_info();
  o["tdxModuleIdentities"].as_array()[0].as_object()["tcbLevels"].as_array()[0].as_object()["tcb"].as_object()
      ["isvsvn"] = 256;
  expect_error(parse_tcb(o), errc::malformed_collateral,
               "tcbInfo.tdxModuleIdentities[0].tcbLevels[0].tcb.isvsvn: 256 is out of range 0..255");
  o = valid_tcb_info();
  o["tcbEvaluationDataNumber"] = 4294967296;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbEvaluationDataNumber");
}

TEST(TcbInfoParse, RejectsBadDates) {
  for (const char* bad : {"2025-13-01T00:00:00Z", "2025-06-19T10:16:03+01:00", "2025-06-19", "yesterday", ""}) {
    auto o = valid_tcb_info();
    o["nextUpdate"] = bad;
    expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.nextUpdate: not an RFC 3339 UTC date");
  }
  auto o = valid_tcb_info();
  level0(o)["tcbDate"] = "2024-02-30T00:00:00Z";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[0].tcbDate");
  o = valid_tcb_info();
  o["issueDate"] = 1750328163;
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.issueDate: expected a string");
}

TEST(TcbInfoParse, RejectsBadHex) {
  auto o = valid_tcb_info();
  o["fmspc"] = "B0C06F00000G";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.fmspc: not hex");
  o["fmspc"] = "B0C06F0000";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.fmspc: expected 12 hex digits, got 10");
  o["fmspc"] = "0xB0C06F0000";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.fmspc: not hex");
  o = valid_tcb_info();
  o["pceId"] = "000";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.pceId: expected 4 hex digits");
  o = valid_tcb_info();
  o["tdxModule"].as_object()["mrsigner"] = std::string(94, '0');
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tdxModule.mrsigner: expected 96 hex digits");
  o = valid_tcb_info();
  o["tdxModuleIdentities"].as_array()[0].as_object()["attributesMask"] = "FFFFFFFFFFFFFFFZ";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tdxModuleIdentities[0].attributesMask: not hex");
}

TEST(TcbInfoParse, UnknownStatusIsItsOwnError) {
  auto o = valid_tcb_info();
  level0(o)["tcbStatus"] = "Unknown";
  expect_error(parse_tcb(o), errc::unknown_tcb_status, "tcbInfo.tcbLevels[0].tcbStatus: \"Unknown\"");
  o = valid_tcb_info();
  level0(o)["tcbStatus"] = "uptodate";
  expect_error(parse_tcb(o), errc::unknown_tcb_status, "not a TCB status Intel defines");
  o = valid_tcb_info();
  o["tdxModuleIdentities"].as_array()[0].as_object()["tcbLevels"].as_array()[1].as_object()["tcbStatus"] =
      "TD_RELAUNCH_ADVISED";
  expect_error(parse_tcb(o), errc::unknown_tcb_status, "tcbInfo.tdxModuleIdentities[0].tcbLevels[1].tcbStatus");
  o = valid_tcb_info();
  level0(o)["tcbStatus"] = 0;  // not a string at all: a shape error
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[0].tcbStatus: expected a string");
}

TEST(TcbInfoParse, EveryRequiredFieldIsRequired) {
  for (const char* key : {"id", "version", "issueDate", "nextUpdate", "fmspc", "pceId", "tcbType",
                          "tcbEvaluationDataNumber", "tdxModule", "tcbLevels"}) {
    auto o = valid_tcb_info();
    o.erase(key);
    expect_error(parse_tcb(o), errc::malformed_collateral, std::string("tcbInfo.") + key + ": missing");
  }
  for (const char* key : {"mrsigner", "attributes", "attributesMask"}) {
    auto o = valid_tcb_info();
    o["tdxModule"].as_object().erase(key);
    expect_error(parse_tcb(o), errc::malformed_collateral, std::string("tcbInfo.tdxModule.") + key + ": missing");
  }
  for (const char* key : {"id", "mrsigner", "attributes", "attributesMask", "tcbLevels"}) {
    auto o = valid_tcb_info();
    o["tdxModuleIdentities"].as_array()[0].as_object().erase(key);
    expect_error(parse_tcb(o), errc::malformed_collateral,
                 std::string("tcbInfo.tdxModuleIdentities[0].") + key + ": missing");
  }
  for (const char* key : {"tcb", "tcbDate", "tcbStatus"}) {
    auto o = valid_tcb_info();
    level0(o).erase(key);
    expect_error(parse_tcb(o), errc::malformed_collateral, std::string("tcbInfo.tcbLevels[0].") + key + ": missing");
  }
  for (const char* key : {"sgxtcbcomponents", "pcesvn", "tdxtcbcomponents"}) {
    auto o = valid_tcb_info();
    level0_tcb(o).erase(key);
    expect_error(parse_tcb(o), errc::malformed_collateral,
                 std::string("tcbInfo.tcbLevels[0].tcb.") + key + ": missing");
  }
  auto o = valid_tcb_info();
  level0_tcb(o)["sgxtcbcomponents"].as_array()[9].as_object().erase("svn");
  expect_error(parse_tcb(o), errc::malformed_collateral, "sgxtcbcomponents[9].svn: missing");
}

TEST(TcbInfoParse, OptionalFields) {
  // tdxModuleIdentities may be absent (2023 data), advisoryIDs too, category/type too.
  auto o = valid_tcb_info();
  o.erase("tdxModuleIdentities");
  auto r = parse_tcb(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->tdx_module_identities.empty());
  // …but when present they must have the right shape (Intel rejects an empty list).
  o["tdxModuleIdentities"] = json::array{};
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tdxModuleIdentities: must not be empty");
  o["tdxModuleIdentities"] = json::object{};
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tdxModuleIdentities: expected an array");
  o = valid_tcb_info();
  level0(o)["advisoryIDs"] = "INTEL-SA-00106";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[0].advisoryIDs: expected an array");
  level0(o)["advisoryIDs"] = json::array{"INTEL-SA-00106", 5};
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[0].advisoryIDs[1]: expected a string");
  // Unknown fields are ignored (forward compatibility; the signature covers them anyway).
  o = valid_tcb_info();
  o["somethingNew"] = json::array{1, 2};
  EXPECT_TRUE(parse_tcb(o));
}

TEST(TcbInfoParse, RejectsEmptyAndDuplicateLevels) {
  auto o = valid_tcb_info();
  o["tcbLevels"] = json::array{};
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels: must not be empty");
  o = valid_tcb_info();
  // Same SVNs, different status: Intel's parser rejects this ("duplicated TCB levels").
  o["tcbLevels"].as_array().push_back(platform_level(11, "Revoked"));
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[2]: duplicate TCB level");
  o = valid_tcb_info();
  auto& module_levels = o["tdxModuleIdentities"].as_array()[0].as_object()["tcbLevels"].as_array();
  module_levels.push_back(module_levels[0]);
  expect_error(parse_tcb(o), errc::malformed_collateral, "duplicate module TCB level isvsvn 4");
  o = valid_tcb_info();
  o["tdxModuleIdentities"].as_array()[0].as_object()["tcbLevels"] = json::array{};
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tdxModuleIdentities[0].tcbLevels: must not be empty");
  o = valid_tcb_info();
  auto& ids = o["tdxModuleIdentities"].as_array();
  ids.push_back(ids[0]);
  ids[1].as_object()["id"] = "tdx_01";  // collides case-insensitively
  expect_error(parse_tcb(o), errc::malformed_collateral, "duplicate TDX module identity id \"tdx_01\"");
}

TEST(TcbInfoParse, RejectsNonObjectsAndBrokenText) {
  for (const char* text : {"[]", "\"TDX\"", "42", "null", "true"}) {
    expect_error(parse_tcb_info(text), errc::malformed_collateral, "tcbInfo: expected an object");
  }
  const std::string full = json::serialize(valid_tcb_info());
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, full.size() / 2, full.size() - 1}) {
    expect_error(parse_tcb_info(std::string_view(full).substr(0, cut)), errc::malformed_collateral,
                 "tcbInfo is not valid JSON");
  }
  expect_error(parse_tcb_info(full + "}"), errc::malformed_collateral, "tcbInfo is not valid JSON");
  std::string with_nul = "{\"id\":\"TDX";
  with_nul.push_back('\0');  // a raw control character inside a JSON string
  with_nul += "\"}";
  expect_error(parse_tcb_info(with_nul), errc::malformed_collateral, "tcbInfo is not valid JSON");
  auto o = valid_tcb_info();
  o["tcbLevels"].as_array()[1] = "level";
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tcbLevels[1]: expected an object, got a string");
  o = valid_tcb_info();
  o["tdxModule"] = json::array{};
  expect_error(parse_tcb(o), errc::malformed_collateral, "tcbInfo.tdxModule: expected an object, got an array");
}

TEST(TcbInfoParse, MessagesDoNotEchoUnboundedText) {
  auto o = valid_tcb_info();
  o["fmspc"] = std::string(10000, 'Z') + "\x01\n";
  auto r = parse_tcb(o);
  ASSERT_FALSE(r);
  EXPECT_LT(r.error().message.size(), 300u) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

// ---------------------------------------------------------------------------------
// QE identity

TEST(QeIdentityParse, RejectsWrongIdAndVersion) {
  auto o = valid_qe_identity();
  o["id"] = "QE";
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.id: \"QE\" is not \"TD_QE\"");
  o["id"] = "QVE";
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.id");
  o = valid_qe_identity();
  o["version"] = 1;
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.version: 1 is not 2");
  o["version"] = 3;
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.version: 3 is not 2");
}

TEST(QeIdentityParse, MiscselectIsLittleEndian) {
  auto o = valid_qe_identity();
  o["miscselect"] = "01000000";
  o["miscselectMask"] = "FEFFFFFF";
  auto r = parse_qe(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->misc_select, 0x00000001u);
  EXPECT_EQ(r->misc_select_mask, 0xFFFFFFFEu);
}

TEST(QeIdentityParse, RejectsBadFields) {
  auto o = valid_qe_identity();
  o["mrsigner"] = std::string(62, 'A');
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.mrsigner: expected 64 hex digits, got 62");
  o = valid_qe_identity();
  o["attributes"] = "11";
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.attributes: expected 32 hex digits");
  o = valid_qe_identity();
  o["miscselect"] = "0000000X";
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.miscselect: not hex");
  o = valid_qe_identity();
  o["isvprodid"] = 65536;
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.isvprodid: 65536 is out of range 0..65535");
  o = valid_qe_identity();
  o["tcbLevels"].as_array()[0].as_object()["tcb"].as_object()["isvsvn"] = 65536;
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.tcbLevels[0].tcb.isvsvn: 65536");
  o["tcbLevels"].as_array()[0].as_object()["tcb"].as_object()["isvsvn"] = 65535;
  EXPECT_TRUE(parse_qe(o));
  o = valid_qe_identity();
  o["tcbLevels"].as_array()[1].as_object()["tcbStatus"] = "Outdated";
  expect_error(parse_qe(o), errc::unknown_tcb_status, "enclaveIdentity.tcbLevels[1].tcbStatus: \"Outdated\"");
  o = valid_qe_identity();
  o["tcbLevels"].as_array()[1].as_object()["tcbDate"] = "2023-02-15T00:00:00";
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.tcbLevels[1].tcbDate");
  o = valid_qe_identity();
  o["tcbLevels"] = json::array{};
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.tcbLevels: must not be empty");
  for (const char* text : {"[]", "1", "", "{\"id\":\"TD_QE\""}) {
    auto r = parse_qe_identity(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().kind, errc::malformed_collateral) << text;
  }
}

TEST(QeIdentityParse, EveryRequiredFieldIsRequired) {
  for (const char* key : {"id", "version", "issueDate", "nextUpdate", "tcbEvaluationDataNumber", "miscselect",
                          "miscselectMask", "attributes", "attributesMask", "mrsigner", "isvprodid", "tcbLevels"}) {
    auto o = valid_qe_identity();
    o.erase(key);
    expect_error(parse_qe(o), errc::malformed_collateral, std::string("enclaveIdentity.") + key + ": missing");
  }
  for (const char* key : {"tcb", "tcbDate", "tcbStatus"}) {
    auto o = valid_qe_identity();
    o["tcbLevels"].as_array()[0].as_object().erase(key);
    expect_error(parse_qe(o), errc::malformed_collateral, std::string("enclaveIdentity.tcbLevels[0].") + key + ": missing");
  }
  auto o = valid_qe_identity();
  o["tcbLevels"].as_array()[0].as_object()["tcb"].as_object().erase("isvsvn");
  expect_error(parse_qe(o), errc::malformed_collateral, "enclaveIdentity.tcbLevels[0].tcb.isvsvn: missing");
}

}  // namespace
}  // namespace vp::tdx
