#include "core/log.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <utility>

#include "core/text.hpp"

namespace vp::log {
namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};
std::atomic<format> line_format{format::text};

struct sink_state {
  std::mutex mutex;
  std::function<void(std::string_view)> sink;
};

sink_state& state() {
  static sink_state s;
  return s;
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char out[40];
  const auto n = std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return std::string(out, n > 0 ? static_cast<std::size_t>(n) : 0);
}

// The length of the UTF-8 sequence at s[i] if it encodes a character that changes how a
// line reads without being visible: C1 controls (U+0080–U+009F; some terminals take
// U+009B as an escape sequence), line and paragraph separators, bidirectional marks,
// embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A–U+202E,
// U+2066–U+2069), zero-width characters (U+200B–U+200D, U+2060–U+2064, U+FEFF) and the
// deprecated format controls U+206A–U+206F. 0 for anything else.
std::size_t hidden_sequence_at(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned b0 = byte(0), b1 = byte(1), b2 = byte(2);
  if (b0 == 0xc2 && b1 >= 0x80 && b1 <= 0x9f) return 2;
  if (b0 == 0xd8 && b1 == 0x9c) return 2;
  if (b0 == 0xe2 && b1 == 0x80 && ((b2 >= 0x8b && b2 <= 0x8f) || (b2 >= 0xa8 && b2 <= 0xae))) return 3;
  if (b0 == 0xe2 && b1 == 0x81 && b2 >= 0xa0 && b2 <= 0xaf) return 3;
  if (b0 == 0xef && b1 == 0xbb && b2 == 0xbf) return 3;
  return 0;
}

// Escaped as \u followed by the code point's four hex digits, e.g. \u202e.
void append_code_point_escape(std::string& out, std::string_view sequence) {
  static constexpr char hex_digits[] = "0123456789abcdef";
  const auto b = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(sequence[k])); };
  const unsigned cp = sequence.size() == 2 ? ((b(0) & 0x1fu) << 6) | (b(1) & 0x3fu)
                                           : ((b(0) & 0x0fu) << 12) | ((b(1) & 0x3fu) << 6) | (b(2) & 0x3fu);
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += hex_digits[(cp >> shift) & 0xfu];
}

void append_escaped(std::string& out, std::string_view message) {
  for (std::size_t i = 0; i < message.size(); ++i) {
    const auto u = static_cast<unsigned char>(message[i]);
    if (u == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u == 0x7f) {
      text::append_hex_escape(out, u);
    } else if (const auto n = hidden_sequence_at(message, i); n != 0) {
      append_code_point_escape(out, message.substr(i, n));
      i += n - 1;
    } else {
      out += message[i];
    }
  }
}

std::string json_line(level l, std::string_view message) {
  boost::json::object o;
  o["ts"] = timestamp();
  o["level"] = to_string(l);
  o["msg"] = text::valid_utf8(message);
  const std::string serialized = boost::json::serialize(o);
  // The serializer escapes control characters but writes every other character as it is;
  // DEL and the invisible ones become \u escapes too, which a JSON parser reads back as the
  // same message, so the raw line cannot reorder what someone reading it sees either.
  std::string line;
  line.reserve(serialized.size());
  for (std::size_t i = 0; i < serialized.size(); ++i) {
    if (serialized[i] == '\x7f') {
      line += "\\u007f";
    } else if (const auto n = hidden_sequence_at(serialized, i); n != 0) {
      append_code_point_escape(line, std::string_view(serialized).substr(i, n));
      i += n - 1;
    } else {
      line += serialized[i];
    }
  }
  return line;
}

std::string text_line(level l, std::string_view message) {
  static constexpr const char* labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
  std::string line = timestamp();
  line += ' ';
  line += labels[static_cast<int>(l)];
  line += ' ';
  append_escaped(line, message);
  return line;
}

}  // namespace

std::string_view to_string(format f) noexcept { return f == format::json ? "json" : "text"; }

bool parse_format(std::string_view text, format& out) noexcept {
  for (const format f : {format::text, format::json}) {
    if (text == to_string(f)) {
      out = f;
      return true;
    }
  }
  return false;
}

void set_format(format f) noexcept { line_format.store(f); }

std::string_view to_string(level l) noexcept {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

bool parse_level(std::string_view text, level& out) noexcept {
  for (const level l : {level::debug, level::info, level::warn, level::error}) {
    if (text == to_string(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void set_min_level(level min) noexcept { min_level.store(static_cast<int>(min)); }

bool enabled(level l) noexcept { return static_cast<int>(l) >= min_level.load(); }

void set_sink(std::function<void(std::string_view line)> sink) {
  auto& s = state();
  const std::lock_guard lock(s.mutex);
  s.sink = std::move(sink);
}

void write(level l, std::string_view message) {
  if (!enabled(l)) return;
  std::string line = line_format.load() == format::json ? json_line(l, message) : text_line(l, message);
  auto& s = state();
  const std::lock_guard lock(s.mutex);
  if (s.sink) {
    s.sink(line);
  } else {
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
}

rate_limiter::rate_limiter(std::chrono::milliseconds interval, time_source now)
    : interval_(interval), now_(now ? std::move(now) : time_source([] { return std::chrono::steady_clock::now(); })) {}

std::optional<rate_limiter::summary> rate_limiter::take(entry& e, time_point now) {
  if (e.waiting == 0 || (e.last_summary && now - *e.last_summary < interval_)) return std::nullopt;
  summary out{e.waiting, std::chrono::duration_cast<std::chrono::milliseconds>(now - e.first_waiting)};
  e.last_summary = now;
  e.waiting = 0;
  return out;
}

std::optional<rate_limiter::summary> rate_limiter::record(std::string_view key) {
  const auto now = now_();
  auto it = entries_.find(key);
  if (it == entries_.end()) it = entries_.emplace(std::string(key), entry{}).first;
  if (it->second.waiting++ == 0) it->second.first_waiting = now;
  return take(it->second, now);
}

std::optional<rate_limiter::summary> rate_limiter::flush(std::string_view key) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return take(it->second, now_());
}

std::optional<rate_limiter::time_point> rate_limiter::due(std::string_view key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.waiting == 0) return std::nullopt;
  return it->second.last_summary ? *it->second.last_summary + interval_ : it->second.first_waiting;
}

}  // namespace vp::log
