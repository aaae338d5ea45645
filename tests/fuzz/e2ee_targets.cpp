// The E2EE entry points of fuzz_targets.hpp: a backend's SSE stream (docs/gpu-signatures-e2ee.md
// §4.6) and response / request bodies through the field transforms (§4.5), all of it bytes
// a backend or a client chooses. The keys are the public test keys of §4.9, made once per
// process.

#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/hex.hpp"
#include "e2ee/cipher.hpp"
#include "e2ee/fields.hpp"
#include "crypto/digest.hpp"
#include "e2ee/sse.hpp"
#include "fuzz/fuzz_targets.hpp"
#include "proxy/response_inspector.hpp"
#include "support/e2ee_session.hpp"

namespace vp::fuzz {
namespace {

namespace json = boost::json;

[[noreturn]] void e2ee_property_failed(int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__, line, what);
  std::abort();
}

#define VP_E2EE_FUZZ_ASSERT(cond)                           \
  do {                                                      \
    if (!(cond)) e2ee_property_failed(__LINE__, #cond);     \
  } while (0)

using session = test::e2ee_session;

const session& test_session() {
  static const session s = test::make_e2ee_session(e2ee::scheme::v2);
  return s;
}

constexpr e2ee::endpoint all_endpoints[] = {
    e2ee::endpoint::chat_completions,   e2ee::endpoint::completions,  e2ee::endpoint::embeddings,
    e2ee::endpoint::images_generations, e2ee::endpoint::images_edits, e2ee::endpoint::audio_transcriptions,
    e2ee::endpoint::rerank,             e2ee::endpoint::score};

struct split_stream {
  std::vector<std::string> events;
  std::string pending;
  bool accepted = true;
};

split_stream read_stream(std::string_view stream, std::size_t piece, std::size_t bound) {
  e2ee::sse_event_reader reader(bound);
  split_stream out;
  for (std::size_t at = 0; at < stream.size() && out.accepted; at += piece) {
    out.accepted = reader.feed(stream.substr(at, piece));
    while (auto e = reader.next()) out.events.push_back(std::move(*e));
  }
  out.pending = std::string(reader.pending());
  return out;
}

/// a == b, except that doubles may differ in the last bits: values sealed as JSON text go
/// through serialize and parse, and Boost.JSON 1.81's parser is not always correctly
/// rounded.
bool same_json(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    return x == y || std::fabs(x - y) <= std::fabs(x) * 1e-15;
  }
  if (a.kind() != b.kind()) return false;
  if (const json::object* o = a.if_object()) {
    const json::object& p = b.get_object();
    if (o->size() != p.size()) return false;
    for (const auto& kv : *o) {
      const json::value* other = p.if_contains(kv.key());
      if (other == nullptr || !same_json(kv.value(), *other)) return false;
    }
    return true;
  }
  if (const json::array* arr = a.if_array()) {
    const json::array& brr = b.get_array();
    if (arr->size() != brr.size()) return false;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      if (!same_json((*arr)[i], brr[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

void sse_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t piece = 1 + data[0] % 64;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const split_stream whole = read_stream(stream, stream.size() + 1, 4 * 1024 * 1024);
  const split_stream pieces = read_stream(stream, piece, 4 * 1024 * 1024);
  // Where the reads split the stream does not change the events; nothing is lost or added.
  VP_E2EE_FUZZ_ASSERT(whole.accepted && pieces.accepted);
  VP_E2EE_FUZZ_ASSERT(whole.events == pieces.events && whole.pending == pieces.pending);
  std::string joined;
  for (const std::string& e : whole.events) {
    VP_E2EE_FUZZ_ASSERT(!e.empty() && (e.back() == '\n' || e.back() == '\r'));
    joined += e;
    const e2ee::sse_event event = e2ee::parse_sse_event(e);
    if (event.data) VP_E2EE_FUZZ_ASSERT(event.data->find_first_of("\r") == std::string::npos);
  }
  VP_E2EE_FUZZ_ASSERT(joined + whole.pending == stream);
  e2ee::parse_sse_event(whole.pending);

  // A tight bound: refused exactly when an incomplete event outgrows it.
  const split_stream bounded = read_stream(stream, piece, 64);
  if (bounded.accepted) VP_E2EE_FUZZ_ASSERT(bounded.pending.size() <= 64 && bounded.events == whole.events);
}

void e2ee_fields_input(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  const json::value parsed = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec, {}, options);
  if (ec || !parsed.is_object()) return;
  const json::object& original = parsed.get_object();
  const session& s = test_session();
  for (const e2ee::endpoint e : all_endpoints) {
    for (const bool chunk : {false, true}) {
      json::object as_received = original;
      (void)e2ee::decrypt_response(e, as_received, s.client, chunk);

      // What the server seals, the client opens back to the same body (score's
      // data[].score excepted: the client opens it should it be sealed, the server never
      // seals it, so an input may carry a value that the client opens).
      json::value body = original;
      if (e2ee::encrypt_response(e, body.as_object(), s.server, true, chunk)) {
        const auto opened = e2ee::decrypt_response(e, body.as_object(), s.client, chunk);
        VP_E2EE_FUZZ_ASSERT(opened.has_value());
        if (e != e2ee::endpoint::score) VP_E2EE_FUZZ_ASSERT(same_json(body, parsed));
      }
    }
    json::object request = original;
    (void)e2ee::decrypt_request(e, request, s.server, true);
    json::object sealed = original;
    if (const auto n = e2ee::encrypt_request(e, sealed, s.client)) {
      // The server takes every field the client sealed (a string content that is JSON
      // array text comes back as that array: the protocol cannot tell the two apart).
      const auto opened = e2ee::decrypt_request(e, sealed, s.server, true);
      VP_E2EE_FUZZ_ASSERT(opened.has_value() && *opened == *n);
    }
  }
}

void answer_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::uint8_t mode = data[0];
  const std::string_view answer(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool streaming = (mode & 1) != 0;
  const bool decrypting = (mode & 2) != 0;
  const bool hold_done = (mode & 4) != 0;
  const std::size_t step = 1 + (mode >> 3);
  proxy::response_inspector inspector(
      {e2ee::endpoint::chat_completions, decrypting ? &test_session().client : nullptr, streaming, hold_done});
  std::string out;
  bool ok = true;
  for (std::size_t at = 0; ok && at < answer.size(); at += step) ok = inspector.feed(answer.substr(at, step), out);
  if (ok) ok = inspector.finish(out);
  VP_E2EE_FUZZ_ASSERT(ok == !inspector.failed().has_value());
  if (!ok) return;
  VP_E2EE_FUZZ_ASSERT(inspector.bytes_in() == answer.size());
  VP_E2EE_FUZZ_ASSERT(inspector.response_hash() == crypto::sha256(as_bytes(answer)));
  if (!decrypting) {
    // Only [DONE] events are withheld: nothing else is held back, dropped or changed.
    const std::string done = inspector.release_done();
    VP_E2EE_FUZZ_ASSERT(out.size() + done.size() == answer.size());
    if (done.empty()) VP_E2EE_FUZZ_ASSERT(out == answer);
  }
  if (const auto& id = inspector.chat_id()) VP_E2EE_FUZZ_ASSERT(!id->empty() && id->size() <= 128);
}

std::vector<std::string> answer_seeds() {
  const session& s = test_session();
  const std::string sealed = s.server.encrypt("hello").value_or("");
  const std::string chunk = R"({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":")" + sealed + R"("}}]})";
  const std::string plain_chunk = R"({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"hi"}}]})";
  const std::string whole = R"({"id":"chatcmpl-2","choices":[{"index":0,"message":{"content":")" + sealed + R"("}}]})";
  return {
      std::string(1, '\x00') + R"({"id":"chatcmpl-3","choices":[{"index":0,"message":{"content":"hi"}}]})",
      std::string(1, '\x02') + whole,
      std::string(1, '\x01') + "data: " + plain_chunk + "\n\n: keep-alive\n\ndata: [DONE]\n\n",
      std::string(1, '\x05') + "data: " + plain_chunk + "\r\n\r\ndata: [DONE]\r\n\r\n",
      std::string(1, '\x03') + "data: " + chunk + "\n\nevent: error\ndata: {}\n\ndata: [DONE]\n\n",
      std::string(1, '\x1f') + "data: " + chunk + "\n\ndata: [DONE]\n\n",
  };
}

std::vector<std::string> sse_seeds() {
  return {
      std::string("\x01") + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n: ping\r\n\r\n"
                            "event: error\rdata: {}\r\rdata: a\ndata: b\n\ndata: [DONE]\n\ndata: part",
      std::string("\x03") + "data: one\r\n\r\ndata: two\r\n\r\n",
      std::string("\x07") + "\n\r\n\r\r\ndata\n\n:\n\n",
  };
}

std::vector<std::string> e2ee_fields_seeds() {
  const session& s = test_session();
  const std::string sealed = s.server.encrypt("hello").value_or("");
  return {
      R"({"model":"m","messages":[{"role":"user","name":"n","content":[{"type":"text","text":"t"}]},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}],
        "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}],
        "tool_choice":"auto","prompt":["p",[1,2]],"input":"i","query":"q","documents":["d",{"text":"t"}],
        "text_1":"a","text_2":["b"]})",
      R"({"choices":[{"index":0,"message":{"content":")" + sealed + R"(","refusal":null},
        "delta":{"content":")" + sealed + R"(","nearai_tool_result":{"output":"o"}},
        "logprobs":{"content":[{"token":"t","bytes":[1,2],"top_logprobs":[{"token":"u","bytes":null}]}]},"text":"x"}],
        "data":[{"embedding":[0.5],"b64_json":"b","revised_prompt":"r","score":0.5}],"text":"t","score":1,
        "results":[{"document":{"text":"d"}}]})",
  };
}

}  // namespace vp::fuzz
