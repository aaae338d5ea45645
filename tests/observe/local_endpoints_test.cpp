// The reserved /_proxy/ prefix and the Host rule that keeps a web page from reading the
// proxy's status through DNS rebinding; the embedded status page and its CSP.

#include "observe/local_endpoints.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/base64.hpp"
#include "core/bytes.hpp"
#include "crypto/digest.hpp"
#include "observe/status_page.hpp"

namespace vp::observe {
namespace {

TEST(LocalEndpoints, ThePrefixIsReservedExactly) {
  EXPECT_TRUE(is_local_path("/_proxy"));
  EXPECT_TRUE(is_local_path("/_proxy/"));
  EXPECT_TRUE(is_local_path("/_proxy/status"));
  EXPECT_TRUE(is_local_path("/_proxy/anything/else"));
  EXPECT_FALSE(is_local_path("/_proxyx"));
  EXPECT_FALSE(is_local_path("/v1/_proxy/status"));
  EXPECT_FALSE(is_local_path("/"));

  EXPECT_EQ(find_local_endpoint("/_proxy/"), local_endpoint::page);
  EXPECT_EQ(find_local_endpoint("/_proxy"), local_endpoint::page);
  EXPECT_EQ(find_local_endpoint("/_proxy/status"), local_endpoint::status);
  EXPECT_EQ(find_local_endpoint("/_proxy/healthz"), local_endpoint::healthz);
  EXPECT_EQ(find_local_endpoint("/_proxy/metrics"), local_endpoint::metrics);
  EXPECT_EQ(find_local_endpoint("/_proxy/status/"), std::nullopt);
  EXPECT_EQ(find_local_endpoint("/_proxy/nope"), std::nullopt);
}

TEST(LocalEndpoints, LoopbackHostsAreLocal) {
  for (const char* host : {"127.0.0.1", "127.0.0.1:8080", "127.1.2.3:1", "localhost", "localhost:8080", "LocalHost",
                           "localhost.", "status.localhost:8080", "[::1]", "[::1]:8080", "[::ffff:127.0.0.1]:8080"}) {
    EXPECT_TRUE(is_local_host(host, "127.0.0.1")) << host;
  }
}

TEST(LocalEndpoints, OtherHostsAreNot) {
  for (const char* host : {"", "evil.example", "evil.example:8080", "127.0.0.1.nip.io", "localhost.evil.example",
                           "xlocalhost", "user@127.0.0.1", "10.0.0.1:8080", "[::2]", "[::ffff:10.0.0.1]",
                           "%6cocalhost", "127.0.0.1/path", "127.0.0.1:8080 extra", "0.0.0.0:8080"}) {
    EXPECT_FALSE(is_local_host(host, "127.0.0.1")) << host;
  }
}

TEST(LocalEndpoints, TheListenAddressIsLocalUnlessUnspecified) {
  EXPECT_TRUE(is_local_host("192.168.1.5:8080", "192.168.1.5"));
  EXPECT_FALSE(is_local_host("192.168.1.6:8080", "192.168.1.5"));
  EXPECT_TRUE(is_local_host("[fd00::5]:8080", "fd00::5"));
  EXPECT_FALSE(is_local_host("0.0.0.0:8080", "0.0.0.0"));
  EXPECT_FALSE(is_local_host("[::]:8080", "::"));
  EXPECT_TRUE(is_local_host("localhost:8080", "0.0.0.0"));
}

TEST(StatusPage, IsOneSelfContainedDocumentThatPollsTheStatus) {
  const std::string page(status_page_html());
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  EXPECT_NE(page.find("fetch(\"/_proxy/status\""), std::string::npos);
  // Nothing from outside: no external script, style sheet, font or image.
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  // Data goes into the DOM as text only.
  EXPECT_EQ(page.find("innerHTML"), std::string::npos);
  EXPECT_EQ(page.find("outerHTML"), std::string::npos);
  EXPECT_EQ(page.find("insertAdjacentHTML"), std::string::npos);
  EXPECT_EQ(page.find("document.write"), std::string::npos);
}

TEST(StatusPage, TheCspAllowsExactlyTheInlineScriptAndStyle) {
  const std::string page(status_page_html());
  const auto hash_of = [&](const std::string& open, const std::string& close) {
    const auto start = page.find(open) + open.size();
    const auto end = page.find(close, start);
    return "'sha256-" + base64_encode(crypto::sha256(as_bytes(std::string_view(page).substr(start, end - start)))) +
           "'";
  };
  const std::string& csp = status_page_csp();
  EXPECT_EQ(csp.rfind("default-src 'none'; ", 0), 0u) << csp;
  EXPECT_NE(csp.find("script-src " + hash_of("<script>", "</script>") + ";"), std::string::npos) << csp;
  EXPECT_NE(csp.find("style-src " + hash_of("<style>", "</style>") + ";"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe"), std::string::npos);
}

}  // namespace
}  // namespace vp::observe
