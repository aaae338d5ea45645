#pragma once
// Entry points shared by the libFuzzer programs (clang, `make fuzz`) and by the
// deterministic mutation test in the unit suite (GCC, `make test`). Each must
// accept any bytes without crashing, throwing or reading out of bounds. The newer
// targets also assert properties of what the parsers accept (documented limits,
// consistency between parser and checks): a violated property aborts with a message
// naming it, which libFuzzer reports as a crash with the input that caused it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vp::fuzz {

/// Quote parser, then the PCK chain and SGX extension it carries.
void quote_input(const std::uint8_t* data, std::size_t size);

/// QuoteCollateralV3 JSON, PCS response splitting, TCB info / QE identity parsers and
/// collateral preparation.
void collateral_input(const std::uint8_t* data, std::size_t size);

/// A NEAR /v1/attestation/report body (direct or gateway form): attest::parse_report_document,
/// then on every attestation it yields the event-log parser, RTMR replay, runtime-digest
/// recomputation, the key-provider parser and policy::evaluate() against a TD report
/// consistent with the report's own claims (so that the checks behind a matching replay
/// are reached). Asserts the documented field limits and that identities are only taken
/// from a log that replayed.
void report_input(const std::uint8_t* data, std::size_t size);

/// A JSON event log array: policy::parse_event_log, replay_rtmrs, check_runtime_digests
/// (checked against an independent recomputation), and the key-provider parser on the
/// same text and on every key-provider event payload.
void event_log_input(const std::uint8_t* data, std::size_t size);

/// A policy file: policy::parse_policy, its documented limits, then policy::evaluate()
/// under the parsed policy on a fixed synthetic attestation.
void policy_input(const std::uint8_t* data, std::size_t size);

/// Routing and forwarding text from clients, the discovery service and the command line:
/// proxy::parse_endpoints (default and tight limits), model_of_request, parse_connect_to,
/// normalize_host and the header helpers.
void routing_input(const std::uint8_t* data, std::size_t size);

/// An HTTP/1.1 request as a client sends it, fed to net::bounded_request_parser in pieces
/// (the first byte picks the piece size), then the proxy's pure request checks on what it
/// accepts: origin_form_target, find_request_model, the X-Backend-Domain host rules.
/// Asserts that an accepted message obeys the framing rules (one Host, a final chunked
/// or none, trailers never merged into the header) and the limits.
void http_request_input(const std::uint8_t* data, std::size_t size);

/// An HTTP/1.1 response as a backend, the discovery service or a PCCS sends it, fed to
/// net::bounded_response_parser with a small relay buffer (the forwarder's shape) and to
/// one with a string body (the HTTP client's shape), for a GET and for a HEAD request.
void http_response_input(const std::uint8_t* data, std::size_t size);

/// A decoded `nvidia_payload` (docs/gpu-signatures-e2ee.md §1.1): gpu::parse_payload,
/// gpu::parse_spdm on every entry's evidence, then gpu::verify against the synthetic root
/// and the compiled-in NVIDIA root. Asserts L1/L3 on what the parser accepts, that the
/// SPDM views lie inside the evidence, and that a second verification (the chain cache
/// warm) says exactly what the first said.
void gpu_payload_input(const std::uint8_t* data, std::size_t size);

/// An NRAS answer and its key set (§2.2-§2.3): gpu::nras::parse_jwks, then
/// gpu::nras::verify_response against the synthetic JWKS, nonce and local GPUs, and
/// against the input's own key set. "<jwks>\0<answer>" mutates both together. Asserts
/// that a verdict has one claim set per local GPU, bound to it.
void nras_input(const std::uint8_t* data, std::size_t size);

/// A /v1/signature/{chat_id} body and, the same bytes, a signed text (§3.1-§3.2):
/// signature::parse_signed_text, parse_signature_document, then signature::verify.
/// Asserts that an accepted text prints back as itself (one spelling per value), that a
/// document's sizes match its algorithm, and that a signature that verifies also meets the
/// expectations its own text states and fails a changed one.
void signature_input(const std::uint8_t* data, std::size_t size);

/// A backend's SSE stream (docs/gpu-signatures-e2ee.md §4.6; the first byte picks the read
/// size) through e2ee::sse_event_reader and parse_sse_event. Asserts that the events do
/// not depend on the read size, that events and pending bytes are exactly the stream, and
/// the reader's bound.
void sse_input(const std::uint8_t* data, std::size_t size);

/// A JSON body through the E2EE field transforms of every endpoint (§4.5): the client's
/// decrypt_response on it as received, and server-seal then client-open (which must give
/// the body back exactly), for whole responses and chunks; the same for requests.
void e2ee_fields_input(const std::uint8_t* data, std::size_t size);

/// A backend's answer through proxy::response_inspector (the first byte picks JSON or SSE,
/// whether it is decrypted, whether [DONE] is withheld, and the read size). Asserts that
/// the hash is of exactly the bytes fed, and that without decryption the client gets the
/// bytes unchanged (a withheld [DONE] included once released).
void answer_input(const std::uint8_t* data, std::size_t size);

/// Seeds built in code (no files), shaped like what each target parses so that mutations
/// reach past the first checks: synthetic direct and gateway reports (event log, info and
/// tcb_info both in place and as JSON strings, v1 and v2 runtime digests), event logs and
/// key-provider texts, policies (the built-in one among them), endpoint lists, request
/// bodies and --connect-to specs.
std::vector<std::string> report_seeds();
std::vector<std::string> event_log_seeds();
std::vector<std::string> policy_seeds();
std::vector<std::string> routing_seeds();
/// Requests and responses: well-formed ones (Content-Length, chunked with a trailer,
/// pipelined) and the inputs that once ended the process or smuggled a request (huge
/// trailer fields, transfer codings other than a final chunked).
std::vector<std::string> http_request_seeds();
std::vector<std::string> http_response_seeds();
/// Synthetic payloads from nvidia_test_pki (1, 2 and 8 GPUs, both producers, one bad GPU
/// each way), plus the real captures' payloads when $VP_TESTDATA_DIR is set; fake NRAS
/// answers, its JWKS and the two joined.
std::vector<std::string> gpu_payload_seeds();
std::vector<std::string> nras_seeds();
/// ecdsa and ed25519 documents signed with fixed test keys (model and hashes texts), the
/// gateway's "unavailable" answer, and bare signed texts.
std::vector<std::string> signature_seeds();

/// SSE streams in every line-ending style; request and response bodies with every
/// covered field (some sealed with the test key).
std::vector<std::string> sse_seeds();
std::vector<std::string> e2ee_fields_seeds();
/// Plain and sealed JSON answers and streams, with every mode byte.
std::vector<std::string> answer_seeds();

/// For a libFuzzer program's LLVMFuzzerInitialize: when $VP_FUZZ_SEED_DIR names a
/// directory (tests/fuzz/run sets it to the run's fresh corpus directory), writes
/// `seeds` there as seed-N files before libFuzzer reads the corpus.
void write_seed_corpus(const std::vector<std::string>& seeds);

}  // namespace vp::fuzz
