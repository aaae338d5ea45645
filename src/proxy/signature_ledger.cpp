#include "proxy/signature_ledger.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace vp::proxy {

void signature_ledger::record(std::string chat_id, signature_record r) {
  if (capacity_ == 0) return;
  auto [it, inserted] = entries_.insert_or_assign(chat_id, std::move(r));
  if (!inserted) return;
  order_.push_back(std::move(chat_id));
  while (order_.size() > capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

const signature_record* signature_ledger::find(std::string_view chat_id) const {
  const auto it = entries_.find(std::string(chat_id));
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<std::string> signature_ledger::answer(std::string_view chat_id) const {
  const signature_record* r = find(chat_id);
  if (r == nullptr) return std::nullopt;
  boost::json::object out;
  boost::system::error_code ec;
  boost::json::value backend = boost::json::parse(r->document, ec);
  if (!ec && backend.is_object()) out = std::move(backend.as_object());
  boost::json::object verdict;
  verdict["status"] = r->status;
  verdict["failed_check"] = r->failed_check.empty() ? boost::json::value(nullptr) : boost::json::value(r->failed_check);
  verdict["detail"] = r->detail;
  verdict["backend"] = r->backend;
  verdict["e2ee"] = r->e2ee;
  verdict["request_sha256"] = r->request_sha256;
  verdict["response_sha256"] = r->response_sha256;
  out["verified_proxy"] = std::move(verdict);
  return boost::json::serialize(out);
}

std::string_view signature_lookup_id(std::string_view path) noexcept {
  constexpr std::string_view prefix = "/v1/signature/";
  if (!path.starts_with(prefix)) return {};
  const std::string_view id = path.substr(prefix.size());
  return id.find('/') == std::string_view::npos ? id : std::string_view{};
}

}  // namespace vp::proxy
