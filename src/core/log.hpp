#pragma once
// One line per event on stderr: "2026-11-25T10:21:00.123Z INFO  message", or in the json
// format {"ts":"2026-11-25T10:21:00.123Z","level":"info","msg":"message"} (one object per
// line, those three keys in that order, for log shippers). The proxy logs
// verifications, request outcomes and startup progress; it never logs prompts, bodies or
// Authorization values — callers pass only what they decided to show.
//
// Thread-safe (one mutex around the sink); the proxy is single-threaded, the simulator
// and tests are not.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vp::log {

enum class level { debug, info, warn, error };

/// "debug" / "info" / "warn" / "error".
std::string_view to_string(level l) noexcept;
/// Parses the spellings above; false for anything else.
bool parse_level(std::string_view text, level& out) noexcept;

enum class format { text, json };

/// "text" / "json".
std::string_view to_string(format f) noexcept;
/// Parses the spellings above; false for anything else.
bool parse_format(std::string_view text, format& out) noexcept;
/// How lines are written from now on (default text).
void set_format(format f) noexcept;

/// Lines below `min` are dropped (default info).
void set_min_level(level min) noexcept;
bool enabled(level l) noexcept;

/// Replaces the sink (default: stderr). The sink receives the formatted line without the
/// trailing newline. An empty function restores stderr. Tests capture lines this way.
void set_sink(std::function<void(std::string_view line)> sink);

/// Writes one line. Control characters in `message` are escaped (`\x0a`) so a hostile
/// value cannot forge log lines, and so are invisible characters that change how a line
/// reads (`\u202e`: bidirectional overrides and isolates, zero-width characters, C1
/// controls), so it cannot reorder what an operator reads. In the json format the
/// message is the `msg` string: JSON escapes for control and invisible characters (the
/// text a parser reads back is the message), and U+FFFD for each byte that is not part of
/// valid UTF-8, so every line is one valid JSON object.
void write(level l, std::string_view message);

inline void debug(std::string_view m) { write(level::debug, m); }
inline void info(std::string_view m) { write(level::info, m); }
inline void warn(std::string_view m) { write(level::warn, m); }
inline void error(std::string_view m) { write(level::error, m); }

/// Turns a flood of like events (refused connections, accept failures while out of file
/// descriptors) into one summary line per interval: one line per event would itself
/// become the resource an attacker exhausts. The first event of a key is due at once,
/// later ones are counted and due again once `interval` has passed since the previous
/// summary. Not thread-safe: one per executor.
class rate_limiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using time_source = std::function<time_point()>;

  struct summary {
    std::uint64_t events = 0;         ///< counted since the previous summary, the last one included
    std::chrono::milliseconds span{};  ///< from the first of them to now
  };

  /// `now` defaults to the steady clock (tests inject their own).
  explicit rate_limiter(std::chrono::milliseconds interval, time_source now = {});

  /// Counts one event of `key`; a summary when a line is due now.
  std::optional<summary> record(std::string_view key);

  /// The events of `key` counted but not reported, once they are due (nullopt before, or
  /// when none wait). Called from a timer at due(key), so that the end of a burst is
  /// reported even when no further event comes.
  std::optional<summary> flush(std::string_view key);

  /// When the events of `key` that wait will be due; nullopt when none wait.
  std::optional<time_point> due(std::string_view key) const;

 private:
  struct entry {
    std::optional<time_point> last_summary;
    std::uint64_t waiting = 0;
    time_point first_waiting{};
  };
  std::optional<summary> take(entry& e, time_point now);

  std::chrono::milliseconds interval_;
  time_source now_;
  std::map<std::string, entry, std::less<>> entries_;
};

}  // namespace vp::log
