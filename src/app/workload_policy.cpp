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
    if (const auto refused = policy::unpinned_role(*policy, outcome.attestation.role)) {
      return attest::attestation_failure{refused->name, "workload policy '" + name + "': " + refused->name + ": " +
                                                            refused->detail + " (the backend answered in the " +
                                                            std::string(attest::to_string(outcome.form)) + " form)"};
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
