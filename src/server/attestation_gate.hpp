#pragma once
// The decision "may the client's request be written on this connection?" (issue #5
// "Per request"): a connection is admitted only when the (domain, SPKI fingerprint) it
// presents has a fresh positive verdict — remembered, or obtained now by attesting this
// very connection. Concurrent first requests for the same key share one attestation
// (single flight); a failure is remembered for the negative TTL and reported as such.
//
// Why a verdict about the key covers other connections: report_data binds the SPKI, and
// only the holder of the matching private key can complete a TLS handshake with it, so a
// later connection presenting the same SPKI reaches the same attested CVM.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "attest/verdict_cache.hpp"
#include "collateral/source.hpp"
#include "core/clock.hpp"
#include "proxy/error_body.hpp"
#include "tdx/verifier.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::server {

/// The workload policy applied after the quote and its binding verified: nullopt to
/// accept, else the failed check (kind = stable spelling used as the 502 code).
using workload_check = std::function<std::optional<attest::attestation_failure>(
    const upstream::attestation_outcome& outcome, std::optional<std::string_view> routed_model)>;

/// Until when the workload policy keeps accepting an accepted attestation (e.g. the end of
/// a TCB grace window); nullopt: no limit beyond the collateral's own expiry.
using trust_limit = std::function<std::optional<unix_time>(const upstream::attestation_outcome& outcome)>;

/// Accepts what DCAP and the binding accepted (no workload policy).
std::optional<attest::attestation_failure> accept_any_workload(const upstream::attestation_outcome&,
                                                               std::optional<std::string_view>);

/// Maps an upstream failure to the client's answer: 504 for timeouts (phase named),
/// 502 attestation_error naming the check for rejected reports, 502 backend_unreachable
/// for transport failures. `phase`: the timeout phase name ("connect", "tls",
/// "attestation").
proxy::error_response to_error_response(const upstream::error& e, std::string_view phase);

/// How the gate admitted a connection (for the request log line).
enum class admission { cached, attested, shared };
std::string_view to_string(admission a) noexcept;

class attestation_gate {
 public:
  attestation_gate(std::shared_ptr<collateral::source> collateral, std::shared_ptr<const tdx::trust_anchor> anchor,
                   const clock& clock, attest::verdict_cache_options cache_options,
                   upstream::attest_options attest_options, workload_check check, trust_limit limit = {});
  ~attestation_gate();
  attestation_gate(const attestation_gate&) = delete;
  attestation_gate& operator=(const attestation_gate&) = delete;

  /// Admits `conn` (fresh, nothing written yet) or returns the answer for the client. On
  /// refusal the connection must be discarded.
  boost::asio::awaitable<boost::system::result<admission, proxy::error_response>> admit(
      upstream::upstream_connection& conn, std::optional<std::string_view> routed_model);

  /// Whether (domain, spki) has a fresh positive verdict now (pooled connections are
  /// reused only while this holds).
  bool is_fresh(std::string_view domain, const sha256_digest& spki) const;

  /// Attestations performed (each a report request on a connection).
  std::size_t attestation_count() const { return attestations_; }

 private:
  struct flight;
  std::shared_ptr<collateral::source> collateral_;
  std::shared_ptr<const tdx::trust_anchor> anchor_;
  const clock& clock_;
  upstream::attest_options attest_options_;
  workload_check check_;
  trust_limit limit_;
  mutable attest::verdict_cache cache_;
  std::map<std::string, std::shared_ptr<flight>> flights_;
  std::size_t attestations_ = 0;
};

}  // namespace vp::server
