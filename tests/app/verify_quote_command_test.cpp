// `verified-proxy verify-quote`: exit codes, JSON shape, input forms, and the real
// binary end to end.

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/cli.hpp"
#include "app/verify_quote_command.hpp"
#include "core/hex.hpp"
#include "support/command_test.hpp"
#include "support/testdata.hpp"

namespace vp::app {
namespace {

namespace json = boost::json;

using outcome = test::command_outcome;

outcome run_verify(const std::vector<std::string>& args, std::int64_t now = 1752919234) {
  const fixed_clock clock(from_unix_seconds(now));
  return test::run_command(verify_quote_command, args, clock);
}

std::string shared(const std::string& rel) { return (*test::shared_testdata_dir() / rel).string(); }

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    path_ = std::filesystem::temp_directory_path() /
            ("vp-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(VerifyQuoteCommand, VerifiedQuotePrintsJsonAndExitsZero) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto r = run_verify({"--quote", shared("tdx/v4-phala-uptodate/quote.bin"), "--collateral",
                             shared("tdx/v4-phala-uptodate/collateral.json")});
  ASSERT_EQ(r.code, exit_ok) << r.out << r.err;
  const json::object o = json::parse(r.out).as_object();
  EXPECT_EQ(o.at("ok"), true);
  EXPECT_EQ(o.at("tcb_status"), "UpToDate");
  EXPECT_TRUE(o.at("advisory_ids").as_array().empty());
  EXPECT_EQ(o.at("quote_version"), 4);
  EXPECT_EQ(o.at("fmspc"), "B0C06F000000");
  EXPECT_EQ(o.at("verified_at"), 1752919234);
  const json::object& td = o.at("td").as_object();
  for (const char* key : {"mr_td", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "report_data", "td_attributes", "mr_seam",
                          "mr_config_id", "xfam", "tee_tcb_svn"}) {
    EXPECT_TRUE(td.contains(key)) << key;
  }
  EXPECT_EQ(td.at("report_data").as_string().size(), 128u);
  EXPECT_LE(o.at("collateral_expires_at").as_int64(), 1752919235);
  EXPECT_GE(o.at("collateral_expires_at").as_int64(), 1752919234);
}

TEST(VerifyQuoteCommand, AtOverridesTheClockAndRejectionExitsOne) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto r = run_verify({"--quote", shared("tdx/v4-phala-uptodate/quote.bin"), "--collateral",
                             shared("tdx/v4-phala-uptodate/collateral.json"), "--at", "1752999999"});
  EXPECT_EQ(r.code, exit_rejected);
  const json::object o = json::parse(r.out).as_object();
  EXPECT_EQ(o.at("ok"), false);
  EXPECT_EQ(o.at("error"), "collateral_expired");
  EXPECT_FALSE(o.at("message").as_string().empty());
}

TEST(VerifyQuoteCommand, AcceptsHexQuotesAndPcsDirectories) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::string raw = test::read_shared("tdx/v4-phala-uptodate/quote.bin");
  const TempFile hex_quote("0x" + to_hex(as_bytes(raw)).insert(100, "\n  ") + "\n");
  auto r = run_verify({"--quote", hex_quote.path(), "--collateral", shared("tdx/v4-phala-uptodate/collateral.json")});
  EXPECT_EQ(r.code, exit_ok) << r.out << r.err;

  // A NEAR capture: the quote as hex from report.json, collateral as the raw PCS files.
  const json::value report = json::parse(test::read_shared("nearai/direct-2026-06-29-ed25519/report.json"));
  const TempFile near_quote(std::string(report.at("intel_quote").as_string()));
  r = run_verify({"--quote", near_quote.path(), "--collateral", shared("nearai/direct-2026-06-29-ed25519/pcs"),
                  "--at", "1782698797"});
  EXPECT_EQ(r.code, exit_ok) << r.out << r.err;
}

TEST(VerifyQuoteCommand, ForeignRootCaRejectsIntelQuotes) {
  VP_REQUIRE_SHARED_TESTDATA();
  // Any other anchor (here: the TCB signing certificate) must not validate Intel's chains.
  const std::string chain = test::read_shared("nearai/direct-2026-06-29-ed25519/pcs/tcb_info_issuer_chain.pem");
  const TempFile other_root(chain.substr(0, chain.find("-----END CERTIFICATE-----") + 25) + "\n");
  const auto r = run_verify({"--quote", shared("tdx/v4-phala-uptodate/quote.bin"), "--collateral",
                             shared("tdx/v4-phala-uptodate/collateral.json"), "--root-ca", other_root.path()});
  EXPECT_EQ(r.code, exit_rejected) << r.out << r.err;
  EXPECT_EQ(json::parse(r.out).at("error"), "untrusted_chain");
}

TEST(VerifyQuoteCommand, UsageErrorsExitTwo) {
  EXPECT_EQ(run_verify({}).code, exit_usage);
  EXPECT_EQ(run_verify({"--quote", "x"}).code, exit_usage);
  EXPECT_EQ(run_verify({"--bogus"}).code, exit_usage);
  EXPECT_EQ(run_verify({"--quote", "/nonexistent/q", "--collateral", "/nonexistent/c"}).code, exit_usage);
  const TempFile quote("00");
  EXPECT_EQ(run_verify({"--quote", quote.path(), "--collateral", "/nonexistent/c"}).code, exit_usage);
  EXPECT_EQ(run_verify({"--quote", quote.path(), "--collateral", quote.path(), "--at", "soon"}).code, exit_usage);
  const auto help = run_verify({"--help"});
  EXPECT_EQ(help.code, exit_ok);
  EXPECT_NE(help.out.find("--collateral"), std::string::npos);
}

TEST(VerifyQuoteCommand, GarbageInputsAreRejectedWithJson) {
  const TempFile quote("not a quote");
  const TempFile collateral("{}");
  const auto r = run_verify({"--quote", quote.path(), "--collateral", collateral.path()});
  EXPECT_EQ(r.code, exit_rejected);
  const json::object o = json::parse(r.out).as_object();
  EXPECT_EQ(o.at("ok"), false);
  EXPECT_EQ(o.at("error"), "malformed_quote");
}

TEST(Cli, HelpVersionAndUnknownCommand) {
  std::ostringstream out, err;
  EXPECT_EQ(run({"--version"}, out, err), exit_ok);
  EXPECT_NE(out.str().find("verified-proxy"), std::string::npos);
  EXPECT_EQ(run({"--help"}, out, err), exit_ok);
  EXPECT_NE(out.str().find("verify-quote"), std::string::npos);
  EXPECT_EQ(run({"frobnicate"}, out, err), exit_usage);
  EXPECT_NE(err.str().find("unknown command"), std::string::npos);
}

TEST(Cli, RealBinaryVerifiesAQuote) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::string cmd = (test::binary_dir() / "src" / "verified-proxy").string() + " verify-quote --quote " +
                          shared("tdx/v5-phala-no-matching-tcb-level/quote.bin") + " --collateral " +
                          shared("tdx/v5-phala-no-matching-tcb-level/collateral.json") + " --at 1774003274";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), exit_rejected) << output;
  EXPECT_EQ(json::parse(output).at("error"), "no_matching_tcb_level");
}

}  // namespace
}  // namespace vp::app
