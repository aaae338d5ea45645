#pragma once
// How a TLS client checks its peer: plain configuration, filled from flags, kept apart from
// any TLS or Asio header so that configuration code does not compile them.

#include <string>

namespace vp::net {

struct tls_client_options {
  /// Validate the certificate chain and the host name (WebPKI). false = no certificate
  /// check at all: only for a peer proved another way (an upstream CVM's attestation
  /// binds the key of the certificate it presents; --no-webpki).
  bool webpki = true;
  /// PEM file with the CAs to trust instead of the system store ("" = system store).
  /// Ignored without webpki.
  std::string ca_file;
};

}  // namespace vp::net
