#pragma once
// One attestation of one backend, as the proxy would make it before a request, for
// `verified-proxy verify`: the connection is opened the way the proxy opens it
// (--connect-to, SNI, WebPKI, the connect and TLS timeouts), and attested through the same
// NEAR attester and gate a client request waits for. What the proxy only logs — the whole
// appraisal, accepted or not — is kept for a person to read.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "core/failure.hpp"
#include "observe/status_board.hpp"
#include "server/attestation_gate.hpp"
#include "server/proxy_config.hpp"
#include "server/proxy_server.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::server {

/// The attester the proxy appraises with: dependencies.attester when set, else the NEAR
/// attester over the dependencies' collateral, anchors, policy and GPU CRLs, asking
/// NVIDIA's attestation service unless config.nras says not to. `board` (null: none)
/// counts its collateral fetches and NVIDIA requests.
std::shared_ptr<attester> make_attester(boost::asio::any_io_executor executor, const proxy_config& config,
                                        const proxy_dependencies& dependencies,
                                        std::shared_ptr<observe::status_board> board = nullptr);

/// How a connection to `domain` is opened: the connect and TLS timeouts, and the address
/// --connect-to dials instead of `domain` (config.upstream_port).
upstream::connect_options connect_options_for(const proxy_config& config, std::string_view domain);

/// The backend to attest.
struct attestation_target {
  std::string domain;
  /// The model a request would be routed by: direct, compared with model_name; at the
  /// gateway, the model CVM its report attests behind it.
  std::optional<std::string> model{};
  /// `domain` is NEAR's gateway: the report is asked for `model`, with `authorization`.
  bool gateway = false;
  std::optional<std::string> authorization{};

  /// The backend as refusals name it ("cloud-api.near.ai (model M)" at the gateway).
  std::string backend_name() const;
  /// What the attester is told about this backend: the routed model, and at the gateway
  /// the report query (the model, NEAR's own provider tier, the client's credential).
  attestation_subject subject() const;
};

struct attestation_outcome {
  /// Why the proxy would send nothing (nullopt: it would send the request).
  std::optional<failure> refusal;
  /// The appraisal, the report and the nonce; empty when no report was appraised (the
  /// backend was not reached, or its answer was not a report).
  attestation_result attested;
  /// SHA-256 of the peer's SubjectPublicKeyInfo (nullopt: no TLS connection was made).
  std::optional<sha256_digest> live_spki;
  /// "host:port" actually dialled ("" when no connection was made).
  std::string dialled;
};

/// Connects to `target` and attests the connection once, through an attestation gate of
/// its own (config's TTLs). Never throws on what the backend sends.
boost::asio::awaitable<attestation_outcome> attest_backend(boost::asio::any_io_executor executor,
                                                           proxy_config config, proxy_dependencies dependencies,
                                                           attestation_target target);

}  // namespace vp::server
