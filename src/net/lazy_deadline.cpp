#include "net/lazy_deadline.hpp"

#include <boost/asio/steady_timer.hpp>

namespace vp::net {

struct lazy_deadline::state : std::enable_shared_from_this<lazy_deadline::state> {
  explicit state(boost::asio::any_io_executor ex) : timer(std::move(ex)) {}

  boost::asio::steady_timer timer;
  std::function<void()> action;
  clock::time_point due = clock::time_point::max();
  /// When the pending wait fires; max when no wait is pending.
  clock::time_point armed_for = clock::time_point::max();
  /// Tells a wait cancelled by re-arming (its handler still runs) from the current one.
  unsigned generation = 0;
  bool expired = false;

  void arm(clock::time_point at) {
    armed_for = at;
    const unsigned mine = ++generation;
    timer.expires_at(at);
    // Holds the state weakly: the owner may be gone when the handler runs.
    timer.async_wait([weak = weak_from_this(), mine](const boost::system::error_code& ec) {
      const auto self = weak.lock();
      if (!self || self->generation != mine) return;
      self->armed_for = clock::time_point::max();
      if (ec) return;
      self->fired();
    });
  }

  void fired() {
    if (due == clock::time_point::max()) return;  // cancelled meanwhile: stay unarmed
    if (clock::now() < due) {
      arm(due);  // postponed meanwhile
      return;
    }
    due = clock::time_point::max();
    expired = true;
    if (action) action();
  }
};

lazy_deadline::lazy_deadline(boost::asio::any_io_executor executor)
    : state_(std::make_shared<state>(std::move(executor))) {}

lazy_deadline::~lazy_deadline() {
  ++state_->generation;
  state_->timer.cancel();
}

void lazy_deadline::on_expiry(std::function<void()> action) { state_->action = std::move(action); }

void lazy_deadline::expire_at(clock::time_point at) {
  auto& s = *state_;
  s.due = at;
  s.expired = false;
  // A wait that fires no later than `at` re-arms itself when it finds the deadline moved.
  if (s.armed_for <= at) return;
  s.arm(at);
}

void lazy_deadline::cancel() {
  // The pending wait, if any, finds no deadline and ends; cancelling the timer itself would
  // be as cheap, but a deadline set again soon (the next read) would then re-arm it.
  state_->due = clock::time_point::max();
}

bool lazy_deadline::expired() const { return state_->expired; }

}  // namespace vp::net
