#include "server/attestation_gate.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <utility>
#include <variant>

#include "attest/near_report.hpp"
#include "core/hex.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::server {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

std::string fingerprint_prefix(const sha256_digest& spki) {
  return to_hex(spki).substr(0, appraise::fingerprint_prefix_length);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

failure internal_failure(std::string message) {
  return failure{"internal_error", failure_phase::internal, std::move(message), {}, false};
}

}  // namespace

std::string_view to_string(admission a) noexcept {
  switch (a) {
    case admission::cached: return "cached";
    case admission::attested: return "attested";
    case admission::shared: return "shared";
  }
  return "cached";
}

// ---------------------------------------------------------------------------------------
// The NEAR attester

near_attester::near_attester(asio::any_io_executor evidence_executor, std::shared_ptr<collateral::source> collateral,
                             std::shared_ptr<const tdx::trust_anchor> anchor,
                             std::shared_ptr<const policy::workload_policy> policy, const clock& clock,
                             upstream::attest_options options, std::shared_ptr<const gpu::trust_anchor> gpu_anchor,
                             std::shared_ptr<nras_client> nras,
                             std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> gpu_crls)
    : evidence_executor_(std::move(evidence_executor)),
      collateral_(std::move(collateral)),
      anchor_(std::move(anchor)),
      gpu_anchor_(std::move(gpu_anchor)),
      nras_(std::move(nras)),
      gpu_crls_(std::move(gpu_crls)),
      policy_(std::move(policy)),
      clock_(clock),
      options_(options) {}

asio::awaitable<attestation_result> near_attester::attest(upstream::upstream_connection& conn,
                                                          attestation_subject subject) {
  const std::string where = "attesting " + conn.host() + ": ";
  auto fetched = co_await upstream::fetch_report(conn, options_, subject.gateway);
  if (!fetched) co_return attestation_result{nullptr, upstream::to_failure(fetched.error())};

  auto document = attest::parse_report_document(fetched->body);
  if (!document) {
    conn.mark_not_reusable();
    auto refusal = appraise::report_failure(document.error());
    refusal.message = where + refusal.message;
    co_return attestation_result{nullptr, std::move(refusal)};
  }

  // Named, not a temporary in the co_await operand (GCC 12 destroys those twice). The
  // caller resumes on its own executor.
  auto gathering = gather_evidence(appraise::needs(*document, appraise::mode::connection));
  appraise::evidence_set evidence = co_await asio::co_spawn(evidence_executor_, std::move(gathering), asio::use_awaitable);
  appraise::connection_facts facts{fetched->nonce, conn.spki_sha256(), std::move(subject.routed_model)};
  std::chrono::microseconds appraisal_time{};
  const auto appraise_now = [&] {
    const auto started = steady::now();
    auto out = std::make_shared<const appraise::appraisal>(appraise::appraise(
        *document, facts, evidence, policy_.get(), *anchor_, clock_.now(), appraise::mode::connection));
    appraisal_time += std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started);
    return out;
  };
  auto appraisal = appraise_now();
  if (appraisal->nras_key_unknown && nras_) {
    // NVIDIA signed with a key newer than the cached set: fetch the set once more.
    auto refreshing = fresh_nras_keys();
    auto fresh = co_await asio::co_spawn(evidence_executor_, std::move(refreshing), asio::use_awaitable);
    if (fresh && fresh != evidence.nras_keys) {
      evidence.nras_keys = std::move(fresh);
      appraisal = appraise_now();
    }
  }
  std::optional<failure> refusal = appraisal->first_failure;
  if (refusal) {
    conn.mark_not_reusable();
    refusal->message = where + refusal->message;
  }
  co_return attestation_result{std::move(appraisal), std::move(refusal),
                               std::make_shared<const attest::near_report_document>(std::move(*document)),
                               fetched->nonce, appraisal_time};
}

asio::awaitable<std::shared_ptr<const gpu::nras::jwks>> near_attester::fresh_nras_keys() {
  auto keys = co_await nras_->keys(true);
  co_return keys;
}

asio::awaitable<appraise::evidence_set> near_attester::gather_evidence(appraise::evidence_needs needed) {
  appraise::evidence_set evidence;
  evidence.gpu_root = gpu_anchor_.get();
  evidence.gpu_crls = gpu_crls_;
  for (const auto& platform : needed.platforms) {
    auto collateral = co_await collateral_->get(collateral::platform_key{platform.fmspc, platform.pck_ca});
    if (collateral) {
      evidence.add(platform, collateral->collateral);
    } else {
      evidence.add_unavailable(platform, std::string(collateral::to_string(collateral.error().kind)) + ": " +
                                             collateral.error().message);
    }
  }
  const bool consult_nras = policy_ != nullptr && policy_->gpu().nras != policy::nras_requirement::off;
  if (consult_nras && !needed.nras.empty()) {
    if (nras_) {
      evidence.nras_keys = co_await nras_->keys(false);
      evidence.nras_key_pins = nras_->key_pins();
    }
    for (const auto& gpus : needed.nras) {
      appraise::evidence_set::nras_entry entry{gpus.json_pointer, std::nullopt, {}};
      if (!nras_) {
        entry.why = "NVIDIA's attestation service is not consulted (--no-nras)";
      } else if (!evidence.nras_keys) {
        entry.why = nras_->last_key_error();
      } else {
        auto answer = co_await nras_->attest(gpus.payload);
        entry.answer = std::move(answer.body);
        entry.why = std::move(answer.why);
      }
      evidence.nras.push_back(std::move(entry));
    }
  }
  co_return evidence;
}

// ---------------------------------------------------------------------------------------
// The gate

attestation_gate::attestation_gate(const clock& clock, appraise::verdict_cache_options cache_options,
                                   std::shared_ptr<observe::status_board> board)
    : clock_(clock), cache_(cache_options), board_(std::move(board)) {}

void attestation_gate::forget(std::string_view domain, const sha256_digest& spki) {
  const std::lock_guard lock(cache_mutex_);
  cache_.invalidate(domain, to_hex(spki));
}

bool attestation_gate::is_fresh(std::string_view domain, const sha256_digest& spki) const {
  return is_fresh(domain, std::string_view(to_hex(spki)));
}

bool attestation_gate::is_fresh(std::string_view domain, std::string_view spki_hex) const {
  const auto now = clock_.now();
  const std::lock_guard lock(cache_mutex_);
  return cache_.is_verified(domain, spki_hex, now);
}

appraise::cached_verdict attestation_gate::lookup(std::string_view domain, std::string_view spki_hex,
                                                  unix_time now) const {
  const std::lock_guard lock(cache_mutex_);
  return cache_.lookup(domain, spki_hex, now);
}

std::shared_ptr<const appraise::appraisal> attestation_gate::appraisal_of(std::string_view domain,
                                                                          std::string_view spki_hex) const {
  const auto now = clock_.now();
  const std::lock_guard lock(cache_mutex_);
  const auto* verified = cache_.fresh_success(domain, spki_hex, now);
  return verified != nullptr ? verified->backend.appraisal_of : nullptr;
}

namespace {

/// The refusal a remembered failure answers with (nullopt for a verified or no verdict).
std::optional<failure> remembered_failure(const appraise::cached_verdict& cached, const std::string& spki_hex,
                                          unix_time now) {
  const auto* failed = std::get_if<appraise::failed_entry>(&cached);
  if (failed == nullptr) return std::nullopt;
  failure remembered = failed->failure;
  remembered.message = appraise::describe_failure(spki_hex, *failed, now);
  return remembered;
}

}  // namespace

asio::awaitable<boost::system::result<admission, failure>> attestation_gate::admit(std::string domain,
                                                                                    sha256_digest spki,
                                                                                    attest_fn attest) {
  const std::string spki_hex = to_hex(spki);
  const auto now = clock_.now();
  const auto cached = lookup(domain, spki_hex, now);
  if (std::holds_alternative<appraise::verified_entry>(cached)) co_return admission::cached;
  if (auto refusal = remembered_failure(cached, spki_hex, now)) co_return *refusal;

  bool joined = false;
  bool remembered = false;
  // Named, not temporaries in the co_await operand (GCC 12 destroys those twice). Only
  // the leader runs `work`, inside this frame: `remembered` outlives it.
  auto work = [this, domain, spki, attest = std::move(attest), flag = &remembered]() {
    return recheck_or_attest(domain, spki, attest, flag);
  };
  auto abandoned = std::optional<failure>(internal_failure("the attestation of " + domain + " was abandoned"));
  const std::optional<failure> refusal =
      co_await flights_.run(domain + '\n' + spki_hex, std::move(work), std::move(abandoned), &joined);
  if (refusal) co_return *refusal;
  if (remembered) co_return admission::cached;
  co_return joined ? admission::shared : admission::attested;
}

asio::awaitable<std::optional<failure>> attestation_gate::recheck_or_attest(std::string domain, sha256_digest spki,
                                                                            attest_fn attest, bool* remembered) {
  // A flight records its verdict before it leaves the registry, so a flight started after
  // another one for the key ended finds that verdict here.
  const std::string spki_hex = to_hex(spki);
  const auto now = clock_.now();
  const auto cached = lookup(domain, spki_hex, now);
  if (std::holds_alternative<appraise::verified_entry>(cached)) {
    *remembered = true;
    co_return std::nullopt;
  }
  if (auto refusal = remembered_failure(cached, spki_hex, now)) {
    *remembered = true;
    co_return refusal;
  }
  auto attested = co_await attest_now(std::move(domain), spki, std::move(attest));
  co_return attested;
}

asio::awaitable<std::optional<failure>> attestation_gate::attest_now(std::string domain, sha256_digest spki,
                                                                     attest_fn attest) {
  ++attestations_;
  const auto started = steady::now();
  const std::string who = domain + " spki=" + fingerprint_prefix(spki);
  attestation_result result;
  std::string unexpected;
  try {
    result = co_await attest();
  } catch (const std::exception& e) {
    unexpected = text::exception_text(e);
  } catch (...) {
    unexpected = "unknown exception";
  }
  if (!unexpected.empty()) result.refusal = internal_failure("attesting " + domain + ": unexpected failure: " + unexpected);

  if (result.appraisal) {
    for (const auto& entity : result.appraisal->entities) {
      for (const auto& f : entity.factors) {
        if (f.status == policy::factor_status::warn) {
          log::warn("attestation of " + who + ": warning on " +
                    (entity.json_pointer.empty() ? std::string("(top level)") : entity.json_pointer) + ": " + f.name +
                    ": " + f.detail);
        }
      }
    }
  }
  const std::string spki_hex = to_hex(spki);
  const auto record = [&](const std::optional<failure>& refusal, std::optional<unix_time> trusted_until) {
    if (!board_) return;
    auto entry = observe::describe_attestation(domain, spki_hex, result.appraisal.get(), refusal, clock_.now(),
                                               trusted_until);
    entry.duration = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started);
    entry.appraisal_time = result.appraisal_time;
    board_->record_attestation(std::move(entry));
  };
  if (result.refusal) {
    const failure& f = *result.refusal;
    record(f, std::nullopt);
    if (f.about_backend) {
      const auto failed_at = clock_.now();
      const std::lock_guard lock(cache_mutex_);
      cache_.remember_failed(domain, spki_hex, f, failed_at);
    }
    log::warn("attestation of " + who + " failed after " + text::elapsed_since(started) + ": " + f.code +
              (f.json_pointer.empty() ? std::string() : " at " + f.json_pointer) + ": " + failure_detail(f));
    co_return f;
  }
  if (!result.appraisal || !result.appraisal->accepted() || result.appraisal->connection_entity() == nullptr ||
      !result.appraisal->connection_entity()->verdict) {
    auto f = internal_failure("attesting " + domain + ": the attester returned neither a verdict nor a refusal");
    record(f, std::nullopt);
    co_return f;
  }

  const auto& quote = result.appraisal->connection_entity()->verdict->quote;
  // Relied on until the collateral expires or the policy's acceptance ends (a TCB grace
  // window closing), whichever comes first: never for the whole TTL regardless.
  appraise::attested_backend backend{std::string(tdx::to_string(quote.status)), quote.advisory_ids,
                                     to_hex(result.appraisal->connection_entity()->keys.signing_address),
                                     result.appraisal->trusted_until, result.appraisal};
  const auto attested_at = clock_.now();
  const auto valid_until = [&] {
    const std::lock_guard lock(cache_mutex_);
    return cache_.remember_verified(domain, spki_hex, std::move(backend), attested_at);
  }();
  // Not cached (a TTL of zero): relied on for this connection only.
  record(std::nullopt, valid_until.value_or(std::min(attested_at, result.appraisal->trusted_until)));
  log::info("attested " + who + " tcb=" + std::string(tdx::to_string(quote.status)) +
            (quote.advisory_ids.empty() ? std::string() : " advisories=" + join(quote.advisory_ids)) + " in " +
            text::elapsed_since(started) +
            (valid_until ? ", trusted until " + format_rfc3339_utc(*valid_until) : std::string(", not cached")));
  co_return std::nullopt;
}

}  // namespace vp::server
