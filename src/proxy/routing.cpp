#include "proxy/routing.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <set>

namespace vp::proxy {
namespace json = boost::json;

namespace {

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

}  // namespace

std::optional<std::string> normalize_host(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return std::nullopt;
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  std::size_t start = 0;
  bool all_numeric = true;
  for (;;) {
    const std::size_t dot = out.find('.', start);
    const std::string_view label = std::string_view(out).substr(start, dot == std::string::npos ? dot : dot - start);
    if (!valid_label(label)) return std::nullopt;
    all_numeric = all_numeric && std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  // "1.2.3.4" is an address, not a name: never a backend we may send credentials to.
  if (all_numeric) return std::nullopt;
  return out;
}

std::optional<std::vector<endpoint>> parse_endpoints(std::string_view body, std::string& error,
                                                     const endpoints_limits& limits) {
  if (body.size() > limits.max_body) {
    error = "endpoints list is " + std::to_string(body.size()) + " bytes, over the limit of " +
            std::to_string(limits.max_body);
    return std::nullopt;
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec) {
    error = "endpoints list is not JSON: " + ec.message();
    return std::nullopt;
  }
  const json::object* root = doc.if_object();
  const json::value* list_value = root ? root->if_contains("endpoints") : nullptr;
  const json::array* list = list_value ? list_value->if_array() : nullptr;
  if (list == nullptr) {
    error = "endpoints list has no \"endpoints\" array";
    return std::nullopt;
  }
  if (list->size() > limits.max_endpoints) {
    error = "endpoints list has " + std::to_string(list->size()) + " entries, over the limit";
    return std::nullopt;
  }
  std::vector<endpoint> out;
  std::size_t model_count = 0;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string where = "endpoints[" + std::to_string(i) + "]";
    const json::object* entry = (*list)[i].if_object();
    const json::value* domain = entry ? entry->if_contains("domain") : nullptr;
    const json::value* models = entry ? entry->if_contains("models") : nullptr;
    if (domain == nullptr || !domain->is_string() || models == nullptr || !models->is_array()) {
      error = where + " needs a string \"domain\" and an array \"models\"";
      return std::nullopt;
    }
    auto host = normalize_host(domain->get_string());
    if (!host) {
      error = where + ".domain is not a DNS name";
      return std::nullopt;
    }
    endpoint e{std::move(*host), {}};
    for (const auto& model : models->get_array()) {
      if (!model.is_string() || model.get_string().empty()) {
        error = where + ".models holds a value that is not a model id";
        return std::nullopt;
      }
      if (++model_count > limits.max_models) {
        error = "endpoints list names more than " + std::to_string(limits.max_models) + " models";
        return std::nullopt;
      }
      e.models.emplace_back(model.get_string());
    }
    out.push_back(std::move(e));
  }
  return out;
}

domain_allowlist::domain_allowlist(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (auto& p : patterns_) {
    std::transform(p.begin(), p.end(), p.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
    if (!p.empty() && p.back() == '.') p.pop_back();
  }
}

bool domain_allowlist::allows(std::string_view raw_host) const {
  const auto host = normalize_host(raw_host);
  if (!host) return false;
  for (const auto& pattern : patterns_) {
    if (pattern.starts_with("*.")) {
      const std::string_view suffix = std::string_view(pattern).substr(1);  // ".completions.near.ai"
      if (host->size() <= suffix.size() || !host->ends_with(suffix)) continue;
      // Exactly one label in place of '*': no dot in what precedes the suffix.
      const std::string_view label = std::string_view(*host).substr(0, host->size() - suffix.size());
      if (label.find('.') == std::string_view::npos) return true;
    } else if (*host == pattern) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> domain_for_model(const std::vector<endpoint>& endpoints, std::string_view model) {
  for (const auto& e : endpoints) {
    if (std::find(e.models.begin(), e.models.end(), model) != e.models.end()) return e.domain;
  }
  return std::nullopt;
}

std::optional<std::string> model_of_request(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  const json::value* model = doc.get_object().if_contains("model");
  if (model == nullptr || !model->is_string()) return std::nullopt;
  return std::string(model->get_string());
}

json::object models_list(const std::vector<endpoint>& endpoints, std::string_view owned_by) {
  json::array data;
  std::set<std::string> seen;
  for (const auto& e : endpoints) {
    for (const auto& model : e.models) {
      if (!seen.insert(model).second) continue;
      json::object m;
      m["id"] = model;
      m["object"] = "model";
      m["owned_by"] = owned_by;
      data.push_back(std::move(m));
    }
  }
  json::object out;
  out["object"] = "list";
  out["data"] = std::move(data);
  return out;
}

}  // namespace vp::proxy
