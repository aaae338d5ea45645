#pragma once
// Everything the proxy server is configured with (issue #5): the serve command fills it
// from flags, tests fill it directly. Defaults are the documented flag defaults.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/near_report.hpp"
#include "net/tls_options.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/integrity.hpp"

namespace vp::server {

/// Per-phase deadlines. Upstream phases: connect (DNS + TCP), TLS handshake,
/// attestation (report request → complete body), response headers (request written →
/// status line and headers), idle (between two reads of a response body: a streaming
/// answer may take long in total but must keep moving). Client phases: waiting for the
/// first byte of a request (an idle keep-alive connection, reclaimable), its header
/// section from that byte on (a client that trickles headers is cut: slowloris), and
/// silence between two reads of its body (a large upload may take long but must move).
struct timeouts {
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds tls{10'000};
  std::chrono::milliseconds attestation{30'000};
  std::chrono::milliseconds response_headers{300'000};
  std::chrono::milliseconds idle{120'000};
  std::chrono::milliseconds client_keep_alive{120'000};
  std::chrono::milliseconds client_header{10'000};
  std::chrono::milliseconds client_body{30'000};
};

/// NVIDIA's Remote Attestation Service (docs/gpu-signatures-e2ee.md §2): where the GPU
/// evidence is sent for NVIDIA's own verdict, where its signing keys are published, and
/// which intermediate certificate those keys must chain to. The pin is what the proxy
/// trusts (not the transport): a key set is accepted only when each signing key's x5c is
/// issued by an intermediate whose SHA-256(SPKI) is listed.
struct nras_options {
  bool enabled = true;  ///< --no-nras: never consulted (gpu_nras skips; a policy requiring it fails)
  std::string attest_url = "https://nras.attestation.nvidia.com/v3/attest/gpu";
  std::string jwks_url = "https://nras.attestation.nvidia.com/.well-known/jwks.json";
  /// SHA-256 of the SubjectPublicKeyInfo of accepted JWKS intermediates, hex; default:
  /// "NVIDIA Attestation Service GPU Intermediate 004".
  std::vector<std::string> key_pins = {"fd32837f954e2c45db073105166dfe6985ae0480bb113fba63b091a75affe896"};
  /// --nras-ca: PEM trusted for https NRAS URLs instead of the system store ("" = system).
  std::string ca_file;
};

/// --backend: where a request routed by its model goes. direct: the model's own domain
/// from the discovery list (*.completions.near.ai), attested as one model CVM. gateway:
/// NEAR's gateway (cloud-api.near.ai, docs/gpu-signatures-e2ee.md §5), attested as the
/// gateway CVM and, behind it, the model CVM that will read the prompt.
enum class backend_kind { direct, gateway };
std::string_view to_string(backend_kind b) noexcept;
std::optional<backend_kind> parse_backend_kind(std::string_view text) noexcept;

struct proxy_config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;  ///< 0: an ephemeral port (tests)

  std::string endpoints_url = "https://completions.near.ai/endpoints";
  std::chrono::seconds endpoints_refresh{300};
  /// --endpoints-ca: PEM file trusted for an https endpoints URL ("" = system store).
  std::string endpoints_ca;

  std::vector<std::string> allow_domains = {"*.completions.near.ai"};

  backend_kind backend = backend_kind::direct;
  /// --gateway-url's host. With backend_kind::gateway every request routed by model goes
  /// there, the allowlist gains it (and only then), and GET /v1/models is its model list.
  std::string gateway_host = "cloud-api.near.ai";
  std::size_t max_body = 32u << 20;
  /// Request bodies held in memory at once, over all clients (503 above).
  std::size_t max_buffered_bodies = 256u << 20;

  std::chrono::seconds attestation_ttl{3600};
  std::chrono::seconds negative_ttl{30};
  std::size_t max_attestation_report = 8u << 20;

  struct nras_options nras;

  struct timeouts timeouts;

  std::uint16_t upstream_port = 443;
  std::vector<proxy::connect_to_rule> connect_to;
  /// --upstream-ca, --no-webpki (without webpki, attestation alone proves the backend).
  net::tls_client_options upstream_tls;

  /// Upstream connections open at once, in use plus idle in the pool (nullopt: as many
  /// as max_client_connections); 0 pools nothing. Idle connections are closed after pool_idle_timeout
  /// (--pool-idle-timeout), by default below nginx's keepalive_timeout (75 s) so that
  /// the proxy, not the backend, ends an idle connection.
  std::optional<std::size_t> pool_max_connections;
  std::chrono::seconds pool_idle_timeout{55};
  /// --tls-resumption: resume upstream TLS sessions while their server's verdict is fresh
  /// (saves the full handshake of every new upstream connection).
  bool tls_resumption = true;

  /// Client connections served at once (--max-connections). From 90 % on, idle
  /// keep-alive connections are closed to make room, the longest idle first; when every
  /// one is busy, a new client is answered 503 too_many_connections and closed.
  std::size_t max_client_connections = 4096;
  /// Descriptors for client and backend connections together (serve: the descriptor limit
  /// less a reserve, descriptor_budget.hpp; 0: no bound beyond the two limits above). A
  /// client is admitted, and a backend connection opened, only while both kinds together
  /// stay below it; the client limit's 90 % mark counts the backend connections too.
  std::size_t max_descriptors = 0;
  /// --e2ee: seal the covered fields of every request to the attested key (on), or also
  /// refuse what cannot be sealed (required), or only rely on the attested TLS (off).
  proxy::e2ee_mode e2ee = proxy::e2ee_mode::on;
  /// --verify-signatures: check each signed answer's signature (check), withhold answers
  /// whose signature does not verify (enforce), or not look (off).
  proxy::signature_mode verify_signatures = proxy::signature_mode::check;
  /// --signing-algo: the key the attestation asks report_data to bind (E2EE v2 needs ed25519).
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ed25519;
  /// --signature-wait: how long a signature lookup answered 404 is retried.
  std::chrono::milliseconds signature_wait{3000};
  /// On SIGINT / SIGTERM: how long in-flight requests may finish before being cut.
  std::chrono::seconds shutdown_grace{10};
};

}  // namespace vp::server
