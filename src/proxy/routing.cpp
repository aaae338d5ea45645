#include "proxy/routing.hpp"

#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
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

namespace {

/// The JSON document of a routing list (`what` names it in errors), within the body limit.
std::optional<json::value> parse_list_document(std::string_view body, std::string_view what, std::string& error,
                                               const endpoints_limits& limits) {
  if (body.size() > limits.max_body) {
    error = std::string(what) + " is " + std::to_string(body.size()) + " bytes, over the limit of " +
            std::to_string(limits.max_body);
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) {
    error = std::string(what) + " is not JSON: " + ec.message();
    return std::nullopt;
  }
  return doc;
}

}  // namespace

std::optional<std::vector<endpoint>> parse_endpoints(std::string_view body, std::string& error,
                                                     const endpoints_limits& limits) {
  const auto parsed = parse_list_document(body, "endpoints list", error, limits);
  if (!parsed) return std::nullopt;
  const json::value& doc = *parsed;
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

std::optional<std::vector<endpoint>> parse_model_list(std::string_view body, std::string_view host,
                                                      std::string& error, const endpoints_limits& limits) {
  const auto parsed = parse_list_document(body, "model list", error, limits);
  if (!parsed) return std::nullopt;
  const json::object* root = parsed->if_object();
  const json::value* data_value = root ? root->if_contains("data") : nullptr;
  const json::array* data = data_value ? data_value->if_array() : nullptr;
  if (data == nullptr) {
    error = "model list has no \"data\" array";
    return std::nullopt;
  }
  if (data->size() > limits.max_models) {
    error = "model list names " + std::to_string(data->size()) + " models, over the limit of " +
            std::to_string(limits.max_models);
    return std::nullopt;
  }
  endpoint e{std::string(host), {}};
  for (std::size_t i = 0; i < data->size(); ++i) {
    const json::object* entry = (*data)[i].if_object();
    const json::value* id = entry ? entry->if_contains("id") : nullptr;
    if (id == nullptr || !id->is_string() || id->get_string().empty()) {
      error = "model list data[" + std::to_string(i) + "] has no string \"id\"";
      return std::nullopt;
    }
    e.models.emplace_back(id->get_string());
  }
  return std::vector<endpoint>{std::move(e)};
}

domain_allowlist::domain_allowlist(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (auto& p : patterns_) {
    std::transform(p.begin(), p.end(), p.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
    if (!p.empty() && p.back() == '.') p.pop_back();
  }
}

bool is_host_pattern(std::string_view pattern) {
  return normalize_host(pattern.starts_with("*.") ? pattern.substr(2) : pattern).has_value();
}

bool domain_allowlist::allows(std::string_view raw_host) const {
  const auto host = normalize_host(raw_host);
  return host && allows_normalized(*host);
}

bool domain_allowlist::allows_normalized(std::string_view host) const {
  for (const auto& pattern : patterns_) {
    if (pattern.starts_with("*.")) {
      const std::string_view suffix = std::string_view(pattern).substr(1);  // ".completions.near.ai"
      if (host.size() <= suffix.size() || !host.ends_with(suffix)) continue;
      // Exactly one label in place of '*': no dot in what precedes the suffix.
      const std::string_view label = host.substr(0, host.size() - suffix.size());
      if (label.find('.') == std::string_view::npos) return true;
    } else if (host == pattern) {
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

namespace {

// SAX handler: notes every top-level "model" key and the string that follows it. Depth 1
// is the top-level object; a key read at depth 1 says what the next value belongs to.
class model_finder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  model_lookup result;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return open(true); }
  bool on_object_end(std::size_t, json::error_code&) { return close(); }
  bool on_array_begin(json::error_code&) { return open(false); }
  bool on_array_end(std::size_t, json::error_code&) { return close(); }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1) key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ != 1) return true;
    key_.append(s.data(), s.size());
    model_value_next_ = key_ == "model";
    if (model_value_next_) ++model_keys_;
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1 && model_value_next_) value_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1 && model_value_next_) {
      value_.append(s.data(), s.size());
      model_string_ = std::move(value_);
      value_.clear();
    }
    return scalar();
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return scalar(); }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return scalar(); }
  bool on_double(double, json::string_view, json::error_code&) { return scalar(); }
  bool on_bool(bool, json::error_code&) { return scalar(); }
  bool on_null(json::error_code&) { return scalar(); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  bool top_is_object() const { return top_is_object_; }
  std::size_t model_keys() const { return model_keys_; }
  const std::optional<std::string>& model_string() const { return model_string_; }

 private:
  bool open(bool object) {
    if (depth_ == 0) top_is_object_ = object;
    model_value_next_ = false;
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  bool scalar() {
    model_value_next_ = false;
    return true;
  }

  std::size_t depth_ = 0;
  bool top_is_object_ = false;
  bool model_value_next_ = false;
  std::size_t model_keys_ = 0;
  std::string key_;
  std::string value_;
  std::optional<std::string> model_string_;
};

}  // namespace

model_lookup find_request_model(std::string_view body) {
  using outcome = model_lookup::outcome;
  json::parse_options options;
  options.max_depth = max_request_json_depth;
  json::basic_parser<model_finder> parser(options);
  json::error_code ec;
  const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  // write_some stops after one complete value; anything after it makes the body invalid.
  if (!ec && used != body.size()) ec = json::error::extra_data;
  model_lookup out;
  if (ec == json::error::too_deep) {
    out.result = outcome::too_deep;
  } else if (ec) {
    out.result = outcome::not_json;
    out.detail = ec.message();
  } else {
    const model_finder& h = parser.handler();
    if (!h.top_is_object() || h.model_keys() == 0) {
      out.result = outcome::missing;
    } else if (h.model_keys() > 1) {
      out.result = outcome::ambiguous;
    } else if (!h.model_string()) {
      out.result = outcome::not_string;
    } else {
      out.result = outcome::found;
      out.model = *h.model_string();
    }
  }
  return out;
}

std::optional<std::string> model_of_request(std::string_view body) {
  auto lookup = find_request_model(body);
  if (lookup.result != model_lookup::outcome::found) return std::nullopt;
  return std::move(lookup.model);
}

json::object models_list(const std::vector<endpoint>& endpoints, unix_time listed_at, std::string_view owned_by) {
  json::array data;
  std::set<std::string> seen;
  for (const auto& e : endpoints) {
    for (const auto& model : e.models) {
      if (!seen.insert(model).second) continue;
      json::object m;
      m["id"] = model;
      m["object"] = "model";
      m["created"] = listed_at.time_since_epoch().count();
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
