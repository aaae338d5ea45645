#include "appraise/verdict_cache.hpp"

#include <algorithm>
#include <compare>
#include <iterator>
#include <utility>

namespace vp::appraise {
namespace {

char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

std::strong_ordering compare_ci(std::string_view a, std::string_view b) noexcept {
  // Equal bytes are equal in any case: the lookup that finds its entry (every relayed
  // request's) compares it in one memcmp.
  if (a == b) return std::strong_ordering::equal;
  return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(ascii_lower(x)) <=> static_cast<unsigned char>(ascii_lower(y));
  });
}

// A ttl from the command line could be absurdly large; adding it must not overflow.
unix_time saturating_add(unix_time t, std::chrono::seconds d) noexcept {
  if (t > unix_time::max() - d) return unix_time::max();
  return t + d;
}

}  // namespace

bool verdict_cache::key_less::less(key_view a, key_view b) {
  const auto by_domain = compare_ci(a.domain, b.domain);
  if (by_domain != 0) return by_domain < 0;
  return compare_ci(a.spki, b.spki) < 0;
}

verdict_cache::verdict_cache(verdict_cache_options options) : options_(options) {}

unix_time verdict_cache::expiry(const entry& e) {
  if (const auto* v = std::get_if<verified_entry>(&e)) return v->valid_until;
  return std::get<failed_entry>(e).remembered_until;
}

cached_verdict verdict_cache::lookup(std::string_view domain, std::string_view spki_sha256, unix_time now) {
  const auto it = entries_.find(key_view{domain, spki_sha256});
  if (it == entries_.end()) return {};
  if (now > expiry(it->second)) {
    entries_.erase(it);
    return {};
  }
  return std::visit([](const auto& e) -> cached_verdict { return e; }, it->second);
}

const verified_entry* verdict_cache::fresh_success(std::string_view domain, std::string_view spki_sha256,
                                                   unix_time now) const {
  const auto it = entries_.find(key_view{domain, spki_sha256});
  if (it == entries_.end()) return nullptr;
  const auto* v = std::get_if<verified_entry>(&it->second);
  return v != nullptr && now <= v->valid_until ? v : nullptr;
}

std::optional<unix_time> verdict_cache::remember_verified(std::string_view domain, std::string_view spki_sha256,
                                                          attested_backend backend, unix_time verified_at) {
  if (options_.ttl <= std::chrono::seconds::zero()) {
    // Nothing to remember, but the success is still the latest evidence about this key:
    // an older failure must not keep refusing it.
    invalidate(domain, spki_sha256);
    return std::nullopt;
  }
  // The collateral's own expiry caps the ttl: a verdict is never relied on past the
  // earliest notAfter / nextUpdate it was computed with.
  const unix_time valid_until = std::min(saturating_add(verified_at, options_.ttl), backend.not_after);
  verified_entry e{std::move(backend), verified_at, valid_until};
  return store(domain, spki_sha256, entry{std::move(e)}, verified_at);
}

std::optional<unix_time> verdict_cache::remember_failed(std::string_view domain, std::string_view spki_sha256,
                                                        vp::failure failed, unix_time failed_at) {
  if (options_.negative_ttl <= std::chrono::seconds::zero()) {
    invalidate(domain, spki_sha256);
    return std::nullopt;
  }
  failed_entry e{std::move(failed), failed_at, saturating_add(failed_at, options_.negative_ttl)};
  return store(domain, spki_sha256, entry{std::move(e)}, failed_at);
}

std::optional<unix_time> verdict_cache::store(std::string_view domain, std::string_view spki, entry e,
                                              unix_time now) {
  const unix_time until = expiry(e);
  const auto it = entries_.find(key_view{domain, spki});
  if (now > until || options_.max_entries == 0 || options_.max_entries_per_domain == 0) {
    // Born expired (collateral already past notAfter) or caching disabled: the key holds
    // nothing rather than a stale opposite verdict.
    if (it != entries_.end()) entries_.erase(it);
    return std::nullopt;
  }
  if (it != entries_.end()) {
    it->second = std::move(e);
    return until;
  }
  make_room(domain, now);
  entries_.emplace(key{lowered(domain), lowered(spki)}, std::move(e));
  return until;
}

void verdict_cache::make_room(std::string_view domain, unix_time now) {
  const auto expires_first = [](const map_type::value_type& a, const map_type::value_type& b) {
    return expiry(a.second) < expiry(b.second);
  };
  const auto domain_range = [&] {
    const auto first = entries_.lower_bound(key_view{domain, {}});
    auto last = first;
    while (last != entries_.end() && compare_ci(last->first.domain, domain) == 0) ++last;
    return std::pair{first, last};
  };

  // Eviction only ever happens at a bound, so these linear scans run only when a domain
  // or the whole cache is full; expired entries go before any live one.
  auto [first, last] = domain_range();
  if (static_cast<std::size_t>(std::distance(first, last)) >= options_.max_entries_per_domain) {
    for (auto it = first; it != last;) {
      it = now > expiry(it->second) ? entries_.erase(it) : std::next(it);
    }
    std::tie(first, last) = domain_range();
    while (static_cast<std::size_t>(std::distance(first, last)) >= options_.max_entries_per_domain) {
      entries_.erase(std::min_element(first, last, expires_first));
      std::tie(first, last) = domain_range();
    }
  }

  if (entries_.size() >= options_.max_entries) {
    std::erase_if(entries_, [&](const auto& kv) { return now > expiry(kv.second); });
    while (entries_.size() >= options_.max_entries) {
      entries_.erase(std::min_element(entries_.begin(), entries_.end(), expires_first));
    }
  }
}

void verdict_cache::invalidate(std::string_view domain) {
  auto it = entries_.lower_bound(key_view{domain, {}});
  while (it != entries_.end() && compare_ci(it->first.domain, domain) == 0) it = entries_.erase(it);
}

void verdict_cache::invalidate(std::string_view domain, std::string_view spki_sha256) {
  const auto it = entries_.find(key_view{domain, spki_sha256});
  if (it != entries_.end()) entries_.erase(it);
}

void verdict_cache::clear() { entries_.clear(); }

std::string describe_failure(std::string_view spki_sha256, const failed_entry& failed, unix_time now) {
  // A clock stepped back would make the age negative; "0 s ago" is the honest floor.
  const auto ago = std::max(std::chrono::seconds::zero(), now - failed.failed_at);
  std::string out = failed.failure.message;
  out += " (key ";
  out += spki_sha256.substr(0, fingerprint_prefix_length);
  out += ", refused ";
  out += std::to_string(ago.count());
  out += " s ago)";
  return out;
}

}  // namespace vp::appraise
