#pragma once
// Host-name resolution with a real deadline. Asio's resolver runs getaddrinfo on a
// private thread that cannot be abandoned, so a stuck DNS server would hold a caller
// (and io_context::run) well past its connect timeout. Each lookup here gets a detached
// thread reporting through a thread-safe channel; on timeout the coroutine stops
// listening and the thread's late answer is dropped.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace vp::net {

struct resolve_outcome {
  enum class status { ok, failed, timed_out };
  status result = status::ok;
  std::string error;  ///< why it failed ("" when ok or timed out)
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
};

/// The IPv4/IPv6 endpoints of host:port by `deadline`. An IP literal is returned as is,
/// without a lookup.
boost::asio::awaitable<resolve_outcome> resolve_with_deadline(boost::asio::any_io_executor executor,
                                                              std::string host, std::uint16_t port,
                                                              std::chrono::steady_clock::time_point deadline);

}  // namespace vp::net
