#include "app/collateral_options.hpp"

#include <filesystem>

#include <boost/program_options.hpp>

#include <limits>
#include <stdexcept>

#include "app/flag_values.hpp"
#include "collateral/cache.hpp"
#include "collateral/pcs_source.hpp"
#include "core/file.hpp"
#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "net/http_client.hpp"

namespace vp::app {
namespace po = boost::program_options;

void add_collateral_options(po::options_description& options) {
  options.add_options()
      ("pccs-url", po::value<std::vector<std::string>>()->value_name("URL"),
       "Intel PCS or PCCS base URL; repeatable, tried in order (default: https://api.trustedservices.intel.com)")
      ("pccs-ca", po::value<std::string>()->value_name("PEM"),
       "CA certificates to trust for https PCCS URLs instead of the system store")
      ("collateral-dir", po::value<std::string>()->value_name("DIR"),
       "offline collateral bundle tree; the network is never used")
      ("cache-dir", po::value<std::string>()->value_name("DIR"),
       "collateral cache directory (default: $XDG_CACHE_HOME/verified-proxy/collateral)")
      ("no-cache", "keep fetched collateral in memory only")
      ("min-tcb-eval-num", po::value<std::string>()->value_name("N"),
       "reject collateral whose tcbEvaluationDataNumber is below N")
      ("pccs-timeout", po::value<std::string>()->value_name("DURATION")->default_value("30s"),
       "timeout for each PCS/PCCS request (a bare number is seconds)");
}

collateral_config read_collateral_options(const po::variables_map& vm) {
  collateral_config c;
  if (vm.count("pccs-url") != 0) c.pccs_urls = vm["pccs-url"].as<std::vector<std::string>>();
  if (vm.count("pccs-ca") != 0) c.pccs_ca = vm["pccs-ca"].as<std::string>();
  if (vm.count("collateral-dir") != 0) c.collateral_dir = vm["collateral-dir"].as<std::string>();
  c.no_cache = vm.count("no-cache") != 0;
  c.cache_dir = vm.count("cache-dir") != 0 ? std::filesystem::path(vm["cache-dir"].as<std::string>())
                                           : collateral::default_cache_directory();
  if (vm.count("min-tcb-eval-num") != 0) {
    c.min_tcb_evaluation_data_number = static_cast<std::uint32_t>(
        number_flag(vm, "min-tcb-eval-num", 0, std::numeric_limits<std::uint32_t>::max()));
  }
  if (vm.count("pccs-timeout") != 0) {
    c.timeout = duration_flag(vm, "pccs-timeout");
    if (c.timeout.count() == 0) throw po::error("--pccs-timeout must be longer than 0");
  }
  for (const auto& url : c.pccs_urls) {
    if (!url.starts_with("https://") && !url.starts_with("http://")) {
      throw po::error("--pccs-url " + url + " is not an http:// or https:// URL");
    }
  }
  return c;
}

std::shared_ptr<const tdx::trust_anchor> load_anchor(const std::string& root_ca_path) {
  if (root_ca_path.empty()) {
    // Intel's anchor is a static; share it without owning it.
    return std::shared_ptr<const tdx::trust_anchor>(std::shared_ptr<void>{}, &tdx::intel_sgx_root_ca());
  }
  const auto pem = read_file(root_ca_path);
  if (!pem) throw std::runtime_error("cannot read root CA " + root_ca_path);
  auto anchor = tdx::load_trust_anchor(as_bytes(*pem));
  if (!anchor) throw std::runtime_error(root_ca_path + ": " + anchor.error().message);
  return *anchor;
}

std::shared_ptr<const gpu::trust_anchor> load_gpu_anchor(const std::string& root_ca_path) {
  if (root_ca_path.empty()) {
    return std::shared_ptr<const gpu::trust_anchor>(std::shared_ptr<void>{}, &gpu::nvidia_device_identity_ca());
  }
  const auto pem = read_file(root_ca_path);
  if (!pem) throw std::runtime_error("cannot read NVIDIA root CA " + root_ca_path);
  auto anchor = gpu::load_trust_anchor(*pem);
  if (!anchor) throw std::runtime_error(root_ca_path + ": " + anchor.error());
  return std::make_shared<const gpu::trust_anchor>(std::move(*anchor));
}

std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> load_gpu_crls(const std::string& dir) {
  if (dir.empty()) return nullptr;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw std::runtime_error("cannot read GPU CRL directory " + dir + ": " + ec.message());
  auto crls = std::make_shared<std::vector<crypto::x509_crl_ptr>>();
  for (const auto& entry : it) {
    if (!entry.is_regular_file()) continue;
    const auto data = read_file(entry.path().string(), 16u << 20);
    if (!data) throw std::runtime_error("cannot read " + entry.path().string());
    auto crl = crypto::parse_crl(as_bytes(*data));
    if (!crl) throw std::runtime_error(entry.path().string() + " is not a CRL (DER or PEM)");
    crls->push_back(std::move(crl));
  }
  return crls;
}

std::optional<std::vector<std::string>> parse_key_pins(const std::vector<std::string>& values, std::string& error) {
  std::vector<std::string> pins;
  for (const auto& pin : values) {
    const auto raw = from_hex(pin);
    if (!raw || raw->size() != 32) {
      error = "--nras-key-pin " + pin + ": expected 64 hex digits (SHA-256)";
      return std::nullopt;
    }
    pins.push_back(to_hex(*raw));
  }
  return pins;
}

std::shared_ptr<collateral::source> make_collateral_source(boost::asio::any_io_executor executor,
                                                           const collateral_config& config,
                                                           std::shared_ptr<const tdx::trust_anchor> anchor,
                                                           const clock& clock) {
  if (!config.collateral_dir.empty()) {
    return std::make_shared<collateral::bundle_source>(config.collateral_dir, std::move(anchor), clock,
                                                       config.min_tcb_evaluation_data_number);
  }
  net::http_client_options http;
  http.ca_file = config.pccs_ca;
  http.connect_timeout = config.timeout;
  http.response_timeout = config.timeout;
  auto client = std::make_shared<net::http_client>(executor, http);
  auto upstream = std::make_shared<collateral::pcs_source>(
      client, collateral::pcs_source_options{config.pccs_urls, config.min_tcb_evaluation_data_number}, anchor, clock);
  collateral::cache_options cache;
  if (!config.no_cache) cache.directory = config.cache_dir;
  cache.min_tcb_evaluation_data_number = config.min_tcb_evaluation_data_number;
  return std::make_shared<collateral::cached_source>(std::move(executor), std::move(upstream), cache,
                                                     std::move(anchor), clock);
}

}  // namespace vp::app
