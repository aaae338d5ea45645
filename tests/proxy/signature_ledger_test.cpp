#include "proxy/signature_ledger.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace vp::proxy {
namespace {

TEST(SignatureLedger, AnswersWithTheBackendsJsonAndTheVerdictAndForgetsTheOldest) {
  signature_ledger ledger(2);
  ledger.record("a", {"b.example", R"({"text":"t","signature":"s"})", "valid", "", "ok", "v2", "11", "22"});
  ledger.record("b", {"b.example", "", "unavailable", "signature_unavailable", "404", "none", "", ""});
  auto answer = ledger.answer("a");
  ASSERT_TRUE(answer);
  const auto v = boost::json::parse(*answer).as_object();
  EXPECT_EQ(v.at("text"), "t");
  EXPECT_EQ(v.at("verified_proxy").at("status"), "valid");
  EXPECT_EQ(v.at("verified_proxy").at("e2ee"), "v2");
  EXPECT_TRUE(v.at("verified_proxy").at("failed_check").is_null());
  ledger.record("c", {});
  EXPECT_FALSE(ledger.answer("a"));
  EXPECT_TRUE(ledger.answer("b"));
  EXPECT_EQ(ledger.size(), 2u);
  EXPECT_EQ(signature_lookup_id("/v1/signature/chatcmpl-1"), "chatcmpl-1");
  EXPECT_EQ(signature_lookup_id("/v1/signature/a/b"), "");
  EXPECT_EQ(signature_lookup_id("/v1/signatures/a"), "");
}

}  // namespace
}  // namespace vp::proxy
