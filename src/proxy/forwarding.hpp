#pragma once
// Which header fields cross the proxy (issue #5 "Forwarding"), and the --connect-to rules.
// Pure string logic; the shell applies it to Beast messages.
//
// RFC 9110 §7.6.1: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding and Upgrade describe one hop, as does every field the Connection
// header names; a proxy must not forward them. Proxy-Authorization / Proxy-Authenticate
// are credentials for this hop (us), never for the backend. X-Backend-Domain is our own
// routing instruction. Host is re-set to the backend's domain; Content-Length is
// recomputed from the body actually sent; Expect: 100-continue was answered by the proxy.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vp::proxy {

/// The routing header a client uses to name the backend.
inline constexpr std::string_view backend_domain_header = "X-Backend-Domain";

/// Adds to `names` the tokens of a Connection header value that are not fixed hop-by-hop
/// field names (those go anyway), trimmed, as views into the value: "keep-alive, X-Foo"
/// adds {"X-Foo"}. Field names compare case-insensitively (RFC 9110 §5.1).
void add_connection_tokens(std::string_view connection_value, std::vector<std::string_view>& names);

/// True for the fixed hop-by-hop fields (case-insensitive), Proxy-* included.
bool is_hop_by_hop(std::string_view name);

/// Whether a client request field goes to the backend. `tokens`: add_connection_tokens()
/// of the request's Connection fields.
bool forward_request_field(std::string_view name, const std::vector<std::string_view>& tokens);

/// Whether a backend response field goes to the client (framing fields are re-derived
/// by the proxy: Content-Length is kept only when the body is relayed as is, which the
/// caller decides).
bool forward_response_field(std::string_view name, const std::vector<std::string_view>& tokens);

/// Whether the Connection tokens name the field (case-insensitive).
bool named_by_connection(std::string_view name, const std::vector<std::string_view>& tokens);

/// The path of a request target without the query (for logs: queries may carry secrets).
std::string_view path_without_query(std::string_view target);

/// The request target to send to the backend (RFC 9112 §3.2): an origin-form target
/// ("/v1/chat?x") as it is; an absolute-form one ("http://host/v1/chat?x", http or https)
/// reduced to its origin form, so that a client can never make the proxy forward a
/// target naming another host (the route alone decides the backend); "*" only for
/// OPTIONS. Authority-form (CONNECT's) and anything else: nullopt and `error` says why.
std::optional<std::string> origin_form_target(std::string_view method, std::string_view target, std::string& error);

/// One --connect-to rule (curl semantics): connections for HOST:PORT dial ADDR:ADDR_PORT
/// instead, while SNI, certificate checks and Host keep HOST. An empty host or a zero
/// port in the rule matches any.
struct connect_to_rule {
  std::string host;  ///< lower-case, "" = any
  std::uint16_t port = 0;
  std::string address;  ///< IP literal or DNS name (IPv6 without brackets)
  std::uint16_t address_port = 0;
};

/// Parses "HOST:PORT:ADDR:PORT" ("[::1]" accepted for ADDR). Returns nullopt and sets
/// `error` for anything else.
std::optional<connect_to_rule> parse_connect_to(std::string_view spec, std::string& error);

/// The first rule matching (host, port), or nullptr.
const connect_to_rule* find_connect_to(const std::vector<connect_to_rule>& rules, std::string_view host,
                                       std::uint16_t port);

}  // namespace vp::proxy
