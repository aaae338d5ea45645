#include "collateral/bundle.hpp"

#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <tuple>
#include <atomic>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/file.hpp"
#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "testpki/test_pki.hpp"
#include "support/testdata.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::collateral {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

using fmspc_t = std::array<std::uint8_t, 6>;

constexpr fmspc_t fmspc_90c06f = {0x90, 0xC0, 0x6F, 0x00, 0x00, 0x00};
constexpr fmspc_t fmspc_b0c06f = {0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00};
constexpr fmspc_t fmspc_20a06f = {0x20, 0xA0, 0x6F, 0x00, 0x00, 0x00};

const test::test_pki& pki() {
  static const test::test_pki instance;
  return instance;
}

fmspc_t fmspc_from_hex(std::string_view hex) {
  const auto b = from_hex(hex);
  fmspc_t out{};
  if (b && b->size() == out.size()) std::copy(b->begin(), b->end(), out.begin());
  return out;
}

std::string read_text(const fs::path& p) {
  auto data = vp::read_file(p);
  EXPECT_TRUE(data.has_value()) << "cannot read " << p;
  return data.value_or(std::string());
}

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << p;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0xFFFFu;
  return static_cast<unsigned>(st.st_mode) & 07777u;
}

// Raw PCS-style responses for synthetic collateral (the inverse of
// collateral_from_pcs_responses).
tdx::pcs_responses to_responses(const tdx::collateral_v3& c) {
  tdx::pcs_responses r;
  r.tcb_info = "{\"tcbInfo\":" + c.tcb_info + ",\"signature\":\"" + to_hex(c.tcb_info_signature) + "\"}";
  r.tcb_info_issuer_chain = c.tcb_info_issuer_chain;
  r.qe_identity =
      "{\"enclaveIdentity\":" + c.qe_identity + ",\"signature\":\"" + to_hex(c.qe_identity_signature) + "\"}";
  r.qe_identity_issuer_chain = c.qe_identity_issuer_chain;
  r.pck_crl = c.pck_crl;
  r.pck_crl_issuer_chain = c.pck_crl_issuer_chain;
  r.root_ca_crl = c.root_ca_crl;
  return r;
}

void expect_same_collateral(const tdx::collateral_v3& a, const tdx::collateral_v3& b) {
  EXPECT_EQ(tdx::to_collateral_v3_json(a), tdx::to_collateral_v3_json(b));
}

// Restores the umask on scope exit, whatever the test asserted.
class umask_scope {
 public:
  explicit umask_scope(mode_t m) : old_(::umask(m)) {}
  ~umask_scope() { ::umask(old_); }
  umask_scope(const umask_scope&) = delete;
  umask_scope& operator=(const umask_scope&) = delete;

 private:
  mode_t old_;
};

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<unsigned> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("vp-bundle-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter.fetch_add(1)) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  void TearDown() override {
    // Tests make directories unreadable; give them back before removing the tree.
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) fs::permissions(it->path(), fs::perms::owner_all, ec);
    }
    fs::remove_all(dir_, ec);
  }

  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

// Relative paths of every pcs/ and pcs/gateway/ folder below nearai/.
std::vector<fs::path> nearai_pcs_dirs() {
  std::vector<fs::path> out;
  const auto root = test::shared_testdata_dir();
  if (!root) return out;
  for (const auto& entry : fs::directory_iterator(*root / "nearai")) {
    const fs::path rel = fs::path("nearai") / entry.path().filename() / "pcs";
    if (fs::is_directory(*root / rel)) out.push_back(rel);
    if (fs::is_directory(*root / rel / "gateway")) out.push_back(rel / "gateway");
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------
// errors

TEST(CollateralError, SpellingsEqualEnumeratorNames) {
  EXPECT_EQ(to_string(errc::unavailable), "unavailable");
  EXPECT_EQ(to_string(errc::invalid), "invalid");
  EXPECT_EQ(to_string(errc::rejected), "rejected");
  EXPECT_EQ(to_string(errc::mismatch), "mismatch");
  EXPECT_EQ(to_string(errc::expired), "expired");
  EXPECT_EQ(to_string(errc::too_old), "too_old");
  EXPECT_EQ(to_string(errc::not_found), "not_found");
}

TEST(CollateralError, ValueOnErrorThrowsWithKindAndMessage) {
  const result<int> r = error{errc::not_found, "nothing under /x"};
  try {
    (void)r.value();
    FAIL() << "value() did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "not_found: nothing under /x");
  }
}

// ---------------------------------------------------------------------------------
// read_bundle_directory / write_bundle_directory

TEST_F(BundleTest, RealBundlesRoundTripByteForByteWithMode0600) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto dirs = nearai_pcs_dirs();
  ASSERT_GE(dirs.size(), 7u);  // five captures, two of them with a gateway set
  const umask_scope permissive(0);
  int i = 0;
  for (const fs::path& rel : dirs) {
    SCOPED_TRACE(rel.string());
    const fs::path src = *test::shared_testdata_dir() / rel;
    auto r = read_bundle_directory(src);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->tcb_info, test::read_shared(rel / "tcb_info.json"));
    EXPECT_EQ(r->qe_identity_issuer_chain, test::read_shared(rel / "qe_identity_issuer_chain.pem"));
    const std::string pck_crl = test::read_shared(rel / "pck_crl.der");
    EXPECT_EQ(r->pck_crl, bytes(pck_crl.begin(), pck_crl.end()));
    // And it is collateral.
    EXPECT_TRUE(tdx::collateral_from_pcs_responses(*r));

    const fs::path out = dir() / ("copy-" + std::to_string(i++)) / "nested";
    auto w = write_bundle_directory(out, *r);
    ASSERT_TRUE(w) << w.error().message;
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(out)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    std::vector<std::string> expected(std::begin(bundle_files), std::end(bundle_files));
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(names, expected) << "exactly the seven files, no temporary leftovers";
    for (const char* name : bundle_files) {
      SCOPED_TRACE(name);
      EXPECT_EQ(read_text(out / name), test::read_shared(rel / name));
      EXPECT_EQ(mode_of(out / name), 0600u);
    }
  }
}

TEST_F(BundleTest, RewriteReplacesFilesAndResetsMode) {
  const umask_scope permissive(0);
  const auto c = pki().collateral();
  const auto r = to_responses(c);
  ASSERT_TRUE(write_bundle_directory(dir(), r));
  // A stale, world-readable file from elsewhere is replaced, not appended to.
  write_text(dir() / "tcb_info.json", std::string(100000, 'x'));
  fs::permissions(dir() / "tcb_info.json", fs::perms::all);
  ASSERT_TRUE(write_bundle_directory(dir(), r));
  EXPECT_EQ(read_text(dir() / "tcb_info.json"), r.tcb_info);
  EXPECT_EQ(mode_of(dir() / "tcb_info.json"), 0600u);
  auto back = read_bundle_directory(dir());
  ASSERT_TRUE(back) << back.error().message;
  auto coll = tdx::collateral_from_pcs_responses(*back);
  ASSERT_TRUE(coll) << coll.error().message;
  expect_same_collateral(*coll, c);
}

TEST_F(BundleTest, ModeIs0600UnderRestrictiveUmaskToo) {
  const umask_scope restrictive(0277);  // would strip the owner's write bit
  ASSERT_TRUE(write_bundle_directory(dir() / "b", to_responses(pki().collateral())));
  for (const char* name : bundle_files) EXPECT_EQ(mode_of(dir() / "b" / name), 0600u) << name;
}

TEST_F(BundleTest, CrlsAreWrittenAsDerWhateverTheyArrivedAs) {
  const auto c = pki().collateral();
  auto r = to_responses(c);
  // PEM pck CRL, hex root CRL: both encodings PCS / PCCS serve.
  const crypto::x509_crl_ptr crl = crypto::parse_crl(c.pck_crl);
  ASSERT_TRUE(crl);
  crypto::bio_ptr bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_X509_CRL(bio.get(), crl.get()));
  char* pem_data = nullptr;
  const long pem_len = BIO_get_mem_data(bio.get(), &pem_data);
  r.pck_crl.assign(pem_data, pem_data + pem_len);
  const std::string root_hex = to_hex(c.root_ca_crl);
  r.root_ca_crl.assign(root_hex.begin(), root_hex.end());
  ASSERT_NE(r.pck_crl, c.pck_crl);

  ASSERT_TRUE(write_bundle_directory(dir(), r));
  const std::string pck = read_text(dir() / "pck_crl.der");
  const std::string root = read_text(dir() / "root_ca_crl.der");
  EXPECT_EQ(bytes(pck.begin(), pck.end()), c.pck_crl);
  EXPECT_EQ(bytes(root.begin(), root.end()), c.root_ca_crl);
}

TEST_F(BundleTest, UnparseableCrlWritesNothing) {
  auto r = to_responses(pki().collateral());
  r.root_ca_crl = {'n', 'o', 'p', 'e'};
  const auto w = write_bundle_directory(dir() / "b", r);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, errc::invalid);
  EXPECT_NE(w.error().message.find("root_ca_crl"), std::string::npos) << w.error().message;
  EXPECT_FALSE(fs::exists(dir() / "b"));
}

TEST_F(BundleTest, WriteIntoUnusablePathIsUnavailable) {
  write_text(dir() / "file", "x");
  const auto w = write_bundle_directory(dir() / "file" / "sub", to_responses(pki().collateral()));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, errc::unavailable);
  EXPECT_NE(w.error().message.find((dir() / "file" / "sub").string()), std::string::npos) << w.error().message;

  // A directory where a file must go: the rename fails, the temporary file is removed.
  fs::create_directories(dir() / "b" / "qe_identity.json");
  const auto w2 = write_bundle_directory(dir() / "b", to_responses(pki().collateral()));
  ASSERT_FALSE(w2);
  EXPECT_EQ(w2.error().kind, errc::unavailable);
  EXPECT_NE(w2.error().message.find("qe_identity.json"), std::string::npos) << w2.error().message;
  for (const auto& entry : fs::directory_iterator(dir() / "b")) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST_F(BundleTest, ReadNamesTheMissingOrUnreadableFile) {
  ASSERT_TRUE(write_bundle_directory(dir(), to_responses(pki().collateral())));
  fs::remove(dir() / "pck_crl_issuer_chain.pem");
  auto r = read_bundle_directory(dir());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, errc::invalid);
  EXPECT_NE(r.error().message.find("pck_crl_issuer_chain.pem"), std::string::npos) << r.error().message;

  fs::create_directory(dir() / "pck_crl_issuer_chain.pem");
  r = read_bundle_directory(dir());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, errc::invalid);
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos) << r.error().message;

  EXPECT_FALSE(read_bundle_directory(dir() / "does-not-exist"));
}

// ---------------------------------------------------------------------------------
// identify

TEST(BundleIdentify, SyntheticPlatformAndProcessor) {
  test::collateral_spec spec;
  spec.tcb_info.fmspc = fmspc_b0c06f;
  auto id = identify(pki().collateral(spec));
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->fmspc, fmspc_b0c06f);
  EXPECT_EQ(id->ca, tdx::pck_ca_type::platform);

  spec.pck_crl_issuer = tdx::pck_ca_type::processor;
  spec.tcb_info.lower_case_fmspc = true;
  id = identify(pki().collateral(spec));
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->fmspc, fmspc_b0c06f);
  EXPECT_EQ(id->ca, tdx::pck_ca_type::processor);
}

TEST(BundleIdentify, RealCollateral) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto r = read_bundle_directory(*test::shared_testdata_dir() / "nearai/gateway-2026-04-24/pcs/gateway");
  ASSERT_TRUE(r) << r.error().message;
  auto c = tdx::collateral_from_pcs_responses(*r);
  ASSERT_TRUE(c) << c.error().message;
  auto id = identify(*c);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->fmspc, fmspc_b0c06f);
  EXPECT_EQ(id->ca, tdx::pck_ca_type::platform);

  auto v3 = tdx::parse_collateral_v3_json(test::read_shared("tdx/v4-phala-near-uptodate/collateral.json"));
  ASSERT_TRUE(v3) << v3.error().message;
  id = identify(*v3);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->fmspc, fmspc_20a06f);
}

TEST(BundleIdentify, InvalidCaNameAndBrokenParts) {
  auto c = pki().collateral();
  c.pck_crl_issuer_chain = pki().tcb_issuer_chain_pem();  // CN "Test SGX TCB Signing"
  auto id = identify(c);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().kind, errc::invalid);
  EXPECT_NE(id.error().message.find("Test SGX TCB Signing"), std::string::npos) << id.error().message;

  c = pki().collateral();
  c.pck_crl_issuer_chain = "not pem";
  id = identify(c);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().kind, errc::invalid);

  c = pki().collateral();
  c.tcb_info = "{\"id\":\"TDX\"}";
  id = identify(c);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().kind, errc::invalid);
  EXPECT_NE(id.error().message.find("TCB info"), std::string::npos) << id.error().message;
}

// ---------------------------------------------------------------------------------
// find_in_bundle_tree

TEST(BundleFind, NearaiGatewayTreeHoldsTwoPlatforms) {
  VP_REQUIRE_SHARED_TESTDATA();
  const fs::path rel = "nearai/gateway-2026-04-24/pcs";
  const fs::path root = *test::shared_testdata_dir() / rel;

  auto gw = find_in_bundle_tree(root, fmspc_b0c06f, tdx::pck_ca_type::platform);
  ASSERT_TRUE(gw) << gw.error().message;
  auto top = find_in_bundle_tree(root, fmspc_90c06f, tdx::pck_ca_type::platform);
  ASSERT_TRUE(top) << top.error().message;

  auto gw_expected = tdx::split_signed_response(test::read_shared(rel / "gateway/tcb_info.json"), "tcbInfo");
  auto top_expected = tdx::split_signed_response(test::read_shared(rel / "tcb_info.json"), "tcbInfo");
  ASSERT_TRUE(gw_expected && top_expected);
  EXPECT_EQ(gw->tcb_info, gw_expected->body);
  EXPECT_EQ(top->tcb_info, top_expected->body);
  EXPECT_NE(gw->tcb_info, top->tcb_info);

  auto processor = find_in_bundle_tree(root, fmspc_90c06f, tdx::pck_ca_type::processor);
  ASSERT_FALSE(processor);
  EXPECT_EQ(processor.error().kind, errc::not_found);
}

TEST(BundleFind, NotFoundListsRootAndPlatforms) {
  VP_REQUIRE_SHARED_TESTDATA();
  const fs::path root = *test::shared_testdata_dir() / "nearai/gateway-2026-04-24/pcs";
  auto r = find_in_bundle_tree(root, fmspc_20a06f, tdx::pck_ca_type::platform);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, errc::not_found);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("no collateral for 20A06F000000/platform under"), std::string::npos) << m;
  EXPECT_NE(m.find(root.string()), std::string::npos) << m;
  EXPECT_NE(m.find("found: 90C06F000000/platform, B0C06F000000/platform"), std::string::npos) << m;

  auto missing = find_in_bundle_tree(root / "nope", fmspc_20a06f, tdx::pck_ca_type::platform);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, errc::not_found);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
}

// The tdx/ cases share FMSPCs; the expectation for each FMSPC is computed from the
// files with the documented rule.
TEST(BundleFind, TdxCasesSelectHighestEvaluationNumberThenLatestIssueDate) {
  VP_REQUIRE_SHARED_TESTDATA();
  const fs::path root = *test::shared_testdata_dir() / "tdx";

  struct info {
    std::string case_name;
    std::int64_t eval;
    std::string issue_date;  // one format throughout, so text order is time order
    tdx::collateral_v3 c;
  };
  std::map<std::string, std::vector<info>> by_fmspc;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string text = read_text(entry.path() / "collateral.json");
    auto c = tdx::parse_collateral_v3_json(text);
    ASSERT_TRUE(c) << entry.path();
    const json::value tcb = json::parse(c->tcb_info);
    const json::value qe = json::parse(c->qe_identity);
    if (tcb.at("id").as_string() != "TDX") continue;  // the SGX case is not TDX collateral
    std::string fmspc(tcb.at("fmspc").as_string());
    std::transform(fmspc.begin(), fmspc.end(), fmspc.begin(), [](unsigned char ch) { return std::toupper(ch); });
    const std::int64_t eval =
        std::min(tcb.at("tcbEvaluationDataNumber").as_int64(), qe.at("tcbEvaluationDataNumber").as_int64());
    by_fmspc[fmspc].push_back({entry.path().filename().string(), eval,
                               std::string(tcb.at("issueDate").as_string()), std::move(*c)});
  }
  ASSERT_EQ(by_fmspc.size(), 4u);  // 20A06F, 50806F, 90C06F, B0C06F
  ASSERT_EQ(by_fmspc["90C06F000000"].size(), 3u);
  ASSERT_EQ(by_fmspc["B0C06F000000"].size(), 3u);

  for (const auto& [fmspc_hex, infos] : by_fmspc) {
    SCOPED_TRACE(fmspc_hex);
    const auto best = std::max_element(infos.begin(), infos.end(), [](const info& a, const info& b) {
      return std::tie(a.eval, a.issue_date) < std::tie(b.eval, b.issue_date);
    });
    auto found = find_in_bundle_tree(root, fmspc_from_hex(fmspc_hex), tdx::pck_ca_type::platform);
    ASSERT_TRUE(found) << found.error().message;
    expect_same_collateral(*found, best->c);
  }

  // The case named in the README, and the one real choice: for 90C06F000000 the Google
  // TCB info (same evaluation number, issued earlier) must lose.
  auto near = find_in_bundle_tree(root, fmspc_20a06f, tdx::pck_ca_type::platform);
  ASSERT_TRUE(near);
  auto near_file = tdx::parse_collateral_v3_json(test::read_shared("tdx/v4-phala-near-uptodate/collateral.json"));
  ASSERT_TRUE(near_file);
  expect_same_collateral(*near, *near_file);

  auto v5 = find_in_bundle_tree(root, fmspc_90c06f, tdx::pck_ca_type::platform);
  ASSERT_TRUE(v5);
  auto google = tdx::parse_collateral_v3_json(
      test::read_shared("tdx/v5-google-quote-google-tcbinfo-uptodate/collateral.json"));
  auto phala = tdx::parse_collateral_v3_json(
      test::read_shared("tdx/v5-google-quote-phala-collateral-uptodate/collateral.json"));
  ASSERT_TRUE(google && phala);
  EXPECT_NE(v5->tcb_info, google->tcb_info);
  EXPECT_EQ(v5->tcb_info, phala->tcb_info);
}

TEST(BundleFind, SingleFileRoot) {
  VP_REQUIRE_SHARED_TESTDATA();
  const fs::path file = *test::shared_testdata_dir() / "tdx/v4-phala-near-uptodate/collateral.json";
  auto r = find_in_bundle_tree(file, fmspc_20a06f, tdx::pck_ca_type::platform);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(identify(*r)->fmspc, fmspc_20a06f);

  auto other = find_in_bundle_tree(file, fmspc_90c06f, tdx::pck_ca_type::platform);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind, errc::not_found);
  EXPECT_NE(other.error().message.find("found: 20A06F000000/platform"), std::string::npos)
      << other.error().message;
}

TEST_F(BundleTest, SingleGarbageFileRootIsNotFoundWithReason) {
  write_text(dir() / "c.json", "{\"pck_crl\":1}");
  auto r = find_in_bundle_tree(dir() / "c.json", fmspc_90c06f, tdx::pck_ca_type::platform);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, errc::not_found);
  EXPECT_NE(r.error().message.find("found: none"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("c.json"), std::string::npos) << r.error().message;
}

TEST_F(BundleTest, ProcessorAndPlatformAreDistinct) {
  test::collateral_spec platform_spec;
  test::collateral_spec processor_spec;
  processor_spec.pck_crl_issuer = tdx::pck_ca_type::processor;
  const auto platform = pki().collateral(platform_spec);
  const auto processor = pki().collateral(processor_spec);
  ASSERT_NE(platform.pck_crl_issuer_chain, processor.pck_crl_issuer_chain);

  ASSERT_TRUE(write_bundle_directory(dir() / "platform-set", to_responses(platform)));
  ASSERT_TRUE(write_collateral_file(dir() / "processor.json", processor));

  auto p = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::platform);
  ASSERT_TRUE(p) << p.error().message;
  expect_same_collateral(*p, platform);
  auto q = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::processor);
  ASSERT_TRUE(q) << q.error().message;
  expect_same_collateral(*q, processor);

  // And the other way round: a processor bundle directory, found only for processor.
  fs::remove_all(dir() / "platform-set");
  fs::remove(dir() / "processor.json");
  ASSERT_TRUE(write_bundle_directory(dir() / "proc", to_responses(processor)));
  auto none = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::platform);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("found: 90C06F000000/processor"), std::string::npos) << none.error().message;
  EXPECT_TRUE(find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::processor));
}

TEST_F(BundleTest, SelectionRuleOnSyntheticSets) {
  auto make = [](long tcb_eval, long qe_eval, unix_time issue) {
    test::collateral_spec spec;
    spec.tcb_info.tcb_evaluation_data_number = tcb_eval;
    spec.qe_identity.tcb_evaluation_data_number = qe_eval;
    spec.tcb_info.issue_date = issue;
    return pki().collateral(spec);
  };
  const auto old_late = make(17, 17, test::utc_date(2025, 12, 30));
  const auto new_early = make(18, 18, test::utc_date(2025, 12, 10));
  const auto new_late = make(18, 18, test::utc_date(2025, 12, 20));
  // Effective number is min(19, 16) = 16: a fresh TCB info does not lift a stale QE identity.
  const auto mixed = make(19, 16, test::utc_date(2025, 12, 31));

  // Names sort so that the winner is neither first nor last.
  ASSERT_TRUE(write_collateral_file(dir() / "a.json", old_late));
  ASSERT_TRUE(write_bundle_directory(dir() / "b", to_responses(new_early)));
  ASSERT_TRUE(write_bundle_directory(dir() / "c" / "deeper", to_responses(new_late)));
  ASSERT_TRUE(write_collateral_file(dir() / "d.json", mixed));

  auto r = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::platform);
  ASSERT_TRUE(r) << r.error().message;
  expect_same_collateral(*r, new_late);

  fs::remove_all(dir() / "c");
  r = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::platform);
  ASSERT_TRUE(r) << r.error().message;
  expect_same_collateral(*r, new_early);

  fs::remove_all(dir() / "b");
  r = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::platform);
  ASSERT_TRUE(r) << r.error().message;
  expect_same_collateral(*r, old_late);
}

TEST_F(BundleTest, GarbageAndUnreadableEntriesAreSkipped) {
  const auto good = pki().collateral();
  ASSERT_TRUE(write_bundle_directory(dir() / "z-good", to_responses(good)));

  write_text(dir() / "garbage.json", std::string("\x00\xff{[\"", 5));
  write_text(dir() / "other.json", "{\"hello\":\"world\"}");
  write_text(dir() / "notes.txt", "not collateral");
  write_text(dir() / "binary.der", std::string(64, '\x30'));
  fs::create_directories(dir() / "half-bundle");
  write_text(dir() / "half-bundle" / "tcb_info.json", "{\"tcbInfo\":{}}");
  // A bundle whose tcb_info.json is a directory, and a FIFO named like collateral:
  // neither may block or crash the walk.
  fs::create_directories(dir() / "weird" / "tcb_info.json");
  ASSERT_EQ(::mkfifo((dir() / "fifo.json").c_str(), 0600), 0);
  fs::create_symlink(dir() / "missing-target.json", dir() / "dangling.json");
  // A symlink loop: not entered.
  fs::create_directory_symlink(dir(), dir() / "loop");
  // An unreadable directory (still readable when the tests run as root: then it just
  // holds nothing of interest).
  fs::create_directories(dir() / "locked" / "inner");
  write_text(dir() / "locked" / "inner" / "x.json", "garbage");
  fs::permissions(dir() / "locked", fs::perms::none);

  auto r = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::platform);
  ASSERT_TRUE(r) << r.error().message;
  expect_same_collateral(*r, good);

  auto missing = find_in_bundle_tree(dir(), fmspc_b0c06f, tdx::pck_ca_type::platform);
  ASSERT_FALSE(missing);
  const std::string& m = missing.error().message;
  EXPECT_EQ(missing.error().kind, errc::not_found);
  EXPECT_NE(m.find("found: 90C06F000000/platform)"), std::string::npos) << m;
  EXPECT_NE(m.find("garbage.json"), std::string::npos) << m;
  EXPECT_NE(m.find("half-bundle"), std::string::npos) << m;
  EXPECT_EQ(m.find("notes.txt"), std::string::npos) << "non-JSON files are not candidates: " << m;
}

TEST_F(BundleTest, HugeTreeWalkEnds) {
  // More entries than the walk visits (10,000), spread over a few directories.
  for (int d = 0; d < 11; ++d) {
    const fs::path sub = dir() / ("d" + std::to_string(d));
    fs::create_directories(sub);
    for (int f = 0; f < 1000; ++f) {
      std::ofstream(sub / ("f" + std::to_string(f) + ".bin")).put('x');
    }
  }
  auto r = find_in_bundle_tree(dir(), test::default_fmspc, tdx::pck_ca_type::platform);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, errc::not_found);
  EXPECT_NE(r.error().message.find("search stopped after 10000"), std::string::npos) << r.error().message;
}

// ---------------------------------------------------------------------------------
// write_collateral_file / read_collateral_file

TEST_F(BundleTest, CollateralFileRoundTripWithMode0600) {
  const umask_scope permissive(0);
  const auto c = pki().collateral();
  const fs::path file = dir() / "cache.json";
  ASSERT_TRUE(write_collateral_file(file, c));
  EXPECT_EQ(mode_of(file), 0600u);
  auto back = read_collateral_file(file);
  ASSERT_TRUE(back) << back.error().message;
  expect_same_collateral(*back, c);
  EXPECT_EQ(back->tcb_info, c.tcb_info);
  EXPECT_EQ(back->pck_crl, c.pck_crl);

  // Overwrite with other collateral: replaced whole.
  test::collateral_spec spec;
  spec.pck_crl_issuer = tdx::pck_ca_type::processor;
  const auto c2 = pki().collateral(spec);
  ASSERT_TRUE(write_collateral_file(file, c2));
  back = read_collateral_file(file);
  ASSERT_TRUE(back) << back.error().message;
  expect_same_collateral(*back, c2);
  EXPECT_EQ(mode_of(file), 0600u);
}

TEST_F(BundleTest, CollateralFileRealRoundTrip) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto c = tdx::parse_collateral_v3_json(test::read_shared("tdx/v4-phala-uptodate/collateral.json"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(write_collateral_file(dir() / "real.json", *c));
  auto back = read_collateral_file(dir() / "real.json");
  ASSERT_TRUE(back) << back.error().message;
  expect_same_collateral(*back, *c);
}

TEST_F(BundleTest, DamagedCollateralFilesAreInvalid) {
  const fs::path good = dir() / "good.json";
  ASSERT_TRUE(write_collateral_file(good, pki().collateral()));
  const std::string text = read_text(good);
  ASSERT_GT(text.size(), 1000u);

  auto expect_invalid = [](const fs::path& p, const char* what) {
    auto r = read_collateral_file(p);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().kind, errc::invalid) << what;
    EXPECT_NE(r.error().message.find(p.filename().string()), std::string::npos) << what << ": " << r.error().message;
  };

  write_text(dir() / "truncated.json", text.substr(0, text.size() / 2));
  expect_invalid(dir() / "truncated.json", "truncated");
  write_text(dir() / "one-short.json", text.substr(0, text.size() - 1));
  expect_invalid(dir() / "one-short.json", "last byte missing");

  std::string corrupted = text;
  corrupted[corrupted.size() / 2] = '\xff';  // inside a string: not UTF-8
  write_text(dir() / "corrupted.json", corrupted);
  expect_invalid(dir() / "corrupted.json", "corrupted byte");

  std::string bad_hex = text;
  const auto pos = bad_hex.find("\"tcb_info_signature\":\"");
  ASSERT_NE(pos, std::string::npos);
  bad_hex[pos + 22] = 'g';
  write_text(dir() / "bad-hex.json", bad_hex);
  expect_invalid(dir() / "bad-hex.json", "non-hex signature");

  write_text(dir() / "empty.json", "");
  expect_invalid(dir() / "empty.json", "empty");
  write_text(dir() / "array.json", "[1,2,3]");
  expect_invalid(dir() / "array.json", "not an object");
  fs::create_directory(dir() / "dir.json");
  expect_invalid(dir() / "dir.json", "directory");
  expect_invalid(dir() / "missing.json", "missing");
}

TEST_F(BundleTest, CollateralFileIntoMissingDirectoryIsUnavailable) {
  const auto w = write_collateral_file(dir() / "no-such-dir" / "c.json", pki().collateral());
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, errc::unavailable);
  EXPECT_NE(w.error().message.find("no-such-dir"), std::string::npos) << w.error().message;
}

}  // namespace
}  // namespace vp::collateral
