// Every --help of verified-proxy wraps the same way, never inside a word (a URL), and
// every usage error ends with the one-line hint to it.

#include <boost/program_options.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "app/program.hpp"
#include "app/serve_command.hpp"
#include "support/help_layout.hpp"

namespace vp::app {
namespace {

namespace po = boost::program_options;

using test::columns;
using test::normalized;

std::string help_of(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  EXPECT_EQ(run(args, out, err), exit_ok) << err.str();
  return out.str();
}

TEST(HelpText, EveryCommandWrapsToTheSharedWidth) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                {"serve", "--help"},
                                                                {"print-config", "--help"},
                                                                {"verify", "--help"},
                                                                {"verify-quote", "--help"},
                                                                {"verify-report", "--help"},
                                                                {"verify-signature", "--help"},
                                                                {"collateral", "--help"},
                                                                {"collateral", "fetch", "--help"}}) {
    const auto help = help_of(args);
    ASSERT_FALSE(help.empty()) << args[0];
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_LE(columns(line), help_width) << testing::PrintToString(args) << ": " << line;
    }
  }
}

TEST(HelpText, NoWordOrUrlIsSplit) {
  // Wrapping only turns spaces into line breaks: each description and default reads the
  // same once white space is normalized, which fails for a URL cut in two.
  const auto help = normalized(serve_help());
  const auto options = serve_options();
  for (const auto& option : options.options()) {
    EXPECT_NE(help.find(normalized(option->description())), std::string::npos) << option->long_name();
    EXPECT_NE(help.find(normalized(option->format_parameter())), std::string::npos) << option->long_name();
  }
  for (const char* url : {"https://nras.attestation.nvidia.com/.well-known/jwks.json",
                          "https://nras.attestation.nvidia.com/v3/attest/gpu", "https://api.trustedservices.intel.com",
                          "https://completions.near.ai/endpoints"}) {
    EXPECT_NE(serve_help().find(url), std::string::npos) << url;
  }
  EXPECT_NE(help_of({"verify-quote", "--help"}).find("https://api.trustedservices.intel.com"), std::string::npos);
}

TEST(HelpText, UsageErrorsEndWithAOneLineHint) {
  const struct {
    std::vector<std::string> args;
    const char* hint;
  } cases[] = {
      {{"verify", "--bogus"}, "Run `verified-proxy verify --help` for its flags.\n"},
      {{"verify"}, "Run `verified-proxy verify --help` for its flags.\n"},
      {{"verify-quote", "--bogus"}, "Run `verified-proxy verify-quote --help` for its flags.\n"},
      {{"verify-quote"}, "Run `verified-proxy verify-quote --help` for its flags.\n"},
      {{"verify-report", "--bogus"}, "Run `verified-proxy verify-report --help` for its flags.\n"},
      {{"verify-report"}, "Run `verified-proxy verify-report --help` for its flags.\n"},
      {{"verify-signature", "--bogus"}, "Run `verified-proxy verify-signature --help` for its flags.\n"},
      {{"verify-signature"}, "Run `verified-proxy verify-signature --help` for its flags.\n"},
      {{"collateral"}, "Run `verified-proxy collateral fetch --help` for its flags.\n"},
      {{"collateral", "fetch", "--bogus"}, "Run `verified-proxy collateral fetch --help` for its flags.\n"},
      {{"collateral", "fetch", "--pccs-timeout", "soon"},
       "Run `verified-proxy collateral fetch --help` for its flags.\n"},
      {{"print-config", "--bogus"}, "Run `verified-proxy --help` for the flags.\n"},
      {{"serve", "--bogus"}, "Run `verified-proxy --help` for the flags.\n"},
      {{"frobnicate"}, "Run `verified-proxy --help` for the commands.\n"},
  };
  for (const auto& c : cases) {
    std::ostringstream out, err;
    EXPECT_EQ(run(c.args, out, err), exit_usage) << testing::PrintToString(c.args);
    EXPECT_TRUE(err.str().ends_with(c.hint)) << testing::PrintToString(c.args) << ":\n" << err.str();
    // The error and the hint, not the whole help.
    EXPECT_EQ(err.str().find("Usage:"), std::string::npos) << err.str();
    const std::string text = err.str();
    EXPECT_LE(std::count(text.begin(), text.end(), '\n'), 3) << text;
  }
}

TEST(HelpText, EveryCommandAnswersVersionFromTheProjectVersion) {
  const std::string line = "verified-proxy " + std::string(version) + "\n";
  EXPECT_EQ(std::string(version), VP_VERSION);
  EXPECT_FALSE(std::string(version).empty());
  for (const auto& args : std::vector<std::vector<std::string>>{{"--version"},
                                                                {"serve", "--version"},
                                                                {"print-config", "--version"},
                                                                {"verify", "--version"},
                                                                {"verify-quote", "--version"},
                                                                {"verify-report", "--version"},
                                                                {"verify-signature", "--version"},
                                                                {"collateral", "fetch", "--version"}}) {
    EXPECT_EQ(help_of(args), line) << testing::PrintToString(args);
  }
}

}  // namespace
}  // namespace vp::app
