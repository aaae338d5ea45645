#include "e2ee/fields.hpp"

#include <boost/json.hpp>

#include <array>
#include <exception>
#include <span>

namespace vp::e2ee {
namespace json = boost::json;

namespace {

/// What a covered value is and how it travels sealed.
enum class leaf {
  text,              ///< a string
  message_content,   ///< request messages[].content: a string, or a multimodal array sealed as its JSON text
  response_content,  ///< response content: a string, or the .text of each element of a parts array
  json_text,         ///< any JSON value, sealed as its serialisation and parsed back when opened
  prompt,            ///< a string, or the string elements of an array (token ids stay as they are)
  document,          ///< a string, or an object's .text
};

/// When inference-proxy transforms a field (§4.5).
enum class tier {
  strict,      ///< request: decrypt_field, a value that does not open is a 400
  lenient,     ///< request: try_decrypt_field, only with X-Encrypt-All-Fields; plaintext passes
  always,      ///< response: always sealed
  all_fields,  ///< response: sealed with X-Encrypt-All-Fields
  if_sealed,   ///< response: the server leaves it in plaintext; opened should it ever come sealed
};

/// One covered field. `path`: keys separated by '.'; "[]" after a key: each element of
/// the array; "$": "message" in a whole response, "delta" in an SSE chunk; "?" after a key:
/// a string there is a mode ("auto", "none") with nothing below it, not an error.
struct rule {
  std::string_view path;
  leaf kind;
  tier when;
  bool chunk_only = false;
};

// The one coverage table (encryption.rs at a9082da6). The client's encrypt_request seals
// every request row; the server's decrypt_request opens them by tier; encrypt_response and
// decrypt_response walk the response rows the same way.
constexpr rule chat_request[] = {
    {"messages[].content", leaf::message_content, tier::strict},
    {"messages[].reasoning_content", leaf::text, tier::strict},
    {"messages[].reasoning", leaf::text, tier::strict},
    {"messages[].audio.data", leaf::text, tier::strict},
    {"messages[].refusal", leaf::text, tier::lenient},
    {"messages[].name", leaf::text, tier::lenient},
    {"messages[].tool_calls[].function.name", leaf::text, tier::lenient},
    {"messages[].tool_calls[].function.arguments", leaf::text, tier::lenient},
    {"messages[].function_call.name", leaf::text, tier::lenient},
    {"messages[].function_call.arguments", leaf::text, tier::lenient},
    {"tools[].function.name", leaf::text, tier::lenient},
    {"tools[].function.description", leaf::text, tier::lenient},
    {"tools[].function.parameters", leaf::json_text, tier::lenient},
    {"tool_choice?.function.name", leaf::text, tier::lenient},
    {"function_call?.name", leaf::text, tier::lenient},
};
constexpr rule chat_response[] = {
    {"choices[].$.content", leaf::response_content, tier::always},
    {"choices[].$.reasoning_content", leaf::text, tier::always},
    {"choices[].$.reasoning", leaf::text, tier::always},
    {"choices[].$.audio.data", leaf::text, tier::always},
    // The docs' E2EE guide: a tool result streamed by the proxy is always sealed.
    {"choices[].delta.nearai_tool_result.output", leaf::text, tier::always, true},
    {"choices[].$.refusal", leaf::text, tier::all_fields},
    {"choices[].$.tool_calls[].function.name", leaf::text, tier::all_fields},
    {"choices[].$.tool_calls[].function.arguments", leaf::text, tier::all_fields},
    {"choices[].$.function_call.name", leaf::text, tier::all_fields},
    {"choices[].$.function_call.arguments", leaf::text, tier::all_fields},
    {"choices[].logprobs.content[].token", leaf::text, tier::all_fields},
    {"choices[].logprobs.content[].bytes", leaf::json_text, tier::all_fields},
    {"choices[].logprobs.content[].top_logprobs[].token", leaf::text, tier::all_fields},
    {"choices[].logprobs.content[].top_logprobs[].bytes", leaf::json_text, tier::all_fields},
    {"choices[].logprobs.refusal[].token", leaf::text, tier::all_fields},
    {"choices[].logprobs.refusal[].bytes", leaf::json_text, tier::all_fields},
    {"choices[].logprobs.refusal[].top_logprobs[].token", leaf::text, tier::all_fields},
    {"choices[].logprobs.refusal[].top_logprobs[].bytes", leaf::json_text, tier::all_fields},
};
constexpr rule completions_request[] = {{"prompt", leaf::prompt, tier::strict}};
constexpr rule completions_response[] = {{"choices[].text", leaf::text, tier::always}};
constexpr rule embeddings_request[] = {{"input", leaf::prompt, tier::strict}};
constexpr rule embeddings_response[] = {{"data[].embedding", leaf::json_text, tier::always}};
constexpr rule images_request[] = {{"prompt", leaf::text, tier::strict}};
constexpr rule images_response[] = {
    {"data[].b64_json", leaf::text, tier::always},
    {"data[].revised_prompt", leaf::text, tier::always},
};
constexpr rule audio_request[] = {{"prompt", leaf::text, tier::strict}};
constexpr rule audio_response[] = {{"text", leaf::text, tier::always}};
constexpr rule rerank_request[] = {
    {"query", leaf::text, tier::strict},
    {"documents[]", leaf::document, tier::strict},
};
constexpr rule rerank_response[] = {{"results[].document.text", leaf::text, tier::always}};
// text_1 / text_2 may also be lists of strings in the score API: each string is sealed.
constexpr rule score_request[] = {
    {"text_1", leaf::prompt, tier::strict},
    {"text_2", leaf::prompt, tier::strict},
};
// encryption.rs seals the top-level score; teep saw data[].score in plaintext (a known
// upstream gap). Requiring data[].score sealed would refuse every real score answer, so it
// is opened when it is sealed and otherwise passes; the simulator leaves it plaintext, as
// upstream does.
constexpr rule score_response[] = {
    {"score", leaf::json_text, tier::always},
    {"data[].score", leaf::json_text, tier::if_sealed},
};

struct coverage {
  std::span<const rule> request;
  std::span<const rule> response;
};

coverage coverage_of(endpoint e) {
  switch (e) {
    case endpoint::chat_completions:
      return {chat_request, chat_response};
    case endpoint::completions:
      return {completions_request, completions_response};
    case endpoint::embeddings:
      return {embeddings_request, embeddings_response};
    case endpoint::images_generations:
    case endpoint::images_edits:
      return {images_request, images_response};
    case endpoint::audio_transcriptions:
      return {audio_request, audio_response};
    case endpoint::rerank:
      return {rerank_request, rerank_response};
    case endpoint::score:
      return {score_request, score_response};
  }
  return {};
}

/// How one transform treats the fields of one rule.
enum class action {
  seal,           ///< seal; a value of a type that cannot be sealed is an error
  open_required,  ///< open; what does not open, or is not sealed, is an error
  open_lenient,   ///< open what opens; leave everything else as it is
};

/// Walks one body along the rules and transforms each covered value.
class transformer {
 public:
  transformer(const field_cipher& cipher, bool chunk, bool generic_errors)
      : cipher_(cipher), chunk_(chunk), generic_errors_(generic_errors) {}

  /// False once an error is recorded.
  bool apply(json::object& body, const rule& r, action a) {
    action_ = a;
    kind_ = r.kind;
    pointer_.clear();
    walk_object(body, r.path);
    return !error_;
  }

  std::size_t count() const { return count_; }
  std::optional<field_error>& error() { return error_; }

 private:
  class pointer_scope {
   public:
    pointer_scope(std::string& p, std::string_view token) : p_(p), size_(p.size()) {
      p_.push_back('/');
      // RFC 6901 §3: '~' and '/' in a reference token are escaped.
      for (const char c : token) {
        if (c == '~') {
          p_.append("~0");
        } else if (c == '/') {
          p_.append("~1");
        } else {
          p_.push_back(c);
        }
      }
    }
    pointer_scope(std::string& p, std::size_t index) : pointer_scope(p, std::to_string(index)) {}
    pointer_scope(const pointer_scope&) = delete;
    pointer_scope& operator=(const pointer_scope&) = delete;
    ~pointer_scope() { p_.resize(size_); }

   private:
    std::string& p_;
    std::size_t size_;
  };

  /// Records `why` at the current pointer unless the action tolerates anything.
  void fail(std::string_view why) {
    if (action_ == action::open_lenient || error_) return;
    // inference-proxy answers every undecryptable request field with one generic message.
    error_ = field_error{pointer_, generic_errors_ ? std::string("Decryption failed") : std::string(why)};
  }

  void walk_object(json::object& object, std::string_view path) {
    const std::size_t dot = path.find('.');
    std::string_view segment = path.substr(0, dot);
    const std::string_view rest = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    const bool each = segment.ends_with("[]");
    if (each) segment.remove_suffix(2);
    const bool mode_string_allowed = segment.ends_with('?');
    if (mode_string_allowed) segment.remove_suffix(1);
    if (segment == "$") segment = chunk_ ? "delta" : "message";

    json::value* child = object.if_contains(segment);
    if (child == nullptr || child->is_null()) return;
    const pointer_scope at(pointer_, segment);
    if (!each) {
      step(*child, rest, mode_string_allowed);
      return;
    }
    json::array* elements = child->if_array();
    if (elements == nullptr) return fail("is not an array");
    for (std::size_t i = 0; i < elements->size() && !error_; ++i) {
      const pointer_scope element_at(pointer_, i);
      step((*elements)[i], rest, false);
    }
  }

  void step(json::value& v, std::string_view rest, bool mode_string_allowed) {
    if (rest.empty()) return transform(v);
    if (v.is_null()) return;
    if (json::object* o = v.if_object()) return walk_object(*o, rest);
    if (mode_string_allowed && v.is_string()) return;
    fail("is not an object");
  }

  void transform(json::value& v) {
    if (v.is_null()) return;
    switch (kind_) {
      case leaf::text:
        return text(v);
      case leaf::message_content:
        if (action_ == action::seal && v.is_array()) return seal_as(v, json::serialize(v));
        return text(v, true);
      case leaf::response_content:
        if (json::array* parts = v.if_array()) return each_text_member(*parts, "is not a content part object");
        return text(v);
      case leaf::json_text:
        if (action_ == action::seal) return seal_as(v, json::serialize(v));
        return open_json(v);
      case leaf::prompt:
        if (json::array* items = v.if_array()) return prompt_items(*items);
        return text(v);
      case leaf::document:
        if (json::object* o = v.if_object()) return member_text(*o);
        return text(v);
    }
  }

  /// A string leaf: sealed or opened; "" stays "" (empty strings are never sealed, §4.2).
  /// `array_text`: an opened value that is JSON array text becomes that array (a
  /// multimodal message content, §4.5).
  void text(json::value& v, bool array_text = false) {
    json::string* s = v.if_string();
    if (s == nullptr) {
      return fail(action_ == action::seal ? "is not a string" : "is not a sealed string");
    }
    if (s->empty()) return;
    if (action_ == action::seal) return seal_as(v, *s);
    auto plaintext = cipher_.decrypt(*s);
    if (!plaintext) return fail("does not decrypt with this request's key");
    if (array_text && !plaintext->empty() && plaintext->front() == '[') {
      boost::system::error_code ec;
      json::value parsed = json::parse(*plaintext, ec, v.storage());
      if (!ec && parsed.is_array()) {
        v = std::move(parsed);
        ++count_;
        return;
      }
    }
    v.emplace_string().assign(*plaintext);
    ++count_;
  }

  void seal_as(json::value& v, std::string_view plaintext) {
    auto sealed = cipher_.encrypt(plaintext);
    if (!sealed) return fail("could not be encrypted");
    v.emplace_string().assign(*sealed);
    ++count_;
  }

  void open_json(json::value& v) {
    json::string* s = v.if_string();
    if (s == nullptr) return fail("is not a sealed string");
    if (s->empty()) return;
    auto plaintext = cipher_.decrypt(*s);
    if (!plaintext) return fail("does not decrypt with this request's key");
    boost::system::error_code ec;
    json::value parsed = json::parse(*plaintext, ec, v.storage());
    if (ec) {
      if (action_ == action::open_lenient) {
        // A lenient request field that opened but is not JSON is left as its plaintext.
        v.emplace_string().assign(*plaintext);
        ++count_;
        return;
      }
      return fail("decrypts to text that is not JSON");
    }
    v = std::move(parsed);
    ++count_;
  }

  void member_text(json::object& o) {
    json::value* t = o.if_contains("text");
    if (t == nullptr || t->is_null()) return;
    const pointer_scope at(pointer_, "text");
    text(*t);
  }

  void each_text_member(json::array& parts, std::string_view not_object) {
    for (std::size_t i = 0; i < parts.size() && !error_; ++i) {
      const pointer_scope at(pointer_, i);
      if (json::object* o = parts[i].if_object()) {
        member_text(*o);
      } else {
        fail(not_object);
      }
    }
  }

  /// Strings are text; numbers and arrays of numbers are token ids, never sealed.
  void prompt_items(json::array& items) {
    for (std::size_t i = 0; i < items.size() && !error_; ++i) {
      const pointer_scope at(pointer_, i);
      json::value& item = items[i];
      if (item.is_string()) {
        text(item);
      } else if (!is_token_ids(item)) {
        fail("is neither text nor token ids");
      }
    }
  }

  static bool is_token_ids(const json::value& v) {
    if (v.is_number()) return true;
    const json::array* ids = v.if_array();
    if (ids == nullptr) return false;
    for (const auto& id : *ids) {
      if (!id.is_number()) return false;
    }
    return true;
  }

  const field_cipher& cipher_;
  bool chunk_;
  bool generic_errors_;
  action action_ = action::seal;
  leaf kind_ = leaf::text;
  std::string pointer_;
  std::size_t count_ = 0;
  std::optional<field_error> error_;
};

/// Runs `choose` (rule → action, or nullopt to skip it) over `rules` against `body`.
template <class Choose>
field_count run(std::span<const rule> rules, json::object& body, const field_cipher& cipher, bool chunk,
                bool generic_errors, Choose choose) {
  try {
    transformer t(cipher, chunk, generic_errors);
    for (const rule& r : rules) {
      if (r.chunk_only && !chunk) continue;
      const std::optional<action> a = choose(r);
      if (!a) continue;
      if (!t.apply(body, r, *a)) return std::move(*t.error());
    }
    return t.count();
  } catch (const std::exception&) {
    // Only allocation can throw here; the body is then in an unknown state.
    return field_error{"", "out of memory while transforming the body"};
  }
}

}  // namespace

std::string_view to_string(endpoint e) noexcept {
  switch (e) {
    case endpoint::chat_completions:
      return "/v1/chat/completions";
    case endpoint::completions:
      return "/v1/completions";
    case endpoint::embeddings:
      return "/v1/embeddings";
    case endpoint::images_generations:
      return "/v1/images/generations";
    case endpoint::images_edits:
      return "/v1/images/edits";
    case endpoint::audio_transcriptions:
      return "/v1/audio/transcriptions";
    case endpoint::rerank:
      return "/v1/rerank";
    case endpoint::score:
      return "/v1/score";
  }
  return "";
}

std::optional<endpoint> endpoint_for(std::string_view method, std::string_view path) noexcept {
  if (method != "POST") return std::nullopt;
  constexpr std::array all = {endpoint::chat_completions,   endpoint::completions,  endpoint::embeddings,
                              endpoint::images_generations, endpoint::images_edits, endpoint::audio_transcriptions,
                              endpoint::rerank,             endpoint::score};
  for (const endpoint e : all) {
    if (path == to_string(e)) return e;
  }
  return std::nullopt;
}

field_count encrypt_request(endpoint e, json::object& body, const field_cipher& cipher) {
  // §4.7 rule 3: lenient fields too, whatever the server would accept in plaintext.
  return run(coverage_of(e).request, body, cipher, false, false,
             [](const rule&) -> std::optional<action> { return action::seal; });
}

field_count decrypt_response(endpoint e, json::object& body, const field_cipher& cipher, bool chunk) {
  // The proxy always asks for all-fields coverage, so every covered field must arrive
  // sealed (§4.7 rule 4).
  return run(coverage_of(e).response, body, cipher, chunk, false, [](const rule& r) -> std::optional<action> {
    return r.when == tier::if_sealed ? action::open_lenient : action::open_required;
  });
}

field_count decrypt_request(endpoint e, json::object& body, const field_cipher& cipher, bool all_fields) {
  return run(coverage_of(e).request, body, cipher, false, true, [all_fields](const rule& r) -> std::optional<action> {
    if (r.when == tier::strict) return action::open_required;
    if (all_fields) return action::open_lenient;
    return std::nullopt;
  });
}

field_count encrypt_response(endpoint e, json::object& body, const field_cipher& cipher, bool all_fields,
                             bool chunk) {
  return run(coverage_of(e).response, body, cipher, chunk, false,
             [all_fields](const rule& r) -> std::optional<action> {
               if (r.when == tier::always || (r.when == tier::all_fields && all_fields)) return action::seal;
               return std::nullopt;
             });
}

}  // namespace vp::e2ee
