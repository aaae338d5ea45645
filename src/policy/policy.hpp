#pragma once
// The NEAR workload policy (issue #6; docs/nearai-attestation.md §4.3-4.6, §7.1): a
// genuine, bound TDX quote only proves "some TDX machine". The policy decides whether the
// Trust Domain runs NEAR's measured software under NEAR's key management, and says why in
// a factor report. Pure: no I/O, no clock reads (`now` is given), no network types.
//
// The policy file (JSON, `--policy FILE`):
//   {
//     "name": "…", "description": "…",                        (optional, informational)
//     "tcb": {"grace_period_days": 30, "denied_advisories": ["INTEL-SA-…"]},
//     "td_attributes": {"require_sept_ve_disable": true},
//     "model":   {"mrseam": […], "mrtd": […], "rtmr0": […], "rtmr1": […], "rtmr2": […],
//                 "os_image_hash": […], "app_id": […], "key_provider_id": […], "compose_hash": […]},
//     "gateway": { same keys },
//     "gpu": {"required": true, "nras": "required"|"optional"|"off",
//             "hwmodels": ["GH100 A01 GSP BROM"],
//             "measurements": [{"driver_version": "…", "vbios_version": "…",
//                               "measurement_record_sha256": "<64 hex>"}],
//             "accept_unchecked_revocation": true}
//   }
// Every key is optional; `{}` runs every consistency check, the TCB-status and
// TD-attribute rules, and pins nothing. "model" applies to model CVMs (direct reports and
// a gateway report's model_attestations), "gateway" to gateway_attestation. "gpu" applies
// to model CVMs (the gateway has no GPUs); without it GPU evidence is verified when present
// and not required. Unknown keys are errors: a misspelt allowlist must not silently pin
// nothing.

#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/attestation_verifier.hpp"
#include "attest/near_report.hpp"
#include "core/clock.hpp"
#include "policy/factor.hpp"
#include "policy/workload.hpp"

namespace vp::policy {

/// Largest policy file accepted.
inline constexpr std::size_t max_policy_size = 1024 * 1024;
/// Longest TCB grace window a policy may set (ten years: anything longer is "forever").
inline constexpr std::int64_t max_grace_period_days = 3650;

/// Whether NVIDIA's attestation service must vouch for the GPUs too
/// (docs/gpu-signatures-e2ee.md §2): its tokens add NVIDIA's RIM comparison and OCSP
/// checks to the local ones.
enum class nras_requirement {
  off,       ///< not asked, not checked
  optional,  ///< checked when an answer is available; an outage or no answer is a skip
  required,  ///< an answer must be available and pass
};
std::string_view to_string(nras_requirement r) noexcept;

/// One accepted GPU measurement set (§1.7): the driver and VBIOS versions and the SHA-256
/// of the whole signed MeasurementRecord they produce.
struct gpu_measurement_set {
  std::string driver_version;
  std::string vbios_version;  ///< compared ASCII case-insensitively
  sha256_digest measurement_record_sha256{};
  friend bool operator==(const gpu_measurement_set&, const gpu_measurement_set&) = default;
};

/// What the policy demands of a model CVM's GPUs.
struct gpu_policy {
  /// GPU evidence must be present (a report without nvidia_payload, or with an empty
  /// evidence_list, fails gpu_evidence).
  bool required = false;
  nras_requirement nras = nras_requirement::optional;
  /// Accepted CN of the per-device BROM certificate; empty: any.
  std::vector<std::string> hwmodels;
  /// Accepted measurement sets; empty: measurements not pinned (gpu_measurements skips).
  std::vector<gpu_measurement_set> measurements;
  /// Whether a revocation status nobody could check (no OCSP responses or CRLs available)
  /// is acceptable.
  bool accept_unchecked_revocation = true;
  friend bool operator==(const gpu_policy&, const gpu_policy&) = default;
};

/// A parsed policy. Value type; the default is the empty policy `{}`.
class workload_policy {
 public:
  workload_policy() = default;

  /// "name" ("" when the file has none; "nearai" for the built-in policy).
  const std::string& name() const { return name_; }
  /// How long after Intel published a newer TCB level an OutOfDate / ConfigurationNeeded
  /// platform is still accepted (default 30 days; 0: never).
  std::chrono::days tcb_grace_period() const { return grace_period_; }
  /// Intel advisory IDs (e.g. "INTEL-SA-00837") that reject an attestation whatever its
  /// status (compared ASCII case-insensitively).
  const std::vector<std::string>& denied_advisories() const { return denied_advisories_; }
  /// Whether TD attribute SEPT_VE_DISABLE (bit 28) is required (default true).
  bool require_sept_ve_disable() const { return require_sept_ve_disable_; }
  /// The allowlists for attestations of `role`.
  const workload_allowlists& allowlists(attest::attestation_role role) const {
    return role == attest::attestation_role::gateway ? gateway_ : model_;
  }
  /// The GPU rules for model CVMs.
  const gpu_policy& gpu() const { return gpu_; }

  friend bool operator==(const workload_policy&, const workload_policy&) = default;

 private:
  friend struct policy_parser;
  std::string name_;
  std::chrono::days grace_period_{30};
  std::vector<std::string> denied_advisories_;
  bool require_sept_ve_disable_ = true;
  workload_allowlists model_;
  workload_allowlists gateway_;
  gpu_policy gpu_;
};

/// Why a policy file was refused.
struct policy_error {
  std::string message;  ///< names the JSON pointer of the offending value and what was expected
};

/// Lets result<workload_policy, policy_error>::value() report an error (tests and tools only).
[[noreturn]] void throw_exception_from_error(const policy_error& e, const boost::source_location& loc);

/// Parses a policy file's text. Errors: not JSON, over max_policy_size, not an object, an
/// unknown key, a key repeated within one object, a value of the wrong type, a
/// measurement of the wrong length or not hex, an empty allowlist (omit the key to pin
/// nothing), grace_period_days outside [0, max_grace_period_days].
boost::system::result<workload_policy, policy_error> parse_policy(std::string_view json_text);

/// The text of the built-in `nearai` policy (the README explains every value).
std::string_view nearai_policy_json() noexcept;

/// The built-in `nearai` policy, used when no --policy is given.
const workload_policy& nearai_policy();

/// The backend chooses a report's form, and with it the policy section that judges an
/// attestation (`gateway` for gateway_attestation, `model` otherwise): a policy that pins one
/// role's section and nothing for the other would let any TDX machine through by answering
/// in the other form. Returns a failing factor "<role>_not_pinned" in that case; nullopt
/// when `role`'s section pins something, or when the policy pins nothing at all (`{}`, a
/// diagnostic policy).
std::optional<factor> unpinned_role(const workload_policy& policy, attest::attestation_role role);

/// When an attestation accepted only within the TCB grace window stops being acceptable:
/// the date Intel published the newer TCB level (or, without one, the matched level's
/// date) plus the policy's grace period — for OutOfDate and the ConfigurationNeeded
/// family; nullopt for statuses accepted without a window (UpToDate, SWHardeningNeeded)
/// or never accepted (Revoked). A cached verdict must not be relied on after it.
std::optional<unix_time> tcb_acceptance_ends(const workload_policy& policy, const tdx::verified_quote& quote);

/// Every check of the issue on one attestation whose quote verify_attestation() accepted
/// (`verdict`), as of `now`, in this order: tcb_status, tcb_advisories, td_debug,
/// sept_ve_disable, event_log_replay, runtime_event_digests, compose_hash, mrconfigid,
/// app_id, instance_id, os_image_hash, key_provider, mrseam, mrtd, rtmr0, rtmr1, rtmr2,
/// info_registers, model_name. `routed_model`: the model the proxy routed by (nullopt
/// when routed by X-Backend-Domain); a report model_name that differs is a warn factor
/// (model_name is not bound by the quote).
factor_report evaluate(const workload_policy& policy, const attest::near_attestation& attestation,
                       const attest::attestation_verdict& verdict, unix_time now,
                       std::optional<std::string_view> routed_model = std::nullopt);

}  // namespace vp::policy
