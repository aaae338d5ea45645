// The proxy's OpenAI-style error bodies: every helper's status, type and code, parsed
// back with Boost.JSON, and escaping of hostile message bytes.

#include "proxy/error_body.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

namespace vp::proxy {
namespace {

/// The parsed `error` object of `body`; fails the test unless the body is exactly
/// {"error":{…}} with message, type and code.
boost::json::object parse_error(const std::string& body) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << body;
  const auto* root = v.if_object();
  if (root == nullptr) {
    ADD_FAILURE() << "not an object: " << body;
    return {};
  }
  EXPECT_EQ(root->size(), 1u) << body;
  const auto* error = root->if_contains("error");
  if (error == nullptr || !error->is_object()) {
    ADD_FAILURE() << "no error object: " << body;
    return {};
  }
  const auto& o = error->get_object();
  EXPECT_EQ(o.size(), 3u) << body;
  EXPECT_TRUE(o.contains("message")) << body;
  EXPECT_TRUE(o.contains("type")) << body;
  EXPECT_TRUE(o.contains("code")) << body;
  return o;
}

std::string str(const boost::json::object& o, std::string_view field) {
  const auto* v = o.if_contains(field);
  if (v == nullptr || !v->is_string()) return "<not a string>";
  return std::string(v->get_string());
}

/// The parsed error object of `r`, after checking its status, retry hint, type and code.
boost::json::object expect_error(const error_response& r, unsigned status, bool retryable, std::string_view type,
                                 std::string_view code) {
  EXPECT_EQ(r.status, status);
  EXPECT_EQ(r.retryable, retryable);
  auto o = parse_error(r.body);
  EXPECT_EQ(str(o, "type"), type);
  EXPECT_EQ(str(o, "code"), code);
  return o;
}

TEST(ErrorBody, ShapeAndNullCode) {
  const auto o = parse_error(make_error_body("bad thing", "invalid_request_error"));
  EXPECT_EQ(str(o, "message"), "bad thing");
  EXPECT_EQ(str(o, "type"), "invalid_request_error");
  ASSERT_TRUE(o.contains("code"));
  EXPECT_TRUE(o.at("code").is_null());

  const auto with_code = parse_error(make_error_body("m", "t", "c"));
  EXPECT_EQ(str(with_code, "code"), "c");
}

TEST(ErrorBody, BadRequest) {
  const auto r = bad_request("no X-Backend-Domain header and no \"model\" in the body", "missing_model");
  EXPECT_EQ(r.status, 400u);
  EXPECT_FALSE(r.retryable);
  const auto o = parse_error(r.body);
  EXPECT_EQ(str(o, "message"), "no X-Backend-Domain header and no \"model\" in the body");
  EXPECT_EQ(str(o, "type"), "invalid_request_error");
  EXPECT_EQ(str(o, "code"), "missing_model");

  const auto without_code = parse_error(bad_request("bad").body);
  EXPECT_TRUE(without_code.at("code").is_null());
}

TEST(ErrorBody, DomainNotAllowed) {
  const auto r = domain_not_allowed("evil.example.com");
  EXPECT_EQ(r.status, 403u);
  EXPECT_FALSE(r.retryable);
  const auto o = parse_error(r.body);
  EXPECT_EQ(str(o, "type"), "request_forbidden");
  EXPECT_EQ(str(o, "code"), "domain_not_allowed");
  EXPECT_NE(str(o, "message").find("\"evil.example.com\""), std::string::npos) << str(o, "message");
  EXPECT_NE(str(o, "message").find("--allow-domain"), std::string::npos);
}

TEST(ErrorBody, BodyTooLarge) {
  const auto o = expect_error(body_too_large(33554432), 413, false, "invalid_request_error", "request_too_large");
  EXPECT_NE(str(o, "message").find("limit of 32MiB (see --max-body)"), std::string::npos) << str(o, "message");
}

TEST(ErrorBody, VerificationFailedCarriesTheCheck) {
  const auto r = verification_failed("tcb_revoked", "quote rejected: TCB status Revoked (INTEL-SA-00837)");
  EXPECT_EQ(r.status, 502u);
  EXPECT_FALSE(r.retryable);  // the negative cache would refuse the retry anyway
  const auto o = parse_error(r.body);
  EXPECT_EQ(str(o, "type"), "attestation_error");
  EXPECT_EQ(str(o, "code"), "tcb_revoked");
  EXPECT_EQ(str(o, "message"), "quote rejected: TCB status Revoked (INTEL-SA-00837)");

  EXPECT_EQ(str(parse_error(verification_failed("", "x").body), "code"), "verification_failed");
}

TEST(ErrorBody, BackendUnreachable) {
  const auto o = expect_error(backend_unreachable("connect to a.completions.near.ai:443: Connection refused"), 502,
                              true, "server_error", "backend_unreachable");
  EXPECT_EQ(str(o, "message"), "connect to a.completions.near.ai:443: Connection refused");
}

TEST(ErrorBody, TooManyConnections) {
  const auto o = expect_error(too_many_connections(4096), 503, true, "server_error", "too_many_connections");
  EXPECT_NE(str(o, "message").find("4096 client connections"), std::string::npos) << str(o, "message");
  EXPECT_NE(str(o, "message").find("--max-connections"), std::string::npos) << str(o, "message");
}

TEST(ErrorBody, GatewayTimeoutNamesThePhase) {
  const auto r = gateway_timeout("attestation", "no attestation report within 30 s");
  EXPECT_EQ(r.status, 504u);
  EXPECT_TRUE(r.retryable);
  const auto o = parse_error(r.body);
  EXPECT_EQ(str(o, "type"), "timeout_error");
  EXPECT_EQ(str(o, "code"), "attestation_timeout");
  EXPECT_EQ(str(o, "message"), "no attestation report within 30 s");
  EXPECT_EQ(str(parse_error(gateway_timeout("", "x").body), "code"), "timeout");
}

TEST(ErrorBody, EscapesQuotesBackslashesNewlinesAndControlBytes) {
  const std::string message = std::string("say \"hi\"\\ line1\nline2\r\ttab \x01\x1f end") + '\0' + "after nul";
  const auto r = bad_request(message);
  // Raw control bytes never appear in the body; they are escaped.
  for (const char c : r.body) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << "raw control byte in " << r.body;
  }
  EXPECT_NE(r.body.find(R"(say \"hi\"\\ line1\nline2\r\ttab \u0001\u001f end\u0000after nul)"), std::string::npos)
      << r.body;
  EXPECT_EQ(str(parse_error(r.body), "message"), message);  // round-trips exactly
}

TEST(ErrorBody, InjectionAttemptStaysInsideTheMessage) {
  const std::string message = R"(x","type":"evil","code":"pwned"},"extra":{"a":")";
  const auto o = parse_error(verification_failed("nonce_mismatch", message).body);
  EXPECT_EQ(str(o, "message"), message);
  EXPECT_EQ(str(o, "type"), "attestation_error");
  EXPECT_EQ(str(o, "code"), "nonce_mismatch");
}

TEST(ErrorBody, InvalidUtf8IsReplaced) {
  // Valid multi-byte text survives untouched.
  const std::string valid = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x92";
  EXPECT_EQ(str(parse_error(bad_request(valid).body), "message"), valid);

  const std::string fffd = "\xEF\xBF\xBD";
  const struct {
    std::string in;
    std::string out;
  } cases[] = {
      {"a\xFF" "b", "a" + fffd + "b"},                       // never valid
      {"a\xC3" "b", "a" + fffd + "b"},                       // lead byte without its trail: b survives
      {"\x80", fffd},                                        // lone continuation byte
      {"end\xE2\x82", "end" + fffd + fffd},                  // truncated at the end
      {"\xC0\xAF", fffd + fffd},                             // overlong '/'
      {"\xED\xA0\x80", fffd + fffd + fffd},                  // UTF-16 surrogate
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},       // above U+10FFFF
  };
  for (const auto& c : cases) {
    const auto r = backend_unreachable(c.in);
    boost::system::error_code ec;
    boost::json::parse(r.body, ec);  // Boost.JSON's parser rejects invalid UTF-8
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(str(parse_error(r.body), "message"), c.out);
  }

  // The code field is sanitised too (it may come from a caller).
  EXPECT_EQ(str(parse_error(verification_failed("bad\xFF", "m").body), "code"), "bad" + fffd);
}

TEST(ErrorBody, ErrorCodeOfReadsCodeThenType) {
  EXPECT_EQ(error_code_of(R"({"error":{"message":"m","type":"NoPubKeyProvider","code":"NoPubKeyProvider"}})"),
            "NoPubKeyProvider");
  EXPECT_EQ(error_code_of(R"({"error":{"message":"m","type":"server_error","code":null}})"), "server_error");
  for (const char* not_one : {"", "not json", "[]", R"({"error":"x"})", R"({"error":{"code":5}})", R"({"detail":1})"}) {
    EXPECT_EQ(error_code_of(not_one), "") << not_one;
  }
}

TEST(ErrorBody, AnUnauthorizedReportRequestIsTheClientsToFix) {
  const auto r = refusal_response(failure{"attestation_unauthorized", failure_phase::exchange, "401", {}, false},
                                  "cloud-api.near.ai (model m)");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.code, "attestation_unauthorized");
  EXPECT_FALSE(r.retryable);
  EXPECT_EQ(str(parse_error(r.body), "message"),
            "Nothing was sent to cloud-api.near.ai (model m): it refused the attestation request for the client's API "
            "key (401); check the key the client sends");
}

// What the layers below compose ("attesting HOST: CODE: report: quote rejected: CODE: …")
// reaches the client as one sentence that says each thing once.
TEST(ErrorBody, ARefusalIsOneSentenceSayingNothingWasSent) {
  const failure debug{"debug_td", failure_phase::quote,
                      "attesting a.completions.near.ai: debug_td: report: quote rejected: debug_td: TD attributes "
                      "0100001000000000 have the DEBUG bit set",
                      {}, true};
  const auto r = refusal_response(debug, "a.completions.near.ai");
  EXPECT_EQ(r.status, 502u);
  EXPECT_FALSE(r.retryable);
  const auto o = parse_error(r.body);
  EXPECT_EQ(str(o, "code"), "debug_td");
  EXPECT_EQ(str(o, "message"),
            "Nothing was sent to a.completions.near.ai: its Intel TDX quote failed the debug_td check (TD attributes "
            "0100001000000000 have the DEBUG bit set); it stays refused while it presents this evidence, so retrying "
            "will not help");

  const failure app_id{"app_id", failure_phase::policy,
                       "/model_attestations/0: workload policy 'nearai': app_id: 0xab is not the pinned app id.",
                       "/model_attestations/0", true};
  EXPECT_EQ(refusal_message(app_id, "cloud-api.near.ai (model m)"),
            "Nothing was sent to cloud-api.near.ai (model m): its attestation at /model_attestations/0 failed the "
            "app_id check of workload policy 'nearai' (0xab is not the pinned app id); it stays refused while it presents this "
            "evidence, so retrying will not help");

  // Our own evidence source being down is retryable and said to be ours.
  const failure collateral{"collateral_unavailable", failure_phase::collateral,
                           "collateral_unavailable: no collateral for platform 00806F050000/platform: PCCS down", {},
                           false};
  const auto c = refusal_response(collateral, "a.completions.near.ai");
  EXPECT_TRUE(c.retryable);
  EXPECT_EQ(str(parse_error(c.body), "message"),
            "Nothing was sent to a.completions.near.ai: Intel's collateral for its platform could not be obtained (no "
            "collateral for platform 00806F050000/platform: PCCS down); that is on this side, not a verdict about the "
            "backend: retry shortly");

  const auto t = refusal_response(failure{"tls_timeout", failure_phase::tls, "attesting a: TLS handshake took over 10s",
                                          {}, false},
                                  "a");
  EXPECT_EQ(t.status, 504u);
  EXPECT_TRUE(t.retryable);
  EXPECT_EQ(str(parse_error(t.body), "message"), "Nothing was sent to a: TLS handshake took over 10s; retrying may succeed");
}

}  // namespace
}  // namespace vp::proxy
