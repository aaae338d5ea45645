#include "app/verify_quote_command.hpp"

#include <boost/json/serialize.hpp>
#include <boost/program_options.hpp>

#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "app/collateral_files.hpp"
#include "core/file.hpp"
#include "core/hex.hpp"
#include "tdx/verified_quote_json.hpp"
#include "tdx/verifier.hpp"

namespace vp::app {
namespace po = boost::program_options;

namespace {

constexpr const char* usage =
    "Usage: verified-proxy verify-quote --quote FILE --collateral FILE|DIR [--root-ca PEM] [--at UNIX_SECONDS]\n"
    "\n"
    "Verifies an Intel TDX DCAP quote (v4 or v5) completely offline and prints one JSON object:\n"
    "{\"ok\":true,\"tcb_status\":…,\"td\":{…},…} or {\"ok\":false,\"error\":\"<kind>\",\"message\":…}.\n"
    "Exit status: 0 verified, 1 rejected, 2 usage error or unreadable input.\n";

/// Quotes arrive as raw bytes or as hex text (`0x` prefix and white space allowed).
std::optional<bytes> read_quote(const std::string& path) {
  auto data = read_file(path);
  if (!data) return std::nullopt;
  if (auto decoded = from_hex_lenient(*data); decoded && !decoded->empty()) return decoded;
  return bytes(data->begin(), data->end());
}

}  // namespace

int verify_quote_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         const clock& clock) {
  po::options_description options("verify-quote options");
  options.add_options()
      ("help,h", "show this help")
      ("quote", po::value<std::string>()->value_name("FILE"), "quote, raw binary or hex text")
      ("collateral", po::value<std::string>()->value_name("FILE|DIR"),
       "QuoteCollateralV3 JSON file, or a directory with the raw Intel PCS responses")
      ("root-ca", po::value<std::string>()->value_name("PEM"),
       "trust anchor (default: the Intel SGX Root CA compiled in)")
      ("at", po::value<std::int64_t>()->value_name("UNIX_SECONDS"), "verify as of this time (default: now)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    err << "verify-quote: " << e.what() << "\n\n" << usage << options;
    return exit_usage;
  }
  if (vm.count("help") != 0) {
    out << usage << '\n' << options;
    return exit_ok;
  }
  if (vm.count("quote") == 0 || vm.count("collateral") == 0) {
    err << "verify-quote: --quote and --collateral are required\n\n" << usage << options;
    return exit_usage;
  }

  const auto quote_path = vm["quote"].as<std::string>();
  const auto quote = read_quote(quote_path);
  if (!quote) {
    err << "verify-quote: cannot read quote file " << quote_path << '\n';
    return exit_usage;
  }
  const auto collateral_path = vm["collateral"].as<std::string>();
  std::error_code ec;
  if (!std::filesystem::exists(collateral_path, ec)) {
    err << "verify-quote: cannot read collateral " << collateral_path << '\n';
    return exit_usage;
  }

  std::shared_ptr<const tdx::trust_anchor> custom_anchor;
  if (vm.count("root-ca") != 0) {
    const auto path = vm["root-ca"].as<std::string>();
    const auto pem = read_file(path);
    if (!pem) {
      err << "verify-quote: cannot read root CA " << path << '\n';
      return exit_usage;
    }
    auto anchor = tdx::load_trust_anchor(as_bytes(*pem));
    if (!anchor) {
      err << "verify-quote: " << path << ": " << anchor.error().message << '\n';
      return exit_usage;
    }
    custom_anchor = std::move(*anchor);
  }
  const tdx::trust_anchor& anchor = custom_anchor ? *custom_anchor : tdx::intel_sgx_root_ca();
  const unix_time at = vm.count("at") != 0 ? from_unix_seconds(vm["at"].as<std::int64_t>()) : clock.now();

  tdx::result<tdx::verified_quote> verdict = [&]() -> tdx::result<tdx::verified_quote> {
    // The quote is judged first: a quote this verifier cannot handle is reported as
    // such even when the collateral is of another kind too.
    if (auto parsed = tdx::parse_quote(*quote); !parsed) return parsed.error();
    auto collateral = load_collateral(collateral_path);
    if (!collateral) return collateral.error();
    return tdx::verify_quote(*quote, *collateral, anchor, at);
  }();
  if (!verdict) {
    out << boost::json::serialize(tdx::to_json(verdict.error())) << '\n';
    return exit_rejected;
  }
  boost::json::object result = tdx::to_json(*verdict);
  result["verified_at"] = to_unix_seconds(at);
  out << boost::json::serialize(result) << '\n';
  return exit_ok;
}

}  // namespace vp::app
