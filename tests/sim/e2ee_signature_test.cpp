// The simulator's backends as NEAR's inference-proxy (docs/gpu-signatures-e2ee.md §3, §4),
// seen by a client that speaks E2EE itself (e2ee::field_cipher::for_client, no proxy) on one
// TLS connection: the report's signing keys bind, the backend sees ciphertext where the
// fields are covered and answers from the plaintext, the answers open, every completed
// answer is signed with both keys over the exact bytes sent and read, and each signature /
// E2EE fault has its documented observable result.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "attest/near_report.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/secp256k1.hpp"
#include "e2ee/cipher.hpp"
#include "e2ee/fields.hpp"
#include "e2ee/sse.hpp"
#include "signature/response_signature.hpp"
#include "sim/openai.hpp"
#include "sim/simulator.hpp"
#include "support/run_bounded.hpp"
#include "support/sim_tls_session.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::sim {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using attest::signing_algorithm;
using namespace std::chrono_literals;

constexpr const char* domain = "e2ee.completions.near.ai";
constexpr const char* model = "sim-model";
constexpr unsigned stream_tokens = 4;
constexpr auto io_limit = 10s;

using response = http::response<http::string_body>;

using test::data_events;
using test::hex_sha256;
using test::parse_object;
using test::recipient_of;

/// One TLS connection to the simulated backend, used synchronously (each exchange bounded
/// in time).
class backend_session : public test::sim_tls_session {
 public:
  backend_session(const upstream::tls_client_context& tls, std::uint16_t port)
      : sim_tls_session(tls, domain, port, io_limit) {}

  /// The report for `algo` on this connection, parsed.
  attest::near_attestation report(signing_algorithm algo) {
    const response r = get("/v1/attestation/report?include_tls_fingerprint=true&signing_algo=" +
                           std::string(attest::to_string(algo)) + "&nonce=" + std::string(64, 'a'));
    EXPECT_EQ(r.result_int(), 200u) << r.body().substr(0, 300);
    auto doc = attest::parse_report_document(r.body());
    EXPECT_TRUE(doc) << (doc ? "" : doc.error().message);
    if (!doc || doc->attestations.empty()) return {};
    return doc->attestations.front();
  }

  /// GET /v1/signature/{id}?signing_algo=…
  response signature(std::string_view chat_id, std::string_view algo) {
    return get("/v1/signature/" + std::string(chat_id) + "?signing_algo=" + std::string(algo));
  }
};

/// A request body sealed by a client, with the headers that announce it (as the proxy
/// sends them: version 2, all fields).
struct sealed_request {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

sealed_request seal(e2ee::endpoint e, json::object plaintext, const e2ee::field_cipher& cipher) {
  const auto sealed = e2ee::encrypt_request(e, plaintext, cipher);
  EXPECT_TRUE(sealed) << (sealed ? "" : sealed.error().pointer + ": " + sealed.error().why);
  EXPECT_TRUE(sealed && *sealed > 0) << "nothing was sealed";
  return {json::serialize(plaintext),
          {{"X-Signing-Algo", std::string(e2ee::signing_algo_header(cipher.kind()))},
           {"X-Client-Pub-Key", cipher.public_key_hex()},
           {"X-Encryption-Version", "2"},
           {"X-Encrypt-All-Fields", "true"}}};
}

json::object chat(std::string_view prompt, bool stream = false) { return test::chat_request(model, prompt, stream); }


/// A covered field as the backend sent it: hex of at least `minimum` sealed bytes.
bool looks_sealed(const json::value& v, std::size_t minimum = 72) {
  const auto* s = v.if_string();
  if (s == nullptr) return false;
  const auto raw = from_hex(*s);
  return raw && raw->size() >= minimum;
}

class E2eeSignatureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    simulator_options o;
    o.gpus = 0;  // the GPUs are gpu_test.cpp's business
    o.stream_tokens = stream_tokens;
    domain_options d;
    d.domain = domain;
    d.models = {model};
    o.domains = {d};
    sim_ = new simulator(o);
    dir_ = new std::filesystem::path(std::filesystem::path(::testing::TempDir()) /
                                     ("vp-e2ee-sim-test-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    std::ofstream(*dir_ / "upstream-ca.pem") << sim_->upstream_ca_pem();
    tls_ = new upstream::tls_client_context(upstream::tls_client_options{true, (*dir_ / "upstream-ca.pem").string()});
  }
  static void TearDownTestSuite() {
    delete tls_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete sim_;
  }
  void SetUp() override {
    sim_->set_faults(domain, 0, {});
    sim_->set_signature_delay(0ms);
  }

  static backend_session connect() { return backend_session(*tls_, sim_->backend_port(domain)); }

  static std::optional<backend_exchange> exchange_of(std::string_view chat_id) {
    for (const auto& x : sim_->exchanges(domain)) {
      if (x.chat_id == chat_id) return x;
    }
    return std::nullopt;
  }

  /// The answer's signature for `a`'s algorithm, checked against everything the client
  /// knows: the attested signer, the hashes of the bytes it wrote and read, the model.
  static signature::verification verify_signature(backend_session& s, const attest::near_attestation& a,
                                                  std::string_view chat_id, std::string_view sent,
                                                  std::string_view received) {
    const response r = s.signature(chat_id, attest::to_string(a.signing_algo));
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    auto doc = signature::parse_signature_document(r.body());
    if (!doc) {
      signature::verification refused;
      refused.failed_check = "signature_malformed";
      refused.message = doc.error().code + ": " + doc.error().message;
      return refused;
    }
    EXPECT_EQ(doc->signing_algo, a.signing_algo);
    signature::expectations expected;
    expected.signer = signature::expected_signer{a.signing_algo, a.signing_address};
    expected.request_hash = crypto::sha256(as_bytes(sent));
    expected.response_hash = crypto::sha256(as_bytes(received));
    expected.model = a.model_name.value_or("");
    return signature::verify(*doc, expected);
  }

  static simulator* sim_;
  static std::filesystem::path* dir_;
  static upstream::tls_client_context* tls_;
};

simulator* E2eeSignatureTest::sim_ = nullptr;
std::filesystem::path* E2eeSignatureTest::dir_ = nullptr;
upstream::tls_client_context* E2eeSignatureTest::tls_ = nullptr;

// ---------------------------------------------------------------------------------------

TEST_F(E2eeSignatureTest, ReportCarriesItsSigningPublicKeyBoundAsNearSendsIt) {
  backend_session s = connect();
  ASSERT_TRUE(s.connected());

  const attest::near_attestation ecdsa = s.report(signing_algorithm::ecdsa);
  ASSERT_TRUE(ecdsa.signing_public_key.has_value());
  ASSERT_EQ(ecdsa.signing_public_key->size(), 64u);  // X‖Y, no 0x04
  const auto address = crypto::secp256k1::ethereum_address(*ecdsa.signing_public_key);
  ASSERT_TRUE(address.has_value());
  EXPECT_TRUE(equal_bytes(*address, ecdsa.signing_address)) << "Keccak-256(X‖Y)[12:32] is not the address";
  EXPECT_EQ(recipient_of(ecdsa).kind(), e2ee::scheme::ecies);

  const attest::near_attestation ed = s.report(signing_algorithm::ed25519);
  ASSERT_TRUE(ed.signing_public_key.has_value());
  EXPECT_EQ(*ed.signing_public_key, ed.signing_address);
  EXPECT_EQ(recipient_of(ed).kind(), e2ee::scheme::v2);

  // As NEAR writes them: 128 and 64 lower-case hex digits, in key order.
  const response raw = s.get("/v1/attestation/report?signing_algo=ecdsa");
  const json::object doc = parse_object(raw.body());
  ASSERT_TRUE(doc.contains("signing_public_key"));
  EXPECT_EQ(doc.at("signing_public_key").as_string(), to_hex(*ecdsa.signing_public_key));
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc) keys.emplace_back(key);
  EXPECT_TRUE(std::is_sorted(keys.begin() + 1, keys.end())) << "after all_attestations, alphabetical";
}

class E2eeRoundTripTest : public E2eeSignatureTest, public ::testing::WithParamInterface<signing_algorithm> {};

TEST_P(E2eeRoundTripTest, BackendSeesCiphertextAnswersFromPlaintextAndSignsTheBytesSent) {
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  const attest::near_attestation a = s.report(GetParam());
  const e2ee::recipient to = recipient_of(a);

  // Chat (JSON).
  {
    auto cipher = e2ee::field_cipher::for_client(to);
    ASSERT_TRUE(cipher);
    const sealed_request req = seal(e2ee::endpoint::chat_completions, chat("the secret prompt"), *cipher);
    EXPECT_EQ(req.body.find("the secret prompt"), std::string::npos);
    const response r = s.post("/v1/chat/completions", req.body, req.headers);
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    json::object answer = parse_object(r.body());
    const std::string id(answer.at("id").as_string());
    EXPECT_TRUE(looks_sealed(answer.at("choices").at(0).at("message").at("content")));
    EXPECT_EQ(r.body().find("sim-token-"), std::string::npos) << "plaintext in the sealed answer";
    ASSERT_TRUE(e2ee::decrypt_response(e2ee::endpoint::chat_completions, answer, *cipher, false));
    const std::string content(answer.at("choices").at(0).at("message").at("content").as_string());
    EXPECT_NE(content.find(sim_token(stream_tokens - 1)), std::string::npos) << content;
    EXPECT_EQ(answer.at("sim_prompt_echo").as_string(), "the secret prompt");  // the model saw plaintext

    const auto x = exchange_of(id);
    ASSERT_TRUE(x.has_value());
    EXPECT_EQ(x->body, req.body);  // the raw bytes, ciphertext and all
    EXPECT_EQ(x->body.find("the secret prompt"), std::string::npos);
    EXPECT_NE(x->model_body.find("the secret prompt"), std::string::npos);
    EXPECT_EQ(x->response_entity, r.body());

    const auto checked = verify_signature(s, a, id, req.body, r.body());
    EXPECT_TRUE(checked.ok()) << checked.failed_check << ": " << checked.message;
    // Served after the answer on the same connection: it has been signed by now.
    EXPECT_TRUE(exchange_of(id).value().signed_answer);
    // The text is over what travelled, not over the plaintext.
    const response doc = s.signature(id, attest::to_string(GetParam()));
    EXPECT_EQ(parse_object(doc.body()).at("text").as_string(),
              std::string(model) + ":" + hex_sha256(req.body) + ":" + hex_sha256(r.body()));
  }
  // Completions.
  {
    auto cipher = e2ee::field_cipher::for_client(to);
    ASSERT_TRUE(cipher);
    json::object body{{"model", model}, {"prompt", "complete this secret"}};
    const sealed_request req = seal(e2ee::endpoint::completions, body, *cipher);
    const response r = s.post("/v1/completions", req.body, req.headers);
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    json::object answer = parse_object(r.body());
    const std::string id(answer.at("id").as_string());
    EXPECT_TRUE(id.starts_with("cmpl-")) << id;
    EXPECT_TRUE(looks_sealed(answer.at("choices").at(0).at("text")));
    ASSERT_TRUE(e2ee::decrypt_response(e2ee::endpoint::completions, answer, *cipher, false));
    EXPECT_NE(std::string(answer.at("choices").at(0).at("text").as_string()).find("sim-token-0"), std::string::npos);
    EXPECT_EQ(answer.at("sim_prompt_echo").as_string(), "complete this secret");
    EXPECT_EQ(exchange_of(id).value().body.find("complete this secret"), std::string::npos);
    const auto checked = verify_signature(s, a, id, req.body, r.body());
    EXPECT_TRUE(checked.ok()) << checked.failed_check << ": " << checked.message;
  }
  // Embeddings: the vector travels as sealed JSON text.
  {
    auto cipher = e2ee::field_cipher::for_client(to);
    ASSERT_TRUE(cipher);
    json::object body{{"model", model}, {"input", json::array{"first secret", "second secret"}}};
    const sealed_request req = seal(e2ee::endpoint::embeddings, body, *cipher);
    EXPECT_EQ(req.body.find("secret"), std::string::npos);
    const response r = s.post("/v1/embeddings", req.body, req.headers);
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    json::object answer = parse_object(r.body());
    const std::string id(answer.at("id").as_string());
    EXPECT_TRUE(id.starts_with("emb-")) << id;
    EXPECT_TRUE(looks_sealed(answer.at("data").at(1).at("embedding")));
    ASSERT_TRUE(e2ee::decrypt_response(e2ee::endpoint::embeddings, answer, *cipher, false));
    ASSERT_EQ(answer.at("data").as_array().size(), 2u);  // the model counted the opened inputs
    EXPECT_EQ(answer.at("data").at(1).at("embedding").as_array().size(), 8u);
    const auto checked = verify_signature(s, a, id, req.body, r.body());
    EXPECT_TRUE(checked.ok()) << checked.failed_check << ": " << checked.message;
  }
  // Streaming chat: each chunk sealed on its own; the signature covers every event's bytes.
  {
    auto cipher = e2ee::field_cipher::for_client(to);
    ASSERT_TRUE(cipher);
    const sealed_request req = seal(e2ee::endpoint::chat_completions, chat("stream a secret", true), *cipher);
    const response r = s.post("/v1/chat/completions", req.body, req.headers);
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    EXPECT_TRUE(r.body().ends_with("data: [DONE]\n\n"));
    const auto events = data_events(r.body());
    ASSERT_EQ(events.size(), stream_tokens);
    std::string id;
    std::string text;
    std::vector<std::string> sealed_contents;
    for (const auto& data : events) {
      json::object chunk = parse_object(data);
      if (id.empty()) id = std::string(chunk.at("id").as_string());
      const json::value& content = chunk.at("choices").at(0).at("delta").at("content");
      ASSERT_TRUE(looks_sealed(content)) << data;
      sealed_contents.emplace_back(content.as_string());
      ASSERT_TRUE(e2ee::decrypt_response(e2ee::endpoint::chat_completions, chunk, *cipher, true)) << data;
      text += chunk.at("choices").at(0).at("delta").at("content").as_string();
    }
    std::string expected;
    for (unsigned i = 0; i < stream_tokens; ++i) expected += sim_token(i);
    EXPECT_EQ(text, expected);
    EXPECT_NE(sealed_contents.front().substr(0, 64), sealed_contents.back().substr(0, 64))
        << "every chunk has its own ephemeral key";
    const auto x = exchange_of(id);
    ASSERT_TRUE(x.has_value());
    EXPECT_EQ(x->response_entity, r.body());
    const auto checked = verify_signature(s, a, id, req.body, r.body());
    EXPECT_TRUE(checked.ok()) << checked.failed_check << ": " << checked.message;
  }
}

INSTANTIATE_TEST_SUITE_P(BothAlgorithms, E2eeRoundTripTest,
                         ::testing::Values(signing_algorithm::ecdsa, signing_algorithm::ed25519),
                         [](const auto& param_info) { return std::string(attest::to_string(param_info.param)); });

TEST_F(E2eeSignatureTest, PlaintextAnswersAreSignedWithBothKeys) {
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  const attest::near_attestation ecdsa = s.report(signing_algorithm::ecdsa);
  const attest::near_attestation ed = s.report(signing_algorithm::ed25519);
  const std::string body = json::serialize(chat("in the clear"));
  const response r = s.post("/v1/chat/completions", body);
  ASSERT_EQ(r.result_int(), 200u);
  const std::string id(parse_object(r.body()).at("id").as_string());
  EXPECT_TRUE(id.starts_with("chatcmpl-sim-")) << id;
  for (const auto* a : {&ecdsa, &ed}) {
    const auto checked = verify_signature(s, *a, id, body, r.body());
    EXPECT_TRUE(checked.ok()) << attest::to_string(a->signing_algo) << ": " << checked.failed_check << ": "
                              << checked.message;
  }
  // Without signing_algo: ecdsa.
  const auto doc = signature::parse_signature_document(s.get("/v1/signature/" + id).body());
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->signing_algo, signing_algorithm::ecdsa);
  EXPECT_EQ(doc->signing_address, ecdsa.signing_address);

  // A flipped byte of either side fails.
  signature::expectations other;
  other.response_hash = crypto::sha256(as_bytes(r.body() + " "));
  EXPECT_EQ(signature::verify(*doc, other).failed_check, "response_hash_mismatch");

  // Every answer has its own id.
  const response again = s.post("/v1/chat/completions", body);
  EXPECT_NE(std::string(parse_object(again.body()).at("id").as_string()), id);
}

TEST_F(E2eeSignatureTest, SignatureLookupErrors) {
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  const response unknown = s.signature("chatcmpl-nobody", "ecdsa");
  EXPECT_EQ(unknown.result_int(), 404u);
  EXPECT_EQ(parse_object(unknown.body()).at("error").at("message").as_string(), "Chat id not found or expired");

  const response r = s.post("/v1/chat/completions", json::serialize(chat("x")));
  const std::string id(parse_object(r.body()).at("id").as_string());
  EXPECT_EQ(s.signature(id, "rsa").result_int(), 400u);
  EXPECT_EQ(s.signature(id, "ed25519").result_int(), 200u);

  // Errors are not signed.
  const response bad = s.post("/v1/chat/completions", "not json");
  EXPECT_EQ(bad.result_int(), 400u);
  s.get("/v1/models");  // served after the error was finished with
  const auto all = sim_->exchanges(domain);
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all[all.size() - 2].status, 400u);
  EXPECT_FALSE(all[all.size() - 2].signed_answer);
}

TEST_F(E2eeSignatureTest, SignatureDelayMakesAnImmediateLookupMissThenFind) {
  sim_->set_signature_delay(400ms);
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  const response r = s.post("/v1/chat/completions", json::serialize(chat("wait for it", true)));
  ASSERT_EQ(r.result_int(), 200u);
  const std::string id(parse_object(data_events(r.body()).front()).at("id").as_string());
  EXPECT_EQ(s.signature(id, "ecdsa").result_int(), 404u);
  EXPECT_TRUE(test::eventually([&] { return s.signature(id, "ecdsa").result_int() == 200u; }, 5s));
}

TEST_F(E2eeSignatureTest, AStreamCutShortIsNotSigned) {
  sim_->set_faults(domain, 0, {.disconnect_mid_stream = true});
  {
    backend_session s = connect();
    ASSERT_TRUE(s.connected());
    http::request<http::string_body> r{http::verb::post, "/v1/chat/completions", 11};
    r.body() = json::serialize(chat("cut", true));
    EXPECT_FALSE(s.send(std::move(r)).has_value());
  }
  const backend_exchange x = sim_->exchanges(domain).back();
  ASSERT_FALSE(x.chat_id.empty());
  EXPECT_FALSE(x.signed_answer);
  sim_->set_faults(domain, 0, {});
  backend_session later = connect();
  EXPECT_EQ(later.signature(x.chat_id, "ecdsa").result_int(), 404u);
}

TEST_F(E2eeSignatureTest, EncryptionHeadersAndCiphertextAreCheckedLikeInferenceProxy) {
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  const attest::near_attestation ed = s.report(signing_algorithm::ed25519);
  auto cipher = e2ee::field_cipher::for_client(recipient_of(ed));
  ASSERT_TRUE(cipher);
  const sealed_request good = seal(e2ee::endpoint::chat_completions, chat("tamper"), *cipher);
  const auto headers_without = [&](std::string_view dropped) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& h : good.headers) {
      if (h.first != dropped) out.push_back(h);
    }
    return out;
  };
  const auto message_of = [](const response& r) {
    return std::string(parse_object(r.body()).at("error").at("message").as_string());
  };

  // A covered field that does not open.
  json::object tampered = parse_object(good.body);
  std::string content(tampered.at("messages").at(0).at("content").as_string());
  content.back() = content.back() == '0' ? '1' : '0';
  tampered["messages"].as_array()[0].as_object()["content"] = content;
  const response undecryptable = s.post("/v1/chat/completions", json::serialize(tampered), good.headers);
  EXPECT_EQ(undecryptable.result_int(), 400u);
  EXPECT_EQ(message_of(undecryptable), "Decryption failed");
  // A plaintext where ciphertext is due.
  const response plaintext = s.post("/v1/chat/completions", json::serialize(chat("plain")), good.headers);
  EXPECT_EQ(plaintext.result_int(), 400u);
  EXPECT_EQ(message_of(plaintext), "Decryption failed");

  // One header without the other.
  EXPECT_EQ(s.post("/v1/chat/completions", good.body, headers_without("X-Client-Pub-Key")).result_int(), 400u);
  EXPECT_EQ(s.post("/v1/chat/completions", good.body, headers_without("X-Signing-Algo")).result_int(), 400u);
  // ed25519 is v2 only: v1 (the default when absent) is not spoken.
  const response no_version = s.post("/v1/chat/completions", good.body, headers_without("X-Encryption-Version"));
  EXPECT_EQ(no_version.result_int(), 400u);
  EXPECT_EQ(message_of(no_version), "unsupported encryption version");
  auto v1 = headers_without("X-Encryption-Version");
  v1.emplace_back("X-Encryption-Version", "1");
  EXPECT_EQ(s.post("/v1/chat/completions", good.body, v1).result_int(), 400u);
  auto bad_key = headers_without("X-Client-Pub-Key");
  bad_key.emplace_back("X-Client-Pub-Key", "zz");
  EXPECT_EQ(s.post("/v1/chat/completions", good.body, bad_key).result_int(), 400u);
  for (const auto& x : sim_->exchanges(domain)) EXPECT_TRUE(x.status != 400 || !x.signed_answer);

  // The untouched request still works on the same connection.
  EXPECT_EQ(s.post("/v1/chat/completions", good.body, good.headers).result_int(), 200u);

  // ecdsa takes version 1 or 2 (ECIES is the same either way).
  const attest::near_attestation ecdsa = s.report(signing_algorithm::ecdsa);
  auto ecies = e2ee::field_cipher::for_client(recipient_of(ecdsa));
  ASSERT_TRUE(ecies);
  sealed_request legacy = seal(e2ee::endpoint::chat_completions, chat("legacy"), *ecies);
  for (auto& [name, value] : legacy.headers) {
    if (name == "X-Encryption-Version") value = "1";
  }
  EXPECT_EQ(s.post("/v1/chat/completions", legacy.body, legacy.headers).result_int(), 200u);
}

// ---- faults ----------------------------------------------------------------------------

TEST_F(E2eeSignatureTest, SignatureForeignKeyVerifiesOnlyAgainstAnotherSigner) {
  sim_->set_faults(domain, 0, {.signature_foreign_key = true});
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  for (const auto algo : {signing_algorithm::ecdsa, signing_algorithm::ed25519}) {
    const attest::near_attestation a = s.report(algo);
    const std::string body = json::serialize(chat("foreign"));
    const response r = s.post("/v1/chat/completions", body);
    const std::string id(parse_object(r.body()).at("id").as_string());
    const auto checked = verify_signature(s, a, id, body, r.body());
    EXPECT_EQ(checked.failed_check, "signer_mismatch") << attest::to_string(algo) << ": " << checked.message;
    // Self-consistent: the same text, a valid signature by the key it names.
    const auto doc = signature::parse_signature_document(s.signature(id, attest::to_string(algo)).body());
    ASSERT_TRUE(doc);
    EXPECT_TRUE(signature::verify(*doc, {}).ok());
    EXPECT_NE(doc->signing_address, a.signing_address);
    EXPECT_EQ(doc->text, std::string(model) + ":" + hex_sha256(body) + ":" + hex_sha256(r.body()));
  }
}

TEST_F(E2eeSignatureTest, SignatureOtherBytesFailsTheResponseHashOnly) {
  sim_->set_faults(domain, 0, {.signature_other_bytes = true});
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  const attest::near_attestation a = s.report(signing_algorithm::ed25519);
  const std::string body = json::serialize(chat("other bytes", true));
  const response r = s.post("/v1/chat/completions", body);
  const std::string id(parse_object(data_events(r.body()).front()).at("id").as_string());
  const auto checked = verify_signature(s, a, id, body, r.body());
  EXPECT_EQ(checked.failed_check, "response_hash_mismatch") << checked.message;
  EXPECT_EQ(checked.request_hash_matches, std::optional<bool>(true));
}

TEST_F(E2eeSignatureTest, SignatureMissingAlwaysAnswers404) {
  sim_->set_faults(domain, 0, {.signature_missing = true});
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  const response r = s.post("/v1/chat/completions", json::serialize(chat("lost")));
  const std::string id(parse_object(r.body()).at("id").as_string());
  for (const char* algo : {"ecdsa", "ed25519"}) {
    const response lookup = s.signature(id, algo);
    EXPECT_EQ(lookup.result_int(), 404u);
    EXPECT_EQ(parse_object(lookup.body()).at("error").at("message").as_string(), "Chat id not found or expired");
  }
  EXPECT_TRUE(exchange_of(id).value().signed_answer) << "signed, only not served";
  sim_->set_faults(domain, 0, {});
  EXPECT_EQ(s.signature(id, "ecdsa").result_int(), 200u);
}

/// One covered field of a sealed answer is wrong (`plaintext`: left in the clear; else
/// sealed to another key): decrypt_response refuses it, everywhere else the answer opens.
void expect_one_bad_field(backend_session& s, const attest::near_attestation& a, bool plaintext) {
  auto cipher = e2ee::field_cipher::for_client(recipient_of(a));
  ASSERT_TRUE(cipher);

  const sealed_request req = seal(e2ee::endpoint::chat_completions, chat("fault"), *cipher);
  const response r = s.post("/v1/chat/completions", req.body, req.headers);
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  json::object answer = parse_object(r.body());
  const json::value& content = answer.at("choices").at(0).at("message").at("content");
  if (plaintext) {
    EXPECT_NE(std::string(content.as_string()).find("Simulated answer"), std::string::npos) << content;
  } else {
    EXPECT_TRUE(looks_sealed(content));
    EXPECT_FALSE(cipher->decrypt(content.as_string()).has_value()) << "sealed to the client after all";
  }
  EXPECT_FALSE(e2ee::decrypt_response(e2ee::endpoint::chat_completions, answer, *cipher, false));

  // Streams: only the last chunk is wrong.
  const sealed_request stream = seal(e2ee::endpoint::chat_completions, chat("fault", true), *cipher);
  const response sr = s.post("/v1/chat/completions", stream.body, stream.headers);
  ASSERT_EQ(sr.result_int(), 200u);
  const auto events = data_events(sr.body());
  ASSERT_EQ(events.size(), stream_tokens);
  for (std::size_t i = 0; i < events.size(); ++i) {
    json::object chunk = parse_object(events[i]);
    const bool last = i + 1 == events.size();
    const json::value& field = chunk.at("choices").at(0).at("delta").at("content");
    if (plaintext) {
      EXPECT_EQ(field.is_string() && field.get_string() == sim_token(i), last) << events[i];
    } else {
      EXPECT_TRUE(looks_sealed(field)) << events[i];
    }
    EXPECT_EQ(e2ee::decrypt_response(e2ee::endpoint::chat_completions, chunk, *cipher, true).has_value(), !last)
        << events[i];
  }

  // Embeddings: the vector.
  const sealed_request emb =
      seal(e2ee::endpoint::embeddings, json::object{{"model", model}, {"input", "x"}}, *cipher);
  const response er = s.post("/v1/embeddings", emb.body, emb.headers);
  json::object embeddings = parse_object(er.body());
  EXPECT_EQ(embeddings.at("data").at(0).at("embedding").is_array(), plaintext);
  EXPECT_FALSE(e2ee::decrypt_response(e2ee::endpoint::embeddings, embeddings, *cipher, false));
}

TEST_F(E2eeSignatureTest, E2eePlaintextResponseLeavesOneCoveredFieldInTheClear) {
  sim_->set_faults(domain, 0, {.e2ee_plaintext_response = true});
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  for (const auto algo : {signing_algorithm::ecdsa, signing_algorithm::ed25519}) {
    SCOPED_TRACE(attest::to_string(algo));
    expect_one_bad_field(s, s.report(algo), true);
  }
}

TEST_F(E2eeSignatureTest, E2eeUndecryptableResponseSealsOneFieldToAnotherKey) {
  sim_->set_faults(domain, 0, {.e2ee_undecryptable_response = true});
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  for (const auto algo : {signing_algorithm::ecdsa, signing_algorithm::ed25519}) {
    SCOPED_TRACE(attest::to_string(algo));
    expect_one_bad_field(s, s.report(algo), false);
  }
}

TEST_F(E2eeSignatureTest, UnboundSigningKeyCannotBeBoundButTheAddressStays) {
  backend_session honest = connect();
  ASSERT_TRUE(honest.connected());
  const attest::near_attestation real_ecdsa = honest.report(signing_algorithm::ecdsa);
  const attest::near_attestation real_ed = honest.report(signing_algorithm::ed25519);

  sim_->set_faults(domain, 0, {.unbound_signing_key = true});
  backend_session s = connect();
  ASSERT_TRUE(s.connected());
  for (const auto* real : {&real_ecdsa, &real_ed}) {
    const attest::near_attestation a = s.report(real->signing_algo);
    EXPECT_EQ(a.signing_address, real->signing_address);
    ASSERT_TRUE(a.signing_public_key.has_value());
    EXPECT_NE(a.signing_public_key, real->signing_public_key);
    const auto bound = e2ee::bind_recipient(a.signing_algo, a.signing_address, byte_view(*a.signing_public_key));
    EXPECT_FALSE(bound) << attest::to_string(a.signing_algo) << ": a proxy would encrypt to an unbound key";
  }
  // Signatures are still by the attested key.
  const std::string body = json::serialize(chat("still signed"));
  const response r = s.post("/v1/chat/completions", body);
  const std::string id(parse_object(r.body()).at("id").as_string());
  const auto checked = verify_signature(s, real_ecdsa, id, body, r.body());
  EXPECT_TRUE(checked.ok()) << checked.failed_check << ": " << checked.message;
}

}  // namespace
}  // namespace vp::sim
