#pragma once
// One simulated NEAR AI domain: a TLS listener on 127.0.0.1 in front of N CVM instances,
// chosen round-robin per accepted connection (like NEAR's L4/SNI load balancer, docs
// §3). Each instance has its own TLS key and certificate for the domain, its own
// signing identity and instance id, answers /v1/attestation/report with a quote binding
// its live SPKI and the caller's nonce (sim/report.hpp), and everything else with
// OpenAI-shaped answers (sim/openai.hpp), subject to its fault switches.
//
// For POST /v1/chat/completions, /v1/completions and /v1/embeddings the instance speaks
// NEAR's E2EE as inference-proxy does (sim/e2ee_server.hpp): requests with X-Signing-Algo
// and X-Client-Pub-Key are opened with the instance's key of that algorithm and answered
// sealed to the client's key. Every completed 200 answer of those endpoints is signed with
// both of the instance's keys over the exact bytes received and sent (sim/signatures.hpp),
// for GET /v1/signature/{chat_id} on the same instance.
//
// A ClientHello whose server name is `<label>-i<N>.<rest>` (for the domain `<label>.<rest>`)
// is served by instance N % instances instead of the round-robin pick (NEAR's backend
// enumeration, docs/nearai-attestation.md §3); the connection still took its round-robin
// turn. Requests carrying the deployment's gateway token (backend_settings::gateway_token,
// as cloud-api holds inference-proxy's TOKEN, docs/gpu-signatures-e2ee.md §3.3) may assert
// the request hash a signature covers with X-Request-Hash, and ask an attestation report
// for a tampered workload with tampered_workload_header (the gateway's model_fails_policy).
//
// Every connection is recorded: each plaintext byte received, in order, and how many had
// arrived when the first response began, so a test can prove that nothing of a client's
// request reached the backend before the attestation answer.
//
// Threading: the server runs on the io_context it is given (one thread); every accessor
// is thread-safe. The deployment must outlive the io_context.

#include <boost/asio/io_context.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/deployment.hpp"
#include "sim/options.hpp"
#include "sim/report.hpp"
#include "sim/workload.hpp"

namespace vp::sim {

struct backend_settings {
  unsigned stream_tokens = 16;
  std::chrono::milliseconds token_delay{0};
  /// GPUs per instance; instance i owns the deployment's GPUs first_gpu_index + i·gpus … +gpus−1.
  std::size_t gpus = 0;
  std::size_t first_gpu_index = 0;
  /// See simulator_options::signature_delay.
  std::chrono::milliseconds signature_delay{0};
  /// The bearer token that marks requests from the deployment's gateway ("" = none does).
  std::string gateway_token;
};

/// Request header (honoured with the gateway token only) naming a workload_tampering the
/// attestation report applies, by its to_string() spelling.
inline constexpr std::string_view tampered_workload_header = "X-Sim-Tampered-Workload";

inline constexpr std::array<workload_tampering, 7> all_workload_tamperings = {
    workload_tampering::none,           workload_tampering::altered_event,   workload_tampering::changed_compose,
    workload_tampering::foreign_app_id, workload_tampering::foreign_os_image, workload_tampering::foreign_kms,
    workload_tampering::foreign_mrtd};

/// The server name that pins instance `instance` of `domain`: "<label>-i<N>.<rest>".
std::string instance_host(std::string_view domain, std::size_t instance);

/// N of a server name `<label>-i<N>.<rest>` for `domain` = `<label>.<rest>` (ASCII
/// case-insensitive, N at most 9 decimal digits); nullopt for any other name.
std::optional<std::size_t> pinned_instance(std::string_view domain, std::string_view server_name);

using header_fields = std::vector<std::pair<std::string, std::string>>;

class backend_server {
 public:
  /// Generates the instances' identities, binds 127.0.0.1:`port` (0 = ephemeral) and
  /// starts accepting on `ioc`. Throws std::runtime_error if the port is taken.
  backend_server(boost::asio::io_context& ioc, const deployment& where, domain_options options,
                 backend_settings settings, std::uint16_t port);
  ~backend_server();
  backend_server(const backend_server&) = delete;
  backend_server& operator=(const backend_server&) = delete;

  const std::string& domain() const;
  const std::vector<std::string>& models() const;
  std::uint16_t port() const;
  std::size_t instance_count() const;

  /// Throws std::out_of_range for an unknown instance.
  void set_faults(std::size_t instance, backend_faults faults);
  backend_faults faults(std::size_t instance) const;
  /// Lower-case hex SHA-256 of the SPKI of the certificate new connections get.
  std::string spki_sha256_hex(std::size_t instance) const;
  /// The TLS key and chain new connections to `instance` get (test keys: for a stand-in
  /// server that must present the very key the instance's reports bind).
  tls_identity tls_key_and_chain(std::size_t instance) const;
  /// The signing keys of `instance` (immutable; the gateway routes X-Model-Pub-Key by them).
  const signing_identity& signing_keys(std::size_t instance) const;
  /// The workload instance `instance` measures (its event log and RTMRs).
  const instance_workload& workload(std::size_t instance) const;

  std::size_t attestation_count() const;  ///< attestation requests received
  std::size_t request_count() const;      ///< other requests received, signature lookups aside
  std::size_t connection_count() const;   ///< TCP connections accepted
  std::size_t unsolicited_count() const;  ///< unasked responses sent by unsolicited_while_idle
  std::vector<connection_record> connections() const;
  /// Of the requests request_count counts.
  std::vector<header_fields> request_headers() const;
  std::vector<std::string> request_bodies() const;
  /// Every non-attestation request and what became of it, in arrival order.
  std::vector<backend_exchange> exchanges() const;
  /// GET /v1/signature/… requests received (not in request_count; in exchanges).
  std::size_t signature_lookup_count() const;
  /// Replaces the signature delay (for signatures of answers that end from now on).
  void set_signature_delay(std::chrono::milliseconds delay);

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace vp::sim
