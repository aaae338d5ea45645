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
#include "core/clock.hpp"

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

/// Parses an OpenAI model list, `{"object":"list","data":[{"id":…},…]}` (NEAR's gateway's
/// GET /v1/models), as one endpoint: `host` serving every listed id. Entries without a
/// string id make the whole list invalid; other fields are ignored.
std::optional<std::vector<endpoint>> parse_model_list(std::string_view body, std::string_view host,
                                                      std::string& error, const endpoints_limits& limits = {});

/// Host patterns a request may be sent to: "*.completions.near.ai" matches exactly one
/// extra label ("glm-5.completions.near.ai", not "a.b.completions.near.ai" nor
/// "completions.near.ai"); a pattern without '*' matches that host only. Comparison is
/// case-insensitive; a trailing dot is ignored; IP literals, ports, user info and
/// anything that is not a DNS name never match.
class domain_allowlist {
 public:
  explicit domain_allowlist(std::vector<std::string> patterns);
  bool allows(std::string_view host) const;
  /// allows() for a host that is already normalize_host()'s result (a route's domain).
  bool allows_normalized(std::string_view host) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
};

/// Whether `pattern` is one domain_allowlist understands: a DNS host name, or "*." followed
/// by one (a pattern that can never match is a configuration error, not a silent no-op).
bool is_host_pattern(std::string_view pattern);

/// Lower-cases and strips one trailing dot; nullopt unless `host` is a DNS name
/// (labels of [a-z0-9-], 1..63 chars, not starting or ending with '-', total <= 253).
std::optional<std::string> normalize_host(std::string_view host);

/// The domain serving `model` (exact, case-sensitive model id), first in list order.
std::optional<std::string> domain_for_model(const std::vector<endpoint>& endpoints, std::string_view model);

/// What the `model` field of a JSON request body says, read in one pass without building
/// a document (Boost.JSON's SAX parser: no allocation per value, nesting bounded only by
/// `max_request_json_depth`).
struct model_lookup {
  enum class outcome {
    found,      ///< exactly one top-level "model" key with a string value
    missing,    ///< valid JSON object without a top-level "model" (or not an object)
    not_json,   ///< the body is not valid JSON
    too_deep,   ///< nested deeper than max_request_json_depth
    ambiguous,  ///< "model" appears more than once at the top level
    not_string  ///< "model" is present but not a string
  };
  outcome result = outcome::missing;
  std::string model;   ///< with found
  std::string detail;  ///< with not_json: the parser's message
};

/// Deeper than any request OpenAI's API takes (tool JSON schemas nest a few dozen levels).
inline constexpr std::size_t max_request_json_depth = 256;

/// Reads the top-level `model` of `body`. Repeated keys are refused (Boost.JSON, like many
/// parsers, would keep the last one while another component could read the first: a
/// request must not route by one model and be served as another).
model_lookup find_request_model(std::string_view body);

/// The `model` string of a JSON request body when find_request_model() finds exactly one.
std::optional<std::string> model_of_request(std::string_view body);

/// OpenAI's list format for GET /v1/models, answered locally from the discovery list:
/// {"object":"list","data":[{"id":…,"object":"model","created":…,"owned_by":…},…]} (each id
/// once). The discovery list says nothing about when a model was created; `listed_at`, the
/// time the list in use was fetched, stands in, so that clients that read `created` as
/// Unix seconds (OpenAI's SDKs type it as an integer) get a real, recent time.
boost::json::object models_list(const std::vector<endpoint>& endpoints, unix_time listed_at,
                                std::string_view owned_by = "near-ai");

}  // namespace vp::proxy
