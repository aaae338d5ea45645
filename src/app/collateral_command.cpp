#include "app/collateral_command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "app/collateral_options.hpp"
#include "app/program.hpp"
#include "collateral/bundle.hpp"
#include "collateral/pcs_source.hpp"
#include "core/hex.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "net/spawn.hpp"

namespace vp::app {
namespace po = boost::program_options;
namespace asio = boost::asio;

namespace {

constexpr const char* usage =
    "Usage: verified-proxy collateral fetch --fmspc HEX [--ca platform|processor] --out DIR\n"
    "                                       [--pccs-url URL]... [--pccs-ca PEM] [--root-ca PEM] [--at UNIX_SECONDS]\n"
    "\n"
    "Fetches the Intel collateral of one platform (TCB info, QE identity, PCK CRL, root CA CRL and their\n"
    "issuer chains), authenticates it, and writes it to DIR as plain files (the raw responses byte for\n"
    "byte plus the decoded issuer chains) for use with --collateral-dir on a machine without network.\n";

}  // namespace

int collateral_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                       const clock& clock) {
  if (args.empty() || args[0] != "fetch") {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      out << usage;
      return exit_ok;
    }
    err << "verified-proxy collateral: expected the sub-command 'fetch'\n\n"
        << help_hint("verified-proxy collateral fetch") << '\n';
    return exit_usage;
  }
  auto options = options_group("collateral fetch options");
  options.add_options()
      ("help,h", "show this help")
      ("version", "print the version and exit")
      ("fmspc", po::value<std::string>()->value_name("HEX"), "platform FMSPC (12 hex digits)")
      ("ca", po::value<std::string>()->value_name("TYPE")->default_value("platform"), "PCK CA: platform or processor")
      ("out", po::value<std::string>()->value_name("DIR"), "directory to write the bundle to")
      ("root-ca", po::value<std::string>()->value_name("PEM"), "trust anchor (default: Intel SGX Root CA)")
      ("at", po::value<std::int64_t>()->value_name("UNIX_SECONDS"), "judge validity as of this time (default: now)");
  add_collateral_options(options);
  po::variables_map vm;
  collateral_config config;
  try {
    po::store(po::command_line_parser(std::vector<std::string>(args.begin() + 1, args.end())).options(options).run(), vm);
    po::notify(vm);
    config = read_collateral_options(vm);
  } catch (const po::error& e) {
    err << "collateral fetch: " << e.what() << "\n\n" << help_hint("verified-proxy collateral fetch") << '\n';
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
  const auto fmspc = vm.count("fmspc") != 0 ? from_hex(vm["fmspc"].as<std::string>()) : std::nullopt;
  const std::string ca = vm["ca"].as<std::string>();
  if (!fmspc || fmspc->size() != 6 || (ca != "platform" && ca != "processor") || vm.count("out") == 0) {
    err << "collateral fetch: --fmspc (12 hex digits), --ca platform|processor and --out are required\n\n"
        << help_hint("verified-proxy collateral fetch") << '\n';
    return exit_usage;
  }
  if (!config.collateral_dir.empty()) {
    err << "collateral fetch: --collateral-dir makes no sense here (it never touches the network)\n";
    return exit_usage;
  }
  collateral::platform_key key;
  std::copy(fmspc->begin(), fmspc->end(), key.fmspc.begin());
  key.ca = ca == "platform" ? tdx::pck_ca_type::platform : tdx::pck_ca_type::processor;

  std::shared_ptr<const tdx::trust_anchor> anchor;
  std::shared_ptr<net::http_client> client;
  asio::io_context io;
  try {
    anchor = load_anchor(vm.count("root-ca") != 0 ? vm["root-ca"].as<std::string>() : "");
    net::http_client_options http;
    http.ca_file = config.pccs_ca;
    http.connect_timeout = config.timeout;
    http.response_timeout = config.timeout;
    client = std::make_shared<net::http_client>(io.get_executor(), http);
  } catch (const std::exception& e) {
    err << "collateral fetch: " << text::exception_text(e) << '\n';
    return exit_usage;
  }
  const fixed_clock at(vm.count("at") != 0 ? from_unix_seconds(vm["at"].as<std::int64_t>()) : clock.now());
  collateral::pcs_source source(client, {config.pccs_urls, config.min_tcb_evaluation_data_number}, anchor, at);
  std::optional<collateral::result<tdx::pcs_responses>> fetched;
  net::spawn_logged(
      io, [&]() -> asio::awaitable<void> { fetched = co_await source.fetch_raw(key); }, "collateral fetch");
  io.run();
  if (!fetched || !*fetched) {
    err << "collateral fetch: " << (fetched ? fetched->error().message : "did not complete") << '\n';
    return exit_rejected;
  }
  const std::filesystem::path dir = vm["out"].as<std::string>();
  if (auto written = collateral::write_bundle_directory(dir, **fetched); !written) {
    err << "collateral fetch: " << written.error().message << '\n';
    return exit_usage;
  }
  auto raw = tdx::collateral_from_pcs_responses(**fetched);
  auto accepted = collateral::accept(*raw, key, *anchor, at.now(), 0, dir.string());
  out << "wrote " << dir.string() << ": collateral for " << collateral::to_string(key);
  if (accepted) {
    out << ", tcbEvaluationDataNumber " << accepted->summary.tcb_evaluation_data_number << ", valid until "
        << format_rfc3339_utc(accepted->summary.valid_until);
  }
  out << '\n';
  return exit_ok;
}

}  // namespace vp::app
