#include "proxy/forwarding.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <charconv>

#include "proxy/routing.hpp"

namespace vp::proxy {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower(x) == lower(y);
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_empty) {
  if (s.empty()) return allow_empty ? std::optional<std::uint16_t>(0) : std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

void add_connection_tokens(std::string_view value, std::vector<std::string_view>& names) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto token = trim(value.substr(0, comma));
    // The usual "keep-alive" or "close" leaves nothing to compare each field with.
    if (!token.empty() && !is_hop_by_hop(token)) names.push_back(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool is_hop_by_hop(std::string_view name) {
  // Asked for every field of every relayed message: most names start with another letter.
  if (name.empty()) return false;
  const char first = lower(name.front());
  if (first != 'c' && first != 'k' && first != 't' && first != 'u' && first != 'p') return false;
  static constexpr std::array<std::string_view, 6> fixed = {"connection", "keep-alive", "te",
                                                            "trailer",    "transfer-encoding", "upgrade"};
  return std::any_of(fixed.begin(), fixed.end(), [&](std::string_view f) { return iequals(f, name); }) ||
         istarts_with(name, "proxy-");
}

bool named_by_connection(std::string_view name, const std::vector<std::string_view>& tokens) {
  return std::any_of(tokens.begin(), tokens.end(), [&](std::string_view t) { return iequals(t, name); });
}

bool forward_request_field(std::string_view name, const std::vector<std::string_view>& tokens) {
  if (is_hop_by_hop(name) || named_by_connection(name, tokens)) return false;
  return !iequals(name, backend_domain_header) && !iequals(name, "host") && !iequals(name, "content-length") &&
         !iequals(name, "expect");
}

bool forward_response_field(std::string_view name, const std::vector<std::string_view>& tokens) {
  return !is_hop_by_hop(name) && !named_by_connection(name, tokens) && !iequals(name, "content-length");
}

std::string_view path_without_query(std::string_view target) {
  // One pass (find_first_of runs a search of the set per character).
  const auto end = std::find_if(target.begin(), target.end(), [](char c) { return c == '?' || c == '#'; });
  return target.substr(0, static_cast<std::size_t>(end - target.begin()));
}

std::optional<std::string> origin_form_target(std::string_view method, std::string_view target, std::string& error) {
  if (!target.empty() && target.front() == '/') return std::string(target);
  if (target == "*") {
    if (method == "OPTIONS") return std::string(target);
    error = "the asterisk-form target \"*\" is only valid for OPTIONS";
    return std::nullopt;
  }
  const auto uri = boost::urls::parse_absolute_uri(target);
  if (!uri || (uri->scheme_id() != boost::urls::scheme::http && uri->scheme_id() != boost::urls::scheme::https) ||
      !uri->has_authority() || uri->encoded_host().empty()) {
    error = "the request target must be a path (origin-form) or an http(s) URL (absolute-form)";
    return std::nullopt;
  }
  std::string out(uri->encoded_path().data(), uri->encoded_path().size());
  // With an authority the path is empty or starts with '/' (RFC 3986 §3.3); Boost.URL 1.81
  // accepts some invalid ports ("http://h:-x") and returns the rest as a rootless path.
  if (!out.empty() && out.front() != '/') {
    error = "the request target is not a valid http(s) URL";
    return std::nullopt;
  }
  if (out.empty()) out = "/";
  if (uri->has_query()) {
    out += '?';
    out.append(uri->encoded_query().data(), uri->encoded_query().size());
  }
  return out;
}

std::optional<connect_to_rule> parse_connect_to(std::string_view spec, std::string& error) {
  const auto fail = [&](std::string_view why) {
    error = "--connect-to '" + std::string(spec) + "': " + std::string(why) + " (expected HOST:PORT:ADDR:PORT)";
    return std::nullopt;
  };
  // HOST and PORT never contain ':' (DNS names); ADDR may be a bracketed IPv6 literal.
  const auto c1 = spec.find(':');
  if (c1 == std::string_view::npos) return fail("missing fields");
  const auto c2 = spec.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return fail("missing fields");
  const std::string_view host = spec.substr(0, c1);
  const std::string_view port = spec.substr(c1 + 1, c2 - c1 - 1);
  std::string_view rest = spec.substr(c2 + 1);
  std::string_view address;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return fail("unterminated IPv6 address");
    }
    address = rest.substr(1, close - 1);
    rest.remove_prefix(close + 2);
  } else {
    const auto c3 = rest.rfind(':');
    if (c3 == std::string_view::npos) return fail("missing fields");
    address = rest.substr(0, c3);
    rest.remove_prefix(c3 + 1);
  }
  connect_to_rule rule;
  if (!host.empty()) {
    // A rule for a name that can never be requested would silently never apply.
    auto normalized = normalize_host(host);
    if (!normalized) return fail("invalid host name");
    rule.host = std::move(*normalized);
  }
  const auto p = parse_port(port, true);
  if (!p) return fail("invalid port");
  rule.port = *p;
  if (address.empty() || address.find_first_of(" /\t\r\n") != std::string_view::npos) return fail("invalid address");
  rule.address.assign(address);
  const auto ap = parse_port(rest, false);
  if (!ap || *ap == 0) return fail("invalid address port");
  rule.address_port = *ap;
  return rule;
}

const connect_to_rule* find_connect_to(const std::vector<connect_to_rule>& rules, std::string_view host,
                                       std::uint16_t port) {
  for (const auto& r : rules) {
    if ((r.host.empty() || iequals(r.host, host)) && (r.port == 0 || r.port == port)) return &r;
  }
  return nullptr;
}

}  // namespace vp::proxy
