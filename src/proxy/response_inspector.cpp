#include "proxy/response_inspector.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace vp::proxy {

namespace {

bool usable_chat_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == ':';
    if (!ok) return false;
  }
  return true;
}

bool only_whitespace(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

response_inspector::response_inspector(options o) : o_(o), events_(max_inspected_body) {}

bool response_inspector::fail(std::string code, std::string message) {
  if (!failure_) failure_ = failure{std::move(code), std::move(message)};
  return false;
}

void response_inspector::note_id(const boost::json::object& o) {
  if (id_seen_) return;
  id_seen_ = true;
  if (const auto* id = o.if_contains("id"); id != nullptr && id->is_string() && usable_chat_id(id->as_string())) {
    chat_id_ = std::string(id->as_string());
  }
}

bool response_inspector::feed(std::string_view in, std::string& out) {
  if (failure_) return false;
  hasher_.update(in);
  bytes_in_ += in.size();
  if (!o_.streaming) {
    if (whole_.size() + in.size() > max_inspected_body) {
      return fail("response_too_large", "the answer is over " + std::to_string(max_inspected_body >> 20) +
                                            " MiB, the most the proxy holds to check it");
    }
    whole_.append(in);
    return true;
  }
  if (!events_.feed(in)) {
    return fail("response_too_large", "an event of the stream is over " + std::to_string(max_inspected_body >> 20) +
                                          " MiB");
  }
  while (auto raw = events_.next()) {
    if (!handle_event(std::move(*raw), out)) return false;
  }
  return true;
}

bool response_inspector::handle_event(std::string raw, std::string& out) {
  const e2ee::sse_event event = e2ee::parse_sse_event(raw);
  if (!event.data) {
    out += raw;  // comments, keep-alives: nothing to decrypt
    return true;
  }
  if (*event.data == "[DONE]") {
    saw_done_ = true;
    if (o_.hold_done) {
      held_done_ += raw;
    } else {
      out += raw;
    }
    return true;
  }
  boost::system::error_code ec;
  boost::json::value chunk = boost::json::parse(*event.data, ec);
  if (!ec && chunk.is_object() && event.type.empty()) note_id(chunk.as_object());
  // Error events are the backend's own messages, never sealed (§4.6).
  if (o_.cipher == nullptr || event.type == "error") {
    out += raw;
    return true;
  }
  if (ec || !chunk.is_object()) {
    return fail("response_malformed", "a stream event is not a JSON object, so its fields cannot be checked for "
                                      "encryption");
  }
  auto opened = e2ee::decrypt_response(o_.endpoint, chunk.as_object(), *o_.cipher, true);
  if (!opened) {
    return fail("e2ee_decryption_failed", "stream event field " + opened.error().pointer + ": " + opened.error().why);
  }
  fields_opened_ += *opened;
  out += "data: ";
  out += boost::json::serialize(chunk);
  out += "\n\n";
  return true;
}

bool response_inspector::finish(std::string& out) {
  if (failure_) return false;
  hash_ = hasher_.finish();
  if (o_.streaming) {
    const std::string_view rest = events_.pending();
    if (rest.empty()) return true;
    if (o_.cipher == nullptr || only_whitespace(rest)) {
      out.append(rest);
      return true;
    }
    return fail("response_malformed", "the stream ended inside an event");
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(whole_, ec);
  if (!ec && body.is_object()) note_id(body.as_object());
  if (o_.cipher == nullptr) {
    out += whole_;
    return true;
  }
  if (ec || !body.is_object()) {
    return fail("response_malformed", "the answer is not a JSON object, so its fields cannot be checked for "
                                      "encryption");
  }
  auto opened = e2ee::decrypt_response(o_.endpoint, body.as_object(), *o_.cipher, false);
  if (!opened) return fail("e2ee_decryption_failed", "answer field " + opened.error().pointer + ": " + opened.error().why);
  fields_opened_ += *opened;
  out += boost::json::serialize(body);
  return true;
}

}  // namespace vp::proxy
