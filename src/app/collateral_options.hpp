#pragma once
// Collateral flags shared by every command that needs collateral (verify-quote,
// collateral fetch, and the proxy): where to fetch it, how to trust the fetch, where to
// cache it, or an offline bundle tree instead.

#include <boost/asio/any_io_executor.hpp>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "collateral/source.hpp"
#include "core/clock.hpp"
#include "crypto/ossl.hpp"
#include "gpu/evidence.hpp"
#include "tdx/verifier.hpp"

namespace vp::app {

struct collateral_config {
  std::vector<std::string> pccs_urls;     ///< empty: Intel PCS
  std::string pccs_ca;                    ///< PEM file trusted for https PCCS URLs ("" = system store)
  std::filesystem::path collateral_dir;   ///< offline bundle tree; set: never touch the network
  std::filesystem::path cache_dir;        ///< "" with no_cache: memory only
  bool no_cache = false;
  std::uint32_t min_tcb_evaluation_data_number = 0;
  std::chrono::milliseconds timeout{30'000};  ///< --pccs-timeout, per PCS/PCCS request
};

/// Adds --pccs-url, --pccs-ca, --collateral-dir, --cache-dir, --no-cache,
/// --min-tcb-eval-num, --pccs-timeout.
void add_collateral_options(boost::program_options::options_description& options);

/// Reads the flags above. Throws boost::program_options::error on invalid values.
collateral_config read_collateral_options(const boost::program_options::variables_map& vm);

/// The trust anchor from --root-ca, or Intel's. Throws std::runtime_error naming the
/// file when it cannot be used (a startup configuration error).
std::shared_ptr<const tdx::trust_anchor> load_anchor(const std::string& root_ca_path);

/// The GPU evidence root from --nvidia-root-ca, or NVIDIA's Device Identity CA (compiled
/// in). Throws std::runtime_error naming the file when it cannot be used.
std::shared_ptr<const gpu::trust_anchor> load_gpu_anchor(const std::string& root_ca_path);

/// Every CRL in `dir` (--gpu-crl-dir: DER or PEM files, e.g. NVIDIA's l1-root.crl and
/// l2-gh100.crl); null for "". Throws std::runtime_error naming a file that is not a CRL.
std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> load_gpu_crls(const std::string& dir);

/// --nras-key-pin values (64 hex digits each) as lower-case hex; nullopt, with `error`
/// naming the bad value, otherwise.
std::optional<std::vector<std::string>> parse_key_pins(const std::vector<std::string>& values, std::string& error);

/// The source the flags describe: a bundle tree, or PCS/PCCS URLs behind the cache.
std::shared_ptr<collateral::source> make_collateral_source(boost::asio::any_io_executor executor,
                                                           const collateral_config& config,
                                                           std::shared_ptr<const tdx::trust_anchor> anchor,
                                                           const clock& clock);

}  // namespace vp::app
