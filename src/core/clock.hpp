#pragma once
// Wall-clock time is injected everywhere a verdict depends on it, so tests with real
// (long expired) Intel collateral verify "as of" the moment it was captured.

#include <chrono>
#include <cstdint>

namespace vp {

/// Seconds since the Unix epoch, UTC. Certificates, CRLs and Intel collateral all
/// carry second resolution.
using unix_time = std::chrono::sys_seconds;

inline unix_time from_unix_seconds(std::int64_t s) { return unix_time{std::chrono::seconds{s}}; }
inline std::int64_t to_unix_seconds(unix_time t) { return t.time_since_epoch().count(); }

/// Source of the current time.
class clock {
 public:
  virtual ~clock() = default;
  virtual unix_time now() const = 0;
};

/// The real UTC clock.
class system_clock final : public clock {
 public:
  unix_time now() const override {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  }
};

/// A clock that only moves when told to (tests, `--at`).
class fixed_clock final : public clock {
 public:
  explicit fixed_clock(unix_time t) : now_(t) {}
  unix_time now() const override { return now_; }
  void set(unix_time t) { now_ = t; }
  void advance(std::chrono::seconds d) { now_ += d; }

 private:
  unix_time now_;
};

}  // namespace vp
