#include "sim/openai.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace vp::sim {
namespace {

namespace json = boost::json;

std::atomic<std::uint64_t> answer_counter{0};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

openai_answer error_answer(unsigned status, std::string_view message, std::string_view type, std::string_view code) {
  openai_answer a;
  a.status = status;
  a.body = openai_error_body(message, type, code);
  return a;
}

std::string path_of(std::string_view target) {
  const auto query = target.find('?');
  return std::string(target.substr(0, query));
}

/// The model the request names, else the backend's first model.
std::string model_of(const json::object& request, const answer_context& context) {
  if (const auto* m = request.if_contains("model"); m != nullptr && m->is_string()) {
    return std::string(m->get_string());
  }
  return context.models.empty() ? std::string("sim-model") : context.models.front();
}

bool wants_stream(const json::object& request) {
  const auto* s = request.if_contains("stream");
  return s != nullptr && s->is_bool() && s->get_bool();
}

json::object usage(std::size_t prompt, std::size_t completion) {
  json::object u;
  u["prompt_tokens"] = prompt;
  u["completion_tokens"] = completion;
  u["total_tokens"] = prompt + completion;
  return u;
}

std::string full_text(unsigned tokens) {
  std::string text;
  for (std::size_t i = 0; i < tokens; ++i) text += sim_token(i);
  return text;
}

/// The request's own text (the last chat message, or the prompt), echoed in non-streaming
/// answers so a test can tell which request an answer belongs to.
std::string prompt_of(const json::object& request) {
  if (const auto* messages = request.if_contains("messages"); messages != nullptr && messages->is_array()) {
    const auto& list = messages->get_array();
    if (!list.empty() && list.back().is_object()) {
      const auto* content = list.back().get_object().if_contains("content");
      if (content != nullptr && content->is_string()) return std::string(content->get_string());
    }
  }
  if (const auto* prompt = request.if_contains("prompt"); prompt != nullptr && prompt->is_string()) {
    return std::string(prompt->get_string());
  }
  return {};
}

std::string sse(const json::value& chunk) { return "data: " + json::serialize(chunk) + "\n\n"; }

openai_answer completion(bool chat, const json::object& request, const answer_context& context) {
  const std::string model = model_of(request, context);
  const std::string id = std::string(chat ? "chatcmpl-sim-" : "cmpl-sim-") + std::to_string(++answer_counter);
  const std::int64_t created = unix_now();
  openai_answer a;
  a.id = id;

  if (!wants_stream(request)) {
    json::object choice;
    choice["index"] = 0;
    const std::string text = "Simulated answer from " + context.domain + " instance " +
                             std::to_string(context.instance) + ": " + full_text(context.stream_tokens);
    if (chat) {
      choice["message"] = json::object{{"role", "assistant"}, {"content", text}};
    } else {
      choice["text"] = text;
    }
    choice["finish_reason"] = "stop";
    json::object body;
    body["id"] = id;
    body["object"] = chat ? "chat.completion" : "text_completion";
    body["created"] = created;
    body["model"] = model;
    body["choices"] = json::array{choice};
    body["usage"] = usage(8, context.stream_tokens);
    body["sim_prompt_echo"] = prompt_of(request);
    a.body = json::serialize(body);
    return a;
  }

  a.content_type = "text/event-stream";
  for (unsigned i = 0; i < context.stream_tokens; ++i) {
    json::object choice;
    choice["index"] = 0;
    if (chat) {
      json::object delta;
      if (i == 0) delta["role"] = "assistant";
      delta["content"] = sim_token(i);
      choice["delta"] = std::move(delta);
    } else {
      choice["text"] = sim_token(i);
    }
    choice["finish_reason"] = i + 1 == context.stream_tokens ? json::value("stop") : json::value(nullptr);
    json::object chunk;
    chunk["id"] = id;
    chunk["object"] = chat ? "chat.completion.chunk" : "text_completion";
    chunk["created"] = created;
    chunk["model"] = model;
    chunk["choices"] = json::array{choice};
    a.events.push_back(sse(chunk));
  }
  a.events.emplace_back("data: [DONE]\n\n");
  return a;
}

openai_answer embeddings(const json::object& request, const answer_context& context) {
  std::size_t inputs = 1;
  if (const auto* input = request.if_contains("input"); input != nullptr && input->is_array()) {
    inputs = std::max<std::size_t>(input->get_array().size(), 1);
  }
  json::array data;
  for (std::size_t i = 0; i < inputs; ++i) {
    json::array vector;
    for (std::size_t d = 0; d < 8; ++d) vector.emplace_back(static_cast<double>((i + 1) * (d + 1)) / 64.0);
    data.emplace_back(json::object{{"object", "embedding"}, {"index", i}, {"embedding", std::move(vector)}});
  }
  openai_answer a;
  // inference-proxy names answers without an engine id itself, "emb" for embeddings
  // (docs/gpu-signatures-e2ee.md §3.3): the signature is looked up by it.
  a.id = "emb-sim-" + std::to_string(++answer_counter);
  json::object body;
  body["id"] = a.id;
  body["object"] = "list";
  body["data"] = std::move(data);
  body["model"] = model_of(request, context);
  body["usage"] = json::object{{"prompt_tokens", 4 * inputs}, {"total_tokens", 4 * inputs}};
  a.body = json::serialize(body);
  return a;
}

openai_answer models(const answer_context& context) {
  json::array data;
  for (const auto& m : context.models) {
    data.emplace_back(json::object{{"id", m}, {"object", "model"}, {"created", 1767225600}, {"owned_by", "near-ai-sim"}});
  }
  openai_answer a;
  a.body = json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
  return a;
}

}  // namespace

std::string sim_token(std::size_t i) { return "sim-token-" + std::to_string(i) + " "; }

std::string openai_error_body(std::string_view message, std::string_view type, std::string_view code) {
  json::object error;
  error["message"] = message;
  error["type"] = type;
  error["code"] = code;
  return json::serialize(json::object{{"error", std::move(error)}});
}

openai_answer openai_error_answer(unsigned status, std::string_view message, std::string_view type,
                                  std::string_view code) {
  openai_answer a;
  a.status = status;
  a.body = openai_error_body(message, type, code);
  return a;
}

std::string entity_of(const openai_answer& answer) {
  if (!answer.streaming()) return answer.body;
  std::string all;
  for (const auto& event : answer.events) all += event;
  return all;
}

openai_answer answer_openai(std::string_view method, std::string_view target, std::string_view body,
                            const answer_context& context) {
  const std::string path = path_of(target);
  const bool is_chat = path == "/v1/chat/completions";
  const bool is_completion = path == "/v1/completions";
  const bool is_embeddings = path == "/v1/embeddings";
  if (path == "/v1/models") {
    if (method != "GET") return error_answer(405, "Use GET for /v1/models", "invalid_request_error", "method_not_allowed");
    return models(context);
  }
  if (!is_chat && !is_completion && !is_embeddings) {
    return error_answer(404, "No route for " + path, "invalid_request_error", "not_found");
  }
  if (method != "POST") {
    return error_answer(405, "Use POST for " + path, "invalid_request_error", "method_not_allowed");
  }
  boost::system::error_code ec;
  const json::value parsed = json::parse(body, ec);
  const json::object* request = ec ? nullptr : parsed.if_object();
  if (request == nullptr) {
    return error_answer(400, "The request body must be a JSON object", "invalid_request_error", "invalid_json");
  }
  if (is_embeddings) return embeddings(*request, context);
  return completion(is_chat, *request, context);
}

}  // namespace vp::sim
