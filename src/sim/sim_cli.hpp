#pragma once
// The verified-proxy-sim command line: flags → simulator_options, start the deployment,
// write the proxy's files, print a ready-to-run proxy command line, serve until SIGINT /
// SIGTERM. sim_main.cpp only calls run_sim().

#include <boost/program_options/options_description.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"
#include "sim/options.hpp"
#include "sim/simulator.hpp"

namespace vp::sim {

/// What the flags ask for.
struct sim_config {
  simulator_options options;
  /// Faults for one instance index (of every domain), applied once it runs; instances
  /// not listed keep the faults every --fault without an index set.
  std::map<std::size_t, backend_faults> instance_faults;
  std::filesystem::path out;  ///< --out DIR
  /// --export-backend-tls: also write every instance's TLS key and chain to
  /// DIR/backend-tls/ (simulator::write_backend_tls).
  bool export_backend_tls = false;
  log::format log_format = log::format::text;
  bool help = false;
  bool version = false;
};

/// The most SSE chunks --stream-tokens asks for.
inline constexpr std::size_t max_stream_tokens = 100'000;

/// Parses the flags (without the program name). Throws std::invalid_argument (or a
/// boost::program_options::error, derived from std::logic_error) with a message naming the
/// flag on bad input: counts, ports and durations are parsed by app/flag_values.hpp, so
/// "--instances 0", "--gpus -1" or "--pccs-port 0" are refused.
sim_config parse_sim_args(const std::vector<std::string>& args);

/// Applies one --fault value, "NAME" or "NAME=VALUE" (rotate_every=N, slow=MS,
/// attestation_delay=MS, unsolicited_while_idle=MS, where MS is a bare number of
/// milliseconds or a DURATION such as 2s; boolean faults take no value or =true/false), to
/// `faults`.
/// Throws std::invalid_argument naming the problem.
void apply_fault(backend_faults& faults, std::string_view spec);

/// Applies one NRAS fault, "nras_NAME" (nras_down, nras_verdict_false, nras_wrong_nonce,
/// nras_expired; =true/false allowed). Returns false when `spec` names no NRAS fault.
/// Throws std::invalid_argument for a bad value.
bool apply_nras_fault(nras_faults& faults, std::string_view spec);

/// Applies one --gateway-fault value (unbound_tls_key, model_other_nonce,
/// model_fails_policy, strip_e2ee_headers, impersonate_model, =true/false allowed;
/// no_pub_key_provider=N). Throws std::invalid_argument naming the problem.
void apply_gateway_fault(gateway_faults& faults, std::string_view spec);

/// Human-readable list of the faults set ("none" when healthy).
std::string describe_faults(const backend_faults& faults);
std::string describe_nras_faults(const nras_faults& faults);
std::string describe_gateway_faults(const gateway_faults& faults);

/// Quotes `arg` for a POSIX shell when it needs it.
std::string shell_quote(std::string_view arg);

/// The flags, for --help (wrapped by app::options_group).
boost::program_options::options_description sim_options();

/// The --help text.
std::string sim_help();

/// Blocks until SIGINT or SIGTERM.
void wait_for_termination_signal();

/// Runs the program: returns 0 after a graceful stop, 2 for bad flags, 1 when the
/// deployment cannot start. `program_path` (argv[0]) locates the verified-proxy binary
/// for the printed command line; `wait` blocks while the deployment serves (tests pass
/// one that returns at once).
int run_sim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, std::string_view program_path,
            const std::function<void(simulator&)>& wait = [](simulator&) { wait_for_termination_signal(); });

}  // namespace vp::sim
