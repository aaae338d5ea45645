#include "app/verify_quote_command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/program_options.hpp>

#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "app/collateral_options.hpp"
#include "app/program.hpp"
#include "collateral/bundle.hpp"
#include "core/file.hpp"
#include "core/hex.hpp"
#include "core/text.hpp"
#include "net/spawn.hpp"
#include "tdx/verified_quote_json.hpp"
#include "tdx/verifier.hpp"

namespace vp::app {
namespace po = boost::program_options;
namespace asio = boost::asio;

namespace {

constexpr const char* usage =
    "Usage: verified-proxy verify-quote --quote FILE [--collateral FILE|DIR] [--root-ca PEM] [--at UNIX_SECONDS]\n"
    "                                   [collateral options]\n"
    "\n"
    "Verifies an Intel TDX DCAP quote (v4 or v5) and prints one JSON object:\n"
    "{\"ok\":true,\"tcb_status\":…,\"td\":{…},…} or {\"ok\":false,\"error\":\"<kind>\",\"message\":…}.\n"
    "With --collateral (a QuoteCollateralV3 file or a bundle tree) or --collateral-dir it runs offline;\n"
    "otherwise collateral for the quote's platform is fetched from Intel PCS / --pccs-url and cached.\n"
    "Exit status: 0 verified, 1 rejected, 2 usage error or unreadable input.\n";

/// Quotes arrive as raw bytes or as hex text (`0x` prefix and white space allowed).
std::optional<bytes> read_quote(const std::string& path) {
  // "-": standard input, as the usual command-line convention has it.
  auto data = read_file(path == "-" ? std::string("/dev/stdin") : path);
  if (!data) return std::nullopt;
  if (auto decoded = from_hex_lenient(*data); decoded && !decoded->empty()) return decoded;
  return bytes(data->begin(), data->end());
}

/// Collateral errors in the CLI's error vocabulary.
std::string collateral_error_kind(collateral::errc e) {
  switch (e) {
    case collateral::errc::invalid: return "malformed_collateral";
    case collateral::errc::expired: return "collateral_expired";
    default: return "collateral_" + std::string(collateral::to_string(e));
  }
}

int print_error(std::ostream& out, std::string kind, std::string message) {
  boost::json::object o;
  o["ok"] = false;
  o["error"] = std::move(kind);
  o["message"] = std::move(message);
  out << boost::json::serialize(o) << '\n';
  return exit_rejected;
}

}  // namespace

int verify_quote_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         const clock& clock) {
  auto options = options_group("verify-quote options");
  options.add_options()
      ("help,h", "show this help")
      ("version", "print the version and exit")
      ("quote", po::value<std::string>()->value_name("FILE"), "quote, raw binary or hex text ('-': standard input)")
      ("collateral", po::value<std::string>()->value_name("FILE|DIR"),
       "QuoteCollateralV3 JSON file, or a bundle tree searched for the quote's platform")
      ("root-ca", po::value<std::string>()->value_name("PEM"),
       "trust anchor (default: the Intel SGX Root CA compiled in)")
      ("at", po::value<std::int64_t>()->value_name("UNIX_SECONDS"), "verify as of this time (default: now)");
  add_collateral_options(options);
  po::variables_map vm;
  collateral_config config;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
    config = read_collateral_options(vm);
  } catch (const po::error& e) {
    err << "verify-quote: " << e.what() << "\n\n" << help_hint("verified-proxy verify-quote") << '\n';
    return exit_usage;
  }
  if (vm.count("help") != 0) {
    out << usage << '\n' << options;
    return exit_ok;
  }
  if (vm.count("version") != 0) {
    out << version_line("verified-proxy") << '\n';
    return exit_ok;
  }
  if (vm.count("quote") == 0) {
    err << "verify-quote: --quote is required\n\n" << help_hint("verified-proxy verify-quote") << '\n';
    return exit_usage;
  }
  const auto quote_path = vm["quote"].as<std::string>();
  const auto quote = read_quote(quote_path);
  if (!quote) {
    err << "verify-quote: cannot read quote file " << quote_path << '\n';
    return exit_usage;
  }
  std::string collateral_path;
  if (vm.count("collateral") != 0) {
    collateral_path = vm["collateral"].as<std::string>();
    std::error_code ec;
    if (!std::filesystem::exists(collateral_path, ec)) {
      err << "verify-quote: cannot read collateral " << collateral_path << '\n';
      return exit_usage;
    }
  }
  std::shared_ptr<const tdx::trust_anchor> anchor;
  try {
    anchor = load_anchor(vm.count("root-ca") != 0 ? vm["root-ca"].as<std::string>() : "");
  } catch (const std::exception& e) {
    err << "verify-quote: " << text::exception_text(e) << '\n';
    return exit_usage;
  }
  const fixed_clock at(vm.count("at") != 0 ? from_unix_seconds(vm["at"].as<std::int64_t>()) : clock.now());

  // The quote is judged first: a quote this verifier cannot handle is reported as such
  // whatever the collateral.
  const auto platform = tdx::identify_platform(*quote);
  if (!platform) {
    out << boost::json::serialize(tdx::to_json(platform.error())) << '\n';
    return exit_rejected;
  }
  const collateral::platform_key key{platform->fmspc, platform->pck_ca};

  tdx::result<tdx::verified_quote> verdict = tdx::make_error(tdx::errc::malformed_collateral, "no collateral");
  if (!collateral_path.empty()) {
    // Offline: raw collateral goes straight to the verifier, so expiry and
    // authentication failures keep the verifier's precise error kinds.
    std::error_code ec;
    auto raw = std::filesystem::is_directory(collateral_path, ec)
                   ? collateral::find_in_bundle_tree(collateral_path, key.fmspc, key.ca)
                   : collateral::read_collateral_file(collateral_path);
    if (!raw) return print_error(out, collateral_error_kind(raw.error().kind), raw.error().message);
    verdict = tdx::verify_quote(*quote, *raw, *anchor, at.now());
  } else {
    asio::io_context io;
    const auto source = make_collateral_source(io.get_executor(), config, anchor, at);
    std::optional<collateral::result<collateral::verified_collateral>> fetched;
    net::spawn_logged(
        io,
        [&]() -> asio::awaitable<void> {
          fetched = co_await source->get(key);
          // A background cache refresh need not hold up the verdict.
          io.stop();
        },
        "collateral fetch");
    io.run();
    if (!fetched || !*fetched) {
      return print_error(out, fetched ? collateral_error_kind(fetched->error().kind) : "collateral_unavailable",
                         fetched ? fetched->error().message : "collateral fetch did not complete");
    }
    verdict = tdx::verify_quote(*quote, *(*fetched)->collateral, *anchor, at.now());
  }
  if (!verdict) {
    out << boost::json::serialize(tdx::to_json(verdict.error())) << '\n';
    return exit_rejected;
  }
  boost::json::object result = tdx::to_json(*verdict);
  result["verified_at"] = to_unix_seconds(at.now());
  out << boost::json::serialize(result) << '\n';
  return exit_ok;
}

}  // namespace vp::app
