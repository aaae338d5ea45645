#pragma once
// What a simulated NEAR AI deployment looks like and how its backends misbehave
// (issue #5 "The simulator"). Plain data, shared by the in-process API
// (sim/simulator.hpp), the backend server and the command line.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vp::sim {

/// Fault switches of one backend instance; the defaults behave like a healthy NEAR CVM.
/// Attestation faults change what /v1/attestation/report returns, the others how ordinary
/// requests are answered. Changeable at run time (simulator::set_faults).
/// Workload evidence that does not describe what a NEAR CVM runs (docs/nearai-attestation.md
/// §4): each is caught by a different workload-policy factor, and none by the quote.
enum class workload_tampering {
  none,
  altered_event,     ///< a boot event's logged digest changed: the log no longer replays to the RTMRs
  changed_compose,   ///< app_compose differs by one byte from the manifest the CVM measured
  foreign_app_id,    ///< measured consistently, but as another app (not the pinned app id)
  foreign_os_image,  ///< measured consistently, but booted from another OS image
  foreign_kms,       ///< measured consistently, but keyed by another KMS
  foreign_mrtd,      ///< the TD's firmware (MRTD) is not the pinned one
};

/// Stable snake_case spelling ("altered_event"); the --fault value.
std::string_view to_string(workload_tampering t) noexcept;

struct backend_faults {
  /// report_data binds another SPKI, and tls_cert_fingerprint names that other SPKI (a
  /// report relayed from another machine): the live key no longer matches.
  bool wrong_fingerprint = false;
  /// report_data[32:64] holds another nonce than the one asked for (a replayed report);
  /// request_nonce still echoes the real one, so only a check against the quote catches it.
  bool wrong_nonce = false;
  /// The quote comes from a second test PKI whose root the proxy does not trust.
  bool untrusted_root = false;
  /// The quote's PCK leaf carries the serial number the PCCS's PCK CRL revokes.
  bool revoked_pck = false;
  /// The PCK certificate's PCESVN is below the UpToDate TCB level: Intel's status for
  /// the platform is OutOfDate (with that level's advisories).
  bool out_of_date_tcb = false;
  /// TDATTRIBUTES.DEBUG is set: the host can read the TD's memory.
  bool debug_td = false;
  workload_tampering tampered_workload = workload_tampering::none;
  /// GPU evidence faults (docs/gpu-signatures-e2ee.md §1.4). Each breaks one local check
  /// of the LAST GPU of the CVM (so a verifier that stops after GPU 0 misses it), every
  /// other rule still holding; all are caught by the gpu_evidence factor.
  /// The SPDM GET_MEASUREMENTS request carried another nonce (L9 spdm_nonce: replayed evidence).
  bool gpu_wrong_nonce = false;
  /// A bit of the SPDM signature is flipped (L10 signature).
  bool gpu_bad_signature = false;
  /// The GPU's certificate chain ends at another root with NVIDIA's names (L4-L6 chain).
  bool gpu_foreign_root = false;
  /// The report has no nvidia_payload key at all (fails only a policy with gpu.required).
  bool gpu_missing_payload = false;
  /// evidence_list holds one GPU fewer than info.vm_config.num_gpus (L15 count).
  bool gpu_fewer = false;
  /// The payload's top-level nonce is another one; the SPDM requests carry that one too (L2
  /// payload_nonce).
  bool gpu_payload_nonce = false;
  /// Never answer non-attestation requests (the connection stays open).
  bool hang = false;
  /// Close the connection (TCP, no TLS close_notify, no last chunk) after half of the
  /// SSE chunks of a streaming answer.
  bool disconnect_mid_stream = false;
  /// The attestation report body is larger than 8 MiB (attest::max_report_body_size).
  bool oversized_attestation = false;
  /// Ordinary answers are close-delimited (HTTP/1.0 style): no Content-Length, not
  /// chunked, `Connection: close`, the body ends when the connection does.
  bool close_delimited = false;
  /// The attestation answer is sent chunked and ends with a trailer field of 70,000 bytes
  /// (over Beast's 64 KiB field limit: a parser that inserts trailer fields throws).
  bool huge_trailer_on_attestation = false;
  /// Ordinary answers (non-streaming ones sent chunked too) end with such a trailer.
  bool huge_trailer_on_answers = false;
  /// Garbage bytes follow each non-streaming ordinary answer, in the same write: a client
  /// that reuses the connection reads them as the start of the next response.
  bool extra_bytes_after_response = false;
  /// A second complete response (body `{"injected":"INJECTED-BY-SIM"}`) follows each
  /// non-streaming ordinary answer, in the same write.
  bool second_response_appended = false;
  /// That injected response follows the attestation answer, in the same write.
  bool unsolicited_after_attestation = false;
  /// Wait this long after each non-streaming ordinary answer, then send the injected
  /// response unasked (bytes that arrive while the client holds the connection idle); 0 =
  /// never.
  std::chrono::milliseconds unsolicited_while_idle{0};
  /// Answer HEAD requests with the GET body (RFC 9110 §9.3.2: a HEAD response has none).
  bool head_with_body = false;
  /// Generate a new TLS key + certificate after every N non-attestation requests (0 =
  /// never); connections accepted afterwards present the new one, open ones keep theirs.
  unsigned rotate_every = 0;
  std::chrono::milliseconds answer_delay{0};       ///< "slow": wait before each non-attestation answer
  std::chrono::milliseconds attestation_delay{0};  ///< wait before the attestation answer
  /// Response-signature faults (docs/gpu-signatures-e2ee.md §3). Each signature verifies
  /// on its own terms; only the checks of §3.3 and §3.6 catch it.
  /// Signed by another key pair (both algorithms), and the signature document names that
  /// key's address: only the comparison with the attested signer catches it.
  bool signature_foreign_key = false;
  /// The signed text's response hash is over other bytes (the entity sent, one byte flipped).
  bool signature_other_bytes = false;
  /// GET /v1/signature/{chat_id} always answers 404 "Chat id not found or expired".
  bool signature_missing = false;
  /// E2EE faults (§4.7 rule 4), on the first choice (or data item) of a JSON answer and of
  /// the LAST content chunk of a stream (a client that checks the first chunk only misses it):
  /// its covered field (message/delta content, text, embedding) stays in plaintext while
  /// every other covered field is sealed.
  bool e2ee_plaintext_response = false;
  /// That field is sealed to another key instead: valid ciphertext that does not open.
  bool e2ee_undecryptable_response = false;
  /// The report's signing_public_key is another key pair's; signing_address (what
  /// report_data binds) stays the real one (§4.7 rule 1: nothing may be encrypted to it).
  bool unbound_signing_key = false;
};

/// How the simulated NVIDIA Remote Attestation Service (docs/gpu-signatures-e2ee.md §2)
/// misbehaves. NRAS is one service for the whole deployment, so these are set per
/// simulator (simulator_options::nras, simulator::set_nras_faults), not per instance.
/// Every answer is validly signed by the fake NRAS key: only the claims lie.
struct nras_faults {
  /// POST /v3/attest/gpu answers 503 (an outage; the JWKS is still served).
  bool down = false;
  /// x-nvidia-overall-att-result is false (§2.3 J5).
  bool verdict_false = false;
  /// Every token's eat_nonce is another nonce than the payload's (§2.3 J4).
  bool wrong_nonce = false;
  /// Every token expires at its issue time (exp = iat: expired when received, §2.3 J3).
  bool expired = false;
};

/// How the simulated gateway (cloud-api, docs/gpu-signatures-e2ee.md §5) misbehaves. Each
/// breaks one guarantee a verifying client relies on; every other rule still holds.
struct gateway_faults {
  /// gateway_attestation binds another SPKI than the gateway's live TLS key (report_data and
  /// tls_cert_fingerprint both name that other key).
  bool unbound_tls_key = false;
  /// The embedded model attestation was produced for another nonce than the client's.
  bool model_other_nonce = false;
  /// The embedded model attestation comes from a CVM that fails the model policy: measured
  /// consistently, but as another app (workload_tampering::foreign_app_id).
  bool model_fails_policy = false;
  /// Requests are forwarded without the E2EE header fields: the model reads the sealed
  /// fields as text and answers in plaintext.
  bool strip_e2ee_headers = false;
  /// Requests are answered by the gateway itself (the covered answer fields sealed to the
  /// client's key, which it knows from X-Client-Pub-Key), and the signature lookup of such
  /// an answer returns a "provider_tee" signature by a key no model attestation carries.
  bool impersonate_model = false;
  /// The next N requests carrying X-Model-Pub-Key are answered 502 NoPubKeyProvider (the
  /// pinned replica went away); later ones are routed normally.
  unsigned no_pub_key_provider = 0;
};

/// A simulated NEAR gateway in front of the simulator's model domains: its own CVM (another
/// app id, its own measurements, TLS key and signing keys), answering the gateway form of
/// /v1/attestation/report and relaying inference requests to the model CVMs.
struct gateway_options {
  std::string domain = "cloud-api.near.ai";
  gateway_faults faults;
};

/// One simulated domain: one TLS listener on 127.0.0.1 in front of `instances` CVMs,
/// picked round-robin per accepted connection, each with its own TLS key and signing key.
struct domain_options {
  std::string domain = "sim.completions.near.ai";
  std::vector<std::string> models = {"sim-model"};
  std::size_t instances = 1;
  backend_faults faults;  ///< initial faults of every instance
};

/// The most GPUs a simulated CVM may have: the verifier's bound on untrusted input
/// (vp::gpu::max_gpus; NEAR's hosts carry 8).
inline constexpr std::size_t max_gpus_per_cvm = 16;

struct simulator_options {
  std::vector<domain_options> domains = {domain_options{}};
  /// NVIDIA GPUs per CVM (NEAR's hosts carry 8). Each CVM's report carries their signed
  /// evidence for the request nonce, its info.vm_config.num_gpus says this number, and
  /// every CVM has GPUs of its own (distinct keys and serials). 0: no GPU evidence (an
  /// empty evidence_list) and num_gpus 0.
  std::size_t gpus = 8;
  /// Initial faults of the fake NRAS.
  nras_faults nras;
  /// A gateway in front of `domains` (nullopt: none).
  std::optional<gateway_options> gateway;
  /// 0 = ephemeral port for the gateway.
  std::uint16_t gateway_port = 0;
  /// 0 = ephemeral port for the fake NRAS.
  std::uint16_t nras_port = 0;
  /// SSE chunks of a streaming answer (then `data: [DONE]`).
  unsigned stream_tokens = 16;
  /// Wait before each SSE chunk.
  std::chrono::milliseconds token_delay{0};
  /// A completion's signature becomes visible to GET /v1/signature/{chat_id} this long
  /// after its response ended (inference-proxy stores it after the last byte is sent, so
  /// an immediate lookup can 404, §3.3).
  std::chrono::milliseconds signature_delay{0};
  /// 0 = ephemeral port.
  std::uint16_t pccs_port = 0, endpoints_port = 0;
  /// Backends listen on ephemeral ports unless this is set; then domain i listens on
  /// first_backend_port + i.
  std::uint16_t first_backend_port = 0;
  /// How long before start-up Intel "published" the UpToDate TCB level (its tcbDate).
  /// nullopt: the test PKI's fixed 2024-03-13, far outside any grace window, so an
  /// out_of_date_tcb quote is long overdue; a few days: OutOfDate within a grace window.
  std::optional<std::chrono::days> up_to_date_tcb_level_age;
};

/// What one accepted backend connection saw (for ordering tests: nothing of a client's
/// request may arrive before the attestation answer).
struct connection_record {
  std::size_t instance = 0;
  std::string spki_sha256_hex;  ///< the certificate this connection presented
  bool tls_resumed = false;     ///< its handshake resumed an earlier session (no certificate sent)
  std::string received;         ///< every plaintext byte received, in order
  /// received.size() when the server began writing its first response; nullopt: never
  /// answered.
  std::optional<std::size_t> received_when_first_response_began;
  std::vector<std::string> request_targets;  ///< in order
  /// SSE events written on this connection ([DONE] included): a client that goes away
  /// mid-stream must make the proxy stop the upstream generation.
  std::size_t stream_events_sent = 0;
};

/// One non-attestation request a backend received and what it made of it (in arrival
/// order): the bytes a signature's request hash covers, the chat id of the answer and the
/// entity bytes its response hash covers.
struct backend_exchange {
  std::size_t instance = 0;
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  ///< as received
  std::string body;  ///< as received: ciphertext in the covered fields under E2EE
  /// What the model answered from: the decrypted body (= body without E2EE; "" when the
  /// request was refused before).
  std::string model_body;
  unsigned status = 0;  ///< 0 until the answer began
  /// The answer's id (the JSON `id`, or the first chunk's): the signature's key. "" for
  /// answers without one (errors, /v1/models, signature lookups).
  std::string chat_id;
  /// The response entity the backend sends (after E2EE; a stream: every event, [DONE]
  /// included), recorded before it goes out.
  std::string response_entity;
  /// The answer went out completely and a signature for chat_id was stored (visible after
  /// the signature delay). Set after the last byte was written: a client that read the
  /// answer may look before it is; a request on the same connection is served after it.
  bool signed_answer = false;
};

/// One request the gateway received from its client (signature lookups and attestation
/// requests aside), in arrival order: what a client sent and what the gateway could read.
struct gateway_exchange {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  ///< as received from the client
  std::string body;                                          ///< as received from the client
  /// Where it was relayed: the model domain and instance (empty domain: not relayed — a
  /// 502 NoPubKeyProvider, impersonate_model, an unknown model).
  std::string relayed_to_domain;
  std::size_t relayed_to_instance = 0;
  /// The header fields the gateway sent to the model CVM.
  std::vector<std::pair<std::string, std::string>> relayed_headers;
  unsigned status = 0;
  /// The response entity sent to the client (a stream: every event), recorded before it
  /// goes out.
  std::string response_entity;
  /// "provider_tee" (relayed byte-exactly, the model's signature is returned) or "gateway"
  /// (the gateway signed what it sent itself); "" when unsigned.
  std::string signature_kind;
};

}  // namespace vp::sim
