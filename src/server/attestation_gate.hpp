#pragma once
// The decision "may the client's request be written on this connection?": a connection is
// admitted only when the (domain, SPKI fingerprint) it presents has a fresh positive
// verdict — remembered, or obtained now by attesting this very connection. Concurrent
// first requests for the same key share one attestation (single flight); a verdict about
// the backend is remembered for the negative TTL and reported as such.
//
// Why a verdict about the key covers other connections: report_data binds the SPKI, and
// only the holder of the matching private key can complete a TLS handshake with it, so a
// later connection presenting the same SPKI reaches the same attested CVM.
//
// The gate knows nothing about how a backend is attested: it is given an `attester` (the
// NEAR one fetches the report on the connection and appraises it; tests give fakes).
//
// Thread-safe: one gate serves every shard of the proxy (one io_context per thread), so
// that there is one attestation per key however many threads its first requests arrive
// on. The verdict cache is behind a mutex held for one lookup or update, never across a
// suspension; the single flight is thread-safe, and its leader attests on its own
// executor (the shard that owns the connection).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "appraise/appraisal.hpp"
#include "appraise/verdict_cache.hpp"
#include "collateral/source.hpp"
#include "core/clock.hpp"
#include "core/failure.hpp"
#include "net/single_flight.hpp"
#include "observe/status_board.hpp"
#include "policy/policy.hpp"
#include "server/nras_client.hpp"
#include "tdx/verifier.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::server {

/// What attesting one connection produced: the appraisal of its report (accepted or not),
/// and the refusal when there is one — the appraisal's first failure, or the failure that
/// prevented an appraisal (transport, unreadable report).
struct attestation_result {
  std::shared_ptr<const appraise::appraisal> appraisal;
  std::optional<failure> refusal;
  /// The report the appraisal judged, and the nonce it was requested with.
  std::shared_ptr<const attest::near_report_document> document{};
  upstream::attestation_nonce nonce{};
  /// How long appraise::appraise took (CPU, for the appraisal-duration histogram).
  std::chrono::microseconds appraisal_time{};
};

/// What the request that needs the attestation says about its backend.
struct attestation_subject {
  /// The model the request was routed by (nullopt: routed by X-Backend-Domain).
  std::optional<std::string> routed_model;
  /// Set when the connection leads to NEAR's gateway: the report request names the model
  /// and carries the client's Authorization (docs/gpu-signatures-e2ee.md §5.1).
  std::optional<upstream::gateway_report_query> gateway;
};

/// Attests the peer of a connection on that connection, before anything of a client is
/// written on it. Never throws on what the backend sends.
class attester {
 public:
  virtual ~attester() = default;
  virtual boost::asio::awaitable<attestation_result> attest(upstream::upstream_connection& conn,
                                                            attestation_subject subject) = 0;
};

/// NEAR AI: GET /v1/attestation/report with a fresh nonce on the connection → the evidence
/// its quotes need (collateral per platform, from `collateral`; NVIDIA's verdict on the GPU
/// evidence and its keys, from `nras`, when the policy consults it) → appraise::appraise in
/// connection mode under `policy` (nullptr: quote and binding only), as of `clock.now()`.
///
/// The report is fetched, and the appraisal computed, on the caller's executor (the shard
/// that owns the connection); the evidence is gathered on `evidence_executor`, where the
/// collateral source and the NRAS client live — shared by every shard, single-threaded.
class near_attester final : public attester {
 public:
  /// `gpu_anchor`: the root GPU evidence chains must end at (null: NVIDIA's).
  near_attester(boost::asio::any_io_executor evidence_executor, std::shared_ptr<collateral::source> collateral,
                std::shared_ptr<const tdx::trust_anchor> anchor,
                std::shared_ptr<const policy::workload_policy> policy, const clock& clock,
                upstream::attest_options options, std::shared_ptr<const gpu::trust_anchor> gpu_anchor = nullptr,
                std::shared_ptr<nras_client> nras = nullptr,
                std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> gpu_crls = nullptr);
  boost::asio::awaitable<attestation_result> attest(upstream::upstream_connection& conn,
                                                    attestation_subject subject) override;

 private:
  /// Collateral and NVIDIA's verdicts for what `needed` names (on evidence_executor_).
  boost::asio::awaitable<appraise::evidence_set> gather_evidence(appraise::evidence_needs needed);
  /// NVIDIA's current key set, fetched anew (on evidence_executor_).
  boost::asio::awaitable<std::shared_ptr<const gpu::nras::jwks>> fresh_nras_keys();

  boost::asio::any_io_executor evidence_executor_;
  std::shared_ptr<collateral::source> collateral_;
  std::shared_ptr<const tdx::trust_anchor> anchor_;
  std::shared_ptr<const gpu::trust_anchor> gpu_anchor_;
  /// Null: NVIDIA's attestation service is not consulted (--no-nras).
  std::shared_ptr<nras_client> nras_;
  std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> gpu_crls_;
  std::shared_ptr<const policy::workload_policy> policy_;
  const clock& clock_;
  upstream::attest_options options_;
};

/// How the gate admitted a connection (for the request log line).
enum class admission { cached, attested, shared };
std::string_view to_string(admission a) noexcept;

class attestation_gate {
 public:
  /// `board` (null: none) gets the record of every attestation, trusted or refused.
  attestation_gate(const clock& clock, appraise::verdict_cache_options cache_options,
                   std::shared_ptr<observe::status_board> board = nullptr);
  attestation_gate(const attestation_gate&) = delete;
  attestation_gate& operator=(const attestation_gate&) = delete;

  using attest_fn = std::function<boost::asio::awaitable<attestation_result>()>;

  /// Admits the key (domain, spki): by its remembered verdict, or by running `attest`
  /// now (once per key however many requests wait for it). The failure is the refusal to
  /// answer the client with; the connection must then be discarded.
  boost::asio::awaitable<boost::system::result<admission, failure>> admit(std::string domain, sha256_digest spki,
                                                                          attest_fn attest);

  /// Whether (domain, spki) has a fresh positive verdict now (pooled connections are
  /// reused only while this holds).
  bool is_fresh(std::string_view domain, const sha256_digest& spki) const;
  /// The same for the key in lowercase hex (upstream_connection::spki_hex(): no encoding
  /// per lookup).
  bool is_fresh(std::string_view domain, std::string_view spki_hex) const;

  /// The appraisal behind a fresh positive verdict (nullptr when there is none).
  std::shared_ptr<const appraise::appraisal> appraisal_of(std::string_view domain, std::string_view spki_hex) const;

  /// Forgets the verdict about (domain, spki): the next admission attests again (a
  /// gateway that no longer routes to the attested model key).
  void forget(std::string_view domain, const sha256_digest& spki);

  /// Attestations performed.
  std::size_t attestation_count() const { return attestations_.load(std::memory_order_relaxed); }

 private:
  /// The flight's work: the verdict once more (another thread's flight for the key may
  /// have ended between this caller's lookup and its flight), else attest now.
  /// `remembered` is set when the verdict was found, not made.
  boost::asio::awaitable<std::optional<failure>> recheck_or_attest(std::string domain, sha256_digest spki,
                                                                    attest_fn attest, bool* remembered);
  boost::asio::awaitable<std::optional<failure>> attest_now(std::string domain, sha256_digest spki, attest_fn attest);
  /// The cached verdict, under the cache's mutex.
  appraise::cached_verdict lookup(std::string_view domain, std::string_view spki_hex, unix_time now) const;

  const clock& clock_;
  mutable std::mutex cache_mutex_;
  mutable appraise::verdict_cache cache_;
  net::single_flight<std::string, std::optional<failure>> flights_;
  std::shared_ptr<observe::status_board> board_;
  std::atomic<std::size_t> attestations_{0};
};

}  // namespace vp::server
