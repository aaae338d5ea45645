#include "sim/gateway_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "e2ee/fields.hpp"
#include "e2ee/sse.hpp"
#include "net/bounded_parser.hpp"
#include "net/spawn.hpp"
#include "sim/e2ee_server.hpp"
#include "sim/openai.hpp"
#include "sim/plain_server.hpp"
#include "sim/signatures.hpp"
#include "sim/tls_server.hpp"

namespace vp::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

/// How long the gateway waits for a model CVM (a stream with token delays included).
constexpr auto backend_timeout = 120s;
/// A model report may be oversized on purpose (backend_faults::oversized_attestation).
constexpr std::size_t max_backend_body = 64u << 20;
constexpr std::size_t max_signature_records = 4096;
constexpr std::string_view models_path = "/v1/models";
/// The E2EE header fields of §4.1 the model CVM reads (X-Model-Pub-Key is the gateway's
/// routing pin and is never forwarded, §5.2).
constexpr std::array<std::string_view, 4> e2ee_header_names = {"X-Signing-Algo", "X-Client-Pub-Key",
                                                                "X-Encryption-Version", "X-Encrypt-All-Fields"};
constexpr std::string_view model_pub_key_header = "X-Model-Pub-Key";
/// Client fields about the body that the model CVM needs as well.
constexpr std::array<http::field, 2> content_fields = {http::field::content_type, http::field::accept};
/// `created` of every model in the list (a fixed time: the list is deterministic).
constexpr std::int64_t models_created = 1767225600;  // 2026-01-01T00:00:00Z

using request_type = sim_request;

/// cloud-api's API-key check, simulated: any non-empty bearer token is a key.
bool authorized(const request_type& request) {
  const auto value = header_value(request, "Authorization");
  if (!value || value->size() <= 7 || !beast::iequals(std::string_view(*value).substr(0, 7), "Bearer ")) return false;
  return value->find_first_not_of(' ', 7) != std::string::npos;
}

/// The request asks for E2EE (§4.1): the model CVM must see these headers to open it.
bool asks_for_e2ee(const request_type& request) {
  return request.find("X-Signing-Algo") != request.end() || request.find("X-Client-Pub-Key") != request.end();
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); });
  return text;
}

std::string hex_sha256(std::string_view bytes) { return to_hex(crypto::sha256(as_bytes(bytes))); }

/// The query value of `key` in `target` (nullopt: absent or an unparsable target).
std::optional<std::string> query_value(std::string_view target, std::string_view key) {
  const auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  for (const auto& param : url->params()) {
    if (param.key == key) return param.has_value ? std::string(param.value) : std::string();
  }
  return std::nullopt;
}

/// The `id` of an answer: of the JSON body, or of the first SSE event carrying one (§3.3).
std::string chat_id_of(std::string_view entity, bool stream) {
  const auto id_in = [](std::string_view text) -> std::string {
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    const json::value* id = o != nullptr ? o->if_contains("id") : nullptr;
    return id != nullptr && id->is_string() ? std::string(id->get_string()) : std::string();
  };
  if (!stream) return id_in(entity);
  e2ee::sse_event_reader reader;
  if (!reader.feed(entity)) return {};
  while (auto raw = reader.next()) {
    const e2ee::sse_event event = e2ee::parse_sse_event(*raw);
    if (!event.data || *event.data == "[DONE]") continue;
    if (std::string id = id_in(*event.data); !id.empty()) return id;
  }
  return {};
}

/// A JSON text re-serialised compactly (cloud-api parses and rewrites what it may read);
/// anything that is not JSON stays as it is.
std::string reserialised(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  return ec ? std::string(text) : json::serialize(v);
}

template <class Response>
void set_common_headers(Response& response, std::string_view content_type) {
  response.set(http::field::server, "verified-proxy-sim-gateway");
  response.set(http::field::content_type, content_type);
}

http::response<http::string_body> json_response(unsigned status, std::string body, bool keep_alive) {
  http::response<http::string_body> response{static_cast<http::status>(status), 11};
  set_common_headers(response, "application/json");
  response.keep_alive(keep_alive);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

std::string unauthorized_body() {
  return openai_error_body("Invalid or missing API key: send Authorization: Bearer <key>", "invalid_request_error",
                           "invalid_api_key");
}

std::string no_pub_key_provider_body() {
  return openai_error_body("no attested provider holds the requested model public key", "NoPubKeyProvider",
                           "NoPubKeyProvider");
}

std::string model_not_found_body(std::string_view model) {
  return openai_error_body("The model '" + std::string(model) + "' does not exist or is not served",
                           "invalid_request_error", "model_not_found");
}

/// A 200 JSON body with text and signature (a signature document, not an "unavailable").
bool is_signature_document(std::string_view body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  return !ec && v.is_object() && v.as_object().contains("text") && v.as_object().contains("signature");
}

}  // namespace

/// Where the gateway keeps the signature of one answer it sent (chat id → record).
struct signature_record {
  std::string kind;  ///< "provider_tee" or "gateway"
  /// provider_tee of a relayed exchange: the model CVM that signed it (asked on lookup).
  const backend_server* backend = nullptr;
  std::size_t instance = 0;
  /// The gateway's own signature (kind gateway), or the impostor's (impersonate_model).
  std::optional<chat_signature> own;
};

struct gateway_server::state {
  const deployment* where = nullptr;
  gateway_options options;
  std::vector<const backend_server*> models;
  std::string token;
  unsigned stream_tokens = 16;
  std::uint16_t port = 0;

  workload_identity workload;
  instance_workload instance;
  signing_identity keys;
  /// impersonate_model's signer and sealer: a key no model attestation carries.
  signing_identity impostor;
  std::shared_ptr<live_identity> identity;
  /// The gateway's side of its connections to the model CVMs. Like cloud-api it trusts
  /// them for their attestation (verified on its own connection), not for their WebPKI
  /// certificate: no verification here.
  ssl::context client_context{ssl::context::tls_client};

  mutable std::mutex mutex;
  gateway_faults faults;
  std::size_t attestations = 0;
  std::size_t signature_lookups = 0;
  std::vector<gateway_exchange> exchanges;
  std::map<const backend_server*, std::size_t> next_instance;
  std::map<std::string, signature_record, std::less<>> signatures;
  std::deque<std::string> signature_order;  ///< oldest first, for the bound

  // -------------------------------------------------------------------------------------

  static asio::awaitable<void> session(std::shared_ptr<state> self, tcp::socket socket) {
    try {
      tls_stream stream(std::move(socket), self->identity->context);
      if (!co_await accept_handshake(stream)) co_return;
      co_await self->serve(stream);
    } catch (const std::exception&) {
      // A broken connection is the client's business; never take the server thread down.
    }
  }

  asio::awaitable<void> serve(tls_stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      const std::optional<request_type> received = co_await read_request(stream, buffer);
      if (!received) co_return;
      const request_type& request = *received;
      const bool keep_alive = request.keep_alive();
      const std::string path = path_of(request.target());
      bool open = true;
      if (path == attestation_path) {
        http::response<http::string_body> response = co_await attestation_response(request);
        response.keep_alive(keep_alive);
        open = co_await send(stream, response);
      } else if (path.starts_with(signature_path_prefix)) {
        http::response<http::string_body> response = co_await signature_response(request, path);
        response.keep_alive(keep_alive);
        open = co_await send(stream, response);
      } else {
        open = co_await ordinary(stream, request, path, keep_alive);
      }
      if (!open) co_return;
      if (!keep_alive) {
        co_await close_gracefully(stream);
        co_return;
      }
    }
  }

  static asio::awaitable<bool> send(tls_stream& stream, http::response<http::string_body>& response) {
    auto [ec, n] = co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
    co_return !ec;
  }

  // --- routing --------------------------------------------------------------------------

  /// The first domain that lists `model` (nullptr: none does).
  const backend_server* domain_serving(std::string_view model) const {
    for (const backend_server* b : models) {
      const auto& list = b->models();
      if (std::find(list.begin(), list.end(), model) != list.end()) return b;
    }
    return nullptr;
  }

  std::size_t round_robin(const backend_server* backend) {
    const std::lock_guard lock(mutex);
    return next_instance[backend]++ % backend->instance_count();
  }

  /// The instance of `backend` whose E2EE key (§4.2 ed25519 key or §4.3 secp256k1 X‖Y) is
  /// `key_hex`, ASCII case-insensitively.
  static std::optional<std::size_t> instance_holding(const backend_server& backend, std::string_view key_hex) {
    const std::string wanted = lower(std::string(key_hex));
    for (std::size_t i = 0; i < backend.instance_count(); ++i) {
      const signing_identity& k = backend.signing_keys(i);
      if (to_hex(k.public_key(attest::signing_algorithm::ed25519)) == wanted ||
          to_hex(k.public_key(attest::signing_algorithm::ecdsa)) == wanted) {
        return i;
      }
    }
    return std::nullopt;
  }

  gateway_faults current_faults() const {
    const std::lock_guard lock(mutex);
    return faults;
  }

  // --- the model CVMs, as the gateway's client ------------------------------------------

  struct backend_link {
    tls_stream stream;
    beast::flat_buffer buffer;
    backend_link(const asio::any_io_executor& executor, ssl::context& context) : stream(executor, context) {}
  };

  /// A TLS connection to instance `index` of `backend`, pinned by its server name.
  asio::awaitable<std::unique_ptr<backend_link>> connect_backend(const backend_server& backend, std::size_t index) {
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    const auto executor = co_await asio::this_coro::executor;
    auto link = std::make_unique<backend_link>(executor, client_context);
    const std::string host = instance_host(backend.domain(), index);
    if (SSL_set_tlsext_host_name(link->stream.native_handle(), host.c_str()) != 1) co_return nullptr;
    auto& lowest = beast::get_lowest_layer(link->stream);
    lowest.expires_after(tls_handshake_timeout);
    const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), backend.port());
    if (auto [ec] = co_await lowest.async_connect(endpoint, tuple); ec) co_return nullptr;
    if (auto [ec] = co_await link->stream.async_handshake(ssl::stream_base::client, tuple); ec) co_return nullptr;
    lowest.expires_never();
    co_return link;
  }

  /// One request to a model CVM and its whole answer (nullopt: no answer).
  asio::awaitable<std::optional<http::response<http::string_body>>> fetch(const backend_server& backend,
                                                                          std::size_t index, request_type request) {
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    std::unique_ptr<backend_link> link = co_await connect_backend(backend, index);
    if (!link) co_return std::nullopt;
    request.set(http::field::host, backend.domain());
    request.set(http::field::authorization, "Bearer " + token);
    request.keep_alive(false);
    request.prepare_payload();
    auto& lowest = beast::get_lowest_layer(link->stream);
    lowest.expires_after(backend_timeout);
    if (auto [ec, n] = co_await http::async_write(link->stream, request, tuple); ec) co_return std::nullopt;
    net::bounded_response_parser<http::string_body> parser;
    parser.body_limit(max_backend_body);
    if (auto [ec, n] = co_await http::async_read(link->stream, link->buffer, parser, tuple); ec) co_return std::nullopt;
    co_return parser.release();
  }

  // --- GET /v1/attestation/report ---------------------------------------------------------

  asio::awaitable<http::response<http::string_body>> attestation_response(const request_type& request) {
    gateway_faults f;
    {
      const std::lock_guard lock(mutex);
      ++attestations;
      f = faults;
    }
    if (!authorized(request)) co_return json_response(401, unauthorized_body(), true);
    if (request.method() != http::verb::get) {
      co_return json_response(405, openai_error_body("Use GET for /v1/attestation/report", "invalid_request_error",
                                                     "method_not_allowed"),
                              true);
    }
    const std::string target(request.target());
    std::string error;
    std::optional<report_query> query = parse_report_query(target, error);
    if (!query) co_return json_response(400, openai_error_body(error, "invalid_request_error", "bad_request"), true);
    // The gateway's default algorithm is ed25519, the model CVMs' ecdsa (§1.2).
    if (!query_value(target, "signing_algo")) query->signing_algo = attest::signing_algorithm::ed25519;
    const auto model = query_value(target, "model");
    if (!model || model->empty()) {
      co_return json_response(400, openai_error_body("model is required", "invalid_request_error", "bad_request"),
                              true);
    }
    const backend_server* serving = domain_serving(*model);
    if (serving == nullptr) co_return json_response(404, model_not_found_body(*model), true);
    const std::size_t index = round_robin(serving);

    // cloud-api forwards the caller's nonce (§5.1 step 2) and asks for the TLS form, which
    // it requires of every backend (§1.8, StrictBoundReportDataVerifier).
    const std::array<std::uint8_t, 32> nonce = query->nonce ? *query->nonce : random_report_nonce();
    std::string backend_target = "/v1/attestation/report?signing_algo=" +
                                 std::string(attest::to_string(query->signing_algo)) +
                                 "&include_tls_fingerprint=true";
    if (f.model_other_nonce) {
      std::array<std::uint8_t, 32> other = nonce;
      other[31] ^= 0x01;
      backend_target += "&nonce=" + to_hex(other);
    } else if (query->nonce) {
      backend_target += "&nonce=" + to_hex(nonce);
    }
    request_type ask{http::verb::get, backend_target, 11};
    if (f.model_fails_policy) {
      ask.set(tampered_workload_header, to_string(workload_tampering::foreign_app_id));
    }
    const auto answered = co_await fetch(*serving, index, std::move(ask));
    if (!answered || answered->result_int() != 200) {
      co_return json_response(502, openai_error_body("the model provider's attestation is unavailable", "server_error",
                                                     "provider_attestation_unavailable"),
                              true);
    }
    boost::system::error_code ec;
    json::value model_report = json::parse(answered->body(), ec);
    if (ec || !model_report.is_object()) {
      co_return json_response(502, openai_error_body("the model provider's attestation is not a JSON object",
                                                     "server_error", "provider_attestation_unavailable"),
                              true);
    }
    // §1.5: cloud-api passes the backend's report through, without all_attestations.
    model_report.as_object().erase("all_attestations");

    gateway_subject subject;
    subject.where = where;
    subject.workload = &workload;
    subject.instance = &instance;
    subject.keys = &keys;
    subject.spki_sha256 = identity->id.spki_sha256;
    subject.cert_pem = identity->id.cert_pem;
    json::object body;
    body["gateway_attestation"] = make_gateway_attestation(subject, *query, nonce, f.unbound_tls_key);
    json::array model_attestations;
    model_attestations.emplace_back(std::move(model_report));
    body["model_attestations"] = std::move(model_attestations);
    if (query->include_tls_fingerprint) body["tls_certificate"] = identity->id.cert_pem;
    co_return json_response(200, json::serialize(body), true);
  }

  // --- GET /v1/signature/{id} -------------------------------------------------------------

  void remember_signature(std::string chat_id, signature_record record) {
    const std::lock_guard lock(mutex);
    if (signatures.insert_or_assign(chat_id, std::move(record)).second) signature_order.push_back(std::move(chat_id));
    while (signature_order.size() > max_signature_records) {
      signatures.erase(signature_order.front());
      signature_order.pop_front();
    }
  }

  asio::awaitable<http::response<http::string_body>> signature_response(const request_type& request,
                                                                        std::string_view path) {
    {
      const std::lock_guard lock(mutex);
      ++signature_lookups;
    }
    if (!authorized(request)) co_return json_response(401, unauthorized_body(), true);
    if (request.method() != http::verb::get) {
      co_return json_response(405, openai_error_body("Use GET for /v1/signature", "invalid_request_error",
                                                     "method_not_allowed"),
                              true);
    }
    const std::string target(request.target());
    attest::signing_algorithm algo = attest::signing_algorithm::ed25519;  // the gateway's default
    if (const auto named = query_value(target, "signing_algo")) {
      const auto parsed = attest::signing_algorithm_named(*named);
      if (!parsed) {
        co_return json_response(
            400, openai_error_body("Unsupported signing algorithm: " + *named, "invalid_request_error", "bad_request"),
            true);
      }
      algo = *parsed;
    }
    const std::string chat_id(path.substr(signature_path_prefix.size()));
    std::optional<signature_record> record;
    {
      const std::lock_guard lock(mutex);
      if (const auto it = signatures.find(chat_id); it != signatures.end()) record = it->second;
    }
    if (!record) {
      co_return json_response(404, openai_error_body("Chat id not found or expired", "invalid_request_error",
                                                     "not_found"),
                              true);
    }
    if (record->own) co_return json_response(200, signature_document_json(*record->own, algo, record->kind), true);

    // A relayed E2EE exchange: the model CVM that answered it holds the signature (§3.6:
    // asked on a connection pinned to that CVM, as cloud-api pins it).
    const std::string lookup = "/v1/signature/" + chat_id + "?signing_algo=" + std::string(attest::to_string(algo));
    request_type ask{http::verb::get, lookup, 11};
    const auto answered = co_await fetch(*record->backend, record->instance, std::move(ask));
    if (!answered) {
      co_return json_response(502, openai_error_body("the model provider did not answer", "server_error",
                                                     "provider_unavailable"),
                              true);
    }
    if (answered->result_int() != 200 || !is_signature_document(answered->body())) {
      co_return json_response(answered->result_int(), answered->body(), true);
    }
    json::value doc = json::parse(answered->body());
    doc.as_object()["signature_kind"] = record->kind;
    co_return json_response(200, json::serialize(doc), true);
  }

  // --- everything else --------------------------------------------------------------------

  std::size_t record_exchange(const request_type& request) {
    gateway_exchange x;
    x.method = std::string(request.method_string());
    x.target = std::string(request.target());
    for (const auto& field : request) {
      x.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    x.body = request.body();
    const std::lock_guard lock(mutex);
    exchanges.push_back(std::move(x));
    return exchanges.size() - 1;
  }

  template <class Change>
  void update_exchange(std::size_t slot, Change&& change) {
    const std::lock_guard lock(mutex);
    change(exchanges[slot]);
  }

  /// Answers `response` to the client, recorded as the exchange's answer first.
  asio::awaitable<bool> answer(tls_stream& stream, std::size_t slot, http::response<http::string_body> response) {
    update_exchange(slot, [&](gateway_exchange& x) {
      x.status = response.result_int();
      x.response_entity = response.body();
    });
    co_return co_await send(stream, response);
  }

  std::string models_list_body() const {
    json::array data;
    std::set<std::string> listed;
    for (const backend_server* b : models) {
      for (const auto& m : b->models()) {
        if (!listed.insert(m).second) continue;
        data.emplace_back(
            json::object{{"id", m}, {"object", "model"}, {"created", models_created}, {"owned_by", "nearai"}});
      }
    }
    return json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
  }

  /// The answer to a request the gateway does not relay, or the refusal of one it would
  /// (nullopt: relay it).
  std::optional<http::response<http::string_body>> refusal(const request_type& request, const std::string& path,
                                                           bool keep_alive) const {
    if (path == models_path) {
      if (request.method() != http::verb::get) {
        return json_response(405, openai_error_body("Use GET for /v1/models", "invalid_request_error",
                                                    "method_not_allowed"),
                             keep_alive);
      }
      return json_response(200, models_list_body(), keep_alive);  // public, as at cloud-api
    }
    if (!relayed_endpoint(request, path)) {
      return json_response(404, openai_error_body("Unknown path " + path, "invalid_request_error", "not_found"),
                           keep_alive);
    }
    if (!authorized(request)) return json_response(401, unauthorized_body(), keep_alive);
    boost::system::error_code ec;
    const json::value parsed = json::parse(request.body(), ec);
    const json::object* body = ec ? nullptr : parsed.if_object();
    if (body == nullptr) {
      return json_response(400, openai_error_body("The request body must be a JSON object", "invalid_request_error",
                                                  "bad_request"),
                           keep_alive);
    }
    const std::string model = model_of(request);
    if (domain_serving(model) == nullptr) return json_response(404, model_not_found_body(model), keep_alive);
    return std::nullopt;
  }

  static std::optional<e2ee::endpoint> relayed_endpoint(const request_type& request, const std::string& path) {
    const std::string method(request.method_string());
    const auto endpoint = e2ee::endpoint_for(method, path);
    if (!endpoint) return std::nullopt;
    if (!signed_endpoint(*endpoint)) return std::nullopt;
    return endpoint;
  }

  /// The body's "model" ("" when it names none).
  static std::string model_of(const request_type& request) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(request.body(), ec);
    const json::object* body = ec ? nullptr : parsed.if_object();
    const json::value* model = body != nullptr ? body->if_contains("model") : nullptr;
    return model != nullptr && model->is_string() ? std::string(model->get_string()) : std::string();
  }

  asio::awaitable<bool> ordinary(tls_stream& stream, const request_type& request, const std::string& path,
                                 bool keep_alive) {
    const std::size_t slot = record_exchange(request);
    std::optional<http::response<http::string_body>> refused = refusal(request, path, keep_alive);
    if (refused) co_return co_await answer(stream, slot, std::move(*refused));
    const e2ee::endpoint endpoint = *relayed_endpoint(request, path);
    const backend_server* serving = domain_serving(model_of(request));

    const auto pinned_key = header_value(request, model_pub_key_header);
    gateway_faults f;
    bool pinned_replica_gone = false;
    {
      const std::lock_guard lock(mutex);
      if (pinned_key && faults.no_pub_key_provider > 0) {
        --faults.no_pub_key_provider;
        pinned_replica_gone = true;
      }
      f = faults;
    }
    std::optional<std::size_t> index;
    if (!pinned_key) {
      index = round_robin(serving);
    } else if (!pinned_replica_gone) {
      // A request pinned to a model key goes only to the replica holding it (§5.1 step 5).
      index = instance_holding(*serving, *pinned_key);
    }
    if (f.impersonate_model && !pinned_replica_gone) {
      co_return co_await impersonate(stream, request, endpoint, serving, slot, keep_alive);
    }
    if (!index) {
      http::response<http::string_body> gone = json_response(502, no_pub_key_provider_body(), keep_alive);
      co_return co_await answer(stream, slot, std::move(gone));
    }
    co_return co_await relay(stream, request, serving, *index, f, slot, keep_alive);
  }

  /// Reads the next piece of a model's entity into `piece`: its size, 0 at the end,
  /// nullopt when the model CVM broke off.
  static asio::awaitable<std::optional<std::size_t>> read_piece(
      backend_link* link, net::bounded_response_parser<http::buffer_body>* parser,
      std::array<char, 16 * 1024>* piece) {
    while (!parser->is_done()) {
      parser->get().body().data = piece->data();
      parser->get().body().size = piece->size();
      // read_some: a stream's events go on as they come, not once the buffer is full.
      auto [ec, n] =
          co_await http::async_read_some(link->stream, link->buffer, *parser, asio::as_tuple(asio::use_awaitable));
      if (ec && ec != http::error::need_buffer) co_return std::nullopt;
      const std::size_t got = piece->size() - parser->get().body().size;
      if (got > 0) co_return got;
    }
    co_return std::size_t{0};
  }

  static http::response<http::string_body> unavailable(bool keep_alive) {
    return json_response(502, openai_error_body("the model provider is unavailable", "server_error",
                                                "provider_unavailable"),
                         keep_alive);
  }

  asio::awaitable<bool> relay(tls_stream& stream, const request_type& request, const backend_server* serving,
                              std::size_t index, gateway_faults f, std::size_t slot, bool keep_alive) {
    const bool e2ee = asks_for_e2ee(request);
    request_type forward{http::verb::post, request.target(), 11};
    forward.set(http::field::host, serving->domain());
    // cloud-api authenticates to inference-proxy with the CVM's TOKEN, never with the
    // client's API key: only that token may assert X-Request-Hash (§3.3).
    forward.set(http::field::authorization, "Bearer " + token);
    for (const http::field name : content_fields) {
      if (const auto it = request.find(name); it != request.end()) forward.set(name, it->value());
    }
    if (!f.strip_e2ee_headers) {
      for (const std::string_view name : e2ee_header_names) {
        if (const auto value = header_value(request, name)) forward.set(name, *value);
      }
    }
    // §3.3: the model signs the hash the gateway asserts for the client's original body.
    forward.set("X-Request-Hash", hex_sha256(request.body()));
    // §5.2: E2EE bodies travel byte-exactly; plaintext ones the gateway may rewrite.
    forward.body() = e2ee ? request.body() : reserialised(request.body());
    forward.keep_alive(false);
    forward.prepare_payload();
    update_exchange(slot, [&](gateway_exchange& x) {
      x.relayed_to_domain = serving->domain();
      x.relayed_to_instance = index;
      for (const auto& field : forward) {
        x.relayed_headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
    });

    const auto tuple = asio::as_tuple(asio::use_awaitable);
    std::unique_ptr<backend_link> link = co_await connect_backend(*serving, index);
    net::bounded_response_parser<http::buffer_body> parser;
    parser.body_limit(max_backend_body);
    bool reached = link != nullptr;
    if (reached) {
      beast::get_lowest_layer(link->stream).expires_after(backend_timeout);
      auto [wec, wn] = co_await http::async_write(link->stream, forward, tuple);
      reached = !wec;
    }
    if (reached) {
      auto [rec, rn] = co_await http::async_read_header(link->stream, link->buffer, parser, tuple);
      reached = !rec;
    }
    if (!reached) {
      http::response<http::string_body> refused = unavailable(keep_alive);
      co_return co_await answer(stream, slot, std::move(refused));
    }
    const unsigned status = parser.get().result_int();
    const std::string content_type(parser.get()[http::field::content_type]);
    const bool stream_answer = parser.chunked();
    update_exchange(slot, [&](gateway_exchange& x) { x.status = status; });

    std::string entity;
    std::array<char, 16 * 1024> piece{};
    if (stream_answer) {
      // A stream (§4.6): relayed chunk by chunk as it arrives, never rewritten here (the
      // E2EE passthrough; plaintext streams too, signed by the gateway below).
      http::response<http::empty_body> head{static_cast<http::status>(status), 11};
      set_common_headers(head, content_type);
      if (!co_await write_stream_head(stream, std::move(head), keep_alive)) co_return false;
      for (;;) {
        const std::optional<std::size_t> got = co_await read_piece(link.get(), &parser, &piece);
        if (!got) {
          // The model CVM broke off: so does the gateway (no last chunk), as a relay must.
          beast::get_lowest_layer(stream).socket().close();
          co_return false;
        }
        if (*got == 0) break;
        const std::string_view bytes(piece.data(), *got);
        entity.append(bytes);
        update_exchange(slot, [&](gateway_exchange& x) { x.response_entity = entity; });
        if (!co_await write_chunk(stream, bytes)) co_return false;
      }
      // The model's stream completed: signed before the last byte leaves, so that a client
      // that read the whole answer never looks too early.
      if (status == 200) note_signature(request, entity, true, e2ee, serving, index, slot);
      std::string no_trailer;
      if (!co_await write_last_chunk(stream, std::move(no_trailer))) co_return false;
    } else {
      bool whole = true;
      for (;;) {
        const std::optional<std::size_t> got = co_await read_piece(link.get(), &parser, &piece);
        if (!got) whole = false;
        if (!got || *got == 0) break;
        entity.append(piece.data(), *got);
      }
      http::response<http::string_body> response =
          whole ? json_response(status, {}, keep_alive) : unavailable(keep_alive);
      if (whole) {
        if (!e2ee && status == 200) entity = reserialised(entity);
        set_common_headers(response, content_type);
        response.body() = entity;
        response.prepare_payload();
        if (status == 200) note_signature(request, entity, false, e2ee, serving, index, slot);
      }
      co_return co_await answer(stream, slot, std::move(response));
    }
    co_return true;
  }

  /// Where the signature of a completed 200 answer will be found: the model's own over
  /// the bytes it received and sent (§5.2 provider_tee, asked of it on lookup), or for a
  /// plaintext exchange the gateway's over the client's body and the entity it sends
  /// (§3.2 gateway form).
  void note_signature(const request_type& request, const std::string& entity, bool stream_answer, bool e2ee,
                      const backend_server* serving, std::size_t index, std::size_t slot) {
    std::string chat_id = chat_id_of(entity, stream_answer);
    if (chat_id.empty()) return;
    signature_record record;
    if (e2ee) {
      record.kind = "provider_tee";
      record.backend = serving;
      record.instance = index;
    } else {
      record.kind = "gateway";
      record.own = sign_chat(keys, gateway_signed_text(request.body(), entity));
    }
    update_exchange(slot, [&](gateway_exchange& x) { x.signature_kind = record.kind; });
    remember_signature(std::move(chat_id), std::move(record));
  }

  /// The answer impersonate_model sends: the OpenAI answer the gateway makes up, its
  /// covered fields sealed to the client's key when the request asks for E2EE.
  openai_answer impersonated_answer(const request_type& request, e2ee::endpoint endpoint,
                                    const backend_server& serving) const {
    const std::string method(request.method_string());
    const std::string target(request.target());
    const answer_context context{serving.domain(), 0, serving.models(), stream_tokens};
    openai_answer a = answer_openai(method, target, request.body(), context);
    if (a.status != 200 || !asks_for_e2ee(request)) return a;
    const auto wanted = parse_e2ee_headers(e2ee_headers_of(request));
    if (!wanted) {
      return openai_error_answer(400, wanted.error(), "invalid_request_error", "invalid_encryption_headers");
    }
    if (!*wanted) return a;
    auto session = e2ee_session::open(endpoint, **wanted, impostor, impostor);
    if (!session) {
      return openai_error_answer(400, session.error(), "invalid_request_error", "invalid_encryption_headers");
    }
    if (!a.streaming()) {
      auto sealed = session->seal_response(a.body, field_sealing::honest);
      if (!sealed) return openai_error_answer(500, "cannot seal the answer", "server_error", "encryption_failed");
      a.body = std::move(*sealed);
      return a;
    }
    for (auto& event : a.events) {
      auto sealed = session->seal_event(event, field_sealing::honest);
      if (!sealed) return openai_error_answer(500, "cannot seal the answer", "server_error", "encryption_failed");
      event = std::move(*sealed);
    }
    return a;
  }

  /// impersonate_model: the gateway answers as if it were the model — the covered fields
  /// sealed to the client's key (it knows X-Client-Pub-Key), signed by a key of its own
  /// that it calls provider_tee. Only the binding of the signer and of the sealing key to a
  /// verified model attestation catches it (§3.6, §4.7).
  asio::awaitable<bool> impersonate(tls_stream& stream, const request_type& request, e2ee::endpoint endpoint,
                                    const backend_server* serving, std::size_t slot, bool keep_alive) {
    const openai_answer a = impersonated_answer(request, endpoint, *serving);
    const std::string entity = entity_of(a);
    if (a.status == 200 && !a.id.empty()) {
      signature_record record;
      record.kind = "provider_tee";
      const std::string model_name = serving->models().empty() ? std::string() : serving->models().front();
      record.own = sign_chat(impostor, signed_text(model_name, request.body(), entity));
      update_exchange(slot, [&](gateway_exchange& x) { x.signature_kind = record.kind; });
      remember_signature(a.id, std::move(record));
    }
    if (a.streaming()) {
      update_exchange(slot, [&](gateway_exchange& x) {
        x.status = a.status;
        x.response_entity = entity;
      });
      http::response<http::empty_body> head{static_cast<http::status>(a.status), 11};
      set_common_headers(head, a.content_type);
      if (!co_await write_stream_head(stream, std::move(head), keep_alive)) co_return false;
      for (const std::string& event : a.events) {
        const std::string_view bytes = event;
        if (!co_await write_chunk(stream, bytes)) co_return false;
      }
      std::string no_trailer;
      if (!co_await write_last_chunk(stream, std::move(no_trailer))) co_return false;
    } else {
      http::response<http::string_body> response = json_response(a.status, a.body, keep_alive);
      set_common_headers(response, a.content_type);
      co_return co_await answer(stream, slot, std::move(response));
    }
    co_return true;
  }
};

gateway_server::gateway_server(asio::io_context& ioc, const deployment& where, gateway_options options,
                               std::vector<const backend_server*> models, std::string gateway_token,
                               std::uint16_t port, unsigned stream_tokens)
    : state_(std::make_shared<state>()) {
  if (models.empty()) throw std::invalid_argument("verified-proxy-sim: a gateway needs a model domain behind it");
  if (gateway_token.empty()) throw std::invalid_argument("verified-proxy-sim: a gateway needs its internal token");
  state& s = *state_;
  s.where = &where;
  s.models = std::move(models);
  s.token = std::move(gateway_token);
  s.stream_tokens = stream_tokens;
  s.faults = options.faults;
  s.workload = make_gateway_workload_identity();
  s.instance = make_instance_workload(s.workload, options.domain, 0);
  s.keys = random_signing_identity();
  s.impostor = random_signing_identity();
  s.identity = std::make_shared<live_identity>(where.issue_tls_identity(options.domain));
  s.client_context.set_verify_mode(ssl::verify_none);
  s.options = std::move(options);

  tcp::acceptor acceptor = listen_on_loopback(ioc, port);
  s.port = acceptor.local_endpoint().port();
  auto on_connection = [self = state_](tcp::socket socket) {
    const auto executor = socket.get_executor();
    net::spawn_logged(executor, state::session(self, std::move(socket)), "simulator gateway session");
  };
  net::spawn_logged(ioc, accept_connections(std::move(acceptor), std::move(on_connection)),
                    "simulator gateway accept loop");
}

gateway_server::~gateway_server() = default;

const std::string& gateway_server::domain() const { return state_->options.domain; }
std::uint16_t gateway_server::port() const { return state_->port; }
std::string gateway_server::spki_sha256_hex() const { return to_hex(state_->identity->id.spki_sha256); }
const signing_identity& gateway_server::signing_keys() const { return state_->keys; }
const workload_identity& gateway_server::workload() const { return state_->workload; }
const instance_workload& gateway_server::instance() const { return state_->instance; }

void gateway_server::set_faults(gateway_faults faults) {
  const std::lock_guard lock(state_->mutex);
  state_->faults = faults;
}

gateway_faults gateway_server::faults() const { return read_locked(*state_, &state::faults); }

std::size_t gateway_server::attestation_count() const { return read_locked(*state_, &state::attestations); }

std::size_t gateway_server::signature_lookup_count() const { return read_locked(*state_, &state::signature_lookups); }

std::vector<gateway_exchange> gateway_server::exchanges() const { return read_locked(*state_, &state::exchanges); }

}  // namespace vp::sim
