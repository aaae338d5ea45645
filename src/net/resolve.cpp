#include "net/resolve.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

namespace vp::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

using resolve_channel = asio::experimental::concurrent_channel<void(error_code, std::shared_ptr<resolve_outcome>)>;

/// Shared between the waiting coroutine and its lookup thread. The coroutine clears
/// `channel` (under the mutex) before the channel dies, so a late thread never touches it.
struct resolve_rendezvous {
  std::mutex mutex;
  resolve_channel* channel = nullptr;
};

struct detach_on_exit {
  std::shared_ptr<resolve_rendezvous> rendezvous;
  ~detach_on_exit() {
    const std::lock_guard lock(rendezvous->mutex);
    rendezvous->channel = nullptr;
  }
};

resolve_outcome blocking_resolve(const std::string& host, std::uint16_t port) {
  resolve_outcome out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  if (rc != 0) {
    out.result = resolve_outcome::status::failed;
    out.error = rc == EAI_SYSTEM ? std::string(std::strerror(errno)) : std::string(::gai_strerror(rc));
    return out;
  }
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addr == nullptr) continue;
    tcp::endpoint ep;
    if (ai->ai_addrlen > ep.capacity()) continue;
    std::memcpy(ep.data(), ai->ai_addr, ai->ai_addrlen);
    ep.resize(ai->ai_addrlen);
    if (std::find(out.endpoints.begin(), out.endpoints.end(), ep) == out.endpoints.end()) out.endpoints.push_back(ep);
  }
  ::freeaddrinfo(list);
  if (out.endpoints.empty()) {
    out.result = resolve_outcome::status::failed;
    out.error = "no IPv4/IPv6 address";
  }
  return out;
}

}  // namespace

asio::awaitable<resolve_outcome> resolve_with_deadline(asio::any_io_executor executor, std::string host,
                                                       std::uint16_t port, std::chrono::steady_clock::time_point deadline) {
  {
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (!ec) co_return resolve_outcome{resolve_outcome::status::ok, "", {tcp::endpoint(address, port)}};
  }
  resolve_channel channel(executor, 1);
  auto rendezvous = std::make_shared<resolve_rendezvous>();
  rendezvous->channel = &channel;
  const detach_on_exit detach{rendezvous};
  std::thread([rendezvous, host, port] {
    auto out = std::make_shared<resolve_outcome>(blocking_resolve(host, port));
    const std::lock_guard lock(rendezvous->mutex);
    if (rendezvous->channel != nullptr) rendezvous->channel->try_send(error_code{}, std::move(out));
  }).detach();

  asio::steady_timer timer(executor);
  timer.expires_at(deadline);
  using namespace asio::experimental::awaitable_operators;
  auto which = co_await (channel.async_receive(asio::as_tuple(asio::use_awaitable)) ||
                         timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (which.index() == 1) co_return resolve_outcome{resolve_outcome::status::timed_out, "", {}};
  auto [ec, out] = std::get<0>(std::move(which));
  if (ec || !out) co_return resolve_outcome{resolve_outcome::status::failed, "interrupted", {}};
  co_return std::move(*out);
}

}  // namespace vp::net
