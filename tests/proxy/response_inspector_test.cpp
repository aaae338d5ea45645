#include "proxy/response_inspector.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"

namespace vp::proxy {
namespace {

constexpr std::string_view json_answer =
    R"({"id":"chatcmpl-7","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"}}]})";

std::string stream_of(const std::vector<std::string>& contents) {
  std::string out;
  for (std::size_t i = 0; i < contents.size(); ++i) {
    out += "data: {\"id\":\"chatcmpl-s" + std::string(i == 0 ? "" : "x") + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" +
           contents[i] + "\"}}]}\n\n";
  }
  return out + "data: [DONE]\n\n";
}

response_inspector::options opts(bool streaming, const e2ee::field_cipher* cipher = nullptr, bool hold = false) {
  return {e2ee::endpoint::chat_completions, cipher, streaming, hold};
}

TEST(ResponseInspector, PassesAJsonAnswerUnchangedAndHashesIt) {
  response_inspector in(opts(false));
  std::string out;
  ASSERT_TRUE(in.feed(json_answer.substr(0, 10), out));
  EXPECT_TRUE(out.empty());  // held whole
  ASSERT_TRUE(in.feed(json_answer.substr(10), out));
  ASSERT_TRUE(in.finish(out));
  EXPECT_EQ(out, json_answer);
  EXPECT_EQ(in.response_hash(), crypto::sha256(as_bytes(json_answer)));
  EXPECT_EQ(in.chat_id(), "chatcmpl-7");
}

TEST(ResponseInspector, PassesAStreamByteExactFedOneByteAtATime) {
  const std::string stream = stream_of({"a", "b", "c"});
  response_inspector in(opts(true));
  std::string out;
  for (char c : stream) ASSERT_TRUE(in.feed(std::string_view(&c, 1), out));
  ASSERT_TRUE(in.finish(out));
  EXPECT_EQ(out, stream);
  EXPECT_TRUE(in.saw_done());
  EXPECT_EQ(in.chat_id(), "chatcmpl-s");  // the first chunk's
  EXPECT_EQ(in.response_hash(), crypto::sha256(as_bytes(stream)));
}

TEST(ResponseInspector, GivesEachEventAsSoonAsItIsComplete) {
  response_inspector in(opts(true));
  std::string out;
  ASSERT_TRUE(in.feed("data: {\"id\":\"x\"}\n", out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(in.feed("\ndata: {\"id\"", out));
  EXPECT_EQ(out, "data: {\"id\":\"x\"}\n\n");
}

TEST(ResponseInspector, WithholdsDoneUntilReleased) {
  const std::string stream = stream_of({"a"});
  response_inspector in(opts(true, nullptr, true));
  std::string out;
  ASSERT_TRUE(in.feed(stream, out));
  ASSERT_TRUE(in.finish(out));
  EXPECT_TRUE(in.saw_done());
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
  EXPECT_EQ(out + in.release_done(), stream);
}

TEST(ResponseInspector, AStreamWithoutDoneIsNotComplete) {
  response_inspector in(opts(true));
  std::string out;
  ASSERT_TRUE(in.feed("data: {\"id\":\"x\"}\n\ndata: {\"par", out));
  ASSERT_TRUE(in.finish(out));
  EXPECT_FALSE(in.saw_done());
  EXPECT_EQ(out, "data: {\"id\":\"x\"}\n\ndata: {\"par");  // relayed as it came
}

TEST(ResponseInspector, IgnoresIdsThatCannotNameASignature) {
  response_inspector in(opts(false));
  std::string out;
  ASSERT_TRUE(in.feed(R"({"id":"../../v1/x?y"})", out));
  ASSERT_TRUE(in.finish(out));
  EXPECT_FALSE(in.chat_id());
}

struct sealed_exchange {
  crypto::ed25519::keypair model = *crypto::ed25519::generate();
  e2ee::field_cipher client;
  e2ee::field_cipher server;

  static e2ee::field_cipher client_for(const crypto::ed25519::keypair& m) {
    const bytes key(m.public_key.begin(), m.public_key.end());
    return std::move(*e2ee::field_cipher::for_client(
        *e2ee::bind_recipient(attest::signing_algorithm::ed25519, key, byte_view(key))));
  }
  sealed_exchange()
      : client(client_for(model)),
        server(std::move(*e2ee::field_cipher::for_server(e2ee::scheme::v2, model.seed, client.public_key_hex()))) {}

  std::string seal(std::string_view json, bool chunk) const {
    auto v = boost::json::parse(json);
    EXPECT_TRUE(e2ee::encrypt_response(e2ee::endpoint::chat_completions, v.as_object(), server, true, chunk));
    return boost::json::serialize(v);
  }
};

TEST(ResponseInspector, DecryptsAJsonAnswerAndHashesTheCiphertext) {
  const sealed_exchange x;
  const std::string wire = x.seal(json_answer, false);
  ASSERT_EQ(wire.find("hello there"), std::string::npos);
  response_inspector in(opts(false, &x.client));
  std::string out;
  ASSERT_TRUE(in.feed(wire, out));
  ASSERT_TRUE(in.finish(out)) << in.failed()->message;
  EXPECT_EQ(boost::json::parse(out), boost::json::parse(json_answer));
  EXPECT_EQ(in.response_hash(), crypto::sha256(as_bytes(wire)));
  EXPECT_EQ(in.fields_opened(), 1u);
}

TEST(ResponseInspector, DecryptsEachStreamEventOnItsOwn) {
  const sealed_exchange x;
  std::string wire;
  for (std::string_view chunk : {R"({"id":"c1","choices":[{"index":0,"delta":{"content":"one"}}]})",
                                 R"({"id":"c1","choices":[{"index":0,"delta":{"content":"two"}}]})"}) {
    wire += "data: " + x.seal(chunk, true) + "\n\n";
  }
  wire += "data: [DONE]\n\n";
  response_inspector in(opts(true, &x.client));
  std::string out;
  ASSERT_TRUE(in.feed(wire, out)) << in.failed()->message;
  ASSERT_TRUE(in.finish(out));
  EXPECT_NE(out.find(R"("content":"one")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("content":"two")"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(in.fields_opened(), 2u);
  EXPECT_EQ(in.response_hash(), crypto::sha256(as_bytes(wire)));
}

TEST(ResponseInspector, PlaintextWhereCiphertextIsDueFailsClosed) {
  const sealed_exchange x;
  response_inspector whole(opts(false, &x.client));
  std::string out;
  ASSERT_TRUE(whole.feed(json_answer, out));
  EXPECT_FALSE(whole.finish(out));
  ASSERT_TRUE(whole.failed());
  EXPECT_EQ(whole.failed()->code, "e2ee_decryption_failed");
  EXPECT_EQ(whole.failed()->message.find("hello there"), std::string::npos);  // never the value

  response_inspector stream(opts(true, &x.client));
  out.clear();
  EXPECT_FALSE(stream.feed(stream_of({"leaked"}), out));
  EXPECT_EQ(stream.failed()->code, "e2ee_decryption_failed");
  EXPECT_EQ(out.find("leaked"), std::string::npos);
  EXPECT_FALSE(stream.feed("data: [DONE]\n\n", out));  // nothing more once failed
}

TEST(ResponseInspector, ErrorEventsAndCommentsPassWhileSealed) {
  const sealed_exchange x;
  response_inspector in(opts(true, &x.client));
  std::string out;
  const std::string events = ": keep-alive\n\nevent: error\ndata: {\"error\":{\"message\":\"boom\"}}\n\n";
  ASSERT_TRUE(in.feed(events, out));
  EXPECT_EQ(out, events);
  out.clear();
  EXPECT_FALSE(in.feed("data: not json\n\n", out));
  EXPECT_EQ(in.failed()->code, "response_malformed");
}

}  // namespace
}  // namespace vp::proxy
