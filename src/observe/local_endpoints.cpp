#include "observe/local_endpoints.hpp"

#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>

#include <string>

#include "core/text.hpp"

namespace vp::observe {

namespace urls = boost::urls;

namespace {

constexpr std::string_view prefix = "/_proxy";

bool is_loopback(const urls::ipv4_address& a) { return (a.to_uint() >> 24) == 127; }

bool is_loopback(const urls::ipv6_address& a) {
  if (a.is_loopback()) return true;
  if (!a.is_v4_mapped()) return false;
  // ::ffff:127.x.y.z reaches the IPv4 loopback too.
  const auto bytes = a.to_bytes();
  return bytes[12] == 127;
}

bool is_localhost_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  constexpr std::string_view localhost = "localhost";
  if (text::ascii_iequals(name, localhost)) return true;
  return name.size() > localhost.size() + 1 && name[name.size() - localhost.size() - 1] == '.' &&
         text::ascii_iequals(name.substr(name.size() - localhost.size()), localhost);
}

}  // namespace

bool is_local_path(std::string_view path) noexcept {
  return path == prefix || (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
                            path[prefix.size()] == '/');
}

std::optional<local_endpoint> find_local_endpoint(std::string_view path) noexcept {
  if (path == "/_proxy" || path == "/_proxy/") return local_endpoint::page;
  if (path == "/_proxy/status") return local_endpoint::status;
  if (path == "/_proxy/healthz") return local_endpoint::healthz;
  if (path == "/_proxy/metrics") return local_endpoint::metrics;
  return std::nullopt;
}

bool is_local_host(std::string_view host_field, std::string_view listen_host) {
  if (host_field.empty()) return false;
  const auto authority = urls::parse_authority(host_field);
  if (!authority || authority->has_userinfo()) return false;
  switch (authority->host_type()) {
    case urls::host_type::ipv4: {
      const auto address = authority->host_ipv4_address();
      if (is_loopback(address)) return true;
      const auto listen = urls::parse_ipv4_address(listen_host);
      return listen && *listen == address && listen->to_uint() != 0;
    }
    case urls::host_type::ipv6: {
      const auto address = authority->host_ipv6_address();
      if (is_loopback(address)) return true;
      const auto listen = urls::parse_ipv6_address(listen_host);
      return listen && *listen == address && !listen->is_unspecified();
    }
    case urls::host_type::name: {
      const std::string_view name = authority->encoded_host();
      if (name.find('%') != std::string_view::npos) return false;
      return is_localhost_name(name);
    }
    default:
      return false;
  }
}

}  // namespace vp::observe
