#pragma once
// The simulated NEAR gateway (cloud-api.near.ai, docs/gpu-signatures-e2ee.md §5,
// docs/nearai-attestation.md §1.5): one TLS listener on 127.0.0.1 in front of the
// simulator's model domains, answered by a CVM of its own (another app id, compose and
// measurements, its own TLS key and signing keys).
//
//   GET /v1/attestation/report?model=M&nonce=N&signing_algo=A&include_tls_fingerprint=true
//     (API key required): the gateway form — gateway_attestation (its own quote binding
//     its TLS key, signing address and N; event_log as a JSON string), model_attestations
//     [the report of one instance serving M for the same nonce and algorithm, as that
//     instance answered it, without its all_attestations copy], tls_certificate.
//   GET /v1/models (public): every model of every domain, OpenAI's list shape.
//   POST /v1/chat/completions, /v1/completions, /v1/embeddings (API key required):
//     relayed to an instance of the domain serving the body's model — the one holding
//     X-Model-Pub-Key when given (502 NoPubKeyProvider when none does), else round-robin.
//     The instance is reached over TLS with the server name that pins it
//     (backend_server's instance_host). X-Model-Pub-Key is not forwarded; the E2EE header
//     fields are; Authorization carries the deployment's internal gateway token, and
//     X-Request-Hash the SHA-256 of the client's body (§3.3). Requests with E2EE headers
//     travel byte-exactly both ways (a stream relayed chunk by chunk as it arrives);
//     plaintext requests are re-serialised and their answers signed by the gateway.
//   GET /v1/signature/{id}?model=M&signing_algo=A (API key required): the model's signature
//     document of an E2EE exchange plus "signature_kind":"provider_tee", or the gateway's
//     own signature of "sha256(request received):sha256(response sent)" with
//     "signature_kind":"gateway".
//
// Faults: gateway_faults (options.hpp). Threading: the server runs on the io_context it
// is given (one thread); every accessor is thread-safe. The deployment and the backend
// servers must outlive the io_context.

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sim/backend_server.hpp"
#include "sim/deployment.hpp"
#include "sim/options.hpp"
#include "sim/report.hpp"
#include "sim/workload.hpp"

namespace vp::sim {

class gateway_server {
 public:
  /// Generates the gateway CVM's identities, binds 127.0.0.1:`port` (0 = ephemeral) and
  /// starts accepting on `ioc`. `models`: the domains it relays to, in routing order (the
  /// first that lists a model serves it); each must accept `gateway_token` (backend_settings).
  /// `stream_tokens`: SSE chunks of the answers impersonate_model makes up. Throws
  /// std::runtime_error if the port is taken, std::invalid_argument without a
  /// domain or a token.
  gateway_server(boost::asio::io_context& ioc, const deployment& where, gateway_options options,
                 std::vector<const backend_server*> models, std::string gateway_token, std::uint16_t port,
                 unsigned stream_tokens);
  ~gateway_server();
  gateway_server(const gateway_server&) = delete;
  gateway_server& operator=(const gateway_server&) = delete;

  const std::string& domain() const;
  std::uint16_t port() const;
  /// Lower-case hex SHA-256 of the SPKI of the gateway's TLS certificate.
  std::string spki_sha256_hex() const;
  /// The gateway CVM's signing keys (immutable).
  const signing_identity& signing_keys() const;
  /// What the gateway CVM measures (immutable).
  const workload_identity& workload() const;
  const instance_workload& instance() const;

  void set_faults(gateway_faults faults);
  gateway_faults faults() const;
  std::size_t attestation_count() const;
  std::size_t signature_lookup_count() const;
  std::vector<gateway_exchange> exchanges() const;

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace vp::sim
