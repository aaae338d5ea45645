#pragma once
// Concurrent requests for the same key share one piece of work: the first caller (the
// leader) runs it, the others wait for it and receive a copy of its result. The attestation
// gate (one attestation per backend key), the collateral cache (one PCS fetch per
// platform) and the discovery list (one fetch at a time) all need exactly this.
//
// Waiters are released on every exit of the leader, an exception included (they then get
// the `abandoned` value): a leader that dies must never strand the requests behind it.
// Single-threaded: one single_flight belongs to one executor, like its callers' state.
// A flight may outlive the single_flight object (an io_context destroys suspended
// coroutine frames in no particular order at shutdown): the flights' registry is shared
// with every running flight, never reached through a pointer to the owner.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>

namespace vp::net {

template <class Key, class Value, class Compare = std::less<>>
class single_flight {
 public:
  explicit single_flight(boost::asio::any_io_executor executor)
      : executor_(std::move(executor)), flights_(std::make_shared<registry>()) {}
  single_flight(const single_flight&) = delete;
  single_flight& operator=(const single_flight&) = delete;

  /// Whether work for `key` is running now.
  template <class K>
  bool in_flight(const K& key) const {
    return flights_->find(key) != flights_->end();
  }
  std::size_t size() const { return flights_->size(); }

  /// Runs `work()` (a callable returning awaitable<Value>) for `key`, or, when a flight for
  /// `key` is running, waits for it and returns its result (`abandoned` if it ended
  /// without one). `joined`, when given, is set to whether this call waited for another.
  template <class Work>
  boost::asio::awaitable<Value> run(Key key, Work work, Value abandoned, bool* joined = nullptr) {
    if (auto it = flights_->find(key); it != flights_->end()) {
      if (joined != nullptr) *joined = true;
      const std::shared_ptr<flight> shared = it->second;
      while (!shared->finished) co_await shared->done.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (shared->value) co_return *shared->value;
      co_return abandoned;
    }
    if (joined != nullptr) *joined = false;
    const auto own = std::make_shared<flight>(executor_);
    flights_->emplace(key, own);
    const release guard{flights_, std::move(key), own};
    own->value.emplace(co_await work());
    co_return *own->value;
  }

 private:
  struct flight {
    explicit flight(boost::asio::any_io_executor ex)
        : done(std::move(ex), std::chrono::steady_clock::time_point::max()) {}
    boost::asio::steady_timer done;
    bool finished = false;
    std::optional<Value> value;
  };
  using registry = std::map<Key, std::shared_ptr<flight>, Compare>;
  struct release {
    std::shared_ptr<registry> flights;
    Key key;
    std::shared_ptr<flight> f;
    release(std::shared_ptr<registry> r, Key k, std::shared_ptr<flight> fl)
        : flights(std::move(r)), key(std::move(k)), f(std::move(fl)) {}
    release(const release&) = delete;
    release& operator=(const release&) = delete;
    ~release() {
      f->finished = true;
      f->done.cancel();
      if (auto it = flights->find(key); it != flights->end() && it->second == f) flights->erase(it);
    }
  };

  boost::asio::any_io_executor executor_;
  std::shared_ptr<registry> flights_;
};

}  // namespace vp::net
