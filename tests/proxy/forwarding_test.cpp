#include "proxy/forwarding.hpp"

#include <gtest/gtest.h>

namespace vp::proxy {
namespace {

TEST(ProxyForwarding, ConnectionTokensAreTrimmedViewsBeyondTheHopByHopNames) {
  const std::string value = " keep-alive ,X-Foo,, Upgrade, close";
  std::vector<std::string_view> tokens;
  add_connection_tokens(value, tokens);
  EXPECT_EQ(tokens, (std::vector<std::string_view>{"X-Foo", "close"}));
  EXPECT_EQ(tokens[0].data(), value.data() + 13);
  add_connection_tokens("X-Bar", tokens);  // a second Connection field adds to the first's
  EXPECT_EQ(tokens.size(), 3U);
  tokens.clear();
  add_connection_tokens("", tokens);
  add_connection_tokens(" , ,", tokens);
  add_connection_tokens("Keep-Alive, TE", tokens);
  EXPECT_TRUE(tokens.empty());
}

TEST(ProxyForwarding, HopByHopFieldsStayOnThisHop) {
  for (const char* name : {"Connection", "keep-alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                           "Proxy-Authorization", "Proxy-Connection", "proxy-authenticate"}) {
    EXPECT_TRUE(is_hop_by_hop(name)) << name;
    EXPECT_FALSE(forward_request_field(name, {})) << name;
    EXPECT_FALSE(forward_response_field(name, {})) << name;
  }
  EXPECT_FALSE(is_hop_by_hop("Authorization"));
  EXPECT_FALSE(is_hop_by_hop("Trailers"));  // not Trailer
}

TEST(ProxyForwarding, RequestFieldsTheProxyOwnsAreNotCopied) {
  EXPECT_FALSE(forward_request_field("X-Backend-Domain", {}));
  EXPECT_FALSE(forward_request_field("x-backend-domain", {}));
  EXPECT_FALSE(forward_request_field("Host", {}));
  EXPECT_FALSE(forward_request_field("Content-Length", {}));
  EXPECT_FALSE(forward_request_field("Expect", {}));
  EXPECT_TRUE(forward_request_field("Authorization", {}));
  EXPECT_TRUE(forward_request_field("Content-Type", {}));
  EXPECT_TRUE(forward_request_field("OpenAI-Organization", {}));
}

TEST(ProxyForwarding, FieldsNamedByConnectionAreHopByHop) {
  std::vector<std::string_view> tokens;
  add_connection_tokens("close, X-Session-Hint", tokens);
  EXPECT_FALSE(forward_request_field("x-session-hint", tokens));
  EXPECT_FALSE(forward_response_field("X-Session-Hint", tokens));
  EXPECT_TRUE(forward_request_field("X-Other", tokens));
  EXPECT_TRUE(named_by_connection("X-SESSION-HINT", tokens));
  EXPECT_FALSE(named_by_connection("X-Session", tokens));
}

TEST(ProxyForwarding, ResponseFramingIsRederived) {
  EXPECT_FALSE(forward_response_field("Content-Length", {}));
  EXPECT_TRUE(forward_response_field("Content-Type", {}));
  EXPECT_TRUE(forward_response_field("x-request-id", {}));
}

TEST(ProxyForwarding, PathWithoutQuery) {
  EXPECT_EQ(path_without_query("/v1/chat/completions?api-key=secret"), "/v1/chat/completions");
  EXPECT_EQ(path_without_query("/v1/models"), "/v1/models");
  EXPECT_EQ(path_without_query("/a#frag"), "/a");
}

TEST(ProxyConnectTo, ParsesCurlSyntax) {
  std::string error;
  const auto r = parse_connect_to("GLM.completions.near.ai:443:127.0.0.1:8443", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->host, "glm.completions.near.ai");
  EXPECT_EQ(r->port, 443);
  EXPECT_EQ(r->address, "127.0.0.1");
  EXPECT_EQ(r->address_port, 8443);

  const auto v6 = parse_connect_to("a.example:443:[::1]:9000", error);
  ASSERT_TRUE(v6) << error;
  EXPECT_EQ(v6->address, "::1");
  EXPECT_EQ(v6->address_port, 9000);

  const auto any = parse_connect_to("::localhost:1234", error);
  ASSERT_TRUE(any) << error;
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 0);
}

TEST(ProxyConnectTo, RejectsMalformedRules) {
  std::string error;
  for (const char* bad : {"", "host", "host:443", "host:443:addr", "host:x:addr:1", "host:443:addr:0",
                          "host:443:addr:70000", "host:443::1", "host:443:[::1:1",
                          "bad host:443:addr:1", "a..b:443:addr:1"}) {
    EXPECT_FALSE(parse_connect_to(bad, error)) << bad;
    EXPECT_NE(error.find("--connect-to"), std::string::npos);
  }
}

TEST(ProxyConnectTo, FirstMatchingRuleWins) {
  std::string error;
  std::vector<connect_to_rule> rules = {*parse_connect_to("a.example:443:10.0.0.1:1", error),
                                        *parse_connect_to(":443:10.0.0.2:2", error)};
  ASSERT_NE(find_connect_to(rules, "A.example", 443), nullptr);
  EXPECT_EQ(find_connect_to(rules, "A.example", 443)->address, "10.0.0.1");
  EXPECT_EQ(find_connect_to(rules, "b.example", 443)->address, "10.0.0.2");
  EXPECT_EQ(find_connect_to(rules, "b.example", 8443), nullptr);
}

TEST(ProxyForwarding, TargetsReachTheBackendInOriginFormOnly) {
  std::string error;
  EXPECT_EQ(origin_form_target("POST", "/v1/chat/completions?x=1", error), "/v1/chat/completions?x=1");
  EXPECT_EQ(origin_form_target("POST", "http://evil.example.com/v1/chat?x=%20", error), "/v1/chat?x=%20");
  EXPECT_EQ(origin_form_target("GET", "https://user:pw@evil.example.com:8443", error), "/");
  EXPECT_EQ(origin_form_target("GET", "HTTP://EVIL.example.com/a", error), "/a");
  EXPECT_EQ(origin_form_target("OPTIONS", "*", error), "*");
  for (const char* bad : {"*", "evil.example.com:443", "ftp://h/x", "http:relative", "", "v1/chat", "http:///x",
                          "http://+sp:-+8~9"}) {  // found by the fuzzer: Boost.URL's rootless path after a bad port
    error.clear();
    EXPECT_FALSE(origin_form_target("GET", bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

}  // namespace
}  // namespace vp::proxy
