#pragma once
// When the relay starts watching a client. The watch (forwarder.cpp: a pending one-byte
// peek on the client socket, which cancels the upstream request when the client leaves)
// costs a system call, an operation and its cancellation per exchange; most answers of a
// fast backend are complete sooner than anyone could leave. So an exchange's watch waits
// here and starts only if the exchange still runs `delay` later: a client that leaves is
// then noticed at most twice `delay` after it left, instead of at once, and its generation
// cancelled as before. One per thread (not thread-safe): one timer ticks every `delay`
// while exchanges come, and stops after a second without any.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <chrono>
#include <memory>

namespace vp::server {

class client_watches {
 public:
  using clock = std::chrono::steady_clock;

  /// A watch waiting for its start; it leaves the queue when cancelled or destroyed.
  class entry {
   public:
    entry() = default;
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;
    /// It will not start (it may already have).
    void cancel() { hook_.unlink(); }
    bool waiting() const { return hook_.is_linked(); }

   private:
    friend class client_watches;
    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> hook_;
    clock::time_point since_;
    void (*start_)(void*) = nullptr;
    void* context_ = nullptr;
  };

  client_watches(boost::asio::any_io_executor executor, std::chrono::milliseconds delay);
  ~client_watches();
  client_watches(const client_watches&) = delete;
  client_watches& operator=(const client_watches&) = delete;

  /// `start(context)` runs on this thread `delay` to twice that from now, unless `e` is
  /// cancelled or destroyed first. `e` must not be waiting already.
  void defer(entry& e, void (*start)(void*), void* context);

  std::size_t waiting() const { return waiting_.size(); }
  /// The timer is ticking (exchanges came within the last second).
  bool ticking() const { return ticking_; }

 private:
  void arm();
  void tick();

  using queue = boost::intrusive::list<
      entry, boost::intrusive::member_hook<entry, decltype(entry::hook_), &entry::hook_>,
      boost::intrusive::constant_time_size<false>>;
  const std::chrono::milliseconds delay_;
  boost::asio::steady_timer timer_;
  /// Oldest first: deferred in order, each `delay` after its own time.
  queue waiting_;
  clock::time_point last_deferred_;
  bool ticking_ = false;
  /// The tick's way to know the object still exists (it may run after the destructor).
  std::shared_ptr<client_watches*> self_;
};

}  // namespace vp::server
