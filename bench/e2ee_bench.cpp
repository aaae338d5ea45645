// The proxy's CPU per E2EE operation (docs/gpu-signatures-e2ee.md §4.6): one streamed chat
// chunk from the model, raw SSE bytes in to re-framed plaintext event out (reader, parser,
// JSON, decrypt_response, serialisation), and the sealing of one typical chat request.
// Target: < 20 us per streamed event on the 2-core machine. Each chunk carries a fresh
// ephemeral key (§4.6), so every event costs one X25519 (v2) or secp256k1 ECDH (ecies).

#include <benchmark/benchmark.h>

#include <boost/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>

#include "core/hex.hpp"
#include "e2ee/cipher.hpp"
#include "e2ee/fields.hpp"
#include "e2ee/sse.hpp"
#include "support/e2ee_session.hpp"

namespace {

using namespace vp;
using namespace vp::e2ee;
namespace json = boost::json;

using session = test::e2ee_session;
session make_session(scheme kind) { return test::make_e2ee_session(kind); }

/// One streamed token as NEAR's inference-proxy sends it: a chunk whose delta.content is
/// sealed to the client, framed as an SSE event.
std::string sealed_chunk_event(const session& s) {
  json::object chunk = json::parse(R"({"id":"chatcmpl-8f2c1d3e4b5a69788796a5b4c3d2e1f0","object":"chat.completion.chunk",
    "created":1745000000,"model":"Qwen/Qwen3.5-122B-A10B","system_fingerprint":null,
    "choices":[{"index":0,"delta":{"content":" encrypted"},"logprobs":null,"finish_reason":null}]})")
                           .as_object();
  if (!encrypt_response(endpoint::chat_completions, chunk, s.server, true, true)) {
    throw std::runtime_error("could not seal the chunk");
  }
  return "data: " + json::serialize(chunk) + "\n\n";
}

void sse_event_round(benchmark::State& state, scheme kind) {
  const session s = make_session(kind);
  const std::string raw = sealed_chunk_event(s);
  sse_event_reader reader;
  std::size_t bytes_out = 0;
  for (auto _ : state) {
    reader.feed(raw);
    const std::optional<std::string> event = reader.next();
    const sse_event parsed = parse_sse_event(*event);
    boost::system::error_code ec;
    json::value chunk = json::parse(*parsed.data, ec);
    if (ec || !chunk.is_object()) {
      state.SkipWithError("chunk does not parse");
      break;
    }
    if (!decrypt_response(endpoint::chat_completions, chunk.as_object(), s.client, true)) {
      state.SkipWithError("chunk does not decrypt");
      break;
    }
    std::string out = "data: " + json::serialize(chunk) + "\n\n";
    bytes_out += out.size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["event_bytes"] = static_cast<double>(raw.size());
  benchmark::DoNotOptimize(bytes_out);
}

void BM_E2eeSseEvent(benchmark::State& state) { sse_event_round(state, scheme::v2); }
void BM_E2eeSseEventEcies(benchmark::State& state) { sse_event_round(state, scheme::ecies); }

/// A typical chat request: a system prompt, two turns of history, the new question.
constexpr std::string_view chat_request = R"({"model":"Qwen/Qwen3.5-122B-A10B","stream":true,
  "stream_options":{"include_usage":true},"temperature":0.7,"max_tokens":1024,"messages":[
  {"role":"system","content":"You are a helpful assistant. Answer concisely and cite sources when you can."},
  {"role":"user","content":"What is a trusted execution environment?"},
  {"role":"assistant","content":"A trusted execution environment (TEE) is an isolated area of a processor that protects code and data from the rest of the system, including the operating system and hypervisor."},
  {"role":"user","content":"How does remote attestation let me check which code runs inside one before I send it my data?"}]})";

void BM_E2eeEncryptRequest(benchmark::State& state) {
  const session s = make_session(scheme::v2);
  for (auto _ : state) {
    boost::system::error_code ec;
    json::value body = json::parse(chat_request, ec);
    if (ec || !encrypt_request(endpoint::chat_completions, body.as_object(), s.client)) {
      state.SkipWithError("request does not seal");
      break;
    }
    std::string wire = json::serialize(body);
    benchmark::DoNotOptimize(wire);
  }
}

BENCHMARK(BM_E2eeSseEvent)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_E2eeSseEventEcies)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_E2eeEncryptRequest)->Unit(benchmark::kMicrosecond);

}  // namespace
