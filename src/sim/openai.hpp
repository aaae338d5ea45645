#pragma once
// OpenAI-shaped answers of a simulated model backend: chat completions and completions
// (JSON, or an SSE stream of chunks ending with `data: [DONE]`), embeddings, the model
// list, and OpenAI-style JSON errors for anything else. Pure: the backend server decides
// when and how the bytes go out.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vp::sim {

/// Who answers: named in the generated text, so a test can tell the instances apart.
struct answer_context {
  std::string domain;
  std::size_t instance = 0;
  std::vector<std::string> models;  ///< the first one answers requests that name none
  unsigned stream_tokens = 16;
};

struct openai_answer {
  unsigned status = 200;
  std::string content_type = "application/json";
  /// Non-streaming: the whole body.
  std::string body;
  /// Streaming ("stream": true): each complete SSE event ("data: {…}\n\n"), the last one
  /// "data: [DONE]\n\n". Empty for non-streaming answers.
  std::vector<std::string> events;
  /// The answer's `id` (every chunk of a stream carries the same): unique per process,
  /// "chatcmpl-sim-N", "cmpl-sim-N" or "emb-sim-N"; the key of its signature (§3.3). ""
  /// for errors and the model list.
  std::string id;
  bool streaming() const { return !events.empty(); }
};

/// The answer to `method` `target` with request body `body`:
///   POST /v1/chat/completions, POST /v1/completions (stream_tokens chunks when "stream":true),
///   POST /v1/embeddings (with an `id`, which OpenAI's lacks: the signature's key), GET /v1/models; non-streaming completions echo the request's
///   last message (or prompt) in `sim_prompt_echo`; 400 for a body that is not a JSON object,
///   404 for any other path, 405 for a known path with another method.
openai_answer answer_openai(std::string_view method, std::string_view target, std::string_view body,
                            const answer_context& context);

/// An OpenAI-style error body: {"error":{"message":…,"type":…,"code":…}}.
std::string openai_error_body(std::string_view message, std::string_view type, std::string_view code);

/// An answer with `status` and openai_error_body(message, type, code).
openai_answer openai_error_answer(unsigned status, std::string_view message, std::string_view type,
                                  std::string_view code);

/// The response entity a signature's response hash covers (§3.3): the body, or every event.
std::string entity_of(const openai_answer& answer);

/// The text of token `i` of every simulated answer ("sim-token-<i> ").
std::string sim_token(std::size_t i);

}  // namespace vp::sim
