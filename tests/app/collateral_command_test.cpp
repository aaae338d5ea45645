// The collateral command line in-process against a fake PCCS replaying real Intel
// responses: `collateral fetch` writes a bundle identical to the capture's, and
// `verify-quote` verifies from that bundle, from the network, and from its cache.

#include "app/collateral_command.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "app/cli.hpp"
#include "app/verify_quote_command.hpp"
#include "collateral/bundle.hpp"
#include "core/file.hpp"
#include "support/fake_pccs.hpp"
#include "support/command_test.hpp"
#include "support/testdata.hpp"

namespace vp::app {
namespace {

namespace json = boost::json;
using test::crl_encoding;
using test::fake_pccs;
using test::pcs_route;

constexpr const char* capture_name = "gateway-2026-04-24";  // model UpToDate, gateway OutOfDate

using outcome = test::command_outcome;

class CollateralCommand : public testing::Test {
 protected:
  void SetUp() override {
    if (!test::shared_testdata_dir()) GTEST_SKIP() << "shared test vectors not found";
    capture_ = test::load_nearai_capture(capture_name);
    ASSERT_EQ(capture_.attestations.size(), 2u);
    at_ = std::to_string(capture_.verify_at);
    tmp_ = std::filesystem::temp_directory_path() /
           ("vp-collateral-cmd-test-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(tmp_);
    std::filesystem::create_directories(tmp_);
    // The CLI accepts quotes as hex text: write them exactly as report.json has them.
    for (const auto& a : capture_.attestations) {
      const auto file = tmp_ / ("quote-" + a.fmspc_hex + ".hex");
      std::ofstream(file, std::ios::binary) << a.quote_hex;
      quotes_.push_back({file.string(), a.fmspc_hex, a.tcb_status});
    }
  }
  void TearDown() override {
    if (!tmp_.empty()) std::filesystem::remove_all(tmp_);
  }

  outcome collateral(const std::vector<std::string>& args) {
    const fixed_clock clock(from_unix_seconds(0));  // every test passes --at
    return test::run_command(collateral_command, args, clock);
  }
  outcome verify(const std::vector<std::string>& args) {
    const fixed_clock clock(from_unix_seconds(0));
    return test::run_command(verify_quote_command, args, clock);
  }
  /// verify-quote succeeded with the capture's TCB status for this quote.
  void expect_verified(const outcome& r, const std::string& tcb_status) {
    ASSERT_EQ(r.code, exit_ok) << r.out << r.err;
    boost::system::error_code ec;
    const json::value v = json::parse(r.out, ec);
    ASSERT_FALSE(ec) << r.out;
    ASSERT_TRUE(v.is_object());
    EXPECT_EQ(v.as_object().at("ok"), true);
    EXPECT_EQ(v.as_object().at("tcb_status"), tcb_status.c_str());
    EXPECT_EQ(v.as_object().at("verified_at"), capture_.verify_at);
  }

  struct quote_file {
    std::string path;
    std::string fmspc_hex;
    std::string tcb_status;
  };
  const quote_file& quote_of(std::string_view fmspc_hex) const {
    for (const auto& q : quotes_) {
      if (q.fmspc_hex == fmspc_hex) return q;
    }
    throw std::logic_error("no quote for " + std::string(fmspc_hex));
  }
  const quote_file& model_quote() const { return quote_of("90C06F000000"); }

  test::nearai_capture capture_;
  std::string at_;
  std::filesystem::path tmp_;
  std::vector<quote_file> quotes_;
};

TEST_F(CollateralCommand, FetchWritesTheSevenFilesByteIdenticalToTheCapture) {
  fake_pccs pccs(capture_.pcs_dirs(), {.root_ca_crl = crl_encoding::der, .pck_crl = crl_encoding::der});
  const auto out_dir = tmp_ / "bundle";
  // Through the top-level dispatcher, as main() runs it.
  std::ostringstream out, err;
  const int code = run({"collateral", "fetch", "--fmspc", "90C06F000000", "--out", out_dir.string(), "--pccs-url",
                        pccs.base_url(), "--at", at_},
                       out, err);
  ASSERT_EQ(code, exit_ok) << out.str() << err.str();
  for (const char* name : collateral::bundle_files) {
    const auto got = read_file(out_dir / name);
    const auto want = read_file(capture_.dir / "pcs" / name);
    ASSERT_TRUE(got && want) << name;
    EXPECT_TRUE(*got == *want) << name << " differs (" << got->size() << " vs " << want->size() << " bytes)";
  }
  EXPECT_EQ(pccs.request_count(), 4u);
}

TEST_F(CollateralCommand, FetchedBundleVerifiesOfflineBothWays) {
  // What a real PCCS sends: the root CA CRL as hex text; the PCK CRL here as PEM. The
  // bundle keeps the bytes as served and still verifies.
  fake_pccs pccs(capture_.pcs_dirs(), {.root_ca_crl = crl_encoding::hex, .pck_crl = crl_encoding::pem});
  const auto out_dir = tmp_ / "bundle";
  const auto fetched = collateral({"fetch", "--fmspc", "90C06F000000", "--out", out_dir.string(), "--pccs-url",
                                   pccs.base_url(), "--at", at_});
  ASSERT_EQ(fetched.code, exit_ok) << fetched.err;
  EXPECT_TRUE(fetched.out.find("90C06F000000/platform") != std::string::npos) << fetched.out;
  pccs.stop();  // offline from here on
  expect_verified(verify({"--quote", model_quote().path, "--collateral-dir", out_dir.string(), "--at", at_}),
                  model_quote().tcb_status);
  expect_verified(verify({"--quote", model_quote().path, "--collateral", out_dir.string(), "--at", at_}),
                  model_quote().tcb_status);
  // The gateway quote's platform is not in this bundle.
  const auto missing = verify({"--quote", quote_of("B0C06F000000").path, "--collateral-dir", out_dir.string(), "--at", at_});
  EXPECT_EQ(missing.code, exit_rejected) << missing.out;
  EXPECT_NE(missing.out.find("B0C06F000000"), std::string::npos) << missing.out;
}

TEST_F(CollateralCommand, VerifyQuoteFetchesFromThePccsWithoutACache) {
  fake_pccs pccs(capture_.pcs_dirs());  // root CA CRL as hex text, as a real PCCS serves it
  for (const auto& q : quotes_) {
    SCOPED_TRACE(q.fmspc_hex);
    expect_verified(verify({"--quote", q.path, "--pccs-url", pccs.base_url(), "--no-cache", "--at", at_}),
                    q.tcb_status);
    EXPECT_EQ(pccs.request_count(pcs_route::tcb_info, q.fmspc_hex), 1u);
  }
  EXPECT_EQ(pccs.request_count(), 8u);
}

TEST_F(CollateralCommand, VerifyQuoteOverHttpsWithAPccsCa) {
  fake_pccs pccs(capture_.pcs_dirs(), {.tls = true});
  expect_verified(verify({"--quote", model_quote().path, "--pccs-url", pccs.base_url(), "--pccs-ca", pccs.ca_file(),
                          "--no-cache", "--at", at_}),
                  model_quote().tcb_status);
  // Without the CA the certificate is not trusted: an unavailable-collateral verdict.
  const auto untrusted =
      verify({"--quote", model_quote().path, "--pccs-url", pccs.base_url(), "--no-cache", "--at", at_});
  EXPECT_EQ(untrusted.code, exit_rejected) << untrusted.out << untrusted.err;
  EXPECT_NE(untrusted.out.find("collateral_unavailable"), std::string::npos) << untrusted.out;
}

TEST_F(CollateralCommand, SecondRunIsServedFromTheCacheDirectory) {
  const auto cache = tmp_ / "cache";
  {
    fake_pccs pccs(capture_.pcs_dirs());
    expect_verified(verify({"--quote", model_quote().path, "--pccs-url", pccs.base_url(), "--cache-dir",
                            cache.string(), "--at", at_}),
                    model_quote().tcb_status);
    EXPECT_EQ(pccs.request_count(), 4u);
    pccs.stop();
    expect_verified(verify({"--quote", model_quote().path, "--pccs-url", pccs.base_url(), "--cache-dir",
                            cache.string(), "--at", at_}),
                    model_quote().tcb_status);
    EXPECT_EQ(pccs.request_count(), 4u);
  }
  EXPECT_FALSE(std::filesystem::is_empty(cache));
}

TEST_F(CollateralCommand, FetchFromA404ServerExitsOneNamingTheUrl) {
  fake_pccs pccs;  // knows no platform
  const auto r = collateral({"fetch", "--fmspc", "90C06F000000", "--out", (tmp_ / "bundle").string(), "--pccs-url",
                             pccs.base_url(), "--at", at_});
  EXPECT_EQ(r.code, exit_rejected) << r.err;
  const std::string url = pccs.base_url() + "/tdx/certification/v4/tcb?fmspc=90C06F000000";
  EXPECT_NE(r.err.find(url), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("HTTP 404"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "bundle" / "tcb_info.json"));
}

TEST_F(CollateralCommand, VerifyQuoteWithA404ServerIsRejectedNamingTheUrl) {
  fake_pccs pccs(capture_.pcs_dirs());
  pccs.set_fault(pcs_route::pck_crl, {.status = 404});
  const auto r = verify({"--quote", model_quote().path, "--pccs-url", pccs.base_url(), "--no-cache", "--at", at_});
  EXPECT_EQ(r.code, exit_rejected) << r.out << r.err;
  EXPECT_NE(r.out.find("collateral_unavailable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/sgx/certification/v4/pckcrl?ca=platform"), std::string::npos) << r.out;
}

TEST_F(CollateralCommand, BadFlagsExitTwo) {
  const std::string out_dir = (tmp_ / "bundle").string();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"fetch", "--fmspc", "xyz", "--out", out_dir, "--pccs-url", "http://127.0.0.1:1"},
           {"fetch", "--fmspc", "90C06F0000", "--out", out_dir, "--pccs-url", "http://127.0.0.1:1"},
           {"fetch", "--fmspc", "90C06F000000", "--ca", "foo", "--out", out_dir, "--pccs-url", "http://127.0.0.1:1"},
           {"fetch", "--fmspc", "90C06F000000", "--out", out_dir, "--pccs-url", "ftp://x"},
           {"fetch", "--fmspc", "90C06F000000", "--pccs-url", "http://127.0.0.1:1"},
           {"fetch", "--fmspc", "90C06F000000", "--out", out_dir, "--bogus"},
           {"pull"},
       }) {
    const auto r = collateral(args);
    EXPECT_EQ(r.code, exit_usage) << testing::PrintToString(args) << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  const auto r = verify({"--quote", model_quote().path, "--pccs-url", "ftp://x", "--no-cache", "--at", at_});
  EXPECT_EQ(r.code, exit_usage) << r.out << r.err;
  EXPECT_NE(r.err.find("ftp://x"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out_dir));
}

}  // namespace
}  // namespace vp::app
