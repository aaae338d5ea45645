#pragma once
// What the proxy has verified and done, for a person (GET /_proxy/, /_proxy/status) and
// for monitoring (/_proxy/metrics, /_proxy/healthz): the latest appraisal of every backend
// key, the last failure of every domain, the discovery list's state, and counters.
//
// The board is the one place the proxy's counters live. It is fed by the server shell
// (the gate, the sessions, the relay) and read as a snapshot, a copy the renderers
// (status_json.hpp, prometheus.hpp) turn into text without holding anything. Every
// member function is safe to call from any thread (the proxy's shards all feed one board):
// the counters bumped per relayed write or per request are relaxed atomics, merged into
// the snapshot; the records and maps are behind the board's mutex.
//
// Nothing a client sent is kept: no Authorization, no body, no client key. What is kept
// is about backends (their attested keys, the factors of their appraisals) and bounded:
// at most max_keys keys and max_domains domains (the oldest forgotten first), error codes
// reduced to a bounded vocabulary (bounded_code) so metric label sets stay small.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "appraise/appraisal.hpp"
#include "core/clock.hpp"
#include "core/failure.hpp"

namespace vp::observe {

/// The routes requests are counted by: a fixed set, so that a client sending arbitrary
/// paths cannot grow the metrics.
enum class route_class { chat, completions, embeddings, models, signature, proxy, other };
inline constexpr std::size_t route_class_count = 7;
/// "chat", "completions", "embeddings", "models", "signature", "proxy", "other".
std::string_view to_string(route_class r) noexcept;
/// /v1/chat/completions → chat, /v1/completions → completions, /v1/embeddings → embeddings,
/// /v1/models → models, /v1/signature/… → signature, /_proxy… → proxy, else other. `path`
/// is without its query.
route_class classify_route(std::string_view path) noexcept;

/// `code` when it is a stable spelling (1-64 characters of [a-z0-9_]), else "other": error
/// codes become metric labels and map keys, and must not carry arbitrary text.
std::string bounded_code(std::string_view code);

/// The configuration that decides what "verified" means, fixed at startup.
struct trust_configuration {
  std::string version;
  std::string listen;  ///< "127.0.0.1:8080"
  std::string backend = "direct";  ///< "direct" / "gateway"
  std::string gateway_host;        ///< "" unless backend is "gateway"
  std::string e2ee = "on";
  std::string verify_signatures = "check";
  std::string signing_algo = "ed25519";
  /// Hosts requests may go to (the gateway host included in gateway mode).
  std::vector<std::string> allow_domains;
  std::chrono::seconds attestation_ttl{3600};
  std::chrono::seconds negative_ttl{30};
  bool webpki = true;  ///< backend certificates checked against CAs (not --no-webpki)
  bool nras = true;    ///< NVIDIA's attestation service consulted (not --no-nras)
  std::string policy;  ///< the workload policy's name ("" when it has none)
  /// Where model ids come from: the discovery list, or the gateway's model list.
  std::string model_list_url;
  std::string model_list_kind = "endpoints";  ///< "endpoints" / "gateway_models"
};

struct factor_record {
  std::string name;
  std::string status;  ///< pass / fail / warn / skip
  std::string detail;
};

/// One attestation of a report, as appraised.
struct entity_record {
  std::string json_pointer;
  std::string role;  ///< model / gateway
  bool connection_facing = false;
  bool ok = false;
  std::optional<std::string> tcb_status;  ///< when the quote verified
  std::vector<std::string> advisory_ids;
  std::optional<std::string> signing_address;  ///< when the quote verified: the attested key
  std::optional<std::string> model_name;       ///< as reported (not bound by the quote)
  std::size_t gpus = 0;                        ///< GPUs whose local evidence verified
  std::vector<factor_record> factors;
};

struct failure_record {
  std::string code;
  std::string phase;
  std::string message;
  std::string json_pointer;
  /// A verdict about the backend (remembered for the negative TTL), not trouble on our side
  /// or on the way (a timeout, the collateral source unreachable).
  bool about_backend = true;
};

failure_record to_record(const failure& f);

/// The latest attestation of one backend key.
struct attestation_record {
  /// What the verdict is about: the domain, or behind the gateway "HOST model=MODEL".
  std::string verdict_key;
  std::string spki_sha256;  ///< lower-case hex
  bool trusted = false;
  unix_time attested_at{};
  /// The earlier of attested_at + the attestation TTL and the appraisal's own
  /// trusted_until (collateral expiry, TCB grace end, NVIDIA token expiry). Trusted only.
  std::optional<unix_time> trusted_until;
  std::string report_form;  ///< direct / gateway; "" when no report was appraised
  std::vector<entity_record> entities;
  std::optional<failure_record> failure;  ///< refused only
  std::chrono::microseconds duration{};        ///< the whole attestation (report, evidence, appraisal)
  std::chrono::microseconds appraisal_time{};  ///< appraise::appraise alone (CPU)
};

/// The record of one attestation: `appraisal` may be null (no report could be appraised),
/// `refusal` is set when the key was refused.
attestation_record describe_attestation(std::string verdict_key, std::string spki_sha256,
                                        const appraise::appraisal* appraisal, const std::optional<failure>& refusal,
                                        unix_time at, std::optional<unix_time> trusted_until);

/// The last request a domain failed, and why.
struct domain_failure {
  std::string domain;
  unsigned status = 0;  ///< the HTTP status the client got
  failure_record failure;
  unix_time at{};
  std::size_t count = 0;  ///< failures of this domain so far
};

/// The discovery list (or the gateway's model list) as last fetched.
struct discovery_state {
  std::size_t fetches = 0;  ///< fetches completed, successful or not
  bool usable = false;      ///< a list is in use (the last good one is kept after a failed refresh)
  std::optional<unix_time> fetched_at;       ///< the last fetch
  std::optional<unix_time> last_success_at;  ///< the last fetch that gave a list
  std::size_t domains = 0, models = 0;       ///< of the list in use
  std::string last_error;                    ///< of the last fetch ("" after a success)
};

/// Fixed-bucket histogram of durations (seconds).
struct histogram {
  /// Upper bounds, ascending; +Inf is implied.
  std::vector<double> bounds;
  /// Observations per bucket (not cumulative); one more than bounds (the +Inf bucket).
  std::vector<std::uint64_t> counts;
  double sum = 0;
  std::uint64_t count = 0;

  explicit histogram(std::vector<double> upper_bounds = {});
  void observe(double seconds);
};

/// Values the server owns and reads when asked (live, not counted on the board).
struct live_gauges {
  std::size_t client_connections = 0;
  std::size_t idle_client_connections = 0;
  std::size_t upstream_open = 0;
  std::size_t upstream_pooled = 0;
};

enum class nras_fetch { attest, keys };

/// Requests counted by route, status and code.
struct request_series {
  route_class route = route_class::other;
  unsigned status = 0;  ///< 0: no answer was written (the client left first)
  std::string code;     ///< the proxy's error code; "" for answers that are not its errors
  auto operator<=>(const request_series&) const = default;
};

struct status_snapshot {
  trust_configuration config;
  unix_time started_at{};
  unix_time now{};
  discovery_state discovery;
  /// Sorted by verdict key, then fingerprint.
  std::vector<attestation_record> backends;
  /// Sorted by domain.
  std::vector<domain_failure> domain_failures;

  std::map<request_series, std::uint64_t> requests;
  std::uint64_t requests_answered = 0;
  std::uint64_t forwarded = 0;
  /// Requests answered with one of the proxy's own errors (status >= 400), by code.
  std::map<std::string, std::uint64_t> refused;
  /// Attestations by outcome: "trusted", or the refusal's code.
  std::map<std::string, std::uint64_t> attestations;
  std::uint64_t attestations_trusted = 0, attestations_refused = 0;
  histogram attestation_seconds;
  histogram appraisal_seconds;
  std::uint64_t signatures_valid = 0, signatures_invalid = 0, signatures_unavailable = 0;
  std::uint64_t e2ee_sealed = 0;
  std::uint64_t collateral_fetches = 0, collateral_failures = 0;
  std::uint64_t nras_attest_fetches = 0, nras_attest_failures = 0;
  std::uint64_t nras_key_fetches = 0, nras_key_failures = 0;
  std::uint64_t upstream_created = 0;
  std::uint64_t bytes_to_client = 0, bytes_to_backend = 0;
  std::uint64_t active_streams = 0;
  live_gauges gauges;
};

class status_board {
 public:
  explicit status_board(trust_configuration config, unix_time started_at, std::size_t max_keys = 256,
                        std::size_t max_domains = 128);
  status_board(const status_board&) = delete;
  status_board& operator=(const status_board&) = delete;

  /// An attestation finished (trusted or refused): replaces the key's record, counts it by
  /// outcome and observes its durations.
  void record_attestation(attestation_record record);
  /// A request routed to `domain` was refused because of that backend (status >= 500).
  void record_domain_failure(std::string_view domain, unsigned status, const failure_record& f, unix_time at);
  /// A fetch of the model list ended: with a list of `domains` / `models` (ok), or
  /// `error` (the previous list, if any, is kept in use).
  void record_discovery_fetch(bool ok, std::size_t domains, std::size_t models, std::string_view error,
                              unix_time at);

  /// An answer written to a client (status 0: none, the client left first). `code`: the
  /// proxy's error code when the answer is one of its errors.
  void count_request(route_class route, unsigned status, std::string_view code);
  /// A request whose answer came from a verified backend.
  void count_forwarded();
  void count_signature(std::string_view verdict);  ///< valid / invalid / unavailable
  void count_e2ee_sealed();
  void count_collateral_fetch(bool ok);
  void count_nras_fetch(nras_fetch kind, bool ok);
  void count_upstream_created();
  void add_bytes_to_client(std::uint64_t n);
  void add_bytes_to_backend(std::uint64_t n);
  void stream_opened();
  void stream_closed();

  /// The address the proxy listens on, once bound (an ephemeral port is known only then).
  void listening_on(std::string address);

  /// Everything, as of `now`, with the server's live gauges.
  status_snapshot snapshot(unix_time now, live_gauges gauges = {}) const;
  discovery_state discovery() const;

  static constexpr std::size_t max_request_series = 1024;
  static constexpr std::size_t max_outcomes = 128;

 private:
  struct key_id {
    std::string verdict_key;
    std::string spki;
    auto operator<=>(const key_id&) const = default;
  };
  struct held_record {
    attestation_record record;
    std::uint64_t sequence = 0;
  };
  struct held_failure {
    domain_failure failure;
    std::uint64_t sequence = 0;
  };

  trust_configuration config_;
  const unix_time started_at_;
  const std::size_t max_keys_;
  const std::size_t max_domains_;

  mutable std::mutex mutex_;
  std::uint64_t sequence_ = 0;
  std::map<key_id, held_record> backends_;
  std::map<std::string, held_failure, std::less<>> domain_failures_;
  discovery_state discovery_;
  status_snapshot totals_;  ///< the counters (its records and config stay empty)
  // Bumped on the relay's hot path (per write, per request): no lock; read by snapshot().
  std::atomic<std::uint64_t> bytes_to_client_{0}, bytes_to_backend_{0};
  std::atomic<std::uint64_t> active_streams_{0};
  std::atomic<std::uint64_t> forwarded_{0}, e2ee_sealed_{0}, upstream_created_{0};
};

/// RAII: one SSE / unknown-length response being relayed (the active_streams gauge).
class stream_scope {
 public:
  explicit stream_scope(status_board* board) : board_(board) {
    if (board_ != nullptr) board_->stream_opened();
  }
  ~stream_scope() {
    if (board_ != nullptr) board_->stream_closed();
  }
  stream_scope(const stream_scope&) = delete;
  stream_scope& operator=(const stream_scope&) = delete;

 private:
  status_board* board_;
};

}  // namespace vp::observe
