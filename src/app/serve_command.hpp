#pragma once
// `verified-proxy [serve] [flags]`: runs the verifying proxy until SIGINT / SIGTERM.

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/collateral_options.hpp"
#include "core/log.hpp"
#include "server/descriptor_budget.hpp"
#include "server/proxy_config.hpp"

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
};

/// "1500ms", "30s", "5m", "1h", or bare seconds ("30"); nullopt otherwise.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
/// "1048576", "512KiB", "32MiB", "1GiB" (also K/M/G, KB/MB/GB as binary units); nullopt otherwise.
std::optional<std::size_t> parse_size(std::string_view text);
/// The host of a --gateway-url: "https://HOST", optionally ending in "/" or "/v1" (the
/// base URL NEAR documents), lower-cased; nullopt with `error` set otherwise.
std::optional<std::string> parse_gateway_url(std::string_view url, std::string& error);

/// Parses the serve flags. Returns nullopt after printing help (`--help`: exit 0) or an
/// error naming the flag (exit 2) to `err`; `exit_code` says which.
std::optional<serve_settings> parse_serve_settings(const std::vector<std::string>& args, std::ostream& out,
                                                   std::ostream& err, int& exit_code);

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
