#include "server/client_watches.hpp"

namespace vp::server {

client_watches::client_watches(boost::asio::any_io_executor executor, std::chrono::milliseconds delay)
    : delay_(delay), timer_(std::move(executor)), self_(std::make_shared<client_watches*>(this)) {}

client_watches::~client_watches() {
  self_.reset();
  timer_.cancel();
  // Entries still waiting leave the queue (their own destructors then have nothing to do).
  waiting_.clear();
}

void client_watches::defer(entry& e, void (*start)(void*), void* context) {
  e.since_ = clock::now();
  e.start_ = start;
  e.context_ = context;
  waiting_.push_back(e);
  last_deferred_ = e.since_;
  if (!ticking_) {
    ticking_ = true;
    arm();
  }
}

void client_watches::arm() {
  timer_.expires_after(delay_);
  timer_.async_wait([weak = std::weak_ptr<client_watches*>(self_)](const boost::system::error_code& ec) {
    const auto self = weak.lock();
    if (!self || ec) return;
    (*self)->tick();
  });
}

void client_watches::tick() {
  const auto now = clock::now();
  while (!waiting_.empty() && now - waiting_.front().since_ >= delay_) {
    entry& due = waiting_.front();
    waiting_.pop_front();
    due.start_(due.context_);
  }
  // A quiet thread has no timer waking it up.
  if (waiting_.empty() && now - last_deferred_ > std::chrono::seconds(1)) {
    ticking_ = false;
    return;
  }
  arm();
}

}  // namespace vp::server
