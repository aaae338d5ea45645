#pragma once
// How many client connections the process's file descriptors can carry. Each client may
// hold two descriptors (its own socket and the backend connection serving it); the rest
// of the process (listening socket, standard streams, discovery and PCCS fetches, cache
// files, 503 answers in flight) lives in a fixed reserve. Idle pooled backend connections
// count among the clients' second descriptors: the pool keeps backend connections in use
// plus idle at or below the client connection limit (upstream_pool's max_connections,
// evicting idle ones before a new one is opened), and a client uses at most one backend
// connection at a time, so clients + backend connections ≤ 2 × the limit. Running out of descriptors makes accept() fail with EMFILE, which a client sees
// as a hang or a reset; staying within the budget turns that into a 503.

#include <cstddef>
#include <cstdint>
#include <string>

namespace vp::server {

/// Descriptors kept back from client connections.
inline constexpr std::uint64_t reserved_descriptors = 128;

/// 503 answers written at once; beyond this a refused client is closed without one
/// (their descriptors come out of reserved_descriptors).
inline constexpr std::size_t max_refusals_in_flight = 32;

struct descriptor_limit {
  std::uint64_t soft = 0;  ///< RLIMIT_NOFILE's soft limit in force (after raising)
  std::uint64_t hard = 0;
  std::string error;       ///< why the soft limit could not be read or raised ("" if it was)
};

/// Raises RLIMIT_NOFILE's soft limit to its hard limit, as nginx's worker_rlimit_nofile
/// does: the default soft limit (often 1024) is a compatibility setting for select(),
/// which the proxy does not use.
descriptor_limit raise_descriptor_limit();

/// The most client connections `soft_limit` descriptors carry (0 when the reserve alone
/// does not fit).
std::size_t connections_within(std::uint64_t soft_limit) noexcept;

}  // namespace vp::server
