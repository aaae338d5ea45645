#pragma once
// Where a client's request goes (issue #5 "Routing"): the discovery list from
// /endpoints, the domain allowlist that keeps the client's API key away from any other
// host, and the model → domain lookup. Pure and synchronous; the shell fetches and
// refreshes the list.

#include <boost/json/object.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"

namespace vp::proxy {

struct endpoint {
  std::string domain;               ///< lower-case host name
  std::vector<std::string> models;  ///< model ids served there
};

struct endpoints_limits {
  std::size_t max_body = 1u << 20;
  std::size_t max_endpoints = 1024;
  std::size_t max_models = 4096;  ///< over all endpoints
};

/// Parses `{"endpoints":[{"domain":…,"models":[…]},…]}`. Domains must be plain DNS
/// names; entries with other fields are accepted (fields ignored), entries missing a
/// field or of the wrong type make the whole list invalid (a half-understood list must
/// not replace a good one). Returns the error text on failure.
std::optional<std::vector<endpoint>> parse_endpoints(std::string_view body, std::string& error,
                                                     const endpoints_limits& limits = {});

/// Host patterns a request may be sent to: "*.completions.near.ai" matches exactly one
/// extra label ("glm-5.completions.near.ai", not "a.b.completions.near.ai" nor
/// "completions.near.ai"); a pattern without '*' matches that host only. Comparison is
/// case-insensitive; a trailing dot is ignored; IP literals, ports, user info and
/// anything that is not a DNS name never match.
class domain_allowlist {
 public:
  explicit domain_allowlist(std::vector<std::string> patterns);
  bool allows(std::string_view host) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
};

/// Lower-cases and strips one trailing dot; nullopt unless `host` is a DNS name
/// (labels of [a-z0-9-], 1..63 chars, not starting or ending with '-', total <= 253).
std::optional<std::string> normalize_host(std::string_view host);

/// The domain serving `model` (exact, case-sensitive model id), first in list order.
std::optional<std::string> domain_for_model(const std::vector<endpoint>& endpoints, std::string_view model);

/// The `model` string of a JSON request body; nullopt when the body is not a JSON object
/// or has no string `model` (the caller answers 400).
std::optional<std::string> model_of_request(std::string_view body);

/// OpenAI's list format for GET /v1/models, answered locally from the discovery list:
/// {"object":"list","data":[{"id":…,"object":"model","owned_by":…},…]} (each id once).
boost::json::object models_list(const std::vector<endpoint>& endpoints, std::string_view owned_by = "near-ai");

}  // namespace vp::proxy
