#include "app/workload_policy.hpp"

#include <stdexcept>

#include "core/file.hpp"
#include "core/log.hpp"
#include "policy/policy.hpp"

namespace vp::app {

workload_setup make_workload_check(const std::string& policy_file, std::shared_ptr<const clock> clock) {
  auto policy = std::make_shared<policy::workload_policy>(policy::nearai_policy());
  if (!policy_file.empty()) {
    const auto text = read_file(policy_file);
    if (!text) throw std::runtime_error("cannot read policy file " + policy_file);
    auto parsed = policy::parse_policy(*text);
    if (!parsed) throw std::runtime_error("policy file " + policy_file + ": " + parsed.error().message);
    *policy = std::move(*parsed);
  }
  workload_setup s;
  const std::string name = policy->name().empty() ? policy_file : policy->name();
  s.description = "'" + name + "'" + (policy_file.empty() ? " (built in)" : " from " + policy_file);
  s.check = [policy, clock, name](const upstream::attestation_outcome& outcome,
                                  std::optional<std::string_view> routed_model)
      -> std::optional<attest::attestation_failure> {
    // The backend chooses the report's form, and with it the policy section that judges
    // it: a policy that pins one role and nothing for the other would let any TDX machine
    // through by answering in the other form. Only a policy pinning nothing at all (`{}`,
    // a diagnostic) accepts an unpinned role.
    const attest::attestation_role role = outcome.attestation.role;
    const attest::attestation_role other =
        role == attest::attestation_role::gateway ? attest::attestation_role::model : attest::attestation_role::gateway;
    if (policy->allowlists(role) == policy::workload_allowlists{} &&
        policy->allowlists(other) != policy::workload_allowlists{}) {
      const std::string role_name(attest::to_string(role));
      return attest::attestation_failure{
          role_name + "_not_pinned",
          "workload policy '" + name + "' pins " + std::string(attest::to_string(other)) + " CVMs but nothing for " +
              role_name + " CVMs, and the backend answered with a " + std::string(attest::to_string(outcome.form)) +
              "-form report judged as a " + role_name + " CVM; add a \"" + role_name +
              "\" section to the policy to accept it"};
    }
    const auto report = policy::evaluate(*policy, outcome.attestation, outcome.verdict, clock->now(), routed_model);
    for (const auto& f : report.factors) {
      if (f.status == policy::factor_status::warn) {
        log::warn("workload policy '" + name + "' warning on " + outcome.attestation.json_pointer + ": " + f.name +
                  ": " + f.detail);
      }
    }
    if (const auto* failed = report.first_failure()) {
      return attest::attestation_failure{failed->name,
                                         "workload policy '" + name + "': " + failed->name + ": " + failed->detail};
    }
    return std::nullopt;
  };
  s.limit = [policy](const upstream::attestation_outcome& outcome) {
    return policy::tcb_acceptance_ends(*policy, outcome.verdict.quote);
  };
  return s;
}

}  // namespace vp::app
