#pragma once
// `verified-proxy [serve] [flags]`: runs the verifying proxy until SIGINT / SIGTERM.

#include <boost/asio/any_io_executor.hpp>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/collateral_options.hpp"
#include "app/flag_values.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "server/descriptor_budget.hpp"
#include "server/proxy_config.hpp"
#include "server/proxy_server.hpp"

namespace vp::app {

/// Everything the serve flags say.
struct serve_settings {
  server::proxy_config proxy;
  collateral_config collateral;
  std::string root_ca;      ///< --root-ca ("" = Intel SGX Root CA)
  std::string nvidia_root_ca;  ///< --nvidia-root-ca ("" = NVIDIA Device Identity CA)
  std::string gpu_crl_dir;     ///< --gpu-crl-dir ("" = GPU revocation unchecked)
  std::string policy_file;  ///< --policy ("" = the built-in nearai policy)
  log::level log_level = log::level::info;
  log::format log_format = log::format::text;  ///< --log-format
  std::filesystem::path config_file;            ///< the config file read ("" none)
  /// --threads: shards serving clients, each an event loop on its own thread (0 on the
  /// command line: one per core).
  std::size_t threads = 1;
};

/// What --threads 0 means here: the cores std::thread::hardware_concurrency() reports
/// (1 when it cannot tell).
std::size_t default_thread_count();

/// The flags that say how a backend is reached and attested — allowlist, --connect-to,
/// TLS, trust anchors, policy, GPU and NVIDIA's service, the connect / TLS / attestation
/// timeouts, collateral: the part of serve's flags `verify` takes too.
boost::program_options::options_description backend_options();

/// The serve flags, --help, --version and --config included (backend_options() among
/// them): for every command that takes them (serve, print-config), with load_options
/// (app/config_file.hpp) to read them. The config file's keys are these.
boost::program_options::options_description serve_options();

/// The settings `values` (backend_options(), loaded) describe; the listening, routing and
/// serving ones keep their defaults. Throws boost::program_options::error naming the flag
/// of a bad value.
serve_settings read_backend_settings(const boost::program_options::variables_map& values);

/// The settings `values` (serve_options(), loaded) describe. Throws
/// boost::program_options::error naming the flag of a bad value.
serve_settings read_serve_settings(const boost::program_options::variables_map& values);

/// What attesting a backend needs besides the configuration: trust anchors, the workload
/// policy, the collateral source, GPU CRLs.
struct backend_dependencies {
  server::proxy_dependencies dependencies;
  std::string policy_description;  ///< the policy's name and file, for a log line or a report
};

/// Loads them as `settings` say. Throws std::runtime_error naming the file that cannot be
/// used (a configuration error).
backend_dependencies load_backend_dependencies(boost::asio::any_io_executor executor, const serve_settings& settings,
                                               std::shared_ptr<const clock> time_source);
/// The host of a --gateway-url: "https://HOST", optionally ending in "/" or "/v1" (the
/// base URL NEAR documents), lower-cased; nullopt with `error` set otherwise.
std::optional<std::string> parse_gateway_url(std::string_view url, std::string& error);

/// Parses the serve flags over the config file (--config FILE, else the default file when
/// it exists). Returns nullopt after printing help (`--help`) or the version (`--version`;
/// exit 0) or an error naming the flag or the file and line (exit 2) to `err`; `exit_code`
/// says which.
std::optional<serve_settings> parse_serve_settings(const std::vector<std::string>& args, std::ostream& out,
                                                   std::ostream& err, int& exit_code);

/// `verified-proxy print-config [flags]`: prints the effective configuration (config file,
/// flags and defaults) as a config file that --config reads back, naming the file read.
int print_config_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// Lowers config.max_client_connections to what the descriptor limit carries; returns
/// the startup line that says so, or that the limit could not be raised ("" when the
/// configured maximum fits).
std::string fit_connections_to_descriptors(server::proxy_config& config, const server::descriptor_limit& limit);

/// The flags' help text.
std::string serve_help();

/// Runs the proxy until SIGINT / SIGTERM; returns the exit code (2 for configuration
/// errors such as an unusable port or CA file).
int serve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace vp::app
