#pragma once
// One line per event on stderr: "2026-11-25T10:21:00.123Z INFO  message". The proxy logs
// verifications, request outcomes and startup progress; it never logs prompts, bodies or
// Authorization values — callers pass only what they decided to show.
//
// Thread-safe (one mutex around the sink); the proxy is single-threaded, the simulator
// and tests are not.

#include <functional>
#include <string>
#include <string_view>

namespace vp::log {

enum class level { debug, info, warn, error };

/// "debug" / "info" / "warn" / "error".
std::string_view to_string(level l) noexcept;
/// Parses the spellings above; false for anything else.
bool parse_level(std::string_view text, level& out) noexcept;

/// Lines below `min` are dropped (default info).
void set_min_level(level min) noexcept;
bool enabled(level l) noexcept;

/// Replaces the sink (default: stderr). The sink receives the formatted line without the
/// trailing newline. An empty function restores stderr. Tests capture lines this way.
void set_sink(std::function<void(std::string_view line)> sink);

/// Writes one line. Control characters in `message` are escaped (`\x0a`) so a hostile
/// value cannot forge log lines, and so are invisible characters that change how a line
/// reads (`\u202e`: bidirectional overrides and isolates, zero-width characters, C1
/// controls), so it cannot reorder what an operator reads.
void write(level l, std::string_view message);

inline void debug(std::string_view m) { write(level::debug, m); }
inline void info(std::string_view m) { write(level::info, m); }
inline void warn(std::string_view m) { write(level::warn, m); }
inline void error(std::string_view m) { write(level::error, m); }

}  // namespace vp::log
