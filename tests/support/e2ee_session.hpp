#pragma once
// Both ends of one E2EE request with the public test keys of docs/gpu-signatures-e2ee.md
// §4.9 (RFC 8032 test 1 for ed25519; the inference-proxy secp256k1 test secret for ecdsa):
// the proxy's side (client) and the model's (server), for the field tests and benchmarks.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "core/hex.hpp"
#include "e2ee/cipher.hpp"

namespace vp::test {

inline constexpr std::string_view ed25519_test_seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
inline constexpr std::string_view ed25519_test_pub = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
inline constexpr std::string_view secp256k1_test_secret =
    "ac0974bec39a17e36ba4a6b4d238ff944bacb35e5dc4af0f3347e5873179670f";
inline constexpr std::string_view secp256k1_test_xy =
    "dbdac57b8af58ecca52cf3a2ba18c9930e9ab24735d700005695ef5d55cd9fde9aba1e3ef0930f669356198f2059bd9eed082ef49bae5d5d"
    "5b713f6ba7d58215";
inline constexpr std::string_view secp256k1_test_address = "3ed6ccba6214d782c3f654458e5ece22392c01fd";

struct e2ee_session {
  e2ee::field_cipher client;
  e2ee::field_cipher server;
};

/// A fresh client key pair sealed to the test model key of `kind`, and the model's side
/// answering it. Throws std::runtime_error if a step fails (test-only).
inline e2ee_session make_e2ee_session(e2ee::scheme kind) {
  const bool v2 = kind == e2ee::scheme::v2;
  const bytes address = *from_hex(v2 ? ed25519_test_pub : secp256k1_test_address);
  const bytes key = *from_hex(v2 ? ed25519_test_pub : secp256k1_test_xy);
  auto model = e2ee::bind_recipient(v2 ? attest::signing_algorithm::ed25519 : attest::signing_algorithm::ecdsa,
                                    address, byte_view(key));
  if (!model) throw std::runtime_error("binding failed: " + model.error());
  auto client = e2ee::field_cipher::for_client(*model);
  if (!client) throw std::runtime_error("no client key pair");
  auto server = e2ee::field_cipher::for_server(kind, *from_hex(v2 ? ed25519_test_seed : secp256k1_test_secret),
                                               client->public_key_hex());
  if (!server) throw std::runtime_error("no server cipher: " + server.error());
  return e2ee_session{std::move(*client), std::move(*server)};
}

}  // namespace vp::test
