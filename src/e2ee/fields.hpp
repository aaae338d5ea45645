#pragma once
// Which JSON fields NEAR's inference-proxy decrypts in requests and encrypts in responses,
// per endpoint (docs/gpu-signatures-e2ee.md §4.5, encryption.rs at a9082da6), and the
// transforms of a whole body in place: the client's (encrypt the request, decrypt the
// response) and the server's (the inverse, for the simulator). One table drives both, so
// the two sides cannot disagree about coverage. Pure.

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "e2ee/cipher.hpp"

namespace vp::e2ee {

enum class endpoint {
  chat_completions,      ///< POST /v1/chat/completions
  completions,           ///< POST /v1/completions
  embeddings,            ///< POST /v1/embeddings
  images_generations,    ///< POST /v1/images/generations
  images_edits,          ///< POST /v1/images/edits
  audio_transcriptions,  ///< POST /v1/audio/transcriptions
  rerank,                ///< POST /v1/rerank
  score,                 ///< POST /v1/score
};
/// The path, e.g. "/v1/chat/completions".
std::string_view to_string(endpoint e) noexcept;

/// The endpoint of a request whose body NEAR encrypts: POST and one of the paths above
/// (exactly; `path` without its query). nullopt for anything else.
std::optional<endpoint> endpoint_for(std::string_view method, std::string_view path) noexcept;

/// Why a body could not be transformed: the JSON pointer of the field and what is wrong
/// with it (never its value).
struct field_error {
  std::string pointer;
  std::string why;
};

/// How many fields a transform sealed or opened.
using field_count = boost::system::result<std::size_t, field_error>;

// ---- the client (the proxy)

/// Seals, in place, every request field the server decrypts for `e`, strict and
/// all-fields alike (the proxy always sends X-Encrypt-All-Fields: true): a client that
/// left a lenient field in plaintext must not leak it. Non-empty strings only; a chat
/// message's content array is sealed as one string of its JSON text; token-id prompts
/// stay as they are. Errors: a covered field of a type the server cannot take.
field_count encrypt_request(endpoint e, boost::json::object& body, const field_cipher& cipher);

/// Opens, in place, every covered response field (all-fields coverage) of a whole JSON
/// response (`chunk` false: choices[].message) or of one SSE chunk (`chunk` true:
/// choices[].delta). A covered non-empty string that does not open is an error (§4.7 rule
/// 4: no plaintext where ciphertext is due); so is a covered field that is not a string.
/// Values the server sealed as JSON text (embeddings, logprob bytes, score) are parsed
/// back to JSON.
field_count decrypt_response(endpoint e, boost::json::object& body, const field_cipher& cipher, bool chunk);

// ---- the server (the simulator)

/// Opens, in place, the request fields inference-proxy decrypts: strict fields must open
/// (error: "Decryption failed"); with `all_fields`, lenient fields are opened when they
/// do and left as they are when not.
field_count decrypt_request(endpoint e, boost::json::object& body, const field_cipher& cipher, bool all_fields);

/// Seals, in place, the response fields inference-proxy encrypts (`all_fields`: the
/// X-Encrypt-All-Fields coverage too) of a whole response or one SSE chunk.
field_count encrypt_response(endpoint e, boost::json::object& body, const field_cipher& cipher, bool all_fields,
                             bool chunk);

}  // namespace vp::e2ee
