#pragma once
// A deadline that moves for free. Asio's epoll reactor reprograms its timerfd
// (timerfd_settime, one system call) whenever its earliest timer changes, and a deadline
// re-armed around every read and write is that earliest timer on a quiet proxy: 6 to 116
// calls per relayed request. Here postponing the deadline only stores the new time; the
// timer, when it fires before that time, re-arms itself for it. Only bringing the deadline
// forward reprograms the timer at once. The cost moves to a spurious wake-up per
// `interval` of a long-lived phase, instead of a system call per operation.
//
// The expiry action runs on the timer's executor, at most once per deadline set, and
// never after cancel() or the object's destruction. It must not destroy the object.

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace vp::net {

class lazy_deadline {
 public:
  using clock = std::chrono::steady_clock;

  explicit lazy_deadline(boost::asio::any_io_executor executor);
  ~lazy_deadline();
  lazy_deadline(const lazy_deadline&) = delete;
  lazy_deadline& operator=(const lazy_deadline&) = delete;

  /// What runs when a deadline passes (replaces the previous action).
  void on_expiry(std::function<void()> action);

  /// The deadline is `at` from now on (expired() clears).
  void expire_at(clock::time_point at);
  void expire_after(clock::duration after) { expire_at(clock::now() + after); }
  /// No deadline: nothing expires until the next expire_at (expired() keeps its value,
  /// for the code that reads why its operation ended).
  void cancel();

  /// The last deadline set passed and its action ran.
  bool expired() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace vp::net
