#include "observe/status_board.hpp"

#include <algorithm>
#include <utility>

#include "attest/near_report.hpp"
#include "core/hex.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::observe {

namespace {

// Attestations take a report round trip, collateral and NVIDIA's service: milliseconds to
// tens of seconds (the attestation timeout is 30 s by default).
const std::vector<double> attestation_bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
// The appraisal is CPU only: ~0.3 ms for a quote, a few ms with eight GPUs.
const std::vector<double> appraisal_bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1};

double seconds_of(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; }

bool has_prefix(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

/// Bumps counts[key], except that a key not seen before is counted as "other" once
/// `limit` keys exist.
void bump(std::map<std::string, std::uint64_t>& counts, const std::string& key, std::size_t limit) {
  if (auto it = counts.find(key); it != counts.end()) {
    ++it->second;
  } else if (counts.size() < limit) {
    counts.emplace(key, 1);
  } else {
    ++counts["other"];
  }
}

/// Erases the entry with the lowest sequence (the oldest written).
template <class Map>
void forget_oldest(Map& map) {
  auto oldest = map.begin();
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->second.sequence < oldest->second.sequence) oldest = it;
  }
  if (oldest != map.end()) map.erase(oldest);
}

}  // namespace

std::string_view to_string(route_class r) noexcept {
  switch (r) {
    case route_class::chat: return "chat";
    case route_class::completions: return "completions";
    case route_class::embeddings: return "embeddings";
    case route_class::models: return "models";
    case route_class::signature: return "signature";
    case route_class::proxy: return "proxy";
    case route_class::other: return "other";
  }
  return "other";
}

route_class classify_route(std::string_view path) noexcept {
  if (path == "/v1/chat/completions") return route_class::chat;
  if (path == "/v1/completions") return route_class::completions;
  if (path == "/v1/embeddings") return route_class::embeddings;
  if (path == "/v1/models" || has_prefix(path, "/v1/models/")) return route_class::models;
  if (has_prefix(path, "/v1/signature/")) return route_class::signature;
  if (path == "/_proxy" || has_prefix(path, "/_proxy/")) return route_class::proxy;
  return route_class::other;
}

std::string bounded_code(std::string_view code) {
  if (code.empty() || code.size() > 64) return "other";
  for (const char c : code) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return "other";
  }
  return std::string(code);
}

failure_record to_record(const failure& f) {
  // The detail alone: the code, phase and pointer are fields of their own on the page.
  return failure_record{f.code, std::string(to_string(f.phase)), failure_detail(f), f.json_pointer, f.about_backend};
}

attestation_record describe_attestation(std::string verdict_key, std::string spki_sha256,
                                        const appraise::appraisal* appraisal, const std::optional<failure>& refusal,
                                        unix_time at, std::optional<unix_time> trusted_until) {
  attestation_record out;
  out.verdict_key = std::move(verdict_key);
  out.spki_sha256 = std::move(spki_sha256);
  out.trusted = !refusal && appraisal != nullptr && appraisal->accepted();
  out.attested_at = at;
  if (out.trusted) out.trusted_until = trusted_until;
  if (refusal) out.failure = to_record(*refusal);
  if (appraisal == nullptr) return out;
  out.report_form = std::string(attest::to_string(appraisal->form));
  for (const auto& entity : appraisal->entities) {
    entity_record e;
    e.json_pointer = entity.json_pointer;
    e.role = std::string(attest::to_string(entity.role));
    e.connection_facing = entity.connection_facing;
    e.ok = entity.ok();
    if (entity.verdict) {
      e.tcb_status = std::string(tdx::to_string(entity.verdict->quote.status));
      e.advisory_ids = entity.verdict->quote.advisory_ids;
      e.signing_address = attest::format_signing_address(entity.keys.signing_algo, entity.keys.signing_address);
    }
    e.model_name = entity.model_name;
    e.gpus = entity.gpus.size();
    for (const auto& f : entity.factors) {
      e.factors.push_back(factor_record{f.name, std::string(policy::to_string(f.status)), f.detail});
    }
    out.entities.push_back(std::move(e));
  }
  return out;
}

histogram::histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

void histogram::observe(double seconds) {
  const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  ++counts[static_cast<std::size_t>(bucket)];
  sum += seconds;
  ++count;
}

status_board::status_board(trust_configuration config, unix_time started_at, std::size_t max_keys,
                           std::size_t max_domains)
    : config_(std::move(config)),
      started_at_(started_at),
      max_keys_(std::max<std::size_t>(max_keys, 1)),
      max_domains_(std::max<std::size_t>(max_domains, 1)) {
  totals_.attestation_seconds = histogram(attestation_bounds);
  totals_.appraisal_seconds = histogram(appraisal_bounds);
}

void status_board::record_attestation(attestation_record record) {
  const std::lock_guard lock(mutex_);
  if (record.trusted) {
    ++totals_.attestations_trusted;
    bump(totals_.attestations, "trusted", max_outcomes);
  } else {
    ++totals_.attestations_refused;
    bump(totals_.attestations, bounded_code(record.failure ? record.failure->code : "internal_error"), max_outcomes);
  }
  totals_.attestation_seconds.observe(seconds_of(record.duration));
  // Only an appraisal that ran has a CPU time worth a sample.
  if (!record.report_form.empty()) totals_.appraisal_seconds.observe(seconds_of(record.appraisal_time));

  key_id id{record.verdict_key, record.spki_sha256};
  auto found = backends_.find(id);
  if (found == backends_.end()) {
    if (backends_.size() >= max_keys_) forget_oldest(backends_);
    found = backends_.emplace(std::move(id), held_record{}).first;
  }
  found->second = held_record{std::move(record), ++sequence_};
}

void status_board::record_domain_failure(std::string_view domain, unsigned status, const failure_record& f,
                                         unix_time at) {
  const std::lock_guard lock(mutex_);
  auto found = domain_failures_.find(domain);
  if (found == domain_failures_.end()) {
    if (domain_failures_.size() >= max_domains_) forget_oldest(domain_failures_);
    found = domain_failures_.emplace(std::string(domain), held_failure{}).first;
  }
  const std::size_t count = found->second.failure.count + 1;
  found->second = held_failure{domain_failure{std::string(domain), status, f, at, count}, ++sequence_};
}

void status_board::record_discovery_fetch(bool ok, std::size_t domains, std::size_t models, std::string_view error,
                                          unix_time at) {
  const std::lock_guard lock(mutex_);
  ++discovery_.fetches;
  discovery_.fetched_at = at;
  if (ok) {
    discovery_.usable = true;
    discovery_.last_success_at = at;
    discovery_.domains = domains;
    discovery_.models = models;
    discovery_.last_error.clear();
  } else {
    discovery_.last_error = std::string(error);
  }
}

void status_board::count_request(route_class route, unsigned status, std::string_view code) {
  const std::lock_guard lock(mutex_);
  ++totals_.requests_answered;
  request_series series{route, status <= 999 ? status : 999, code.empty() ? std::string() : bounded_code(code)};
  if (!series.code.empty() && status >= 400) bump(totals_.refused, series.code, max_outcomes);
  if (auto it = totals_.requests.find(series); it != totals_.requests.end()) {
    ++it->second;
    return;
  }
  if (totals_.requests.size() >= max_request_series) series = request_series{route_class::other, 0, "other"};
  ++totals_.requests[series];
}

void status_board::count_forwarded() { forwarded_.fetch_add(1, std::memory_order_relaxed); }

void status_board::count_signature(std::string_view verdict) {
  const std::lock_guard lock(mutex_);
  if (verdict == "valid") {
    ++totals_.signatures_valid;
  } else if (verdict == "invalid") {
    ++totals_.signatures_invalid;
  } else {
    ++totals_.signatures_unavailable;
  }
}

void status_board::count_e2ee_sealed() { e2ee_sealed_.fetch_add(1, std::memory_order_relaxed); }

void status_board::count_collateral_fetch(bool ok) {
  const std::lock_guard lock(mutex_);
  ++totals_.collateral_fetches;
  if (!ok) ++totals_.collateral_failures;
}

void status_board::count_nras_fetch(nras_fetch kind, bool ok) {
  const std::lock_guard lock(mutex_);
  auto& fetches = kind == nras_fetch::attest ? totals_.nras_attest_fetches : totals_.nras_key_fetches;
  auto& failures = kind == nras_fetch::attest ? totals_.nras_attest_failures : totals_.nras_key_failures;
  ++fetches;
  if (!ok) ++failures;
}

void status_board::count_upstream_created() { upstream_created_.fetch_add(1, std::memory_order_relaxed); }

void status_board::add_bytes_to_client(std::uint64_t n) { bytes_to_client_.fetch_add(n, std::memory_order_relaxed); }

void status_board::add_bytes_to_backend(std::uint64_t n) {
  bytes_to_backend_.fetch_add(n, std::memory_order_relaxed);
}

void status_board::stream_opened() { active_streams_.fetch_add(1, std::memory_order_relaxed); }

void status_board::stream_closed() {
  // Never below zero, even for a close without its open.
  auto open = active_streams_.load(std::memory_order_relaxed);
  while (open > 0 && !active_streams_.compare_exchange_weak(open, open - 1, std::memory_order_relaxed)) {
  }
}

void status_board::listening_on(std::string address) {
  const std::lock_guard lock(mutex_);
  config_.listen = std::move(address);
}

status_snapshot status_board::snapshot(unix_time now, live_gauges gauges) const {
  const std::lock_guard lock(mutex_);
  status_snapshot out = totals_;
  out.bytes_to_client = bytes_to_client_.load(std::memory_order_relaxed);
  out.bytes_to_backend = bytes_to_backend_.load(std::memory_order_relaxed);
  out.active_streams = active_streams_.load(std::memory_order_relaxed);
  out.forwarded = forwarded_.load(std::memory_order_relaxed);
  out.e2ee_sealed = e2ee_sealed_.load(std::memory_order_relaxed);
  out.upstream_created = upstream_created_.load(std::memory_order_relaxed);
  out.config = config_;
  out.started_at = started_at_;
  out.now = now;
  out.discovery = discovery_;
  out.gauges = gauges;
  out.backends.reserve(backends_.size());
  for (const auto& [id, held] : backends_) out.backends.push_back(held.record);
  out.domain_failures.reserve(domain_failures_.size());
  for (const auto& [domain, held] : domain_failures_) out.domain_failures.push_back(held.failure);
  return out;
}

discovery_state status_board::discovery() const {
  const std::lock_guard lock(mutex_);
  return discovery_;
}

}  // namespace vp::observe
