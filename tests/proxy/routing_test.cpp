#include "proxy/routing.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace vp::proxy {
namespace {

constexpr std::string_view sample = R"({"endpoints":[
  {"domain":"glm-5.completions.near.ai","models":["zai-org/GLM-5-FP8"]},
  {"domain":"QWEN35-122B.completions.near.ai.","models":["Qwen/Qwen3.5-122B-A10B","zai-org/GLM-5-FP8"],"extra":1}
]})";

TEST(Endpoints, ParsesTheDiscoveryList) {
  std::string error;
  const auto list = parse_endpoints(sample, error);
  ASSERT_TRUE(list) << error;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].domain, "qwen35-122b.completions.near.ai");  // normalised
  EXPECT_EQ(domain_for_model(*list, "Qwen/Qwen3.5-122B-A10B"), "qwen35-122b.completions.near.ai");
  EXPECT_EQ(domain_for_model(*list, "zai-org/GLM-5-FP8"), "glm-5.completions.near.ai");  // first wins
  EXPECT_FALSE(domain_for_model(*list, "qwen/qwen3.5-122b-a10b"));                       // ids are exact
}

TEST(Endpoints, RejectsMalformedListsWhole) {
  std::string error;
  for (const char* bad : {"", "[]", "{}", R"({"endpoints":{}})", R"({"endpoints":[{"domain":"a.b"}]})",
                          R"({"endpoints":[{"domain":5,"models":[]}]})",
                          R"({"endpoints":[{"domain":"a.b","models":[1]}]})",
                          R"({"endpoints":[{"domain":"a.b","models":[""]}]})",
                          R"({"endpoints":[{"domain":"10.0.0.1","models":[]}]})",
                          R"({"endpoints":[{"domain":"a b.c","models":[]}]})",
                          R"({"endpoints":[{"domain":"evil.com:443","models":[]}]})"}) {
    EXPECT_FALSE(parse_endpoints(bad, error)) << bad;
    EXPECT_FALSE(error.empty());
  }
  endpoints_limits tiny;
  tiny.max_models = 2;
  EXPECT_FALSE(parse_endpoints(sample, error, tiny));
  EXPECT_NE(error.find("more than 2 models"), std::string::npos) << error;
  tiny = {};
  tiny.max_body = 10;
  EXPECT_FALSE(parse_endpoints(sample, error, tiny));
}

TEST(DomainAllowlist, PatternsAreHostsOrOneWildcardLabel) {
  for (const char* good : {"cloud-api.near.ai", "*.completions.near.ai", "A.Example."}) EXPECT_TRUE(is_host_pattern(good));
  for (const char* bad : {"", "*.", "*", "**.a.b", "a.*.b", "https://a.example", "a.example:443", "10.0.0.1", "a b"}) {
    EXPECT_FALSE(is_host_pattern(bad)) << bad;
  }
}

TEST(DomainAllowlist, WildcardMatchesExactlyOneLabel) {
  const domain_allowlist allow({"*.completions.near.ai", "Exact.Example.org"});
  EXPECT_TRUE(allow.allows("glm-5.completions.near.ai"));
  EXPECT_TRUE(allow.allows("GLM-5.Completions.Near.AI."));
  EXPECT_TRUE(allow.allows("exact.example.org"));
  EXPECT_FALSE(allow.allows("completions.near.ai"));
  EXPECT_FALSE(allow.allows("a.b.completions.near.ai"));
  EXPECT_FALSE(allow.allows("evilcompletions.near.ai"));
  EXPECT_FALSE(allow.allows("glm-5.completions.near.ai.evil.com"));
  EXPECT_FALSE(allow.allows("glm-5.completions.near.ai:443"));
  EXPECT_FALSE(allow.allows("user@glm-5.completions.near.ai"));
  EXPECT_FALSE(allow.allows("sub.exact.example.org"));
  EXPECT_FALSE(allow.allows("127.0.0.1"));
  EXPECT_FALSE(allow.allows(""));
  EXPECT_FALSE(domain_allowlist({}).allows("glm-5.completions.near.ai"));
}

TEST(DomainAllowlist, ANormalizedHostMatchesTheSameWay) {
  const domain_allowlist allow({"*.completions.near.ai", "exact.example.org"});
  EXPECT_TRUE(allow.allows_normalized("glm-5.completions.near.ai"));
  EXPECT_TRUE(allow.allows_normalized("exact.example.org"));
  EXPECT_FALSE(allow.allows_normalized("a.b.completions.near.ai"));
  EXPECT_FALSE(allow.allows_normalized("evilcompletions.near.ai"));
  EXPECT_FALSE(allow.allows_normalized("sub.exact.example.org"));
}

TEST(NormalizeHost, OnlyDnsNames) {
  EXPECT_EQ(normalize_host("A-b.C0m."), "a-b.c0m");
  EXPECT_FALSE(normalize_host("-a.com"));
  EXPECT_FALSE(normalize_host("a-.com"));
  EXPECT_FALSE(normalize_host("a..com"));
  EXPECT_FALSE(normalize_host("[::1]"));
  EXPECT_FALSE(normalize_host("1.2.3.4"));
  EXPECT_FALSE(normalize_host(std::string(64, 'a') + ".com"));
  EXPECT_TRUE(normalize_host(std::string(63, 'a') + ".com"));
  EXPECT_FALSE(normalize_host("caf\xc3\xa9.com"));
}

TEST(ModelOfRequest, ReadsTheModelField) {
  EXPECT_EQ(model_of_request(R"({"model":"m","messages":[]})"), "m");
  EXPECT_FALSE(model_of_request(R"({"messages":[]})"));
  EXPECT_FALSE(model_of_request(R"({"model":5})"));
  EXPECT_FALSE(model_of_request("[1]"));
  EXPECT_FALSE(model_of_request("not json"));
  EXPECT_FALSE(model_of_request(""));
}

TEST(ModelsList, OpenAiListFormatWithEachIdOnce) {
  std::string error;
  const auto list = parse_endpoints(sample, error);
  ASSERT_TRUE(list);
  const auto o = models_list(*list, unix_time{std::chrono::seconds{1'780'000'000}});
  EXPECT_EQ(o.at("object"), "list");
  const auto& data = o.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].at("id"), "zai-org/GLM-5-FP8");
  EXPECT_EQ(data[0].at("object"), "model");
  EXPECT_EQ(data[0].at("owned_by"), "near-ai");
  EXPECT_EQ(data[0].at("created"), 1'780'000'000);
  EXPECT_EQ(data[1].at("id"), "Qwen/Qwen3.5-122B-A10B");
  EXPECT_EQ(data[1].at("created"), 1'780'000'000);
}

TEST(ProxyRouting, RequestModelIsReadInOnePassWithEveryAmbiguityNamed) {
  using outcome = model_lookup::outcome;
  const auto result = [](std::string_view body) { return find_request_model(body).result; };
  EXPECT_EQ(find_request_model(R"({"messages":[{"model":"inner"}],"model":"m"})").model, "m");
  EXPECT_EQ(result(R"({"model":"a","model":"b"})"), outcome::ambiguous);
  EXPECT_EQ(result(R"({"model":"a","model":5})"), outcome::ambiguous);
  EXPECT_EQ(result(R"({"model":{"model":"x"}})"), outcome::not_string);
  EXPECT_EQ(result(R"({"messages":[{"model":"inner"}]})"), outcome::missing);  // only the top level routes
  EXPECT_EQ(result(R"([{"model":"m"}])"), outcome::missing);
  EXPECT_EQ(result(R"("model")"), outcome::missing);
  EXPECT_EQ(result(R"({"model":"m"} {"model":"n"})"), outcome::not_json);  // a second value after the first
  EXPECT_EQ(result(R"({"model":"m"} )"), outcome::found);
  EXPECT_EQ(result(R"({"model":"m")"), outcome::not_json);
  EXPECT_EQ(result(""), outcome::not_json);
  EXPECT_FALSE(find_request_model("{").detail.empty());
}

TEST(ProxyRouting, RequestJsonIsBoundedInDepthNotAtBoostsDefault) {
  using outcome = model_lookup::outcome;
  const auto nested = [](std::size_t levels) {
    return R"({"model":"m","x":)" + std::string(levels, '[') + std::string(levels, ']') + "}";
  };
  EXPECT_EQ(find_request_model(nested(64)).result, outcome::found);  // Boost.JSON's DOM default stops at 32
  EXPECT_EQ(find_request_model(nested(max_request_json_depth - 1)).result, outcome::found);
  EXPECT_EQ(find_request_model(nested(max_request_json_depth)).result, outcome::too_deep);
  EXPECT_EQ(find_request_model(std::string(100'000, '[')).result, outcome::too_deep);
}

TEST(ProxyRouting, ModelSplitAcrossEscapesIsReadWhole) {
  const auto lookup = find_request_model(R"({"mo\u0064el":"sim\u002dmodel"})");
  EXPECT_EQ(lookup.result, model_lookup::outcome::found);
  EXPECT_EQ(lookup.model, "sim-model");
}

TEST(ModelList, MapsEveryGatewayModelToTheGatewayHost) {
  std::string error;
  const auto list = parse_model_list(
      R"({"object":"list","data":[{"id":"openai/gpt-oss-120b","object":"model","created":1,"owned_by":"near"},)"
      R"({"id":"zai-org/GLM-5-FP8","extra":{}}]})",
      "cloud-api.near.ai", error);
  ASSERT_TRUE(list) << error;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(domain_for_model(*list, "openai/gpt-oss-120b"), "cloud-api.near.ai");
  EXPECT_EQ(domain_for_model(*list, "zai-org/GLM-5-FP8"), "cloud-api.near.ai");
  EXPECT_FALSE(domain_for_model(*list, "other"));
}

TEST(ModelList, RejectsMalformedListsWhole) {
  std::string error;
  for (const char* bad : {"", "[]", "{}", R"({"data":{}})", R"({"data":[{"name":"m"}]})", R"({"data":[{"id":5}]})",
                          R"({"data":[{"id":""}]})", R"({"data":["m"]})"}) {
    EXPECT_FALSE(parse_model_list(bad, "gw.example", error)) << bad;
    EXPECT_FALSE(error.empty());
  }
  endpoints_limits tiny;
  tiny.max_models = 1;
  EXPECT_FALSE(parse_model_list(R"({"data":[{"id":"a"},{"id":"b"}]})", "gw.example", error, tiny));
  EXPECT_NE(error.find("over the limit of 1"), std::string::npos) << error;
}

}  // namespace
}  // namespace vp::proxy
