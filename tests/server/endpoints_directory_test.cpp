#include "server/endpoints_directory.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>

#include "support/test_http_server.hpp"

namespace vp::server {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using directory_result = boost::system::result<endpoint_list, std::string>;

constexpr const char* list_a = R"({"endpoints":[{"domain":"a.completions.near.ai","models":["model-a"]}]})";

test::scripted_response answer(unsigned status, std::string body, std::chrono::milliseconds delay = 0ms) {
  test::scripted_response r;
  r.status = status;
  r.body = std::move(body);
  r.delay = delay;
  return r;
}

/// Runs `n` concurrent get() calls to completion on `ioc`.
std::vector<directory_result> get_all(asio::io_context& ioc, endpoints_directory& directory, int n = 1) {
  std::vector<directory_result> out;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ioc, directory.get(), [&](std::exception_ptr e, directory_result r) {
      if (!e) out.push_back(std::move(r));
    });
  }
  ioc.restart();
  ioc.run_for(5s);
  return out;
}

net::http_client_options fast() {
  net::http_client_options o;
  o.connect_timeout = 2s;
  o.response_timeout = 2s;
  return o;
}

TEST(EndpointsDirectory, ConcurrentFirstCallersShareOneFetch) {
  test::test_http_server server([](const test::http_request_record&) {
    return answer(200, list_a, 100ms);
  });
  asio::io_context ioc;
  endpoints_directory directory(ioc.get_executor(), server.url("/endpoints"), 300s, fast());
  const auto results = get_all(ioc, directory, 10);
  ASSERT_EQ(results.size(), 10u);
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ((*r)->size(), 1u);
    EXPECT_EQ((*r)->front().domain, "a.completions.near.ai");
  }
  EXPECT_EQ(server.request_count("/endpoints"), 1u);
  // Fresh: no refetch within the refresh period.
  EXPECT_TRUE(get_all(ioc, directory).at(0));
  EXPECT_EQ(server.request_count("/endpoints"), 1u);
}

TEST(EndpointsDirectory, StaleListIsRefreshedAndKeptWhenTheRefreshFails) {
  std::atomic<bool> failing{false};
  test::test_http_server server([&](const test::http_request_record&) {
    if (failing) return answer(500, "down");
    return answer(200, list_a);
  });
  asio::io_context ioc;
  endpoints_directory directory(ioc.get_executor(), server.url("/endpoints"), 0s, fast());
  ASSERT_TRUE(get_all(ioc, directory).at(0));
  failing = true;
  // Stale (refresh period 0): the caller gets the last good list at once, a refresh runs.
  const auto stale = get_all(ioc, directory).at(0);
  ASSERT_TRUE(stale);
  EXPECT_EQ((*stale)->front().models, std::vector<std::string>{"model-a"});
  EXPECT_EQ(directory.fetch_count(), 2u);
  // The failed refresh kept the list.
  const auto kept = get_all(ioc, directory).at(0);
  ASSERT_TRUE(kept);
  EXPECT_EQ((*kept)->front().domain, "a.completions.near.ai");
}

TEST(EndpointsDirectory, InvalidListNeverReplacesAGoodOne) {
  std::atomic<bool> broken{false};
  test::test_http_server server([&](const test::http_request_record&) {
    return answer(200, broken ? R"({"endpoints":[{"domain":5}]})" : list_a);
  });
  asio::io_context ioc;
  endpoints_directory directory(ioc.get_executor(), server.url("/endpoints"), 0s, fast());
  ASSERT_TRUE(get_all(ioc, directory).at(0));
  broken = true;
  get_all(ioc, directory);
  const auto after = get_all(ioc, directory).at(0);
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)->front().domain, "a.completions.near.ai");
}

TEST(EndpointsDirectory, HugeTrailerIsAFailedFetchNotACrash) {
  std::atomic<bool> hostile{true};
  test::test_http_server server([&](const test::http_request_record&) {
    auto r = answer(200, list_a);
    r.chunked = true;
    if (hostile) r.trailers = {{"X-Huge", std::string(70'000, 'x')}};
    return r;
  });
  asio::io_context ioc;
  endpoints_directory directory(ioc.get_executor(), server.url("/endpoints"), 0s, fast());
  const auto refused = get_all(ioc, directory);
  ASSERT_EQ(refused.size(), 1u) << "get() did not complete";
  ASSERT_FALSE(refused[0]);
  EXPECT_NE(refused[0].error().find("trailer"), std::string::npos) << refused[0].error();
  // The same event loop goes on serving (a new directory: a failed fetch is retried only
  // after a back-off).
  hostile = false;
  endpoints_directory again(ioc.get_executor(), server.url("/endpoints"), 0s, fast());
  const auto later = get_all(ioc, again);
  ASSERT_EQ(later.size(), 1u);
  ASSERT_TRUE(later[0]) << later[0].error();
  EXPECT_EQ((*later[0])->front().domain, "a.completions.near.ai");
}

TEST(EndpointsDirectory, NoListEverObtainedIsAnErrorNamingTheUrl) {
  asio::io_context ioc;
  endpoints_directory directory(ioc.get_executor(), "http://127.0.0.1:1/endpoints", 300s, fast());
  const auto r = get_all(ioc, directory).at(0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("127.0.0.1:1"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace vp::server
