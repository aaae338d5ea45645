// The attestation verdict cache with an injected clock: ttl and collateral expiry at
// their exact boundaries, several fingerprints per domain, rotation, the negative cache,
// replacement in both directions, size bounds and invalidation.

#include "appraise/verdict_cache.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vp::appraise {
namespace {

using std::chrono::seconds;

const unix_time t0 = from_unix_seconds(1'760'000'000);
constexpr std::string_view domain = "glm-5.completions.near.ai";
const std::string fp_a(64, 'a');
const std::string fp_b(64, 'b');
const std::string fp_c(64, 'c');

/// A verdict whose collateral stays valid for a day (well past the default ttl).
attested_backend backend(unix_time not_after = t0 + seconds{86400}, std::string tcb = "UpToDate") {
  return attested_backend{std::move(tcb), {"INTEL-SA-00837"}, "0x1234", not_after};
}

vp::failure nonce_failure(std::string message = "report_data[32:64] != nonce") {
  return vp::failure{"nonce_mismatch", failure_phase::binding, std::move(message), "", true};
}

bool hits(verdict_cache& cache, std::string_view fp, unix_time now, std::string_view d = domain) {
  return std::holds_alternative<verified_entry>(cache.lookup(d, fp, now));
}

bool fails(verdict_cache& cache, std::string_view fp, unix_time now, std::string_view d = domain) {
  return std::holds_alternative<failed_entry>(cache.lookup(d, fp, now));
}

bool absent(verdict_cache& cache, std::string_view fp, unix_time now, std::string_view d = domain) {
  return std::holds_alternative<std::monostate>(cache.lookup(d, fp, now));
}

TEST(VerdictCache, UnknownKeyIsAbsent) {
  verdict_cache cache;
  fixed_clock clock(t0);
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
  EXPECT_FALSE(cache.is_verified(domain, fp_a, clock.now()));
}

TEST(VerdictCache, HitReturnsTheVerdict) {
  verdict_cache cache;
  fixed_clock clock(t0);
  ASSERT_EQ(cache.remember_verified(domain, fp_a, backend(), clock.now()), t0 + seconds{3600});
  clock.advance(seconds{10});
  const auto v = cache.lookup(domain, fp_a, clock.now());
  const auto* hit = std::get_if<verified_entry>(&v);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->backend.tcb_status, "UpToDate");
  EXPECT_EQ(hit->backend.signing_address, "0x1234");
  ASSERT_EQ(hit->backend.advisory_ids.size(), 1u);
  EXPECT_EQ(hit->verified_at, t0);
  EXPECT_EQ(hit->valid_until, t0 + seconds{3600});
}

TEST(VerdictCache, TtlExpiresAtTheExactBoundaryInclusive) {
  verdict_cache cache(verdict_cache_options{.ttl = seconds{3600}});
  fixed_clock clock(t0);
  cache.remember_verified(domain, fp_a, backend(), clock.now());
  clock.set(t0 + seconds{3600});
  EXPECT_TRUE(cache.is_verified(domain, fp_a, clock.now()));
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));  // valid through the last second
  clock.advance(seconds{1});
  EXPECT_FALSE(cache.is_verified(domain, fp_a, clock.now()));
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
  EXPECT_EQ(cache.size(), 0u);  // purged by the lookup
}

TEST(VerdictCache, CollateralExpiryEarlierThanTtlWins) {
  verdict_cache cache(verdict_cache_options{.ttl = seconds{3600}});
  fixed_clock clock(t0);
  const unix_time collateral_expiry = t0 + seconds{600};
  EXPECT_EQ(cache.remember_verified(domain, fp_a, backend(collateral_expiry), clock.now()), collateral_expiry);
  clock.set(collateral_expiry);
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));
  clock.advance(seconds{1});
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));  // long before verified_at + ttl
}

TEST(VerdictCache, VerdictWhoseCollateralAlreadyExpiredIsNotStored) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_failed(domain, fp_a, nonce_failure(), clock.now());
  EXPECT_EQ(cache.remember_verified(domain, fp_a, backend(t0 - seconds{1}), clock.now()), std::nullopt);
  // Neither the stale success nor the older failure remains.
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
}

TEST(VerdictCache, TwoFingerprintsPerDomain) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_verified(domain, fp_a, backend(t0 + seconds{86400}, "UpToDate"), clock.now());
  clock.advance(seconds{100});
  cache.remember_verified(domain, fp_b, backend(t0 + seconds{86400}, "SWHardeningNeeded"), clock.now());
  EXPECT_EQ(cache.size(), 2u);

  const auto a = cache.lookup(domain, fp_a, clock.now());
  const auto b = cache.lookup(domain, fp_b, clock.now());
  ASSERT_TRUE(std::holds_alternative<verified_entry>(a));
  ASSERT_TRUE(std::holds_alternative<verified_entry>(b));
  EXPECT_EQ(std::get<verified_entry>(a).backend.tcb_status, "UpToDate");
  EXPECT_EQ(std::get<verified_entry>(b).backend.tcb_status, "SWHardeningNeeded");

  // Each keeps its own clock: a expires 100 s before b.
  clock.set(t0 + seconds{3601});
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
  EXPECT_TRUE(hits(cache, fp_b, clock.now()));
}

TEST(VerdictCache, RotationMissesTheNewKeyWhileTheOldStillHits) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_verified(domain, fp_a, backend(), clock.now());
  clock.advance(seconds{60});
  EXPECT_TRUE(absent(cache, fp_b, clock.now()));  // new certificate: attest again
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));    // other backends keep their key
  cache.remember_verified(domain, fp_b, backend(), clock.now());
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));
  EXPECT_TRUE(hits(cache, fp_b, clock.now()));
  // A failure for a third key does not touch the others either.
  cache.remember_failed(domain, fp_c, nonce_failure(), clock.now());
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));
  EXPECT_TRUE(hits(cache, fp_b, clock.now()));
  EXPECT_TRUE(fails(cache, fp_c, clock.now()));
}

TEST(VerdictCache, SameFingerprintOnAnotherDomainIsAnotherKey) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_verified(domain, fp_a, backend(), clock.now());
  EXPECT_TRUE(absent(cache, fp_a, clock.now(), "other.completions.near.ai"));
}

TEST(VerdictCache, KeysAreCaseInsensitive) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_verified("GLM-5.Completions.Near.AI", std::string(64, 'A'), backend(), clock.now());
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));
  EXPECT_TRUE(cache.is_verified(domain, fp_a, clock.now()));
  cache.invalidate("Glm-5.COMPLETIONS.near.ai");
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerdictCache, NegativeTtlBoundaryAt30Seconds) {
  verdict_cache cache;
  fixed_clock clock(t0);
  EXPECT_EQ(cache.remember_failed(domain, fp_a, nonce_failure(), clock.now()), t0 + seconds{30});
  EXPECT_FALSE(cache.is_verified(domain, fp_a, clock.now()));
  clock.set(t0 + seconds{30});
  const auto v = cache.lookup(domain, fp_a, clock.now());
  const auto* failed = std::get_if<failed_entry>(&v);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->failure.code, "nonce_mismatch");
  EXPECT_EQ(failed->failed_at, t0);
  clock.advance(seconds{1});
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
}

TEST(VerdictCache, FailureIsReportedAsSuch) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_failed(domain, "0123456789abcdef0123456789abcdef", nonce_failure("quote rejected: debug TD"),
                        clock.now());
  clock.advance(seconds{12});
  const auto v = cache.lookup(domain, "0123456789abcdef0123456789abcdef", clock.now());
  ASSERT_TRUE(std::holds_alternative<failed_entry>(v));
  EXPECT_EQ(describe_failure("0123456789abcdef0123456789abcdef", std::get<failed_entry>(v), clock.now()),
            "quote rejected: debug TD (key 0123456789abcdef, refused 12 s ago)");
  EXPECT_EQ(std::get<failed_entry>(v).failure.phase, failure_phase::binding);
  // A clock that stepped back does not produce a negative age.
  EXPECT_EQ(describe_failure("ab", std::get<failed_entry>(v), t0 - seconds{5}),
            "quote rejected: debug TD (key ab, refused 0 s ago)");
}

TEST(VerdictCache, SuccessReplacesFailureAndViceVersa) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_failed(domain, fp_a, nonce_failure(), clock.now());
  clock.advance(seconds{5});
  cache.remember_verified(domain, fp_a, backend(), clock.now());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));
  clock.advance(seconds{40});  // past the old failure's 30 s: still verified, not absent
  EXPECT_TRUE(hits(cache, fp_a, clock.now()));

  cache.remember_failed(domain, fp_a, nonce_failure("fingerprint changed"), clock.now());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_FALSE(cache.is_verified(domain, fp_a, clock.now()));
  EXPECT_TRUE(fails(cache, fp_a, clock.now()));
  clock.advance(seconds{31});  // the failure's 30 s over: the earlier success does not come back
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
}

TEST(VerdictCache, DisabledTtlsStoreNothingButStillReplace) {
  verdict_cache no_positive(verdict_cache_options{.ttl = seconds{0}});
  fixed_clock clock(t0);
  no_positive.remember_failed(domain, fp_a, nonce_failure(), clock.now());
  EXPECT_EQ(no_positive.remember_verified(domain, fp_a, backend(), clock.now()), std::nullopt);
  EXPECT_TRUE(absent(no_positive, fp_a, clock.now()));  // the success cleared the failure

  verdict_cache no_negative(verdict_cache_options{.negative_ttl = seconds{0}});
  no_negative.remember_verified(domain, fp_a, backend(), clock.now());
  EXPECT_EQ(no_negative.remember_failed(domain, fp_a, nonce_failure(), clock.now()), std::nullopt);
  EXPECT_TRUE(absent(no_negative, fp_a, clock.now()));  // the failure cleared the success
}

TEST(VerdictCache, SizeBoundEvictsTheSoonestExpiring) {
  verdict_cache cache(verdict_cache_options{.max_entries = 3, .max_entries_per_domain = 64});
  fixed_clock clock(t0);
  // Three domains, with expiries t0+3600 (a), t0+600 (b, collateral) and t0+3600+10 (c).
  cache.remember_verified("a.example", fp_a, backend(), clock.now());
  cache.remember_verified("b.example", fp_a, backend(t0 + seconds{600}), clock.now());
  clock.advance(seconds{10});
  cache.remember_verified("c.example", fp_a, backend(), clock.now());
  ASSERT_EQ(cache.size(), 3u);

  cache.remember_verified("d.example", fp_a, backend(), clock.now());
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(absent(cache, fp_a, clock.now(), "b.example"));  // expired soonest: evicted
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "a.example"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "c.example"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "d.example"));

  // A negative entry (30 s) is now the soonest-expiring and goes before any success.
  cache.remember_failed("e.example", fp_a, nonce_failure(), clock.now());
  EXPECT_TRUE(absent(cache, fp_a, clock.now(), "a.example"));  // made room for e
  cache.remember_failed("f.example", fp_a, nonce_failure(), clock.now() + seconds{1});
  EXPECT_TRUE(absent(cache, fp_a, clock.now(), "e.example"));
  EXPECT_TRUE(fails(cache, fp_a, clock.now(), "f.example"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "c.example"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "d.example"));
  EXPECT_EQ(cache.size(), 3u);

  // Replacing an existing key never evicts.
  cache.remember_verified("f.example", fp_a, backend(), clock.now());
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "c.example"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "d.example"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "f.example"));
}

TEST(VerdictCache, ExpiredEntriesGoBeforeLiveOnes) {
  verdict_cache cache(verdict_cache_options{.max_entries = 2});
  fixed_clock clock(t0);
  cache.remember_failed("a.example", fp_a, nonce_failure(), clock.now());     // until t0+30
  cache.remember_verified("b.example", fp_a, backend(), clock.now());  // until t0+3600
  clock.advance(seconds{31});
  cache.remember_verified("c.example", fp_a, backend(), clock.now());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "b.example"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "c.example"));
}

TEST(VerdictCache, KeyRotatingBackendIsBoundedAndOnlyChurnsItsOwnDomain) {
  verdict_cache cache(verdict_cache_options{.max_entries = 1024, .max_entries_per_domain = 8});
  fixed_clock clock(t0);
  cache.remember_verified("good.example", fp_a, backend(t0 + seconds{100}), clock.now());  // expires soonest
  for (int i = 0; i < 10'000; ++i) {
    const std::string fp = std::to_string(i);
    if (i % 2 == 0) {
      cache.remember_failed("hostile.example", fp, nonce_failure(), clock.now());
    } else {
      cache.remember_verified("hostile.example", fp, backend(), clock.now());
    }
    ASSERT_LE(cache.size(), 9u);
  }
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "good.example"));
  EXPECT_TRUE(hits(cache, "9999", clock.now(), "hostile.example"));  // the newest survives

  // The global bound holds too when many domains rotate.
  verdict_cache global(verdict_cache_options{.max_entries = 16});
  for (int i = 0; i < 1000; ++i) {
    global.remember_verified("d" + std::to_string(i) + ".example", fp_a, backend(), clock.now());
    ASSERT_LE(global.size(), 16u);
  }
}

TEST(VerdictCache, InvalidateAndClear) {
  verdict_cache cache;
  fixed_clock clock(t0);
  cache.remember_verified(domain, fp_a, backend(), clock.now());
  cache.remember_failed(domain, fp_b, nonce_failure(), clock.now());
  cache.remember_verified("a.completions.near.ai", fp_a, backend(), clock.now());
  cache.remember_verified("glm-5.completions.near.aix", fp_a, backend(), clock.now());

  cache.invalidate(domain);
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
  EXPECT_TRUE(absent(cache, fp_b, clock.now()));
  // Neighbours in key order are untouched.
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "a.completions.near.ai"));
  EXPECT_TRUE(hits(cache, fp_a, clock.now(), "glm-5.completions.near.aix"));

  cache.remember_verified(domain, fp_a, backend(), clock.now());
  cache.remember_verified(domain, fp_b, backend(), clock.now());
  cache.invalidate(domain, fp_a);
  EXPECT_TRUE(absent(cache, fp_a, clock.now()));
  EXPECT_TRUE(hits(cache, fp_b, clock.now()));

  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(absent(cache, fp_b, clock.now()));
}

}  // namespace
}  // namespace vp::appraise
