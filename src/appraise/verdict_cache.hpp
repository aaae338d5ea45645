#pragma once
// The proxy's memory of attestation outcomes, per (domain, SPKI fingerprint) (issue #5,
// "Behaviour"): a verified backend is not attested again on every request, and a backend
// that just failed is not hammered with attestation requests (negative cache).
//
// Keyed by the fingerprint rather than by the domain alone because a domain is served by
// several round-robin backends, each with its own TLS key, and because a certificate
// rotation must lead to a fresh attestation of the new key: a verdict is about one key.
//
// Pure and synchronous; time is passed in. Not thread-safe: one cache belongs to one
// single-threaded executor (the proxy's io_context), like the collateral cache.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "appraise/appraisal.hpp"
#include "core/clock.hpp"

namespace vp::appraise {

struct verdict_cache_options {
  /// How long a successful attestation is relied on (`--attestation-ttl`). Zero or
  /// negative: successes are not remembered (every connection is attested).
  std::chrono::seconds ttl{3600};
  /// How long a failed attestation is remembered. Zero or negative: not remembered.
  std::chrono::seconds negative_ttl{30};
  /// Bound on all entries, so a hostile backend rotating keys cannot grow memory without
  /// bound. When full, the entry expiring soonest goes first (expired ones before that).
  std::size_t max_entries = 1024;
  /// Bound on the entries of one domain, so one domain rotating keys only churns its own
  /// entries and cannot push other domains' verdicts out of the cache.
  std::size_t max_entries_per_domain = 64;
};

/// What the proxy keeps about a verified backend.
struct attested_backend {
  std::string tcb_status;                 ///< Intel's combined TCB status spelling ("UpToDate", …)
  std::vector<std::string> advisory_ids;  ///< Intel-SA-… advisories of the matched TCB level
  std::string signing_address;            ///< the attested signing address / key, hex
  /// The verdict's own expiry (tdx::verified_quote::collateral_expires_at): the earliest
  /// notAfter / nextUpdate of the certificates, CRLs and collateral it relied on.
  unix_time not_after{};
  /// The whole appraisal (factors, keys) for what is built on the verdict: response
  /// signatures and encryption must use the keys it attests.
  std::shared_ptr<const appraisal> appraisal_of{};
};

/// A remembered success.
struct verified_entry {
  attested_backend backend;
  unix_time verified_at{};
  /// min(verified_at + ttl, backend.not_after); relied on while now <= valid_until.
  unix_time valid_until{};
};

/// A remembered failure.
struct failed_entry {
  /// As the attestation reported it; its code is the 502's error code.
  vp::failure failure;
  unix_time failed_at{};
  /// failed_at + negative_ttl; remembered while now <= remembered_until.
  unix_time remembered_until{};
};

/// Result of a lookup: nothing (never seen, expired or invalidated), a success or a failure.
using cached_verdict = std::variant<std::monostate, verified_entry, failed_entry>;

/// Attestation verdicts per (domain, SPKI SHA-256 hex).
///
/// Validity boundaries are inclusive, as for collateral in the verifier (valid through
/// nextUpdate): a verdict stored at t with ttl d is a hit at t + d and a miss at t + d + 1 s.
/// Domains and fingerprints are compared ASCII case-insensitively (DNS names are, and
/// hex is hex). Each key holds one verdict: a success replaces a failure and vice versa;
/// other fingerprints of the same domain are never touched by an insertion (except by the
/// size bounds).
class verdict_cache {
 public:
  explicit verdict_cache(verdict_cache_options options = {});

  /// The verdict for (domain, spki_sha256) as of `now`. Expired entries are treated as
  /// absent and erased.
  cached_verdict lookup(std::string_view domain, std::string_view spki_sha256, unix_time now);

  /// Whether (domain, spki_sha256) has a fresh success as of `now`, without copying it
  /// (a pooled connection is reused only while this holds).
  bool is_verified(std::string_view domain, std::string_view spki_sha256, unix_time now) const {
    return fresh_success(domain, spki_sha256, now) != nullptr;
  }
  /// The fresh success for (domain, spki_sha256) as of `now`, or null; valid until the
  /// cache is next changed (a lookup per relayed request copies nothing).
  const verified_entry* fresh_success(std::string_view domain, std::string_view spki_sha256, unix_time now) const;

  /// Remembers a successful attestation made at `verified_at`, replacing whatever the key
  /// held. Returns valid_until, or nullopt if nothing was stored (ttl disabled, or the
  /// verdict's not_after already passed).
  std::optional<unix_time> remember_verified(std::string_view domain, std::string_view spki_sha256,
                                             attested_backend backend, unix_time verified_at);

  /// Remembers a failed attestation at `failed_at`, replacing whatever the key held (a
  /// success included: the latest evidence wins). Returns remembered_until, or nullopt if
  /// nothing was stored (negative ttl disabled).
  std::optional<unix_time> remember_failed(std::string_view domain, std::string_view spki_sha256,
                                           vp::failure failed, unix_time failed_at);

  /// Forgets every fingerprint of `domain`.
  void invalidate(std::string_view domain);
  /// Forgets one (domain, fingerprint).
  void invalidate(std::string_view domain, std::string_view spki_sha256);
  /// Forgets everything.
  void clear();

  /// Entries held, including expired ones not purged yet.
  std::size_t size() const { return entries_.size(); }
  const verdict_cache_options& options() const { return options_; }

 private:
  struct key {
    std::string domain;
    std::string spki;
  };
  struct key_view {
    std::string_view domain;
    std::string_view spki;
  };
  struct key_less {
    using is_transparent = void;
    static key_view view(const key& k) { return {k.domain, k.spki}; }
    static key_view view(key_view k) { return k; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return less(view(a), view(b));
    }
    static bool less(key_view a, key_view b);
  };
  using entry = std::variant<verified_entry, failed_entry>;
  using map_type = std::map<key, entry, key_less>;

  static unix_time expiry(const entry& e);
  std::optional<unix_time> store(std::string_view domain, std::string_view spki, entry e, unix_time now);
  void make_room(std::string_view domain, unix_time now);

  verdict_cache_options options_;
  map_type entries_;
};

/// Length of the fingerprint prefix shown in messages and logs (64 bits: enough to tell
/// a domain's backends apart).
inline constexpr std::size_t fingerprint_prefix_length = 16;

/// The message for a request refused because of a remembered failure:
/// "<message> (key <fingerprint prefix>, refused 12 s ago)".
std::string describe_failure(std::string_view spki_sha256, const failed_entry& failed, unix_time now);

}  // namespace vp::appraise
