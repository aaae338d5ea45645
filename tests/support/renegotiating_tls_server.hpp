#pragma once
// A TLS 1.2-only HTTPS server on 127.0.0.1, written with raw OpenSSL, that renegotiates
// the session itself (a HelloRequest, RFC 5246 §7.4.1.1) before answering a chosen
// request, optionally presenting a second certificate — and with it a second key — in the
// new handshake. It shows what a backend could do after its key was attested: the TLS
// client must refuse (SSL_OP_NO_RENEGOTIATION), or the rest of the session would be
// authenticated by a key nobody attested.
//
// One connection at a time, blocking sockets, on its own thread. Requests are read up to
// the end of their header section (GET / HEAD, no body); every answer is
// "HTTP/1.1 200 OK" with the body "response N" (N counts answers on the connection, from
// 1) unless options.body_for says otherwise. Test-only code: set-up failures throw std::runtime_error.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace vp::test {

struct renegotiating_server_options {
  /// Renegotiate before writing answer N (1-based) on each connection.
  std::size_t renegotiate_before_answer = 2;
  /// Present the second certificate (another key) in the new handshake.
  bool switch_certificate = true;
  /// The second certificate comes from the first one's CA (it passes WebPKI, so only the
  /// refusal to renegotiate stops it), else from another CA.
  bool second_from_same_ca = false;
  /// The body of the answer to `target` (e.g. an attestation report binding first_spki());
  /// empty: "response N".
  std::function<std::string(std::string_view target)> body_for{};
};

class renegotiating_tls_server {
 public:
  explicit renegotiating_tls_server(renegotiating_server_options options = {});
  ~renegotiating_tls_server();
  renegotiating_tls_server(const renegotiating_tls_server&) = delete;
  renegotiating_tls_server& operator=(const renegotiating_tls_server&) = delete;

  std::uint16_t port() const;
  /// PEM file of the CA that issued the first certificate (SANs DNS:localhost,
  /// IP:127.0.0.1).
  const std::string& ca_file() const;
  /// SHA-256 of the DER SubjectPublicKeyInfo of the first / second certificate.
  const sha256_digest& first_spki() const;
  const sha256_digest& second_spki() const;

  /// Renegotiation handshakes completed / refused by the client so far.
  std::size_t renegotiations() const;
  std::size_t refusals() const;
  /// Answers written so far (all connections).
  std::size_t answers() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vp::test
