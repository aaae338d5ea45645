#include "app/cli.hpp"

#include <iostream>

#include "app/collateral_command.hpp"
#include "app/program.hpp"
#include "app/serve_command.hpp"
#include "app/verify_command.hpp"
#include "app/verify_quote_command.hpp"
#include "app/verify_report_command.hpp"
#include "app/verify_signature_command.hpp"
#include "core/clock.hpp"

namespace vp::app {
namespace {

constexpr const char* help =
    "verified-proxy — a local OpenAI-compatible proxy that proves a NEAR AI private-inference backend\n"
    "runs NEAR's software in an Intel TDX Trust Domain before any request byte leaves this machine.\n"
    "\n"
    "Usage:\n"
    "  verified-proxy [serve] [--config FILE] [flags]   run the proxy (default), see `verified-proxy serve --help`\n"
    "  verified-proxy print-config [--config FILE] [flags]\n"
    "  verified-proxy verify DOMAIN [--model M] [--json] [--config FILE] [flags]\n"
    "  verified-proxy verify --gateway --model M [--json] [--config FILE] [flags]\n"
    "  verified-proxy verify-quote --quote FILE [--collateral FILE|DIR] [--root-ca PEM] [--at UNIX_SECONDS]\n"
    "  verified-proxy verify-report --report FILE --nonce HEX [--spki-sha256 HEX] --collateral FILE|DIR\n"
    "                               [--policy FILE] [--json]\n"
    "  verified-proxy verify-signature --signature FILE [--request FILE] [--response FILE] [--report FILE]\n"
    "                                  [--model NAME] [--json]\n"
    "  verified-proxy collateral fetch --fmspc HEX [--ca platform|processor] --out DIR [--pccs-url URL]...\n"
    "  verified-proxy --help | --version\n"
    "\n"
    "Commands:\n"
    "  serve              Run the verifying proxy on 127.0.0.1:8080 (the default command).\n"
    "  print-config       Print the configuration serve would run with (config file, flags, defaults) as TOML.\n"
    "  verify             Attest a live backend now, as the proxy would, and print every factor.\n"
    "  verify-quote       Verify an Intel TDX DCAP quote (Intel's QVL rules) and print JSON.\n"
    "  verify-report      Verify a saved NEAR AI attestation report offline (quotes, binding, workload policy).\n"
    "  verify-signature   Check a saved response signature offline (signer, request/response hashes, model).\n"
    "  collateral fetch   Write an offline collateral bundle for one platform from Intel PCS / a PCCS.\n"
    "\n"
    "Run `verified-proxy COMMAND --help` for the flags of a command. serve and verify read their flags from\n"
    "$XDG_CONFIG_HOME/verified-proxy/config.toml (or ~/.config/verified-proxy/config.toml) when it exists.\n";

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    out << help << '\n' << serve_help();
    return exit_ok;
  }
  // No command, or flags first: the proxy itself.
  if (args.empty() || (args[0].starts_with("-") && args[0] != "--version")) return serve_command(args, out, err);
  if (args[0] == "serve") return serve_command({args.begin() + 1, args.end()}, out, err);
  if (args[0] == "--version") {
    out << version_line("verified-proxy") << '\n';
    return exit_ok;
  }
  if (args[0] == "print-config") return print_config_command({args.begin() + 1, args.end()}, out, err);
  if (args[0] == "verify") return verify_command({args.begin() + 1, args.end()}, out, err);
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const system_clock clock;
  if (args[0] == "verify-quote") return verify_quote_command(rest, out, err, clock);
  if (args[0] == "verify-report") return verify_report_command(rest, out, err, clock);
  if (args[0] == "verify-signature") return verify_signature_command(rest, out, err);
  if (args[0] == "collateral") return collateral_command(rest, out, err, clock);
  err << "verified-proxy: unknown command '" << args[0] << "'\n\nRun `verified-proxy --help` for the commands.\n";
  return exit_usage;
}

}  // namespace vp::app
