#include "sim/e2ee_server.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/hex.hpp"
#include "e2ee/sse.hpp"

namespace vp::sim {
namespace {

namespace json = boost::json;

attest::signing_algorithm algorithm_of(e2ee::scheme kind) {
  return kind == e2ee::scheme::v2 ? attest::signing_algorithm::ed25519 : attest::signing_algorithm::ecdsa;
}

json::object* object_at(json::value* v) { return v != nullptr ? v->if_object() : nullptr; }

json::value* first_element(json::object& body, std::string_view key) {
  auto* list = body.if_contains(key);
  auto* array = list != nullptr ? list->if_array() : nullptr;
  return array != nullptr && !array->empty() ? &array->front() : nullptr;
}

/// The covered response field the e2ee_* faults hit: the first choice's content / text,
/// or the first embedding. nullptr when the answer has none.
json::value* faulty_field(e2ee::endpoint endpoint, json::object& body, bool chunk) {
  switch (endpoint) {
    case e2ee::endpoint::chat_completions: {
      json::object* choice = object_at(first_element(body, "choices"));
      json::object* message = choice != nullptr ? object_at(choice->if_contains(chunk ? "delta" : "message")) : nullptr;
      return message != nullptr ? message->if_contains("content") : nullptr;
    }
    case e2ee::endpoint::completions: {
      json::object* choice = object_at(first_element(body, "choices"));
      return choice != nullptr ? choice->if_contains("text") : nullptr;
    }
    case e2ee::endpoint::embeddings: {
      json::object* item = object_at(first_element(body, "data"));
      return item != nullptr ? item->if_contains("embedding") : nullptr;
    }
    default:
      return nullptr;
  }
}

using text_result = boost::system::result<std::string, e2ee_error>;

/// e2ee_error is constructible from a string too: a success must say it is one.
text_result success(std::string text) { return text_result(boost::system::in_place_value, std::move(text)); }

bool worth_sealing(const json::value& v) {
  if (const auto* s = v.if_string()) return !s->empty();  // §4.2: empty strings travel as ""
  return !v.is_null();
}

}  // namespace

boost::system::result<std::optional<e2ee_request>, std::string> parse_e2ee_headers(const e2ee_headers& headers) {
  if (!headers.signing_algo && !headers.client_public_key) return std::optional<e2ee_request>();
  if (!headers.signing_algo || !headers.client_public_key) {
    return std::string("X-Signing-Algo and X-Client-Pub-Key must be sent together");
  }
  e2ee_request r;
  r.client_public_key_hex = *headers.client_public_key;
  r.all_fields = headers.encrypt_all_fields == "true";
  const std::optional<std::string>& version = headers.encryption_version;
  if (*headers.signing_algo == "ed25519") {
    // An absent version means 1 (NaCl box), which the simulator does not speak (§4.4).
    if (version != "2") return std::string("unsupported encryption version");
    r.kind = e2ee::scheme::v2;
  } else if (*headers.signing_algo == "ecdsa") {
    if (version && *version != "1" && *version != "2") return std::string("unsupported encryption version");
    r.kind = e2ee::scheme::ecies;
  } else {
    return "Unsupported signing algorithm: " + *headers.signing_algo;
  }
  return std::optional<e2ee_request>(std::move(r));
}

boost::system::result<e2ee_session, std::string> e2ee_session::open(e2ee::endpoint endpoint,
                                                                    const e2ee_request& request,
                                                                    const signing_identity& own,
                                                                    const signing_identity& foreign) {
  const attest::signing_algorithm algo = algorithm_of(request.kind);
  auto cipher = e2ee::field_cipher::for_server(request.kind, own.secret(algo), request.client_public_key_hex);
  if (!cipher) return "Invalid X-Client-Pub-Key: " + cipher.error();
  // A cipher whose peer is the foreign key pair itself: what it seals, only that pair opens.
  auto to_foreign = e2ee::field_cipher::for_server(request.kind, foreign.secret(algo), to_hex(foreign.public_key(algo)));
  if (!to_foreign) return "verified-proxy-sim: foreign key: " + to_foreign.error();
  return e2ee_session(endpoint, request.all_fields, std::move(*cipher), std::move(*to_foreign));
}

boost::system::result<std::string, e2ee_error> e2ee_session::decrypt_request(std::string_view body) const {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return e2ee_error{"The request body must be a JSON object"};
  // inference-proxy answers every field failure with the same generic message (§4.5).
  if (!e2ee::decrypt_request(endpoint_, parsed.as_object(), cipher_, all_fields_)) {
    return e2ee_error{"Decryption failed"};
  }
  return success(json::serialize(parsed));
}

boost::system::result<std::string, e2ee_error> e2ee_session::seal_object(std::string_view json_text, bool chunk,
                                                                          field_sealing how) const {
  boost::system::error_code ec;
  json::value parsed = json::parse(json_text, ec);
  if (ec || !parsed.is_object()) return e2ee_error{"the answer is not a JSON object"};
  json::object& body = parsed.as_object();
  std::optional<json::value> original;
  if (const json::value* field = faulty_field(endpoint_, body, chunk); field != nullptr && worth_sealing(*field)) {
    original = *field;
  }
  if (auto sealed = e2ee::encrypt_response(endpoint_, body, cipher_, all_fields_, chunk); !sealed) {
    return e2ee_error{"cannot seal " + sealed.error().pointer + ": " + sealed.error().why};
  }
  if (how != field_sealing::honest && original) {
    json::value* field = faulty_field(endpoint_, body, chunk);
    if (field == nullptr) return e2ee_error{"the sealed answer lost its covered field"};
    if (how == field_sealing::plaintext) {
      *field = *original;
    } else {
      const std::string text = original->is_string() ? std::string(original->get_string()) : json::serialize(*original);
      const auto foreign = foreign_.encrypt(text);
      if (!foreign) return e2ee_error{"cannot seal to the foreign key"};
      *field = *foreign;
    }
  }
  return success(json::serialize(parsed));
}

boost::system::result<std::string, e2ee_error> e2ee_session::seal_response(std::string_view json_body,
                                                                            field_sealing how) const {
  return seal_object(json_body, false, how);
}

boost::system::result<std::string, e2ee_error> e2ee_session::seal_event(std::string_view event,
                                                                         field_sealing how) const {
  const e2ee::sse_event parsed = e2ee::parse_sse_event(event);
  if (!parsed.data || !parsed.data->starts_with('{')) return success(std::string(event));
  auto sealed = seal_object(*parsed.data, true, how);
  if (!sealed) return sealed.error();
  return success("data: " + *sealed + "\n\n");
}

}  // namespace vp::sim
