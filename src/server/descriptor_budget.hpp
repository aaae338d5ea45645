#pragma once
// How many connections the process's file descriptors can carry: one descriptor per
// client connection and one per backend connection (in use or idle in the pool), counted
// as they are open, as nginx's worker_connections counts both; the rest of the process
// (listening sockets, standard streams, discovery and PCCS fetches, cache files, 503
// answers in flight, a descriptor released a moment late) lives in a fixed reserve. An
// idle keep-alive client needs no backend connection, so counting what is open, not two
// per client, lets idle clients use the descriptors busy ones do not. The proxy admits a
// client only while clients and backend connections together are below the budget, gives
// idle clients up from 90 % of it, and before opening a backend connection at the budget
// gives one idle client up or, with none idle, answers 503: running out of descriptors
// makes accept() or connect() fail with EMFILE, which a client sees as a hang, a reset or
// a misleading 502.

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

/// The most connections, client and backend together, `soft_limit` descriptors carry (0
/// when the reserve alone does not fit).
std::size_t connections_within(std::uint64_t soft_limit) noexcept;

}  // namespace vp::server
