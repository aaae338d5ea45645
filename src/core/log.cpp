#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace vp::log {
namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};

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

void append_escaped(std::string& out, std::string_view message) {
  static constexpr char hex_digits[] = "0123456789abcdef";
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex_digits[u >> 4];
      out += hex_digits[u & 0xf];
    } else {
      out += c;
    }
  }
}

}  // namespace

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
  static constexpr const char* labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
  std::string line = timestamp();
  line += ' ';
  line += labels[static_cast<int>(l)];
  line += ' ';
  append_escaped(line, message);
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

}  // namespace vp::log
