#pragma once
// The proxy's own endpoints under the reserved prefix /_proxy/ (answered by the proxy,
// never forwarded), and who may read them.
//
// DNS rebinding: a web page the user visits can point its own host name at 127.0.0.1 and
// then read the proxy's answers as same-origin responses. The browser still sends that
// host name in Host, so only requests whose Host is a loopback name or address, or the
// address the proxy listens on, are answered; anything else is 403.

#include <optional>
#include <string_view>

namespace vp::observe {

enum class local_endpoint {
  page,     ///< GET /_proxy/ (and /_proxy): the HTML status page
  status,   ///< GET /_proxy/status: JSON
  healthz,  ///< GET /_proxy/healthz
  metrics,  ///< GET /_proxy/metrics: Prometheus text
};

/// Whether `path` (without its query) is under the reserved prefix: "/_proxy" or "/_proxy/…".
bool is_local_path(std::string_view path) noexcept;

/// The endpoint `path` names; nullopt for an unknown path under the prefix (404).
std::optional<local_endpoint> find_local_endpoint(std::string_view path) noexcept;

/// Whether a request with this Host field value may read the local endpoints: `localhost`
/// or a name under `.localhost` (RFC 6761: they never leave the machine), an IPv4
/// address in 127.0.0.0/8, [::1], or `listen_host` itself (the --host address) unless it
/// is the unspecified address; any port. Anything else, an empty value or one that is
/// not a valid authority (userinfo, percent-encoding, a path) is refused.
bool is_local_host(std::string_view host_field, std::string_view listen_host);

}  // namespace vp::observe
