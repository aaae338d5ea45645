#pragma once
// Whether the peer of a connected socket is still there, asked without blocking and
// without taking a byte: a client that closed or reset its connection will read no
// answer, while bytes waiting (a pipelined request) say it is there.

#include <sys/socket.h>

#include <cerrno>

namespace vp::net {

enum class peer_state {
  data_waiting,  ///< bytes arrived (left in the kernel)
  quiet,         ///< nothing arrived yet: the peer is there as far as anyone can tell
  gone,          ///< end of stream (orderly shutdown) or a socket error (reset)
};

inline peer_state peek_peer(int descriptor) noexcept {
  char byte = 0;
  const auto n = ::recv(descriptor, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return peer_state::data_waiting;
  if (n == 0) return peer_state::gone;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? peer_state::quiet : peer_state::gone;
}

}  // namespace vp::net
