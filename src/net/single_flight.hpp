#pragma once
// Concurrent requests for the same key share one piece of work: the first caller (the
// leader) runs it, the others wait for it and receive a copy of its result. The attestation
// gate (one attestation per backend key), the collateral cache (one PCS fetch per
// platform) and the discovery list (one fetch at a time) all need exactly this.
//
// Waiters are released on every exit of the leader, an exception included (they then get
// the `abandoned` value): a leader that dies must never strand the requests behind it.
//
// Thread-safe: callers may run on different executors (the proxy's shards, one io_context
// per thread). The leader runs the work on its own executor — an attestation's report is
// fetched on the shard that owns the connection — and each waiter sleeps on a timer of
// its own executor, woken by a handler posted there, so no I/O object is ever touched
// from two threads. A waiter's executor must be single-threaded (an io_context run by one
// thread, or a strand). The registry is a mutex-guarded map touched once per call, never
// across a suspension.
//
// A flight may outlive the single_flight object (an io_context destroys suspended
// coroutine frames in no particular order at shutdown): the flights' registry is shared
// with every running flight, never reached through a pointer to the owner.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace vp::net {

template <class Key, class Value, class Compare = std::less<>>
class single_flight {
 public:
  single_flight() : registry_(std::make_shared<registry>()) {}
  single_flight(const single_flight&) = delete;
  single_flight& operator=(const single_flight&) = delete;

  /// Whether work for `key` is running now.
  template <class K>
  bool in_flight(const K& key) const {
    const std::lock_guard lock(registry_->mutex);
    return registry_->flights.find(key) != registry_->flights.end();
  }
  /// How many callers wait for the flight of `key` now (tests, diagnostics).
  template <class K>
  std::size_t waiting(const K& key) const {
    const std::lock_guard lock(registry_->mutex);
    const auto it = registry_->flights.find(key);
    return it == registry_->flights.end() ? 0 : it->second->waiters.size();
  }
  std::size_t size() const {
    const std::lock_guard lock(registry_->mutex);
    return registry_->flights.size();
  }

  /// Runs `work()` (a callable returning awaitable<Value>) for `key`, or, when a flight for
  /// `key` is running, waits for it and returns its result (`abandoned` if it ended
  /// without one). `joined`, when given, is set to whether this call waited for another.
  template <class Work>
  boost::asio::awaitable<Value> run(Key key, Work work, Value abandoned, bool* joined = nullptr) {
    std::shared_ptr<flight> shared;
    std::shared_ptr<boost::asio::steady_timer> wake;
    const boost::asio::any_io_executor executor = co_await boost::asio::this_coro::executor;
    {
      const std::lock_guard lock(registry_->mutex);
      if (auto it = registry_->flights.find(key); it != registry_->flights.end()) {
        shared = it->second;
        wake = std::make_shared<boost::asio::steady_timer>(executor, std::chrono::steady_clock::time_point::max());
        shared->waiters.push_back(waiter{executor, wake});
      }
    }
    if (shared) {
      if (joined != nullptr) *joined = true;
      // The leader sets `finished` before it posts the wake-up, under the same mutex.
      while (!shared->is_finished()) co_await wake->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      // Written once by the leader before `finished`; read-only from then on.
      if (shared->value) co_return *shared->value;
      co_return abandoned;
    }
    if (joined != nullptr) *joined = false;
    const auto own = std::make_shared<flight>(registry_);
    {
      const std::lock_guard lock(registry_->mutex);
      registry_->flights.emplace(key, own);
    }
    const release guard{registry_, std::move(key), own};
    auto value = co_await work();
    {
      const std::lock_guard lock(registry_->mutex);
      own->value.emplace(value);
    }
    co_return value;
  }

 private:
  struct flight;
  struct registry {
    mutable std::mutex mutex;
    std::map<Key, std::shared_ptr<flight>, Compare> flights;
  };
  struct waiter {
    boost::asio::any_io_executor executor;
    /// Weak: a waiter's frame (and its timer) may be destroyed with its io_context at
    /// shutdown, and must then not be woken.
    std::weak_ptr<boost::asio::steady_timer> wake;
  };
  struct flight {
    explicit flight(std::shared_ptr<registry> r) : owner(std::move(r)) {}
    std::shared_ptr<registry> owner;
    bool finished = false;
    std::optional<Value> value;
    std::vector<waiter> waiters;
    bool is_finished() const {
      const std::lock_guard lock(owner->mutex);
      return finished;
    }
  };
  struct release {
    std::shared_ptr<registry> reg;
    Key key;
    std::shared_ptr<flight> f;
    release(std::shared_ptr<registry> r, Key k, std::shared_ptr<flight> fl)
        : reg(std::move(r)), key(std::move(k)), f(std::move(fl)) {}
    release(const release&) = delete;
    release& operator=(const release&) = delete;
    ~release() {
      std::vector<waiter> waiters;
      {
        const std::lock_guard lock(reg->mutex);
        f->finished = true;
        waiters.swap(f->waiters);
        if (auto it = reg->flights.find(key); it != reg->flights.end() && it->second == f) reg->flights.erase(it);
      }
      for (auto& w : waiters) {
        // A waiter whose timer is gone was destroyed with its io_context (shutdown): its
        // executor may be gone too.
        if (w.wake.expired()) continue;
        // On the waiter's own executor: its timer is never touched from this thread. An
        // expiry in the past also wakes a waiter that has not begun waiting yet.
        boost::asio::post(w.executor, [wake = std::move(w.wake)] {
          if (const auto timer = wake.lock()) timer->expires_at(std::chrono::steady_clock::time_point::min());
        });
      }
    }
  };

  std::shared_ptr<registry> registry_;
};

}  // namespace vp::net
