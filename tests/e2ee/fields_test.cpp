#include "e2ee/fields.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/hex.hpp"
#include "support/e2ee_session.hpp"

namespace vp::e2ee {
namespace {
namespace json = boost::json;

using session = test::e2ee_session;
session make_session(scheme kind) { return test::make_e2ee_session(kind); }

json::object object_of(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << text;
  EXPECT_TRUE(v.is_object());
  return v.is_object() ? std::move(v.as_object()) : json::object{};
}

std::string describe(const field_count& r) {
  return r ? std::to_string(*r) + " fields" : r.error().pointer + ": " + r.error().why;
}

/// The count of a transform that must succeed.
std::size_t fields(const field_count& r) {
  EXPECT_TRUE(r) << describe(r);
  return r ? *r : static_cast<std::size_t>(-1);
}

/// One endpoint's bodies: every covered field present (plaintext marked "SECRET"), with
/// the number of fields the transforms touch.
struct endpoint_case {
  std::string name;
  endpoint e;
  std::string request;
  std::size_t request_fields;
  std::string response;  ///< a whole response
  std::size_t response_fields;
  std::string chunk;  ///< an SSE chunk ("" where the endpoint does not stream here)
  std::size_t chunk_fields;
};

std::vector<endpoint_case> endpoint_cases() {
  return {
      {"chat", endpoint::chat_completions,
       R"({"model":"m","stream":true,"temperature":0.2,"messages":[
         {"role":"system","content":"SECRET-system"},
         {"role":"user","name":"SECRET-name","content":[{"type":"text","text":"SECRET-part"},
           {"type":"image_url","image_url":{"url":"data:image/png;base64,SECRET-image"}}]},
         {"role":"assistant","content":null,"reasoning_content":"SECRET-rc","reasoning":"SECRET-r",
          "refusal":"SECRET-refusal","audio":{"id":"audio_1","data":"SECRET-audio"},
          "tool_calls":[{"id":"call_1","type":"function",
            "function":{"name":"SECRET-fn","arguments":"{\"q\":\"SECRET-args\"}"}}],
          "function_call":{"name":"SECRET-fc","arguments":"SECRET-fcargs"}},
         {"role":"tool","tool_call_id":"call_1","content":"SECRET-tool-result"},
         {"role":"user","content":""}],
        "tools":[{"type":"function","function":{"name":"SECRET-tool","description":"SECRET-desc",
          "parameters":{"type":"object","properties":{"q":{"type":"string","description":"SECRET-param"}}}}}],
        "tool_choice":{"type":"function","function":{"name":"SECRET-choice"}},
        "function_call":{"name":"SECRET-top-fc"}})",
       17,
       R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,
         "finish_reason":"stop","message":{"role":"assistant","content":"SECRET-answer",
           "reasoning_content":"SECRET-think","reasoning":"SECRET-reason","refusal":"SECRET-no",
           "audio":{"id":"a","data":"SECRET-wav","transcript":"t"},
           "tool_calls":[{"id":"call_9","type":"function","index":0,
             "function":{"name":"SECRET-f","arguments":"SECRET-a"}}],
           "function_call":{"name":"SECRET-fcn","arguments":"SECRET-fca"}},
         "logprobs":{"content":[{"token":"SECRET-tok","logprob":-0.25,"bytes":[83,69],
             "top_logprobs":[{"token":"SECRET-alt","logprob":-2.5,"bytes":[65]},{"token":"","logprob":-3.0,"bytes":null}]}],
           "refusal":[{"token":"SECRET-rtok","logprob":-1.0,"bytes":[1],"top_logprobs":[]}]}}],
        "usage":{"prompt_tokens":3,"completion_tokens":2}})",
       15,
       R"({"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,
         "delta":{"role":"assistant","content":"SECRET-delta","reasoning_content":"SECRET-dthink",
           "tool_calls":[{"index":0,"id":"call_2","type":"function","function":{"arguments":"SECRET-frag"}}],
           "nearai_tool_result":{"output":"SECRET-out"}},
         "logprobs":{"content":[{"token":"SECRET-ctok","logprob":-0.5,"bytes":[9],"top_logprobs":[]}]},
         "finish_reason":null}]})",
       6},
      {"completions", endpoint::completions,
       R"({"model":"m","prompt":["SECRET-p1",[1,2,3],42,"SECRET-p2",""],"max_tokens":5})", 2,
       R"({"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"SECRET-completion","finish_reason":"length"},
         {"index":1,"text":"SECRET-second"}]})",
       2, R"({"id":"cmpl-1","choices":[{"index":0,"text":"SECRET-stream"}]})", 1},
      {"embeddings", endpoint::embeddings, R"({"model":"e","input":["SECRET-in1","SECRET-in2"],"encoding_format":"float"})",
       2, R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.125,-0.5,1.0]},
         {"object":"embedding","index":1,"embedding":[2.0]}],"usage":{"prompt_tokens":2}})",
       2, "", 0},
      {"images_generations", endpoint::images_generations, R"({"model":"i","prompt":"SECRET-img","n":1})", 1,
       R"({"created":1,"data":[{"b64_json":"SECRETb64","revised_prompt":"SECRET-rev"},{"b64_json":"SECRETb64two"}]})", 3,
       "", 0},
      {"images_edits", endpoint::images_edits, R"({"model":"i","prompt":"SECRET-edit"})", 1,
       R"({"data":[{"b64_json":"SECRETedited"}]})", 1, "", 0},
      {"audio_transcriptions", endpoint::audio_transcriptions, R"({"model":"w","prompt":"SECRET-hint"})", 1,
       R"({"text":"SECRET-transcript"})", 1, "", 0},
      {"rerank", endpoint::rerank,
       R"({"model":"r","query":"SECRET-q","documents":["SECRET-d1",{"text":"SECRET-d2","id":"x"}],"top_n":2})", 3,
       R"({"results":[{"index":0,"relevance_score":0.9,"document":{"text":"SECRET-doc"}},{"index":1,"relevance_score":0.1}]})",
       1, "", 0},
      {"score", endpoint::score, R"({"model":"s","text_1":"SECRET-t1","text_2":["SECRET-t2a","SECRET-t2b"]})", 3,
       R"({"score":0.75,"data":[{"index":0,"score":0.75}]})", 1, "", 0},
  };
}

class E2eeFields : public ::testing::TestWithParam<scheme> {
 protected:
  session s_ = make_session(GetParam());
};

TEST_P(E2eeFields, RequestsRoundTripForEveryEndpoint) {
  for (const endpoint_case& c : endpoint_cases()) {
    SCOPED_TRACE(c.name);
    const json::object original = object_of(c.request);
    json::object body = original;
    const field_count sealed = encrypt_request(c.e, body, s_.client);
    ASSERT_TRUE(sealed) << describe(sealed);
    EXPECT_EQ(*sealed, c.request_fields);
    // §4.7 rule 3: no covered plaintext left on the wire.
    EXPECT_EQ(json::serialize(body).find("SECRET"), std::string::npos) << json::serialize(body);
    EXPECT_NE(body, original);

    const field_count opened = decrypt_request(c.e, body, s_.server, true);
    ASSERT_TRUE(opened) << describe(opened);
    EXPECT_EQ(*opened, c.request_fields);
    EXPECT_EQ(body, original) << json::serialize(body);
  }
}

TEST_P(E2eeFields, ResponsesAndChunksRoundTripForEveryEndpoint) {
  for (const endpoint_case& c : endpoint_cases()) {
    for (const bool chunk : {false, true}) {
      const std::string& text = chunk ? c.chunk : c.response;
      if (text.empty()) continue;
      SCOPED_TRACE(c.name + (chunk ? " chunk" : " whole"));
      const json::object original = object_of(text);
      json::object body = original;
      const field_count sealed = encrypt_response(c.e, body, s_.server, true, chunk);
      ASSERT_TRUE(sealed) << describe(sealed);
      EXPECT_EQ(*sealed, chunk ? c.chunk_fields : c.response_fields);
      EXPECT_EQ(json::serialize(body).find("SECRET"), std::string::npos) << json::serialize(body);
      EXPECT_NE(body, original);

      const field_count opened = decrypt_response(c.e, body, s_.client, chunk);
      ASSERT_TRUE(opened) << describe(opened);
      EXPECT_EQ(*opened, *sealed);
      EXPECT_EQ(body, original) << json::serialize(body);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Schemes, E2eeFields, ::testing::Values(scheme::v2, scheme::ecies),
                         [](const ::testing::TestParamInfo<scheme>& p) { return std::string(to_string(p.param)); });

class E2eeFieldsV2 : public ::testing::Test {
 protected:
  std::string seal_to_client(std::string_view plaintext) { return s_.server.encrypt(plaintext).value(); }
  std::string seal_to_model(std::string_view plaintext) { return s_.client.encrypt(plaintext).value(); }

  session s_ = make_session(scheme::v2);
};

TEST_F(E2eeFieldsV2, MultimodalContentTravelsAsOneSealedJsonText) {
  json::object body = object_of(R"({"messages":[{"role":"user","content":[{"type":"text","text":"look"}]}]})");
  ASSERT_TRUE(encrypt_request(endpoint::chat_completions, body, s_.client));
  const json::value& sealed = body.at("messages").as_array()[0].at("content");
  ASSERT_TRUE(sealed.is_string());
  EXPECT_EQ(s_.server.decrypt(sealed.as_string()), R"([{"type":"text","text":"look"}])");
  ASSERT_TRUE(decrypt_request(endpoint::chat_completions, body, s_.server, false));
  EXPECT_TRUE(body.at("messages").as_array()[0].at("content").is_array());
}

TEST_F(E2eeFieldsV2, ModesAndTokenIdsPassUntouched) {
  json::object chat = object_of(R"({"messages":[{"role":"user","content":"SECRET"}],"tool_choice":"auto",
    "function_call":"none","tools":[]})");
  const json::object chat_original = chat;
  EXPECT_EQ(fields(encrypt_request(endpoint::chat_completions, chat, s_.client)), 1u);
  EXPECT_EQ(chat.at("tool_choice"), "auto");
  EXPECT_EQ(chat.at("function_call"), "none");
  ASSERT_TRUE(decrypt_request(endpoint::chat_completions, chat, s_.server, true));
  EXPECT_EQ(chat, chat_original);

  json::object tokens = object_of(R"({"input":[[1,2,3],[4]]})");
  const json::object tokens_original = tokens;
  EXPECT_EQ(fields(encrypt_request(endpoint::embeddings, tokens, s_.client)), 0u);
  EXPECT_EQ(tokens, tokens_original);
  json::object one_prompt = object_of(R"({"prompt":[5,6,7]})");
  EXPECT_EQ(fields(encrypt_request(endpoint::completions, one_prompt, s_.client)), 0u);
}

TEST_F(E2eeFieldsV2, EmptyAndNullFieldsAreNeverSealed) {
  json::object body = object_of(R"({"messages":[{"role":"user","content":""},{"role":"assistant","content":null,
    "name":""}]})");
  const json::object original = body;
  EXPECT_EQ(fields(encrypt_request(endpoint::chat_completions, body, s_.client)), 0u);
  EXPECT_EQ(body, original);
  json::object chunk = object_of(R"({"choices":[{"index":0,"delta":{"content":"","refusal":null},"logprobs":null}]})");
  const json::object chunk_original = chunk;
  EXPECT_EQ(fields(decrypt_response(endpoint::chat_completions, chunk, s_.client, true)), 0u);
  EXPECT_EQ(chunk, chunk_original);
}

TEST_F(E2eeFieldsV2, RequestFieldsOfTypesTheServerCannotTakeAreRefused) {
  json::object number = object_of(R"({"messages":[{"role":"user","content":5}]})");
  const field_count r = encrypt_request(endpoint::chat_completions, number, s_.client);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().pointer, "/messages/0/content");
  json::object bad_prompt = object_of(R"({"prompt":["ok",{"text":"SECRET"}]})");
  const field_count p = encrypt_request(endpoint::completions, bad_prompt, s_.client);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().pointer, "/prompt/1");
  json::object not_array = object_of(R"({"messages":"SECRET"})");
  const field_count m = encrypt_request(endpoint::chat_completions, not_array, s_.client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().pointer, "/messages");
  json::object bad_name = object_of(R"({"messages":[{"role":"user","name":7}]})");
  EXPECT_FALSE(encrypt_request(endpoint::chat_completions, bad_name, s_.client));
}

TEST_F(E2eeFieldsV2, PlaintextWhereCiphertextIsDueNamesThePointer) {
  // §4.7 rule 4, chunk and whole.
  json::object chunk = object_of(R"({"choices":[{"index":0,"delta":{"content":"leaked words"}}]})");
  const field_count r = decrypt_response(endpoint::chat_completions, chunk, s_.client, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().pointer, "/choices/0/delta/content");
  EXPECT_EQ(r.error().why.find("leaked"), std::string::npos);

  json::object whole = object_of(
      R"({"choices":[{"index":0,"message":{"content":")" + seal_to_client("fine") + R"(","refusal":"plain"}}]})");
  const field_count w = decrypt_response(endpoint::chat_completions, whole, s_.client, false);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().pointer, "/choices/0/message/refusal");

  json::object second_choice = object_of(R"({"choices":[{"index":0,"delta":{}},{"index":1,"delta":{"tool_calls":[
    {"index":0,"function":{"name":"plain_name"}}]}}]})");
  const field_count t = decrypt_response(endpoint::chat_completions, second_choice, s_.client, true);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().pointer, "/choices/1/delta/tool_calls/0/function/name");

  // A value sealed to someone else does not open either.
  json::object foreign = object_of(R"({"text":")" + seal_to_model("not for the client") + R"("})");
  const field_count f = decrypt_response(endpoint::audio_transcriptions, foreign, s_.client, false);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().pointer, "/text");
}

TEST_F(E2eeFieldsV2, CoveredResponseFieldsOfTheWrongTypeAreErrors) {
  json::object number = object_of(R"({"choices":[{"index":0,"message":{"content":42}}]})");
  const field_count n = decrypt_response(endpoint::chat_completions, number, s_.client, false);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().pointer, "/choices/0/message/content");

  json::object plain_embedding = object_of(R"({"data":[{"index":0,"embedding":[0.5,0.25]}]})");
  const field_count e = decrypt_response(endpoint::embeddings, plain_embedding, s_.client, false);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().pointer, "/data/0/embedding");

  json::object plain_bytes = object_of(R"({"choices":[{"index":0,"logprobs":{"content":[{"token":")" +
                                       seal_to_client("a") + R"(","bytes":[97]}]}}]})");
  const field_count b = decrypt_response(endpoint::chat_completions, plain_bytes, s_.client, false);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().pointer, "/choices/0/logprobs/content/0/bytes");

  json::object choices_object = object_of(R"({"choices":{"0":{"delta":{"content":"x"}}}})");
  EXPECT_FALSE(decrypt_response(endpoint::chat_completions, choices_object, s_.client, true));

  json::object part_string = object_of(R"({"choices":[{"index":0,"message":{"content":["plain part"]}}]})");
  const field_count p = decrypt_response(endpoint::chat_completions, part_string, s_.client, false);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().pointer, "/choices/0/message/content/0");
}

TEST_F(E2eeFieldsV2, SealedJsonTextMustBeJson) {
  json::object body = object_of(R"({"data":[{"index":0,"embedding":")" + seal_to_client("[0.5, not json") + R"("}]})");
  const field_count r = decrypt_response(endpoint::embeddings, body, s_.client, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().pointer, "/data/0/embedding");
  EXPECT_NE(r.error().why.find("not JSON"), std::string::npos);

  json::object ok = object_of(R"({"data":[{"index":0,"embedding":")" + seal_to_client("[0.5,0.25]") + R"("}]})");
  ASSERT_TRUE(decrypt_response(endpoint::embeddings, ok, s_.client, false));
  EXPECT_EQ(ok.at("data").as_array()[0].at("embedding"), (json::array{0.5, 0.25}));
}

TEST_F(E2eeFieldsV2, ChunkAndWholeResponsesReadTheirOwnMember) {
  const std::string sealed = seal_to_client("hello");
  // A chunk's delta is covered and its message is not, and the reverse for a whole response.
  json::object chunk = object_of(R"({"choices":[{"index":0,"delta":{"content":")" + sealed + R"("}}]})");
  EXPECT_EQ(fields(decrypt_response(endpoint::chat_completions, chunk, s_.client, false)), 0u);
  EXPECT_EQ(fields(decrypt_response(endpoint::chat_completions, chunk, s_.client, true)), 1u);
  EXPECT_EQ(chunk.at("choices").as_array()[0].at("delta").at("content"), "hello");

  json::object whole = object_of(R"({"choices":[{"index":0,"message":{"content":")" + sealed + R"("}}]})");
  EXPECT_EQ(fields(decrypt_response(endpoint::chat_completions, whole, s_.client, true)), 0u);
  EXPECT_EQ(fields(decrypt_response(endpoint::chat_completions, whole, s_.client, false)), 1u);

  // The tool result output is a streaming-only field.
  json::object tool = object_of(R"({"choices":[{"index":0,"delta":{"nearai_tool_result":{"output":"x"}}}]})");
  json::object tool_copy = tool;
  EXPECT_EQ(fields(encrypt_response(endpoint::chat_completions, tool, s_.server, false, false)), 0u);
  EXPECT_EQ(fields(encrypt_response(endpoint::chat_completions, tool_copy, s_.server, false, true)), 1u);
}

TEST_F(E2eeFieldsV2, ServerWithoutAllFieldsLeavesThemPlainAndTheProxyRefusesThat) {
  json::object body = object_of(R"({"choices":[{"index":0,"message":{"content":"answer","refusal":"SECRET-no"}}]})");
  EXPECT_EQ(fields(encrypt_response(endpoint::chat_completions, body, s_.server, false, false)), 1u);
  EXPECT_EQ(body.at("choices").as_array()[0].at("message").at("refusal"), "SECRET-no");
  const field_count r = decrypt_response(endpoint::chat_completions, body, s_.client, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().pointer, "/choices/0/message/refusal");
}

TEST_F(E2eeFieldsV2, StrictRequestFieldThatDoesNotDecryptIsDecryptionFailed) {
  json::object body = object_of(R"({"messages":[{"role":"user","content":"plain question"}]})");
  const field_count r = decrypt_request(endpoint::chat_completions, body, s_.server, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().pointer, "/messages/0/content");
  EXPECT_EQ(r.error().why, "Decryption failed");

  json::object plain_array = object_of(R"({"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]})");
  const field_count a = decrypt_request(endpoint::chat_completions, plain_array, s_.server, true);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().why, "Decryption failed");

  json::object documents = object_of(R"({"query":")" + seal_to_model("q") + R"(","documents":[{"text":"plain"}]})");
  const field_count d = decrypt_request(endpoint::rerank, documents, s_.server, false);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().pointer, "/documents/0/text");
}

TEST_F(E2eeFieldsV2, LenientRequestFieldsPassInPlaintext) {
  json::object body = object_of(R"({"messages":[{"role":"user","name":"bob","content":")" + seal_to_model("hi") +
                                R"("}],"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]})");
  const field_count with_all = decrypt_request(endpoint::chat_completions, body, s_.server, true);
  ASSERT_TRUE(with_all) << describe(with_all);
  EXPECT_EQ(*with_all, 1u);
  EXPECT_EQ(body.at("messages").as_array()[0].at("name"), "bob");
  EXPECT_EQ(body.at("messages").as_array()[0].at("content"), "hi");
  EXPECT_EQ(body.at("tools").as_array()[0].at("function").at("parameters"), (json::object{{"type", "object"}}));

  // Without X-Encrypt-All-Fields the server does not touch lenient fields at all.
  const std::string sealed_name = seal_to_model("alice");
  json::object sealed = object_of(R"({"messages":[{"role":"user","name":")" + sealed_name + R"("}]})");
  EXPECT_EQ(fields(decrypt_request(endpoint::chat_completions, sealed, s_.server, false)), 0u);
  EXPECT_EQ(sealed.at("messages").as_array()[0].at("name").as_string(), sealed_name);
  EXPECT_EQ(fields(decrypt_request(endpoint::chat_completions, sealed, s_.server, true)), 1u);
  EXPECT_EQ(sealed.at("messages").as_array()[0].at("name"), "alice");
}

TEST_F(E2eeFieldsV2, ScoreDataIsOpenedOnlyWhenSealed) {
  // encryption.rs seals the top-level score; data[].score comes in plaintext upstream.
  json::object upstream = object_of(R"({"score":")" + seal_to_client("0.5") + R"(","data":[{"index":0,"score":0.5}]})");
  EXPECT_EQ(fields(decrypt_response(endpoint::score, upstream, s_.client, false)), 1u);
  EXPECT_EQ(upstream.at("score"), 0.5);
  EXPECT_EQ(upstream.at("data").as_array()[0].at("score"), 0.5);

  json::object fixed = object_of(R"({"data":[{"index":0,"score":")" + seal_to_client("0.25") + R"("}]})");
  EXPECT_EQ(fields(decrypt_response(endpoint::score, fixed, s_.client, false)), 1u);
  EXPECT_EQ(fixed.at("data").as_array()[0].at("score"), 0.25);
}

TEST(E2eeEndpoints, PathsAreExactAndPostOnly) {
  EXPECT_EQ(endpoint_for("POST", "/v1/chat/completions"), endpoint::chat_completions);
  EXPECT_EQ(endpoint_for("POST", "/v1/completions"), endpoint::completions);
  EXPECT_EQ(endpoint_for("POST", "/v1/embeddings"), endpoint::embeddings);
  EXPECT_EQ(endpoint_for("POST", "/v1/images/generations"), endpoint::images_generations);
  EXPECT_EQ(endpoint_for("POST", "/v1/images/edits"), endpoint::images_edits);
  EXPECT_EQ(endpoint_for("POST", "/v1/audio/transcriptions"), endpoint::audio_transcriptions);
  EXPECT_EQ(endpoint_for("POST", "/v1/rerank"), endpoint::rerank);
  EXPECT_EQ(endpoint_for("POST", "/v1/score"), endpoint::score);
  EXPECT_FALSE(endpoint_for("GET", "/v1/chat/completions"));
  EXPECT_FALSE(endpoint_for("post", "/v1/chat/completions"));
  EXPECT_FALSE(endpoint_for("POST", "/v1/chat/completions/"));
  EXPECT_FALSE(endpoint_for("POST", "/v1/responses"));
  EXPECT_FALSE(endpoint_for("POST", "/v1/models"));
  EXPECT_EQ(to_string(endpoint::rerank), "/v1/rerank");
}

}  // namespace
}  // namespace vp::e2ee
