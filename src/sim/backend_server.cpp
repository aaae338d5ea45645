#include "sim/backend_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include <openssl/ssl.h>

#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "core/hex.hpp"
#include "e2ee/fields.hpp"
#include "net/bounded_parser.hpp"
#include "net/spawn.hpp"
#include "sim/e2ee_server.hpp"
#include "sim/openai.hpp"
#include "sim/plain_server.hpp"
#include "sim/report.hpp"
#include "sim/signatures.hpp"
#include "sim/tls_server.hpp"

namespace vp::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

/// A DynamicBuffer (v1) over a flat_buffer that hands every committed byte — every
/// plaintext byte read from the peer, pipelined ones included — to `sink` before the HTTP
/// parser sees it.
class recording_buffer {
 public:
  using const_buffers_type = beast::flat_buffer::const_buffers_type;
  using mutable_buffers_type = beast::flat_buffer::mutable_buffers_type;

  recording_buffer(beast::flat_buffer& buffer, std::function<void(std::string_view)> sink)
      : buffer_(&buffer), sink_(std::move(sink)) {}

  std::size_t size() const { return buffer_->size(); }
  std::size_t max_size() const { return buffer_->max_size(); }
  std::size_t capacity() const { return buffer_->capacity(); }
  const_buffers_type data() const { return buffer_->data(); }
  mutable_buffers_type data() { return buffer_->data(); }
  const_buffers_type cdata() const { return buffer_->cdata(); }
  mutable_buffers_type prepare(std::size_t n) { return buffer_->prepare(n); }
  void consume(std::size_t n) { buffer_->consume(n); }
  void commit(std::size_t n) {
    const std::size_t before = buffer_->size();
    buffer_->commit(n);
    const auto all = buffer_->cdata();
    sink_(std::string_view(static_cast<const char*>(all.data()) + before, buffer_->size() - before));
  }

 private:
  beast::flat_buffer* buffer_;
  std::function<void(std::string_view)> sink_;
};

/// An answer ready to send, and what the model saw.
struct prepared_answer {
  openai_answer answer;
  std::string model_body;
  bool signable = false;  ///< a 200 of a signed endpoint: signed once it completed
  /// The gateway's X-Request-Hash (lower-case hex), signed instead of the hash of the body
  /// received (§3.3).
  std::optional<std::string> asserted_request_hash;
};

/// A trailer field larger than any field Beast can store (basic_fields caps values at 64 KiB).
std::string huge_trailer_field() { return "X-Sim-Huge-Trailer: " + std::string(70'000, 'x') + "\r\n"; }

/// The complete response a misbehaving backend sends unasked.
std::string injected_response() {
  const std::string body = R"({"injected":"INJECTED-BY-SIM"})";
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Sim-Injected: 1\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// The bytes of `response` on the wire: the header, and the body unless `with_body` is false
/// (a HEAD answer keeps its Content-Length but carries no body).
std::string wire_bytes(const http::response<http::string_body>& response, bool with_body) {
  std::ostringstream out;
  if (with_body) {
    out << response;
  } else {
    out << response.base();
  }
  return out.str();
}

/// `response` sent chunked (one chunk) and ending with a huge trailer field.
std::string chunked_with_huge_trailer(http::response<http::string_body> response) {
  const std::string body = std::move(response.body());
  response.body().clear();
  response.chunked(true);
  std::ostringstream out;
  out << response.base();
  if (!body.empty()) out << std::hex << body.size() << "\r\n" << body << "\r\n";
  out << "0\r\n" << huge_trailer_field() << "\r\n";
  return out.str();
}

}  // namespace

std::string instance_host(std::string_view domain, std::size_t instance) {
  const std::size_t dot = domain.find('.');
  const std::string label(domain.substr(0, dot));
  const std::string rest = dot == std::string_view::npos ? std::string() : std::string(domain.substr(dot));
  return label + "-i" + std::to_string(instance) + rest;
}

std::optional<std::size_t> pinned_instance(std::string_view domain, std::string_view server_name) {
  const std::size_t dot = domain.find('.');
  const std::string_view label = domain.substr(0, dot);
  const std::string_view rest = dot == std::string_view::npos ? std::string_view() : domain.substr(dot);
  const auto iequal = [](std::string_view a, std::string_view b) { return beast::iequals(a, b); };
  if (server_name.size() <= label.size() + 2 + rest.size()) return std::nullopt;
  if (!iequal(server_name.substr(0, label.size()), label) ||
      !iequal(server_name.substr(server_name.size() - rest.size()), rest)) {
    return std::nullopt;
  }
  std::string_view middle = server_name.substr(label.size(), server_name.size() - label.size() - rest.size());
  if (!middle.starts_with("-i") && !middle.starts_with("-I")) return std::nullopt;
  middle.remove_prefix(2);
  if (middle.empty() || middle.size() > 9) return std::nullopt;
  std::size_t n = 0;
  for (const char c : middle) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

/// A proxy's signature lookup follows each signed answer: tests that count or inspect the
/// requests a client sent look past them (signature_lookup_count counts them).
bool is_signature_lookup(std::string_view target) { return target.starts_with("/v1/signature/"); }

struct backend_server::state {
  struct instance {
    signing_identity keys;
    /// Another key pair: the signer of signature_foreign_key, the recipient of
    /// e2ee_undecryptable_response, the key of unbound_signing_key.
    signing_identity foreign_keys;
    signature_store signatures;
    instance_workload workload;
    std::shared_ptr<live_identity> identity;
    backend_faults faults;
    unsigned requests_since_rotation = 0;
  };

  const deployment* where = nullptr;
  domain_options options;
  backend_settings settings;
  std::uint16_t port = 0;

  mutable std::mutex mutex;
  std::vector<instance> instances;
  std::size_t next_instance = 0;
  std::size_t attestations = 0;
  std::size_t requests = 0;
  std::size_t unsolicited = 0;
  std::vector<std::shared_ptr<connection_record>> records;
  std::size_t signature_lookups = 0;
  std::chrono::milliseconds signature_delay{0};
  std::vector<backend_exchange> exchanges;

  instance& at(std::size_t i) {
    if (i >= instances.size()) {
      throw std::out_of_range("verified-proxy-sim: " + options.domain + " has no instance " + std::to_string(i));
    }
    return instances[i];
  }

  // -------------------------------------------------------------------------------------

  /// Starts the session of a connection on the instance whose round-robin turn it is.
  static void on_connection(const std::shared_ptr<state>& self, tcp::socket socket) {
    std::size_t index = 0;
    std::shared_ptr<live_identity> identity;
    auto record = std::make_shared<connection_record>();
    {
      const std::lock_guard lock(self->mutex);
      index = self->next_instance++ % self->instances.size();
      identity = self->instances[index].identity;
      record->instance = index;
      record->spki_sha256_hex = to_hex(identity->id.spki_sha256);
      self->records.push_back(record);
    }
    const auto executor = socket.get_executor();
    net::spawn_logged(executor, session(self, std::move(socket), index, identity, record), "simulator backend session");
  }

  /// The instance one connection is served by: the round-robin pick of the accept, unless
  /// the ClientHello's server name pins another (pin_by_server_name).
  struct instance_choice {
    state* self = nullptr;
    std::size_t index = 0;
    std::shared_ptr<live_identity> identity;
    bool pinned = false;
  };

  /// The servername callback of every instance's TLS context (OpenSSL calls it for every
  /// ClientHello, with or without SNI): `<label>-i<N>.<rest>` switches the handshake to
  /// instance N % instances, as NEAR's SNI load balancer routes backend enumeration
  /// (docs/nearai-attestation.md §3), so that the gateway can reach a chosen CVM.
  /// The SSL ex_data slot holding a connection's instance_choice during its handshake. Not
  /// the app data: Asio's engine owns that one and deletes what it points at.
  static int choice_slot() {
    static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return slot;
  }

  static int pin_by_server_name(SSL* ssl, int*, void*) {
    auto* choice = static_cast<instance_choice*>(::SSL_get_ex_data(ssl, choice_slot()));
    const char* name = ::SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (choice == nullptr || name == nullptr) return SSL_TLSEXT_ERR_OK;
    const auto pinned = pinned_instance(choice->self->options.domain, name);
    if (!pinned) return SSL_TLSEXT_ERR_OK;
    {
      const std::lock_guard lock(choice->self->mutex);
      choice->index = *pinned % choice->self->instances.size();
      choice->identity = choice->self->instances[choice->index].identity;
      choice->pinned = true;
    }
    if (::SSL_set_SSL_CTX(ssl, choice->identity->context.native_handle()) == nullptr) {
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
  }

  std::shared_ptr<live_identity> make_identity() const {
    auto identity = std::make_shared<live_identity>(where->issue_tls_identity(options.domain));
    SSL_CTX_set_tlsext_servername_callback(identity->context.native_handle(), pin_by_server_name);
    return identity;
  }

  static asio::awaitable<void> session(std::shared_ptr<state> self, tcp::socket socket, std::size_t index,
                                       std::shared_ptr<live_identity> identity,
                                       std::shared_ptr<connection_record> record) {
    try {
      tls_stream stream(std::move(socket), identity->context);
      instance_choice choice{self.get(), index, identity, false};
      ::SSL_set_ex_data(stream.native_handle(), choice_slot(), &choice);
      const bool handshaken = co_await accept_handshake(stream);
      ::SSL_set_ex_data(stream.native_handle(), choice_slot(), nullptr);
      if (!handshaken) co_return;
      {
        const std::lock_guard lock(self->mutex);
        record->tls_resumed = ::SSL_session_reused(stream.native_handle()) == 1;
        if (choice.pinned) {
          record->instance = choice.index;
          record->spki_sha256_hex = to_hex(choice.identity->id.spki_sha256);
        }
      }
      co_await self->serve(stream, choice.index, *choice.identity, *record);
    } catch (const std::exception&) {
      // A broken connection is the client's business; never take the server thread down.
    }
  }

  asio::awaitable<void> serve(tls_stream& stream, std::size_t index, const live_identity& identity,
                              connection_record& record) {
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    beast::flat_buffer raw;
    recording_buffer buffer(raw, [this, &record](std::string_view bytes) {
      const std::lock_guard lock(mutex);
      record.received.append(bytes);
    });
    const auto begin_response = [this, &record] {
      const std::lock_guard lock(mutex);
      if (!record.received_when_first_response_began) record.received_when_first_response_began = record.received.size();
    };

    for (;;) {
      const std::optional<sim_request> received = co_await read_request(stream, buffer);
      if (!received) co_return;
      const sim_request& request = *received;
      const std::string target(request.target());
      const bool keep_alive = request.keep_alive();
      {
        const std::lock_guard lock(mutex);
        record.request_targets.push_back(target);
      }

      if (path_of(target) == attestation_path) {
        http::response<http::string_body> response = attestation_response(request, index, identity);
        response.keep_alive(keep_alive);
        const backend_faults f = faults_of(index);
        if (f.attestation_delay.count() > 0) co_await sleep(f.attestation_delay);
        begin_response();
        // Faulty answers go out in one write, so the extra bytes reach the client together
        // with the end of the answer (deterministic tests).
        std::string bytes =
            f.huge_trailer_on_attestation ? chunked_with_huge_trailer(std::move(response)) : wire_bytes(response, true);
        if (f.unsolicited_after_attestation) bytes += injected_response();
        if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), tuple); ec) co_return;
      } else {
        const std::size_t exchange = on_request(index, request);
        const backend_faults f = faults_of(index);
        if (f.hang) {
          co_await sleep(std::chrono::steady_clock::duration::max());  // ends when the server stops
          co_return;
        }
        if (f.answer_delay.count() > 0) co_await sleep(f.answer_delay);
        // HEAD is GET without the body (RFC 9110 §9.3.2).
        const bool head = request.method() == http::verb::head;
        const prepared_answer prepared = prepare_answer(request, target, index, f);
        const openai_answer& answer = prepared.answer;
        note_answer(exchange, prepared);
        begin_response();
        if (f.close_delimited) {
          // Signed once the last byte is out, before the close (as inference-proxy does).
          if (co_await write_close_delimited(stream, answer, index, record)) {
            finish_answer(index, exchange, prepared, request.body(), f);
          }
          co_await close_gracefully(stream);
          co_return;
        }
        if (answer.streaming() && !head) {
          if (!co_await write_stream(stream, answer, keep_alive, index, f.disconnect_mid_stream,
                                     f.huge_trailer_on_answers, record)) {
            co_return;
          }
          // inference-proxy signs a stream only once it ended with [DONE] (§3.3).
          finish_answer(index, exchange, prepared, request.body(), f);
        } else {
          http::response<http::string_body> response{http::status::ok, request.version()};
          response.result(answer.status);
          set_common_headers(response, answer.content_type, index);
          response.keep_alive(keep_alive);
          response.body() = answer.body;
          response.prepare_payload();
          std::string bytes = f.huge_trailer_on_answers ? chunked_with_huge_trailer(std::move(response))
                                                        : wire_bytes(response, !head || f.head_with_body);
          if (f.extra_bytes_after_response) bytes += "GARBAGE-AFTER-THE-RESPONSE\r\n";
          if (f.second_response_appended) bytes += injected_response();
          if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), tuple); ec) co_return;
          finish_answer(index, exchange, prepared, request.body(), f);
          if (f.unsolicited_while_idle.count() > 0) {
            co_await sleep(f.unsolicited_while_idle);
            const std::string unasked = injected_response();
            if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(unasked), tuple); ec) co_return;
            const std::lock_guard lock(mutex);
            ++unsolicited;
          }
        }
      }
      if (!keep_alive) {
        co_await close_gracefully(stream);
        co_return;
      }
    }
  }

  /// Counts and records a non-attestation request and rotates the instance's certificate
  /// when due. Returns the index of its backend_exchange.
  std::size_t on_request(std::size_t index, const http::request<http::string_body>& request) {
    bool rotate = false;
    std::size_t exchange = 0;
    {
      const std::lock_guard lock(mutex);
      if (!is_signature_lookup(request.target())) ++requests;
      backend_exchange x;
      x.instance = index;
      x.method = std::string(request.method_string());
      x.target = std::string(request.target());
      for (const auto& field : request) x.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      x.body = request.body();
      exchange = exchanges.size();
      exchanges.push_back(std::move(x));
      instance& inst = instances[index];
      if (inst.faults.rotate_every != 0 && !is_signature_lookup(request.target()) &&
          ++inst.requests_since_rotation >= inst.faults.rotate_every) {
        inst.requests_since_rotation = 0;
        rotate = true;
      }
    }
    if (rotate) {
      // Key generation outside the lock; connections accepted from now on get the new one.
      auto fresh = make_identity();
      const std::lock_guard lock(mutex);
      instances[index].identity = std::move(fresh);
    }
    return exchange;
  }

  /// The answer to an ordinary request: a signature lookup, or the OpenAI answer — for the
  /// signed endpoints opened and sealed per the request's E2EE headers (§4.1).
  prepared_answer prepare_answer(const http::request<http::string_body>& request, std::string_view target,
                                 std::size_t index, const backend_faults& f) {
    const bool head = request.method() == http::verb::head;
    const std::string method = head ? std::string("GET") : std::string(request.method_string());
    const std::string path = path_of(target);
    const answer_context context{options.domain, index, options.models, settings.stream_tokens};
    prepared_answer out;
    if (path.starts_with(signature_path_prefix)) {
      out.answer = signature_answer(method, target, path.substr(signature_path_prefix.size()), index, f);
      return out;
    }
    const auto endpoint = e2ee::endpoint_for(method, path);
    if (!endpoint || !signed_endpoint(*endpoint)) {
      out.model_body = request.body();
      out.answer = answer_openai(method, target, request.body(), context);
      return out;
    }
    if (from_gateway(request)) {
      // Only cloud-api, holding the CVM's TOKEN, may assert the hash of the client's body
      // (§3.3 resolve_request_hash_for_signing); anyone else's X-Request-Hash is ignored.
      if (const auto asserted = header_value(request, "X-Request-Hash")) {
        const auto digest = from_hex(*asserted);
        if (!digest || digest->size() != 32) {
          out.answer =
              openai_error_answer(400, "X-Request-Hash must be 64 hex digits", "invalid_request_error", "bad_request");
          return out;
        }
        out.asserted_request_hash = to_hex(*digest);
      }
    }
    const instance& inst = instances[index];  // keys are immutable after construction
    const auto wanted = parse_e2ee_headers(e2ee_headers_of(request));
    if (!wanted) {
      out.answer = openai_error_answer(400, wanted.error(), "invalid_request_error", "invalid_encryption_headers");
      return out;
    }
    std::optional<e2ee_session> session;
    std::string plaintext = request.body();
    if (*wanted) {
      auto opened = e2ee_session::open(*endpoint, **wanted, inst.keys, inst.foreign_keys);
      if (!opened) {
        out.answer = openai_error_answer(400, opened.error(), "invalid_request_error", "invalid_encryption_headers");
        return out;
      }
      auto decrypted = opened->decrypt_request(request.body());
      if (!decrypted) {
        out.answer = openai_error_answer(400, decrypted.error().message, "invalid_request_error", "decryption_failed");
        return out;
      }
      plaintext = std::move(*decrypted);
      session.emplace(std::move(*opened));
    }
    out.model_body = plaintext;
    out.answer = answer_openai(method, target, plaintext, context);
    if (out.answer.status != 200) return out;  // errors are neither sealed nor signed
    out.signable = true;
    if (!session) return out;

    const field_sealing faulty = f.e2ee_undecryptable_response ? field_sealing::foreign
                                 : f.e2ee_plaintext_response   ? field_sealing::plaintext
                                                               : field_sealing::honest;
    const auto failed = [&out](const e2ee_error& e) {
      out.answer = openai_error_answer(500, "verified-proxy-sim: " + e.message, "server_error", "encryption_failed");
      out.signable = false;
    };
    if (!out.answer.streaming()) {
      auto sealed = session->seal_response(out.answer.body, faulty);
      if (!sealed) {
        failed(sealed.error());
      } else {
        out.answer.body = std::move(*sealed);
      }
      return out;
    }
    // The fault hits the last chunk before [DONE]: a client that checks the first one misses it.
    const std::size_t last_data = out.answer.events.size() - 2;
    for (std::size_t i = 0; i < out.answer.events.size(); ++i) {
      auto sealed = session->seal_event(out.answer.events[i], i == last_data ? faulty : field_sealing::honest);
      if (!sealed) {
        failed(sealed.error());
        out.answer.events.clear();
        return out;
      }
      out.answer.events[i] = std::move(*sealed);
    }
    return out;
  }

  /// GET /v1/signature/{chat_id}?signing_algo=ecdsa|ed25519 (§3.1), on the instance that
  /// answered the completion.
  openai_answer signature_answer(std::string_view method, std::string_view target, std::string_view chat_id,
                                 std::size_t index, const backend_faults& f) {
    if (method != "GET") {
      return openai_error_answer(405, "Use GET for /v1/signature", "invalid_request_error", "method_not_allowed");
    }
    attest::signing_algorithm algo = attest::signing_algorithm::ecdsa;
    const auto url = boost::urls::parse_origin_form(target);
    if (!url) return openai_error_answer(400, "Invalid request target", "invalid_request_error", "bad_request");
    for (const auto& param : url->params()) {
      if (param.key != "signing_algo") continue;
      const std::string value = param.has_value ? std::string(param.value) : std::string();
      const auto named = attest::signing_algorithm_named(value);
      if (!named) {
        return openai_error_answer(400, "Unsupported signing algorithm: " + value, "invalid_request_error",
                                   "bad_request");
      }
      algo = *named;
    }
    std::optional<chat_signature> found;
    {
      const std::lock_guard lock(mutex);
      ++signature_lookups;
      if (!f.signature_missing) found = instances[index].signatures.find(chat_id, std::chrono::steady_clock::now());
    }
    if (!found) return openai_error_answer(404, "Chat id not found or expired", "invalid_request_error", "not_found");
    openai_answer a;
    a.body = signature_document_json(*found, algo);
    return a;
  }

  void note_answer(std::size_t exchange, const prepared_answer& prepared) {
    const std::lock_guard lock(mutex);
    backend_exchange& x = exchanges[exchange];
    x.status = prepared.answer.status;
    x.chat_id = prepared.answer.id;
    x.model_body = prepared.model_body;
    x.response_entity = entity_of(prepared.answer);
  }

  /// The answer went out completely: for a signed endpoint, signs
  /// "{model}:{sha256(request as received)}:{sha256(entity as sent)}" with both keys
  /// (§3.2, §3.3) and stores it, visible after the signature delay.
  void finish_answer(std::size_t index, std::size_t exchange, const prepared_answer& prepared,
                     std::string_view request_body, const backend_faults& f) {
    if (!prepared.signable || prepared.answer.id.empty()) return;
    std::string hashed = entity_of(prepared.answer);
    if (f.signature_other_bytes && !hashed.empty()) hashed.front() ^= 0x01;
    const instance& inst = instances[index];  // keys are immutable after construction
    // The report's model_name: inference-proxy signs with its configured MODEL_NAME.
    const std::string model = options.models.empty() ? std::string() : options.models.front();
    std::string text = prepared.asserted_request_hash
                           ? signed_text_with_request_hash(model, *prepared.asserted_request_hash, hashed)
                           : signed_text(model, request_body, hashed);
    chat_signature signature = sign_chat(f.signature_foreign_key ? inst.foreign_keys : inst.keys, std::move(text));
    const std::lock_guard lock(mutex);
    instances[index].signatures.put(prepared.answer.id, std::move(signature),
                                    std::chrono::steady_clock::now() + signature_delay);
    exchanges[exchange].signed_answer = true;
  }

  /// The request carries the deployment's internal gateway token (inference-proxy's TOKEN).
  bool from_gateway(const http::request<http::string_body>& request) const {
    if (settings.gateway_token.empty()) return false;
    const auto authorization = header_value(request, "Authorization");
    return authorization && *authorization == "Bearer " + settings.gateway_token;
  }

  backend_faults faults_of(std::size_t index) {
    const std::lock_guard lock(mutex);
    return instances[index].faults;
  }

  http::response<http::string_body> attestation_response(const http::request<http::string_body>& request,
                                                         std::size_t index, const live_identity& identity) {
    backend_faults f;
    const instance* inst = nullptr;
    {
      const std::lock_guard lock(mutex);
      ++attestations;
      f = instances[index].faults;
      inst = &instances[index];  // keys and workload are immutable after construction
    }
    if (from_gateway(request)) {
      // The gateway's model_fails_policy fault: this CVM claims another workload for this
      // one report, as if it were another deployment's.
      if (const auto claimed = header_value(request, std::string(tampered_workload_header))) {
        for (const auto how : all_workload_tamperings) {
          if (*claimed == to_string(how)) f.tampered_workload = how;
        }
      }
    }
    http::response<http::string_body> response{http::status::ok, request.version()};
    std::string error;
    std::optional<report_query> query;
    if (request.method() == http::verb::get) {
      query = parse_report_query(request.target(), error);
    } else {
      error = "Use GET for " + std::string(attestation_path);
    }
    if (!query) {
      response.result(request.method() == http::verb::get ? http::status::bad_request
                                                           : http::status::method_not_allowed);
      set_common_headers(response, "application/json", index);
      response.body() = openai_error_body(error, "invalid_request_error", "bad_request");
      response.prepare_payload();
      return response;
    }
    const std::array<std::uint8_t, 32> nonce = query->nonce ? *query->nonce : random_report_nonce();
    report_subject subject;
    subject.where = where;
    subject.workload = &inst->workload;
    subject.keys = &inst->keys;
    subject.foreign_keys = &inst->foreign_keys;
    subject.model_name = options.models.empty() ? std::string() : options.models.front();
    subject.spki_sha256 = identity.id.spki_sha256;
    subject.cert_pem = identity.id.cert_pem;
    subject.gpus = settings.gpus;
    subject.first_gpu_index = settings.first_gpu_index + index * settings.gpus;
    set_common_headers(response, "application/json", index);
    response.body() = make_report(subject, *query, nonce, f);
    response.prepare_payload();
    return response;
  }

  template <class Response>
  static void set_common_headers(Response& response, std::string_view content_type, std::size_t index) {
    response.set(http::field::server, "verified-proxy-sim");
    response.set(http::field::content_type, content_type);
    response.set("X-Sim-Instance", std::to_string(index));
  }

  /// Writes an SSE answer chunked, one chunk per event, each after token_delay. Returns
  /// false when the connection is gone (or was cut on purpose).
  asio::awaitable<bool> write_stream(tls_stream& stream, const openai_answer& answer, bool keep_alive,
                                     std::size_t index, bool disconnect_mid_stream, bool huge_trailer,
                                     connection_record& record) {
    http::response<http::empty_body> head{http::status::ok, 11};
    head.result(answer.status);
    set_common_headers(head, answer.content_type, index);
    if (!co_await write_stream_head(stream, std::move(head), keep_alive)) co_return false;

    const std::size_t data_chunks = answer.events.size() - 1;  // the last event is [DONE]
    for (std::size_t i = 0; i < answer.events.size(); ++i) {
      if (disconnect_mid_stream && i == data_chunks / 2) {
        // A crashed backend: the TCP connection ends without TLS close_notify or the
        // terminating chunk.
        beast::get_lowest_layer(stream).socket().close();
        co_return false;
      }
      if (settings.token_delay.count() > 0) co_await sleep(settings.token_delay);
      const std::string_view event = answer.events[i];
      if (!co_await write_chunk(stream, event)) co_return false;
      const std::lock_guard lock(mutex);
      ++record.stream_events_sent;
    }
    std::string trailer_fields = huge_trailer ? huge_trailer_field() : std::string();
    co_return co_await write_last_chunk(stream, std::move(trailer_fields));
  }

  /// Writes an answer whose body ends with the connection (no Content-Length, not
  /// chunked): the framing an HTTP/1.0-style server uses; the caller closes.
  /// Returns true when the whole answer went out.
  asio::awaitable<bool> write_close_delimited(tls_stream& stream, const openai_answer& answer, std::size_t index,
                                              connection_record& record) {
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    http::response<http::empty_body> response{http::status::ok, 11};
    response.result(answer.status);
    set_common_headers(response, answer.content_type, index);
    response.keep_alive(false);
    http::response_serializer<http::empty_body> serializer{response};
    if (auto [ec, n] = co_await http::async_write_header(stream, serializer, tuple); ec) co_return false;
    if (answer.streaming()) {
      for (const auto& event : answer.events) {
        if (settings.token_delay.count() > 0) co_await sleep(settings.token_delay);
        if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(event), tuple); ec) co_return false;
        const std::lock_guard lock(mutex);
        ++record.stream_events_sent;
      }
    } else if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(answer.body), tuple); ec) {
      co_return false;
    }
    co_return true;
  }

  template <class Duration>
  static asio::awaitable<void> sleep(Duration d) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    if (d == Duration::max()) {
      timer.expires_at(asio::steady_timer::time_point::max());
    } else {
      timer.expires_after(d);
    }
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
};

backend_server::backend_server(asio::io_context& ioc, const deployment& where, domain_options options,
                               backend_settings settings, std::uint16_t port)
    : state_(std::make_shared<state>()) {
  if (options.instances == 0) throw std::invalid_argument("verified-proxy-sim: a domain needs at least one instance");
  state_->where = &where;
  state_->settings = settings;
  state_->signature_delay = settings.signature_delay;
  for (std::size_t i = 0; i < options.instances; ++i) {
    state::instance inst;
    inst.keys = random_signing_identity();
    inst.foreign_keys = random_signing_identity();
    inst.workload = make_instance_workload(where.workload(), options.domain, i);
    inst.faults = options.faults;
    state_->instances.push_back(std::move(inst));
  }
  state_->options = std::move(options);
  for (auto& inst : state_->instances) inst.identity = state_->make_identity();

  tcp::acceptor acceptor = listen_on_loopback(ioc, port);
  state_->port = acceptor.local_endpoint().port();
  auto on_connection = [self = state_](tcp::socket socket) { state::on_connection(self, std::move(socket)); };
  net::spawn_logged(ioc, accept_connections(std::move(acceptor), std::move(on_connection)),
                    "simulator backend accept loop");
}

backend_server::~backend_server() = default;

const std::string& backend_server::domain() const { return state_->options.domain; }
const std::vector<std::string>& backend_server::models() const { return state_->options.models; }
std::uint16_t backend_server::port() const { return state_->port; }
std::size_t backend_server::instance_count() const { return state_->instances.size(); }

void backend_server::set_faults(std::size_t instance, backend_faults faults) {
  const std::lock_guard lock(state_->mutex);
  auto& inst = state_->at(instance);
  inst.faults = faults;
  inst.requests_since_rotation = 0;
}

backend_faults backend_server::faults(std::size_t instance) const {
  const std::lock_guard lock(state_->mutex);
  return state_->at(instance).faults;
}

std::string backend_server::spki_sha256_hex(std::size_t instance) const {
  const std::lock_guard lock(state_->mutex);
  return to_hex(state_->at(instance).identity->id.spki_sha256);
}

tls_identity backend_server::tls_key_and_chain(std::size_t instance) const {
  const std::lock_guard lock(state_->mutex);
  return state_->at(instance).identity->id;
}

const signing_identity& backend_server::signing_keys(std::size_t instance) const {
  return state_->at(instance).keys;  // immutable after construction
}

const instance_workload& backend_server::workload(std::size_t instance) const {
  return state_->at(instance).workload;  // immutable after construction
}

std::size_t backend_server::attestation_count() const { return read_locked(*state_, &state::attestations); }

std::size_t backend_server::request_count() const { return read_locked(*state_, &state::requests); }

std::size_t backend_server::unsolicited_count() const { return read_locked(*state_, &state::unsolicited); }

std::size_t backend_server::connection_count() const {
  const std::lock_guard lock(state_->mutex);
  return state_->records.size();
}

std::vector<connection_record> backend_server::connections() const {
  const std::lock_guard lock(state_->mutex);
  std::vector<connection_record> out;
  out.reserve(state_->records.size());
  for (const auto& r : state_->records) out.push_back(*r);
  return out;
}

std::vector<header_fields> backend_server::request_headers() const {
  const std::lock_guard lock(state_->mutex);
  std::vector<header_fields> out;
  for (const auto& x : state_->exchanges) {
    if (!is_signature_lookup(x.target)) out.push_back(x.headers);
  }
  return out;
}

std::vector<std::string> backend_server::request_bodies() const {
  const std::lock_guard lock(state_->mutex);
  std::vector<std::string> out;
  for (const auto& x : state_->exchanges) {
    if (!is_signature_lookup(x.target)) out.push_back(x.body);
  }
  return out;
}

std::vector<backend_exchange> backend_server::exchanges() const { return read_locked(*state_, &state::exchanges); }

std::size_t backend_server::signature_lookup_count() const { return read_locked(*state_, &state::signature_lookups); }

void backend_server::set_signature_delay(std::chrono::milliseconds delay) {
  const std::lock_guard lock(state_->mutex);
  state_->signature_delay = delay;
}

}  // namespace vp::sim
