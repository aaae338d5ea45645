#pragma once
// The process-wide cache behind gpu::verify(): certificate chains that passed L4-L6 of
// docs/gpu-signatures-e2ee.md §1.4, keyed by SHA-256 over their certificates' DER and
// the anchor's DER, so that the 8 chains a host presents on every attestation (§1.3) are
// decoded and path-validated once. A cached chain still has its validity windows checked
// at each call's `now`; a chain that failed is never inserted. Thread-safe; least
// recently used entries are evicted first. Nothing here changes what verify() decides:
// these controls are for tests, benchmarks and memory bounds.

#include <cstddef>
#include <string_view>

#include "gpu/evidence.hpp"

namespace vp::gpu::chain_cache {

/// 32 hosts of 8 GPUs; an entry is about 6 KiB.
inline constexpr std::size_t default_capacity = 256;

std::size_t size();
std::size_t capacity();
/// Evicts down to `entries`; 0 turns the cache off.
void set_capacity(std::size_t entries);
void clear();
/// Whether the chain in a payload entry's certificate field is cached as verified under `anchor`.
bool contains(std::string_view certificate_pem, const trust_anchor& anchor);

}  // namespace vp::gpu::chain_cache
