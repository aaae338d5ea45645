#include "server/attestation_gate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <utility>
#include <variant>

#include "core/hex.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::server {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

std::optional<attest::attestation_failure> accept_any_workload(const upstream::attestation_outcome&,
                                                               std::optional<std::string_view>) {
  return std::nullopt;
}

std::string_view to_string(admission a) noexcept {
  switch (a) {
    case admission::cached: return "cached";
    case admission::attested: return "attested";
    case admission::shared: return "shared";
  }
  return "cached";
}

namespace {

/// The stable name of a rejected report's failed check: the quote verifier's spelling for
/// rejected quotes ("tcb_revoked", "debug_td", …), the binding's otherwise.
std::string failed_check(const upstream::error& e) {
  switch (e.kind) {
    case upstream::errc::attestation:
      if (e.attest_error) {
        if (e.attest_error->quote_error) return std::string(tdx::to_string(*e.attest_error->quote_error));
        return std::string(attest::to_string(e.attest_error->kind));
      }
      return "attestation";
    case upstream::errc::too_large: return "report_too_large";
    case upstream::errc::http_status: return "attestation_unavailable";
    case upstream::errc::collateral: return "collateral_unavailable";
    default: return std::string(upstream::to_string(e.kind));
  }
}

/// Failures that are a verdict about the backend (remembered by the negative cache), as
/// opposed to transport trouble or our own collateral source being down.
bool is_verdict(const upstream::error& e) {
  return e.kind == upstream::errc::attestation || e.kind == upstream::errc::too_large ||
         e.kind == upstream::errc::http_status;
}

std::string fingerprint_prefix(const sha256_digest& spki) {
  return to_hex(spki).substr(0, attest::fingerprint_prefix_length);
}

std::string milliseconds_since(steady::time_point start) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count()) + " ms";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

}  // namespace

proxy::error_response to_error_response(const upstream::error& e, std::string_view phase) {
  switch (e.kind) {
    case upstream::errc::timeout: return proxy::gateway_timeout(phase, e.message);
    case upstream::errc::unreachable:
    case upstream::errc::tls:
    case upstream::errc::protocol: return proxy::backend_unreachable(e.message);
    case upstream::errc::collateral: {
      // Our collateral source (Intel PCS / PCCS) failed, not the backend: worth a retry.
      auto r = proxy::verification_failed(failed_check(e), e.message);
      r.retryable = true;
      return r;
    }
    case upstream::errc::internal: {
      auto r = proxy::verification_failed("internal_error", e.message);
      r.retryable = true;
      return r;
    }
    default: return proxy::verification_failed(failed_check(e), e.message);
  }
}

struct attestation_gate::flight {
  explicit flight(asio::any_io_executor ex) : done(ex, steady::time_point::max()) {}
  asio::steady_timer done;
  bool finished = false;
  std::optional<proxy::error_response> refusal;
};

attestation_gate::attestation_gate(std::shared_ptr<collateral::source> collateral,
                                   std::shared_ptr<const tdx::trust_anchor> anchor, const clock& clock,
                                   attest::verdict_cache_options cache_options, upstream::attest_options attest_options,
                                   workload_check check, trust_limit limit)
    : collateral_(std::move(collateral)),
      anchor_(std::move(anchor)),
      clock_(clock),
      attest_options_(attest_options),
      check_(check ? std::move(check) : workload_check(accept_any_workload)),
      limit_(std::move(limit)),
      cache_(cache_options) {}

attestation_gate::~attestation_gate() = default;

bool attestation_gate::is_fresh(std::string_view domain, const sha256_digest& spki) const {
  return cache_.is_verified(domain, to_hex(spki), clock_.now());
}

asio::awaitable<boost::system::result<admission, proxy::error_response>> attestation_gate::admit(
    upstream::upstream_connection& conn, std::optional<std::string_view> routed_model) {
  const std::string& domain = conn.host();
  const std::string spki = to_hex(conn.spki_sha256());
  const std::string key = domain + '\n' + spki;

  const auto now = clock_.now();
  const auto cached = cache_.lookup(domain, spki, now);
  if (std::holds_alternative<attest::verified_entry>(cached)) co_return admission::cached;
  if (const auto* failed = std::get_if<attest::failed_entry>(&cached)) {
    co_return proxy::verification_failed(failed->failure.kind, attest::describe_failure(domain, spki, *failed, now));
  }

  if (auto it = flights_.find(key); it != flights_.end()) {
    // Another request is attesting this key right now: its verdict is ours.
    auto shared = it->second;
    while (!shared->finished) co_await shared->done.async_wait(asio::as_tuple(asio::use_awaitable));
    if (shared->refusal) co_return *shared->refusal;
    co_return admission::shared;
  }

  auto own = std::make_shared<flight>(co_await asio::this_coro::executor);
  flights_.emplace(key, own);
  const auto finish = [&](std::optional<proxy::error_response> refusal) {
    own->refusal = std::move(refusal);
    own->finished = true;
    own->done.cancel();
    flights_.erase(key);
  };

  ++attestations_;
  const auto started = steady::now();
  const std::string who = domain + " spki=" + fingerprint_prefix(conn.spki_sha256());
  auto outcome = co_await upstream::attest_connection(conn, *collateral_, *anchor_, clock_, attest_options_);
  if (!outcome) {
    const auto& e = outcome.error();
    auto response = to_error_response(e, upstream::to_string(e.where));
    if (is_verdict(e)) {
      cache_.remember_failed(domain, spki, {failed_check(e), e.message}, clock_.now());
    }
    log::warn("attestation of " + who + " failed after " + milliseconds_since(started) + ": " + failed_check(e) +
              ": " + e.message);
    finish(response);
    co_return response;
  }

  if (auto rejected = check_(*outcome, routed_model)) {
    auto response = proxy::verification_failed(rejected->kind, "attesting " + domain + ": " + rejected->message);
    log::warn("attestation of " + who + " rejected by the workload policy after " + milliseconds_since(started) +
              ": " + rejected->kind + ": " + rejected->message);
    cache_.remember_failed(domain, spki, std::move(*rejected), clock_.now());
    finish(response);
    co_return response;
  }

  const auto& quote = outcome->verdict.quote;
  // Relied on until the collateral expires, or the policy's acceptance ends (a TCB grace
  // window closing), whichever comes first — never for the whole TTL regardless.
  unix_time not_after = outcome->verdict.collateral_expires_at;
  if (limit_) {
    if (const auto ends = limit_(*outcome); ends && *ends < not_after) not_after = *ends;
  }
  attest::attested_backend backend{std::string(tdx::to_string(quote.status)), quote.advisory_ids,
                                   to_hex(outcome->verdict.signing_address), not_after};
  const auto valid_until = cache_.remember_verified(domain, spki, std::move(backend), clock_.now());
  log::info("attested " + who + " tcb=" + std::string(tdx::to_string(quote.status)) +
            (quote.advisory_ids.empty() ? std::string() : " advisories=" + join(quote.advisory_ids)) + " in " +
            milliseconds_since(started) +
            (valid_until ? ", trusted until " + format_rfc3339_utc(*valid_until) : std::string(", not cached")));
  finish(std::nullopt);
  co_return admission::attested;
}

}  // namespace vp::server
