#include "tdx/tcb_evaluation.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <array>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "support/testdata.hpp"

namespace vp::tdx {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using svn16 = std::array<std::uint8_t, 16>;

std::string name(tcb_status s) { return std::string(to_string(s)); }
std::string name(std::optional<tcb_status> s) { return s ? name(*s) : std::string("(none)"); }

unix_time at(const char* rfc3339) { return *parse_rfc3339_utc(rfc3339); }

svn16 svns(std::initializer_list<int> leading) {
  svn16 out{};
  std::size_t i = 0;
  for (int v : leading) out[i++] = static_cast<std::uint8_t>(v);
  return out;
}

tcb_level level(svn16 sgx, std::uint16_t pce, svn16 tdx, tcb_status status, std::vector<std::string> advisories = {},
                const char* date = "2024-03-13T00:00:00Z") {
  tcb_level l;
  l.sgx_components = sgx;
  l.pce_svn = pce;
  l.tdx_components = tdx;
  l.status = status;
  l.advisory_ids = std::move(advisories);
  l.tcb_date = at(date);
  return l;
}

tdx_module_level module_level(std::uint8_t isv_svn, tcb_status status, std::vector<std::string> advisories = {}) {
  tdx_module_level l;
  l.isv_svn = isv_svn;
  l.status = status;
  l.advisory_ids = std::move(advisories);
  l.tcb_date = at("2024-03-13T00:00:00Z");
  return l;
}

tdx_module_identity module_identity(std::string id, std::vector<tdx_module_level> levels) {
  tdx_module_identity m;
  m.id = std::move(id);
  m.attributes_mask.fill(0xFF);
  m.levels = std::move(levels);
  return m;
}

/// The shape of V1's tcbInfo (tdx/v4-phala-uptodate, FMSPC B0C06F000000).
tcb_info v1_info() {
  tcb_info t;
  t.id = "TDX";
  t.version = 3;
  t.fmspc = {0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00};
  t.tdx_module.attributes_mask.fill(0xFF);
  t.tdx_module_identities = {
      module_identity("TDX_03", {module_level(3, tcb_status::up_to_date)}),
      module_identity("TDX_01", {module_level(4, tcb_status::up_to_date), module_level(2, tcb_status::out_of_date)}),
  };
  t.levels = {
      level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 11, svns({5, 0, 2}), tcb_status::up_to_date),
      level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 5, svns({5, 0, 2}), tcb_status::out_of_date,
            {"INTEL-SA-00106", "INTEL-SA-00115"}, "2018-01-04T00:00:00Z"),
  };
  return t;
}

constexpr std::array<std::uint8_t, 32> td_qe_mrsigner = {
    0xDC, 0x9E, 0x2A, 0x7C, 0x6F, 0x94, 0x8F, 0x17, 0x47, 0x4E, 0x34, 0xA7, 0xFC, 0x43, 0xED, 0x03,
    0x0F, 0x7C, 0x15, 0x63, 0xF1, 0xBA, 0xBD, 0xDF, 0x63, 0x40, 0xC8, 0x2E, 0x0E, 0x54, 0xA8, 0xC5};

qe_tcb_level qe_level(std::uint16_t isv_svn, tcb_status status, std::vector<std::string> advisories = {}) {
  qe_tcb_level l;
  l.isv_svn = isv_svn;
  l.status = status;
  l.advisory_ids = std::move(advisories);
  l.tcb_date = at("2024-03-13T00:00:00Z");
  return l;
}

qe_identity td_qe() {
  qe_identity q;
  q.id = "TD_QE";
  q.version = 2;
  q.misc_select = 0;
  q.misc_select_mask = 0xFFFFFFFF;
  q.attributes = {0x11};
  q.attributes_mask = {0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  q.mr_signer = td_qe_mrsigner;
  q.isv_prod_id = 2;
  q.levels = {qe_level(4, tcb_status::up_to_date)};
  return q;
}

enclave_report qe_report(std::uint16_t isv_svn = 6) {
  enclave_report r;
  r.misc_select = 0;
  r.attributes = {0x11};
  r.mr_signer = td_qe_mrsigner;
  r.isv_prod_id = 2;
  r.isv_svn = isv_svn;
  return r;
}

pck_extension pck(svn16 sgx = svns({3, 3, 2, 2, 4, 1, 0, 5}), std::uint16_t pce_svn = 11) {
  pck_extension p;
  p.sgx_tcb_components = sgx;
  p.pce_svn = pce_svn;
  p.fmspc = {0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00};
  return p;
}

td_report td(svn16 tee_tcb_svn) {
  td_report r;
  r.tee_tcb_svn = tee_tcb_svn;
  return r;
}

/// §2.13 worked example, vector V1: TEE_TCB_SVN 06 01 03, QE ISVSVN 6.
quote v1_quote(svn16 tee_tcb_svn = svns({6, 1, 3})) {
  quote q;
  q.header.version = 4;
  q.header.tee_type = tee_type_tdx;
  q.body_type = body_type_td10;
  q.td = td(tee_tcb_svn);
  q.qe_report = qe_report(6);
  return q;
}

template <class T>
void expect_error(const result<T>& r, errc kind, const std::string& fragment) {
  ASSERT_FALSE(r.has_value()) << "expected " << to_string(kind) << " mentioning " << fragment;
  EXPECT_EQ(to_string(r.error().kind), to_string(kind)) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr(fragment));
}

// ---------------------------------------------------------------------------------
// §2.13 worked example

TEST(TcbEvaluation, WorkedExampleV1IsUpToDate) {
  auto platform = match_platform_tcb_level(v1_info(), pck(), td(svns({6, 1, 3})));
  ASSERT_TRUE(platform) << platform.error().message;
  EXPECT_EQ(platform->level.pce_svn, 11);
  EXPECT_EQ(name(platform->level.status), "UpToDate");

  auto ev = evaluate_tcb(v1_info(), td_qe(), pck(), v1_quote());
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->status), "UpToDate");
  EXPECT_EQ(name(ev->platform_status), "UpToDate");
  EXPECT_EQ(name(ev->module_status), "UpToDate");
  EXPECT_EQ(ev->module_identity_id, "TDX_01");
  EXPECT_EQ(name(ev->qe_status), "UpToDate");
  EXPECT_TRUE(ev->advisory_ids.empty());
  EXPECT_EQ(ev->tcb_date, at("2024-03-13T00:00:00Z"));
  EXPECT_FALSE(ev->relaunch_advised);
}

TEST(TcbEvaluation, DoesNotCheckFmspcOrPceId) {
  // FMSPC / PCE-ID equality belongs to the verifier (S6), which runs before this.
  auto p = pck();
  p.fmspc = {0x00, 0x60, 0x6A, 0x00, 0x00, 0x00};
  p.pce_id = {0x01, 0x00};
  auto ev = evaluate_tcb(v1_info(), td_qe(), p, v1_quote());
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->status), "UpToDate");
}

// ---------------------------------------------------------------------------------
// Platform level matching (§2.13)

TEST(PlatformTcbLevel, IndexTwoRuleWhenModuleVersionIsSet) {
  tcb_info info = v1_info();
  info.levels = {level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 11, svns({5, 0, 2}), tcb_status::up_to_date)};
  // TEE_TCB_SVN 04 01 02: [0] = 4 < 5, but [1] > 0 so only indices 2..15 count
  // (automata-dcap-attestation #69, where dcap-qvl says "no matching level").
  auto m = match_platform_tcb_level(info, pck(), td(svns({4, 1, 2})));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(name(m->level.status), "UpToDate");
  // TEE_TCB_SVN 04 00 02: a TDX 1.0 module, all 16 bytes count, 4 < 5.
  auto none = match_platform_tcb_level(info, pck(), td(svns({4, 0, 2})));
  expect_error(none, errc::no_matching_tcb_level, "TEE_TCB_SVN[0] 4 < 5");
  // With [1] == 0 and every byte high enough it matches.
  EXPECT_TRUE(match_platform_tcb_level(info, pck(), td(svns({5, 0, 2}))));
  // Indices 2..15 still count when [1] > 0.
  expect_error(match_platform_tcb_level(info, pck(), td(svns({9, 1, 1}))), errc::no_matching_tcb_level,
               "TEE_TCB_SVN[2] 1 < 2");
  auto high_index = info;
  high_index.levels[0].tdx_components[15] = 1;
  expect_error(match_platform_tcb_level(high_index, pck(), td(svns({9, 1, 9}))), errc::no_matching_tcb_level,
               "TEE_TCB_SVN[15] 0 < 1");
}

TEST(PlatformTcbLevel, IndexTwoRuleThroughEvaluateTcb) {
  tcb_info info = v1_info();
  info.levels = {level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 11, svns({5, 0, 2}), tcb_status::up_to_date)};
  auto ev = evaluate_tcb(info, td_qe(), pck(), v1_quote(svns({4, 1, 2})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->platform_status), "UpToDate");
  EXPECT_EQ(name(ev->module_status), "UpToDate");  // TDX_01 level isvsvn 4 <= 4
  EXPECT_EQ(name(ev->status), "UpToDate");
  expect_error(evaluate_tcb(info, td_qe(), pck(), v1_quote(svns({4, 0, 2}))), errc::no_matching_tcb_level,
               "no TCB level matches");
}

TEST(PlatformTcbLevel, EveryComponentAndPcesvnCounts) {
  const tcb_info info = v1_info();
  for (std::size_t i = 0; i < 16; ++i) {
    tcb_info one = info;
    for (auto& l : one.levels) l.sgx_components[i] = 200;
    expect_error(match_platform_tcb_level(one, pck(), td(svns({6, 1, 3}))), errc::no_matching_tcb_level,
                 "SGX component[" + std::to_string(i) + "]");
  }
  // PCESVN 4 is below both levels (11 and 5).
  expect_error(match_platform_tcb_level(info, pck(svns({3, 3, 2, 2, 4, 1, 0, 5}), 4), td(svns({6, 1, 3}))),
               errc::no_matching_tcb_level, "PCESVN 4 < 5");
  // PCESVN 10 only reaches the OutOfDate level.
  auto m = match_platform_tcb_level(info, pck(svns({3, 3, 2, 2, 4, 1, 0, 5}), 10), td(svns({6, 1, 3})));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->level.pce_svn, 5);
  EXPECT_EQ(name(m->level.status), "OutOfDate");
}

TEST(PlatformTcbLevel, LevelsOutOfOrderStillPickTheHighestMatch) {
  tcb_info info = v1_info();
  // JSON order: lowest first. Intel sorts descending before walking.
  info.levels = {
      level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 5, svns({5, 0, 2}), tcb_status::out_of_date, {}, "2018-01-04T00:00:00Z"),
      level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 11, svns({5, 0, 2}), tcb_status::out_of_date, {}, "2024-03-13T00:00:00Z"),
      level(svns({9, 9, 9, 9, 9, 9, 9, 9}), 11, svns({5, 0, 2}), tcb_status::up_to_date, {}, "2025-01-01T00:00:00Z"),
      level(svns({3, 3, 2, 2, 4, 1, 0, 5}), 11, svns({5, 0, 3}), tcb_status::up_to_date, {}, "2024-11-13T00:00:00Z"),
  };
  auto m = match_platform_tcb_level(info, pck(), td(svns({6, 1, 3})));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->level.tcb_date, at("2024-11-13T00:00:00Z"));
  // Same SGX and PCESVN, lower TEE_TCB_SVN[2]: the TDX components order the levels.
  auto lower = match_platform_tcb_level(info, pck(), td(svns({6, 1, 2})));
  ASSERT_TRUE(lower) << lower.error().message;
  EXPECT_EQ(lower->level.tcb_date, at("2024-03-13T00:00:00Z"));
  EXPECT_EQ(name(lower->level.status), "OutOfDate");
}

TEST(PlatformTcbLevel, SgxComponentsOrderLexicographically) {
  tcb_info info = v1_info();
  // Intel's comparator is lexicographic: [3,0,…] sorts above [2,9,…] although the
  // latter has a higher component. A PCK meeting both gets the [3,0,…] level.
  info.levels = {
      level(svns({2, 9}), 0, svns({}), tcb_status::sw_hardening_needed),
      level(svns({3, 0}), 0, svns({}), tcb_status::configuration_needed),
  };
  auto m = match_platform_tcb_level(info, pck(svns({3, 9})), td(svns({0, 1})));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(name(m->level.status), "ConfigurationNeeded");
}

TEST(PlatformTcbLevel, EqualLevelsCollapseToTheFirst) {
  tcb_info info = v1_info();
  // The parser rejects duplicates; hand-built data gets std::set semantics: the first
  // inserted (JSON order) survives.
  info.levels = {
      level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 11, svns({5, 0, 2}), tcb_status::configuration_needed),
      level(svns({2, 2, 2, 2, 3, 1, 0, 5}), 11, svns({5, 0, 2}), tcb_status::up_to_date),
  };
  auto m = match_platform_tcb_level(info, pck(), td(svns({6, 1, 3})));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(name(m->level.status), "ConfigurationNeeded");
}

TEST(PlatformTcbLevel, NoMatchingLevelExplainsWhy) {
  // The old-platform vectors: PCK CPUSVN [2,2,2,2,3,1,0,3,…] against levels needing 5 at index 7.
  auto r = match_platform_tcb_level(v1_info(), pck(svns({2, 2, 2, 2, 3, 1, 0, 3})), td(svns({6, 1, 3})));
  expect_error(r, errc::no_matching_tcb_level,
               "no TCB level matches: PCK SGX components [2,2,2,2,3,1,0,3,0,0,0,0,0,0,0,0] PCESVN 11 TEE_TCB_SVN "
               "[6,1,3,0,0,0,0,0,0,0,0,0,0,0,0,0]");
  EXPECT_THAT(r.error().message, HasSubstr("compared from index 2"));
  EXPECT_THAT(r.error().message,
              HasSubstr("lowest level requires SGX components [2,2,2,2,3,1,0,5,0,0,0,0,0,0,0,0] PCESVN 5"));
  EXPECT_THAT(r.error().message, HasSubstr("SGX component[7] 3 < 5"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("PCESVN 11 <")));

  // SGX + PCESVN fine, TEE_TCB_SVN too low: the message says which part failed.
  auto tdx_low = match_platform_tcb_level(v1_info(), pck(), td(svns({6, 1, 1})));
  expect_error(tdx_low, errc::no_matching_tcb_level, "SGX components and PCESVN meet the level dated 2024-03-13");
  EXPECT_THAT(tdx_low.error().message, HasSubstr("TEE_TCB_SVN[2] 1 < 2"));

  tcb_info empty = v1_info();
  empty.levels.clear();
  expect_error(match_platform_tcb_level(empty, pck(), td(svns({6, 1, 3}))), errc::no_matching_tcb_level,
               "no TCB levels");
}

// ---------------------------------------------------------------------------------
// TDX module (§2.12)

TEST(TdxModule, SelectsIdentityFromTeeTcbSvn1) {
  auto m = match_tdx_module(v1_info(), td(svns({3, 3, 3})));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->identity_id, "TDX_03");
  ASSERT_TRUE(m->level);
  EXPECT_EQ(m->level->isv_svn, 3);

  // Ids compare case-insensitively; the hex is upper-case (0x1A → "TDX_1A").
  tcb_info info = v1_info();
  info.tdx_module_identities.push_back(module_identity("tdx_1a", {module_level(1, tcb_status::up_to_date)}));
  auto lower = match_tdx_module(info, td(svns({1, 0x1A})));
  ASSERT_TRUE(lower) << lower.error().message;
  EXPECT_EQ(lower->identity_id, "TDX_1A");
}

TEST(TdxModule, MissingIdentityIsAMismatch) {
  expect_error(match_tdx_module(v1_info(), td(svns({6, 2, 3}))), errc::tdx_module_mismatch,
               "TEE_TCB_SVN[1] = 0x02 requires TDX module identity TDX_02, tcbInfo has TDX_03, TDX_01");
  // Intel's synthetic sample: 0xC1 with no TDX_C1.
  expect_error(match_tdx_module(v1_info(), td(svns({6, 0xC1}))), errc::tdx_module_mismatch, "TDX_C1");
  // 2023 TCB info has no identities at all: a module version > 0 cannot be judged.
  tcb_info old = v1_info();
  old.tdx_module_identities.clear();
  expect_error(match_tdx_module(old, td(svns({6, 1, 3}))), errc::tdx_module_mismatch, "no tdxModuleIdentities");
  expect_error(evaluate_tcb(old, td_qe(), pck(), v1_quote()), errc::tdx_module_mismatch, "TDX_01");
  // …but a TDX 1.0 module (TEE_TCB_SVN[1] == 0) needs none.
  auto v10 = match_tdx_module(old, td(svns({5, 0, 2})));
  ASSERT_TRUE(v10) << v10.error().message;
  EXPECT_EQ(v10->identity_id, "");
  EXPECT_FALSE(v10->level);
}

TEST(TdxModule, MrSignerSeamMustMatch) {
  td_report r = td(svns({6, 1, 3}));
  r.mr_signer_seam[47] = 0x01;
  expect_error(match_tdx_module(v1_info(), r), errc::tdx_module_mismatch, "MRSIGNERSEAM");
  expect_error(match_tdx_module(v1_info(), r), errc::tdx_module_mismatch, "of TDX module identity TDX_01");

  // The identity's mrsigner overrides the base tdxModule's.
  tcb_info info = v1_info();
  info.tdx_module_identities[1].mr_signer.fill(0xAB);
  expect_error(match_tdx_module(info, td(svns({6, 1, 3}))), errc::tdx_module_mismatch, "MRSIGNERSEAM");
  td_report signed_ab = td(svns({6, 1, 3}));
  signed_ab.mr_signer_seam.fill(0xAB);
  EXPECT_TRUE(match_tdx_module(info, signed_ab));

  // TEE_TCB_SVN[1] == 0: still checked, against the base tdxModule.
  tcb_info base = v1_info();
  base.tdx_module.mr_signer.fill(0xCD);
  expect_error(match_tdx_module(base, td(svns({5, 0, 2}))), errc::tdx_module_mismatch, "of tcbInfo.tdxModule");
}

TEST(TdxModule, SeamAttributesMustBeZeroAndEqual) {
  td_report r = td(svns({6, 1, 3}));
  r.seam_attributes[7] = 0x80;
  expect_error(match_tdx_module(v1_info(), r), errc::tdx_module_mismatch, "SEAMATTRIBUTES 0000000000000080");

  // Intel's literal rule: equal to the expected attributes is not enough, and the mask
  // is not applied.
  tcb_info info = v1_info();
  info.tdx_module_identities[1].attributes[7] = 0x80;
  expect_error(match_tdx_module(info, r), errc::tdx_module_mismatch, "must be all zero");
  info = v1_info();
  info.tdx_module_identities[1].attributes_mask.fill(0x00);
  expect_error(match_tdx_module(info, r), errc::tdx_module_mismatch, "must be all zero");
  // Non-zero expected attributes make every quote fail, as in Intel's code.
  info = v1_info();
  info.tdx_module_identities[1].attributes[0] = 0x01;
  expect_error(match_tdx_module(info, td(svns({6, 1, 3}))), errc::tdx_module_mismatch, "SEAMATTRIBUTES");

  // TEE_TCB_SVN[1] == 0: checked too.
  td_report v10 = td(svns({5, 0, 2}));
  v10.seam_attributes[0] = 0x01;
  expect_error(match_tdx_module(v1_info(), v10), errc::tdx_module_mismatch, "of tcbInfo.tdxModule");
}

TEST(TdxModule, LevelSelection) {
  // TDX_01 levels {4: UpToDate, 2: OutOfDate}.
  auto up = match_tdx_module(v1_info(), td(svns({4, 1})));
  ASSERT_TRUE(up && up->level);
  EXPECT_EQ(name(up->level->status), "UpToDate");
  auto old = match_tdx_module(v1_info(), td(svns({3, 1})));
  ASSERT_TRUE(old && old->level);
  EXPECT_EQ(old->level->isv_svn, 2);
  EXPECT_EQ(name(old->level->status), "OutOfDate");
  expect_error(match_tdx_module(v1_info(), td(svns({1, 1}))), errc::no_matching_tcb_level,
               "TEE_TCB_SVN[0] = 1 is below every TCB level of TDX module identity TDX_01 (lowest isvsvn 2)");

  // Intel keeps module levels in a set sorted by isvsvn descending: JSON order does not
  // matter, the highest isvsvn <= TEE_TCB_SVN[0] wins.
  tcb_info ascending = v1_info();
  ascending.tdx_module_identities[1].levels = {module_level(2, tcb_status::out_of_date),
                                               module_level(4, tcb_status::up_to_date),
                                               module_level(7, tcb_status::revoked)};
  auto m = match_tdx_module(ascending, td(svns({6, 1})));
  ASSERT_TRUE(m && m->level);
  EXPECT_EQ(m->level->isv_svn, 4);
  EXPECT_EQ(name(m->level->status), "UpToDate");
  auto revoked = match_tdx_module(ascending, td(svns({7, 1})));
  ASSERT_TRUE(revoked && revoked->level);
  EXPECT_EQ(name(revoked->level->status), "Revoked");
}

TEST(TdxModule, OnlyIntelsModuleStatusesAreAccepted) {
  tcb_info info = v1_info();
  info.tdx_module_identities[1].levels = {module_level(4, tcb_status::configuration_needed)};
  expect_error(match_tdx_module(info, td(svns({6, 1, 3}))), errc::unknown_tcb_status, "ConfigurationNeeded");
}

// ---------------------------------------------------------------------------------
// QE identity (§2.10)

TEST(QeIdentity, MatchesAndSelectsLevelInJsonOrder) {
  qe_identity id = td_qe();
  id.levels = {qe_level(4, tcb_status::up_to_date), qe_level(2, tcb_status::out_of_date, {"INTEL-SA-00837"})};
  auto m = match_qe_identity(id, qe_report(6));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->level.isv_svn, 4);
  auto three = match_qe_identity(id, qe_report(3));
  ASSERT_TRUE(three) << three.error().message;
  EXPECT_EQ(name(three->level.status), "OutOfDate");
  expect_error(match_qe_identity(id, qe_report(1)), errc::no_matching_tcb_level,
               "QE ISVSVN 1 is below every QE identity TCB level (isvsvn [4,2])");

  // Intel does not sort QE levels (EnclaveIdentityV2::getTcbStatus): the first entry in
  // JSON order with isvsvn <= ISVSVN wins, even if a later one is higher.
  id.levels = {qe_level(2, tcb_status::out_of_date), qe_level(4, tcb_status::up_to_date)};
  auto first = match_qe_identity(id, qe_report(6));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->level.isv_svn, 2);
}

TEST(QeIdentity, MiscselectUnderMask) {
  enclave_report r = qe_report();
  r.misc_select = 0x00000001;
  expect_error(match_qe_identity(td_qe(), r), errc::qe_identity_mismatch,
               "QE MISCSELECT 0x00000001 & miscselectMask 0xFFFFFFFF = 0x00000001 != miscselect 0x00000000");
  qe_identity id = td_qe();
  id.misc_select_mask = 0xFFFFFFFE;  // the bit is outside the mask
  EXPECT_TRUE(match_qe_identity(id, r));
}

TEST(QeIdentity, AttributesUnderMask) {
  enclave_report debug = qe_report();
  debug.attributes[0] = 0x13;  // DEBUG (bit 1) is inside the mask FB
  expect_error(match_qe_identity(td_qe(), debug), errc::qe_identity_mismatch, "QE ATTRIBUTES 13");
  enclave_report masked_out = qe_report();
  masked_out.attributes[0] = 0x15;  // bit 2 is outside the mask
  masked_out.attributes[8] = 0xFF;  // so are bytes 8..15 (XFRM)
  EXPECT_TRUE(match_qe_identity(td_qe(), masked_out));
  enclave_report not_init = qe_report();
  not_init.attributes[0] = 0x10;
  expect_error(match_qe_identity(td_qe(), not_init), errc::qe_identity_mismatch, "!= attributes 11");
}

TEST(QeIdentity, MrSignerAndProdIdAndId) {
  enclave_report r = qe_report();
  r.mr_signer[31] ^= 0x01;
  expect_error(match_qe_identity(td_qe(), r), errc::qe_identity_mismatch, "QE MRSIGNER");
  r = qe_report();
  r.isv_prod_id = 1;
  expect_error(match_qe_identity(td_qe(), r), errc::qe_identity_mismatch, "QE ISVPRODID 1 != isvprodid 2");
  qe_identity sgx_qe = td_qe();
  sgx_qe.id = "QE";
  expect_error(match_qe_identity(sgx_qe, qe_report()), errc::qe_identity_mismatch, "expected \"TD_QE\"");
}

TEST(QeIdentity, MismatchFailsEvaluation) {
  quote q = v1_quote();
  q.qe_report.isv_prod_id = 3;
  expect_error(evaluate_tcb(v1_info(), td_qe(), pck(), q), errc::qe_identity_mismatch, "ISVPRODID");
  q = v1_quote();
  q.qe_report.isv_svn = 3;  // below the only level (4)
  expect_error(evaluate_tcb(v1_info(), td_qe(), pck(), q), errc::no_matching_tcb_level, "QE ISVSVN 3");
}

// ---------------------------------------------------------------------------------
// Intel's convergence tables (§2.14)

constexpr tcb_status UTD = tcb_status::up_to_date;
constexpr tcb_status SWH = tcb_status::sw_hardening_needed;
constexpr tcb_status CN = tcb_status::configuration_needed;
constexpr tcb_status CSWH = tcb_status::configuration_and_sw_hardening_needed;
constexpr tcb_status OOD = tcb_status::out_of_date;
constexpr tcb_status OODCN = tcb_status::out_of_date_configuration_needed;
constexpr tcb_status REV = tcb_status::revoked;
constexpr std::array<tcb_status, 7> all_statuses = {UTD, SWH, CN, CSWH, OOD, OODCN, REV};

TEST(Convergence, ModuleTable) {
  // Rows: platform status; columns: module none, UpToDate, OutOfDate, Revoked
  // (QVL convergeTcbStatusWithTdxModuleStatus).
  struct row {
    tcb_status platform;
    std::array<tcb_status, 4> expected;
  };
  const row table[] = {
      {UTD, {UTD, UTD, OOD, REV}},       {SWH, {SWH, SWH, OOD, REV}},       {CN, {CN, CN, OODCN, REV}},
      {CSWH, {CSWH, CSWH, OODCN, REV}},  {OOD, {OOD, OOD, OOD, REV}},       {OODCN, {OODCN, OODCN, OODCN, REV}},
      {REV, {REV, REV, REV, REV}},
  };
  const std::array<std::optional<tcb_status>, 4> modules = {std::nullopt, UTD, OOD, REV};
  for (const auto& r : table) {
    for (std::size_t c = 0; c < modules.size(); ++c) {
      EXPECT_EQ(name(converge_with_module(r.platform, modules[c])), name(r.expected[c]))
          << "platform " << name(r.platform) << ", module " << name(modules[c]);
    }
  }
}

TEST(Convergence, QeTable) {
  // Rows: TDX status; columns: QE UpToDate, OutOfDate, Revoked
  // (QVL convergeTcbStatusWithQeTcbStatus).
  struct row {
    tcb_status tdx;
    std::array<tcb_status, 3> expected;
  };
  const row table[] = {
      {UTD, {UTD, OOD, REV}},     {SWH, {SWH, OOD, REV}},       {CN, {CN, OODCN, REV}},   {CSWH, {CSWH, OODCN, REV}},
      {OOD, {OOD, OOD, REV}},     {OODCN, {OODCN, OODCN, REV}}, {REV, {REV, REV, REV}},
  };
  const std::array<tcb_status, 3> qes = {UTD, OOD, REV};
  for (const auto& r : table) {
    for (std::size_t c = 0; c < qes.size(); ++c) {
      EXPECT_EQ(name(converge_with_qe(r.tdx, qes[c])), name(r.expected[c]))
          << "tdx " << name(r.tdx) << ", QE " << name(qes[c]);
    }
  }
}

TEST(Convergence, QeStatusesOtherThanUpToDateAndRevokedActAsOutOfDate) {
  // EnclaveReportVerifier: anything but UpToDate / Revoked is ISVSVN_OUT_OF_DATE.
  for (tcb_status qe : {SWH, CN, CSWH, OODCN}) {
    for (tcb_status tdx : all_statuses) {
      EXPECT_EQ(name(converge_with_qe(tdx, qe)), name(converge_with_qe(tdx, OOD)))
          << "tdx " << name(tdx) << ", QE " << name(qe);
    }
  }
}

TEST(Convergence, WhereIntelDiffersFromDcapQvl) {
  // dcap-qvl's severity maximum says OutOfDate here; Intel keeps the configuration need.
  EXPECT_EQ(converge_with_qe(CN, OOD), OODCN);
  EXPECT_EQ(converge_with_qe(CSWH, OOD), OODCN);
  EXPECT_EQ(converge_with_module(CN, OOD), OODCN);
  EXPECT_EQ(converge_with_module(CSWH, OOD), OODCN);
  // SW hardening information is dropped: plain OutOfDate.
  EXPECT_EQ(converge_with_qe(SWH, OOD), OOD);
  EXPECT_EQ(converge_with_module(SWH, OOD), OOD);
  // OutOfDateConfigurationNeeded stays as it is.
  EXPECT_EQ(converge_with_qe(OODCN, OOD), OODCN);
}

TEST(Convergence, ThroughEvaluateTcb) {
  // QE OutOfDate + platform ConfigurationNeeded → OutOfDateConfigurationNeeded.
  tcb_info info = v1_info();
  info.levels[0].status = CN;
  qe_identity qe = td_qe();
  qe.levels = {qe_level(7, UTD), qe_level(4, OOD, {"INTEL-SA-00999"})};
  auto ev = evaluate_tcb(info, qe, pck(), v1_quote());
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->platform_status), "ConfigurationNeeded");
  EXPECT_EQ(name(ev->qe_status), "OutOfDate");
  EXPECT_EQ(name(ev->status), "OutOfDateConfigurationNeeded");

  // Platform SWHardeningNeeded + QE OutOfDate → OutOfDate.
  info.levels[0].status = SWH;
  ev = evaluate_tcb(info, qe, pck(), v1_quote());
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->status), "OutOfDate");

  // Module OutOfDate (TDX_01 isvsvn 3 → level 2) + platform UpToDate → OutOfDate.
  ev = evaluate_tcb(v1_info(), td_qe(), pck(), v1_quote(svns({3, 1, 3})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->platform_status), "UpToDate");
  EXPECT_EQ(name(ev->module_status), "OutOfDate");
  EXPECT_EQ(name(ev->status), "OutOfDate");

  // A TDX 1.0 module is not rated separately.
  ev = evaluate_tcb(v1_info(), td_qe(), pck(), v1_quote(svns({5, 0, 2})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_FALSE(ev->module_status);
  EXPECT_EQ(ev->module_identity_id, "");
  EXPECT_EQ(name(ev->status), "UpToDate");
}

// ---------------------------------------------------------------------------------
// Revoked, advisories, relaunch

TEST(TcbEvaluation, RevokedIsAnError) {
  tcb_info info = v1_info();
  info.levels[0].status = REV;
  auto platform = evaluate_tcb(info, td_qe(), pck(), v1_quote());
  expect_error(platform, errc::tcb_revoked, "platform level Revoked");
  EXPECT_THAT(platform.error().message, HasSubstr("TDX module TDX_01 level UpToDate"));
  EXPECT_THAT(platform.error().message, HasSubstr("QE level UpToDate"));

  info = v1_info();
  info.tdx_module_identities[1].levels[0].status = REV;
  expect_error(evaluate_tcb(info, td_qe(), pck(), v1_quote()), errc::tcb_revoked,
               "TDX module TDX_01 level Revoked (isvsvn 4)");

  qe_identity qe = td_qe();
  qe.levels[0].status = REV;
  auto qe_revoked = evaluate_tcb(v1_info(), qe, pck(), v1_quote());
  expect_error(qe_revoked, errc::tcb_revoked, "QE level Revoked");
  EXPECT_THAT(qe_revoked.error().message, HasSubstr("platform level UpToDate"));

  // A revoked level that is not the matched one does not matter.
  info = v1_info();
  info.levels[1].status = REV;
  auto ok = evaluate_tcb(info, td_qe(), pck(), v1_quote());
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(name(ok->status), "UpToDate");
}

TEST(TcbEvaluation, AdvisoriesAreTheOrderedUnion) {
  tcb_info info = v1_info();
  info.levels[0].status = SWH;
  info.levels[0].advisory_ids = {"INTEL-SA-A", "INTEL-SA-B"};
  info.tdx_module_identities[1].levels[0].advisory_ids = {"INTEL-SA-B", "INTEL-SA-E", "INTEL-SA-C"};
  qe_identity qe = td_qe();
  qe.levels[0].advisory_ids = {"INTEL-SA-C", "INTEL-SA-D", "INTEL-SA-A"};
  auto ev = evaluate_tcb(info, qe, pck(), v1_quote());
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(ev->advisory_ids, (std::vector<std::string>{"INTEL-SA-A", "INTEL-SA-B", "INTEL-SA-E", "INTEL-SA-C",
                                                        "INTEL-SA-D"}));
  EXPECT_EQ(name(ev->status), "SWHardeningNeeded");
}

TEST(TcbEvaluation, TcbDateIsThatOfTheMatchedPlatformLevel) {
  auto ev = evaluate_tcb(v1_info(), td_qe(), pck(svns({3, 3, 2, 2, 4, 1, 0, 5}), 10), v1_quote());
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(ev->tcb_date, at("2018-01-04T00:00:00Z"));
  EXPECT_EQ(name(ev->status), "OutOfDate");
  EXPECT_EQ(ev->advisory_ids, (std::vector<std::string>{"INTEL-SA-00106", "INTEL-SA-00115"}));
}

/// A TD 1.5 quote whose running module is out of date (TDX_01 isvsvn 3 → OutOfDate)
/// while the platform level is UpToDate.
quote td15_quote(svn16 tee_tcb_svn_2) {
  quote q = v1_quote(svns({3, 1, 3}));
  q.header.version = 5;
  q.body_type = body_type_td15;
  q.td.tee_tcb_svn_2 = tee_tcb_svn_2;
  return q;
}

tcb_info relaunch_info() {
  tcb_info info = v1_info();
  info.levels[0].tdx_components = svns({5, 0, 3});  // latest level needs [0] >= 5, [2] >= 3
  return info;
}

TEST(Relaunch, AdvisedWhenTheNewModuleIsCurrent) {
  // TEE_TCB_SVN_2 names TDX_01 at SVN 6 ≥ its highest level (4) and [2] = 3 ≥ 3.
  auto ev = evaluate_tcb(relaunch_info(), td_qe(), pck(), td15_quote(svns({6, 1, 3})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->status), "OutOfDate");
  EXPECT_EQ(name(ev->module_status), "OutOfDate");
  EXPECT_TRUE(ev->relaunch_advised);

  // TDX 1.0 path: [1] == 0, [0] ≥ latest [0] and [2] ≥ latest [2].
  ev = evaluate_tcb(relaunch_info(), td_qe(), pck(), td15_quote(svns({5, 0, 3})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_TRUE(ev->relaunch_advised);
}

TEST(Relaunch, NotAdvisedOtherwise) {
  // The pending module is no better.
  auto ev = evaluate_tcb(relaunch_info(), td_qe(), pck(), td15_quote(svns({3, 1, 3})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_FALSE(ev->relaunch_advised);
  ev = evaluate_tcb(relaunch_info(), td_qe(), pck(), td15_quote(svns({6, 1, 2})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_FALSE(ev->relaunch_advised);
  ev = evaluate_tcb(relaunch_info(), td_qe(), pck(), td15_quote(svns({4, 0, 3})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_FALSE(ev->relaunch_advised);

  // TD 1.0 body (v4 or v5 type 2): never.
  quote q = td15_quote(svns({6, 1, 3}));
  q.body_type = body_type_td10;
  ev = evaluate_tcb(relaunch_info(), td_qe(), pck(), q);
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_FALSE(ev->relaunch_advised);

  // QE out of date: relaunching the TD would not help.
  qe_identity qe = td_qe();
  qe.levels = {qe_level(7, UTD), qe_level(4, OOD)};
  ev = evaluate_tcb(relaunch_info(), qe, pck(), td15_quote(svns({6, 1, 3})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_FALSE(ev->relaunch_advised);

  // Module up to date: nothing to relaunch for.
  quote current = td15_quote(svns({6, 1, 3}));
  current.td.tee_tcb_svn = svns({6, 1, 3});
  ev = evaluate_tcb(relaunch_info(), td_qe(), pck(), current);
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->status), "UpToDate");
  EXPECT_FALSE(ev->relaunch_advised);

  // The SGX-only level (first meeting SGX + PCESVN) is OutOfDate: not advised.
  tcb_info sgx_old = relaunch_info();
  sgx_old.levels[0].status = OOD;
  ev = evaluate_tcb(sgx_old, td_qe(), pck(), td15_quote(svns({6, 1, 3})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_FALSE(ev->relaunch_advised);
}

TEST(Relaunch, UnknownPendingModuleIsAMismatch) {
  expect_error(evaluate_tcb(relaunch_info(), td_qe(), pck(), td15_quote(svns({6, 2, 3}))),
               errc::tdx_module_mismatch, "relaunch check: TEE_TCB_SVN_2[1] = 0x02 requires TDX module identity TDX_02");
}

// ---------------------------------------------------------------------------------
// Real collateral with the quote fields of real captures

std::string collateral_text(const std::string& tdx_case, const char* field) {
  const std::string doc = test::read_shared("tdx/" + tdx_case + "/collateral.json");
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(doc, ec);
  if (ec || !v.is_object() || !v.as_object().contains(field) || !v.as_object().at(field).is_string()) {
    ADD_FAILURE() << "cannot read " << field << " from " << tdx_case;
    return {};
  }
  return std::string(v.as_object().at(field).as_string());
}

TEST(TcbEvaluationRealCollateral, V1WorkedExample) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto info = parse_tcb_info(collateral_text("v4-phala-uptodate", "tcb_info"));
  auto qe = parse_qe_identity(collateral_text("v4-phala-uptodate", "qe_identity"));
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_TRUE(qe) << qe.error().message;
  auto ev = evaluate_tcb(*info, *qe, pck(), v1_quote());
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->status), "UpToDate");
  EXPECT_EQ(ev->module_identity_id, "TDX_01");
  EXPECT_TRUE(ev->advisory_ids.empty());

  // The old-platform vectors (PCK CPUSVN [2,2,2,2,3,1,0,3,…]) against the same collateral.
  expect_error(evaluate_tcb(*info, *qe, pck(svns({2, 2, 2, 2, 3, 1, 0, 3})), v1_quote()),
               errc::no_matching_tcb_level, "SGX component[7] 3 < 5");
}

TEST(TcbEvaluationRealCollateral, NearGatewayIsOutOfDate) {
  VP_REQUIRE_SHARED_TESTDATA();
  // nearai/gateway-2026-04-24: PCK [2,2,2,2,3,1,0,5,…] PCESVN 11, TEE_TCB_SVN 0b 01 02,
  // QE ISVSVN 6, against the PCS TCB info it was verified with (evaluation number 18).
  const std::string tcb_body = test::read_shared("nearai/gateway-2026-04-24/pcs/gateway/tcb_info.json");
  const std::string qe_body = test::read_shared("nearai/gateway-2026-04-24/pcs/gateway/qe_identity.json");
  const auto tcb_doc = boost::json::parse(tcb_body);
  const auto qe_doc = boost::json::parse(qe_body);
  auto info = parse_tcb_info(boost::json::serialize(tcb_doc.as_object().at("tcbInfo")));
  auto qe = parse_qe_identity(boost::json::serialize(qe_doc.as_object().at("enclaveIdentity")));
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_TRUE(qe) << qe.error().message;
  auto ev = evaluate_tcb(*info, *qe, pck(svns({2, 2, 2, 2, 3, 1, 0, 5}), 11), v1_quote(svns({0x0b, 1, 2})));
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(name(ev->status), "OutOfDate");
  EXPECT_EQ(name(ev->platform_status), "OutOfDate");
  EXPECT_EQ(name(ev->module_status), "UpToDate");
  EXPECT_EQ(name(ev->qe_status), "UpToDate");
  EXPECT_EQ(ev->tcb_date, at("2024-03-13T00:00:00Z"));
  EXPECT_EQ(ev->advisory_ids, (std::vector<std::string>{"INTEL-SA-01036", "INTEL-SA-01079", "INTEL-SA-01099",
                                                        "INTEL-SA-01103", "INTEL-SA-01111"}));
}

}  // namespace
}  // namespace vp::tdx
