// The collateral cache with a scripted upstream, synthetic collateral and an injected
// clock: hits, expiry, refresh-ahead, failure handling, disk persistence, single flight.

#include "collateral/cache.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "collateral/bundle.hpp"
#include "testpki/test_pki.hpp"

namespace vp::collateral {
namespace {

namespace asio = boost::asio;
using test::default_time;

const test::test_pki& pki() {
  static const test::test_pki instance;
  return instance;
}

std::shared_ptr<const tdx::trust_anchor> anchor() {
  static const auto a = *tdx::load_trust_anchor(pki().root_der());
  return a;
}

const platform_key key{test::default_fmspc, tdx::pck_ca_type::platform};

/// An upstream that serves synthetic collateral (or an error) and counts calls; it can
/// take a while to answer, like a network source.
class scripted_source final : public source {
 public:
  scripted_source(asio::any_io_executor ex, const clock& clock) : executor_(std::move(ex)), clock_(clock) {}
  asio::awaitable<result<verified_collateral>> get(platform_key k) override {
    ++calls;
    if (delay.count() > 0) {
      asio::steady_timer t(executor_, delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (fail) co_return error{errc::unavailable, "upstream down"};
    co_return accept(pki().collateral(spec), k, *anchor(), clock_.now(), 0, "scripted");
  }
  int calls = 0;
  bool fail = false;
  std::chrono::milliseconds delay{0};
  test::collateral_spec spec;

 private:
  asio::any_io_executor executor_;
  const clock& clock_;
};

class CollateralCache : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("vp-cache-test-" + std::to_string(::getpid()) + "-" + testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    upstream_ = std::make_shared<scripted_source>(io_.get_executor(), clock_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::shared_ptr<cached_source> make_cache(bool on_disk = true) {
    cache_options options;
    if (on_disk) options.directory = dir_;
    return std::make_shared<cached_source>(io_.get_executor(), upstream_, options, anchor(), clock_);
  }

  result<verified_collateral> get(cached_source& cache) {
    std::optional<result<verified_collateral>> out;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { out = co_await cache.get(key); }, asio::detached);
    io_.restart();
    io_.run_for(std::chrono::seconds(10));
    EXPECT_TRUE(out.has_value());
    return out ? *out : result<verified_collateral>(error{errc::unavailable, "did not finish"});
  }

  void drain() {
    io_.restart();
    io_.run_for(std::chrono::seconds(10));
  }

  asio::io_context io_;
  fixed_clock clock_{default_time};
  std::filesystem::path dir_;
  std::shared_ptr<scripted_source> upstream_;
};

// The synthetic collateral's window: every part is valid from 2025-12-20 to 2026-01-19.
const unix_time window_start = test::utc_date(2025, 12, 20);
const unix_time window_end = test::utc_date(2026, 1, 19);

TEST_F(CollateralCache, FetchesOnceThenServesFromMemory) {
  auto cache = make_cache(false);
  clock_.set(window_start + std::chrono::hours(24));
  ASSERT_TRUE(get(*cache));
  ASSERT_TRUE(get(*cache));
  ASSERT_TRUE(get(*cache));
  EXPECT_EQ(upstream_->calls, 1);
  EXPECT_EQ(cache->upstream_fetches(), 1u);
}

TEST_F(CollateralCache, RefetchesAfterExpiryAndNeverServesExpiredCollateral) {
  auto cache = make_cache(false);
  clock_.set(window_start + std::chrono::hours(24));
  ASSERT_TRUE(get(*cache));
  clock_.set(window_end + std::chrono::seconds(1));
  // Upstream still serves the same (now expired) collateral: rejected, not cached.
  const auto r = get(*cache);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, errc::expired) << r.error().message;
  EXPECT_EQ(upstream_->calls, 2);
  // With fresh collateral upstream, the next request succeeds.
  upstream_->spec.tcb_info.issue_date = window_end;
  upstream_->spec.tcb_info.next_update = window_end + std::chrono::hours(24 * 30);
  upstream_->spec.qe_identity.issue_date = window_end;
  upstream_->spec.qe_identity.next_update = window_end + std::chrono::hours(24 * 30);
  upstream_->spec.pck_crl.this_update = window_end;
  upstream_->spec.pck_crl.next_update = window_end + std::chrono::hours(24 * 30);
  const auto fresh = get(*cache);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_GT(fresh->summary.valid_until, clock_.now());
}

TEST_F(CollateralCache, ExactlyAtExpiryIsStillValid) {
  auto cache = make_cache(false);
  clock_.set(window_start + std::chrono::hours(1));
  ASSERT_TRUE(get(*cache));
  upstream_->fail = true;
  clock_.set(window_end);
  EXPECT_TRUE(get(*cache));
}

TEST_F(CollateralCache, RefreshesAheadOfExpiryInTheBackground) {
  auto cache = make_cache(false);
  clock_.set(window_start + std::chrono::hours(1));
  ASSERT_TRUE(get(*cache));
  EXPECT_EQ(upstream_->calls, 1);
  // Past 75 % of the 30-day window: served from cache at once, refreshed behind it.
  clock_.set(window_start + std::chrono::hours(24 * 23));
  ASSERT_TRUE(get(*cache));
  drain();
  EXPECT_EQ(upstream_->calls, 2);
}

TEST_F(CollateralCache, FailedRefreshKeepsTheValidCopyAndBacksOff) {
  auto cache = make_cache(false);
  clock_.set(window_start + std::chrono::hours(1));
  ASSERT_TRUE(get(*cache));
  upstream_->fail = true;
  clock_.set(window_start + std::chrono::hours(24 * 25));
  ASSERT_TRUE(get(*cache));  // triggers a refresh that fails
  drain();
  EXPECT_EQ(upstream_->calls, 2);
  ASSERT_TRUE(get(*cache));  // still valid, and no new attempt within the back-off
  drain();
  EXPECT_EQ(upstream_->calls, 2);
  clock_.advance(std::chrono::seconds(301));
  ASSERT_TRUE(get(*cache));
  drain();
  EXPECT_EQ(upstream_->calls, 3);
  // Once the copy expires and upstream is still down: an expiry error, never stale data.
  clock_.set(window_end + std::chrono::seconds(1));
  const auto r = get(*cache);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, errc::expired);
  EXPECT_NE(r.error().message.find("could not be refreshed"), std::string::npos) << r.error().message;
}

TEST_F(CollateralCache, PersistsToDiskWithMode0600AndReloadsWithoutFetching) {
  clock_.set(window_start + std::chrono::hours(1));
  {
    auto cache = make_cache();
    ASSERT_TRUE(get(*cache));
    struct stat st {};
    ASSERT_EQ(::stat(cache->file_for(key).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  auto second = make_cache();
  ASSERT_TRUE(get(*second));
  EXPECT_EQ(second->upstream_fetches(), 0u);
  EXPECT_EQ(upstream_->calls, 1);
}

TEST_F(CollateralCache, CorruptOrTruncatedFilesAreRefetchedNotTrusted) {
  clock_.set(window_start + std::chrono::hours(1));
  auto cache = make_cache();
  ASSERT_TRUE(get(*cache));
  const auto path = cache->file_for(key);
  const std::string good = [&] {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  const std::vector<std::string> bad = {
      good.substr(0, good.size() / 2),  // truncated
      std::string{},                    // empty
      [&] {                             // one byte of the signed TCB info changed
        std::string s = good;
        s[s.find("\"tcbEvaluationDataNumber\\\":") + 28] ^= 1;
        return s;
      }(),
  };
  int expected_calls = 1;
  for (const auto& content : bad) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    auto fresh = make_cache();
    const auto r = get(*fresh);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(fresh->upstream_fetches(), 1u);
    EXPECT_EQ(upstream_->calls, ++expected_calls);
  }
}

TEST_F(CollateralCache, FiftyConcurrentRequestsShareOneFetch) {
  auto cache = make_cache();
  clock_.set(window_start + std::chrono::hours(1));
  upstream_->delay = std::chrono::milliseconds(50);
  int ok = 0;
  for (int i = 0; i < 50; ++i) {
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { ok += (co_await cache->get(key)).has_value() ? 1 : 0; }, asio::detached);
  }
  drain();
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(upstream_->calls, 1);
}

TEST_F(CollateralCache, ConcurrentRequestsShareOneFailureToo) {
  auto cache = make_cache(false);
  clock_.set(window_start + std::chrono::hours(1));
  upstream_->delay = std::chrono::milliseconds(20);
  upstream_->fail = true;
  int failed = 0;
  for (int i = 0; i < 10; ++i) {
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { failed += (co_await cache->get(key)).has_value() ? 0 : 1; },
        asio::detached);
  }
  drain();
  EXPECT_EQ(failed, 10);
  EXPECT_EQ(upstream_->calls, 1);
}

TEST(CollateralCacheDirectory, FollowsXdgCacheHome) {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  ::setenv("XDG_CACHE_HOME", "xdg-cache-home", 1);
  EXPECT_EQ(default_cache_directory(), std::filesystem::path("xdg-cache-home/verified-proxy/collateral"));
  ::unsetenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (home != nullptr) {
    EXPECT_EQ(default_cache_directory(), std::filesystem::path(home) / ".cache/verified-proxy/collateral");
  }
  if (old_xdg) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

}  // namespace
}  // namespace vp::collateral
