#pragma once
// NEAR response signatures (docs/gpu-signatures-e2ee.md §3): the JSON that
// GET /v1/signature/{chat_id} returns, the signed text "model:sha256(request):sha256(response)"
// (or the legacy / gateway "sha256(request):sha256(response)"), and its verification
// against the key a verified quote binds. Pure: the caller fetched the JSON and hashed the
// exact bytes it wrote and read.

#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "attest/near_report.hpp"
#include "core/bytes.hpp"

namespace vp::signature {

/// Which producer's layout the signed text has (§3.2).
enum class text_format {
  model,   ///< "{MODEL_NAME}:{req}:{resp}": a model CVM's inference-proxy
  hashes,  ///< "{req}:{resp}": the gateway's own signatures and the legacy vllm-proxy
};
/// "model" / "hashes".
std::string_view to_string(text_format f) noexcept;

struct signed_text {
  text_format format = text_format::model;
  std::string model;  ///< empty for text_format::hashes
  sha256_digest request_hash{};
  sha256_digest response_hash{};
};

/// Parses `text` strictly: the last two ':'-separated fields are 64 lower-case hex digits
/// each; before them either nothing (hashes) or one non-empty model name without ':'
/// (it may contain '/'). The message says what is wrong.
boost::system::result<signed_text, std::string> parse_signed_text(std::string_view text);

/// The answer of GET /v1/signature/{chat_id} (§3.1), as parsed.
struct signature_document {
  std::string text;
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ecdsa;
  /// 20 bytes (ecdsa, "0x" + 40 hex of any case) or 32 bytes (ed25519, 64 hex).
  bytes signing_address;
  /// ecdsa: 65 bytes r‖s‖v ("0x" + 130 hex); ed25519: 64 bytes (128 hex, "0x" optional).
  bytes signature;
  /// The gateway's "provider_tee" | "gateway"; absent from direct backends.
  std::optional<std::string> signature_kind;
};

struct document_error {
  /// "signature_unavailable": a JSON object without text/signature (the gateway's
  /// {"error_code","message"} answer); "signature_malformed": anything else wrong.
  std::string code;
  std::string message;
};

/// Parses the JSON body. Never throws on untrusted input.
boost::system::result<signature_document, document_error> parse_signature_document(std::string_view json);

/// The key a signature must be by: the attested identity of the backend that served the
/// request.
struct expected_signer {
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ecdsa;
  /// 20 bytes (ecdsa) or 32 (ed25519): what report_data binds.
  bytes signing_address;
};

/// What the caller knows independently of the signature document. Every present value
/// must match; absent ones are not checked (and are reported as not checked).
struct expectations {
  std::optional<expected_signer> signer;
  std::optional<sha256_digest> request_hash;
  std::optional<sha256_digest> response_hash;
  std::optional<std::string> model;
};

struct verification {
  /// Empty when every check passed; else the first failed check: "text_malformed",
  /// "signature_malformed", "signing_algo_mismatch", "signer_mismatch", "signature_invalid",
  /// "request_hash_mismatch", "response_hash_mismatch", "model_mismatch".
  std::string failed_check;
  std::string message;  ///< what failed, or a one-line summary of what was verified
  std::optional<signed_text> text;
  /// The identity that produced the signature (ecdsa: the recovered key's address),
  /// formatted as the report writes it; empty when the signature did not verify.
  std::string signer;
  /// nullopt: not checked (no expectation given).
  std::optional<bool> request_hash_matches;
  std::optional<bool> response_hash_matches;
  std::optional<bool> model_matches;

  bool ok() const { return failed_check.empty(); }
};

/// Verifies `doc`: the text parses; the signature is by doc.signing_address (ecdsa:
/// EIP-191 personal_sign over Keccak-256, low-s, v ∈ {27, 28}, the key recovered from it
/// has that address; ed25519: RFC 8032 over the UTF-8 text under the 32-byte key); then
/// each expectation (signer: same algorithm and address; hashes; model name, compared
/// exactly). Never throws.
verification verify(const signature_document& doc, const expectations& expected);

}  // namespace vp::signature
