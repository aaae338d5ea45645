#include "app/workload_policy.hpp"

#include <stdexcept>

#include "core/file.hpp"

namespace vp::app {

workload_setup load_workload_policy(const std::string& policy_file) {
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
  s.policy = std::move(policy);
  return s;
}

}  // namespace vp::app
