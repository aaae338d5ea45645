#include "support/renegotiating_tls_server.hpp"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <stdexcept>
#include <thread>

#include "crypto/ossl.hpp"
#include "crypto/x509.hpp"
#include "support/test_http_server.hpp"

namespace vp::test {

namespace {

struct loaded_identity {
  crypto::x509_ptr cert;
  crypto::evp_pkey_ptr key;
  sha256_digest spki{};
};

loaded_identity load(const test_tls_identity& id) {
  loaded_identity out;
  auto certs = crypto::parse_pem_certificates(id.cert_pem);
  if (!certs || certs->empty()) throw std::runtime_error("renegotiating_tls_server: bad certificate");
  out.cert = std::move(certs->front());
  crypto::bio_ptr bio(::BIO_new_mem_buf(id.key_pem.data(), static_cast<int>(id.key_pem.size())));
  out.key.reset(::PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!out.key) throw std::runtime_error("renegotiating_tls_server: bad key");
  out.spki = crypto::spki_sha256(out.cert.get());
  return out;
}

}  // namespace

struct renegotiating_tls_server::impl {
  explicit impl(renegotiating_server_options o) : options(o) {}
  renegotiating_server_options options;
  test_tls_identity first_id = test_tls_identity::generate({"localhost"}, {"127.0.0.1"});
  test_tls_identity second_id = options.second_from_same_ca ? first_id.reissue({"localhost"}, {"127.0.0.1"})
                                                            : test_tls_identity::generate({"localhost"}, {"127.0.0.1"});
  loaded_identity first = load(first_id);
  loaded_identity second = load(second_id);
  temp_file ca{first_id.ca_pem};
  SSL_CTX* ctx = nullptr;
  int listener = -1;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> renegotiations{0}, refusals{0}, answers{0};
  std::thread thread;

  void serve(int fd) {
    // Bounded: a client that never answers the HelloRequest must not hang the test.
    timeval limit{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    SSL* ssl = ::SSL_new(ctx);
    ::SSL_set_fd(ssl, fd);
    // SSL_read returns after processing the client's renegotiation handshake instead of
    // waiting on for application data, so the server can tell when it is complete.
    ::SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);
    // A resumed session would skip the Certificate message: force a full handshake.
    ::SSL_set_options(ssl, SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    if (::SSL_accept(ssl) == 1) {
      std::string head;
      for (std::size_t n = 1; read_request(ssl, head); ++n) {
        if (n == options.renegotiate_before_answer && !renegotiate(ssl)) break;
        const std::string body = options.body_for ? options.body_for(target_of(head)) : "response " + std::to_string(n);
        const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\nConnection: keep-alive\r\n\r\n" + body;
        if (::SSL_write(ssl, answer.data(), static_cast<int>(answer.size())) <= 0) break;
        ++answers;
      }
    }
    ::SSL_free(ssl);
    ::ERR_clear_error();
    ::close(fd);
  }

  /// "GET /x HTTP/1.1\r\n…" → "/x".
  static std::string target_of(const std::string& head) {
    const auto start = head.find(' ');
    const auto end = start == std::string::npos ? start : head.find(' ', start + 1);
    return end == std::string::npos ? std::string() : head.substr(start + 1, end - start - 1);
  }

  /// Reads one request header section into `got`; false when the connection ended.
  static bool read_request(SSL* ssl, std::string& got) {
    got.clear();
    while (got.find("\r\n\r\n") == std::string::npos) {
      char buffer[4096];
      const int n = ::SSL_read(ssl, buffer, sizeof buffer);
      if (n <= 0) {
        if (::SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ) continue;
        return false;
      }
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Server-initiated renegotiation; true once the new handshake completed.
  bool renegotiate(SSL* ssl) {
    if (options.switch_certificate &&
        (::SSL_use_certificate(ssl, second.cert.get()) != 1 || ::SSL_use_PrivateKey(ssl, second.key.get()) != 1)) {
      return false;
    }
    if (::SSL_renegotiate(ssl) != 1 || ::SSL_do_handshake(ssl) != 1) return false;  // sends the HelloRequest
    // The client answers when it next reads (it is waiting for this answer): a ClientHello,
    // or a no_renegotiation alert, which ends the connection.
    while (::SSL_renegotiate_pending(ssl) == 1) {
      char byte = 0;
      const int n = ::SSL_read(ssl, &byte, 1);
      if (n > 0) return false;  // application data in the middle of the handshake
      if (::SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ) {
        ++refusals;
        return false;
      }
    }
    ++renegotiations;
    return true;
  }

  void run() {
    while (!stopping) {
      const int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) continue;  // shutdown() in the destructor ends accept with an error
      if (stopping) {
        ::close(fd);
        break;
      }
      serve(fd);
    }
  }
};

renegotiating_tls_server::renegotiating_tls_server(renegotiating_server_options options)
    : impl_(std::make_unique<impl>(options)) {
  impl_->ctx = ::SSL_CTX_new(TLS_server_method());
  if (impl_->ctx == nullptr || ::SSL_CTX_set_min_proto_version(impl_->ctx, TLS1_2_VERSION) != 1 ||
      ::SSL_CTX_set_max_proto_version(impl_->ctx, TLS1_2_VERSION) != 1 ||
      ::SSL_CTX_use_certificate(impl_->ctx, impl_->first.cert.get()) != 1 ||
      ::SSL_CTX_use_PrivateKey(impl_->ctx, impl_->first.key.get()) != 1) {
    throw std::runtime_error("renegotiating_tls_server: cannot set up the TLS context");
  }
  impl_->listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (impl_->listener < 0 || ::bind(impl_->listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(impl_->listener, 8) != 0 ||
      ::getsockname(impl_->listener, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw std::runtime_error("renegotiating_tls_server: cannot listen on 127.0.0.1");
  }
  impl_->port = ntohs(address.sin_port);
  impl_->thread = std::thread([this] { impl_->run(); });
}

renegotiating_tls_server::~renegotiating_tls_server() {
  impl_->stopping = true;
  ::shutdown(impl_->listener, SHUT_RDWR);
  if (impl_->thread.joinable()) impl_->thread.join();
  ::close(impl_->listener);
  ::SSL_CTX_free(impl_->ctx);
}

std::uint16_t renegotiating_tls_server::port() const { return impl_->port; }
const std::string& renegotiating_tls_server::ca_file() const { return impl_->ca.path(); }
const sha256_digest& renegotiating_tls_server::first_spki() const { return impl_->first.spki; }
const sha256_digest& renegotiating_tls_server::second_spki() const { return impl_->second.spki; }
std::size_t renegotiating_tls_server::renegotiations() const { return impl_->renegotiations; }
std::size_t renegotiating_tls_server::refusals() const { return impl_->refusals; }
std::size_t renegotiating_tls_server::answers() const { return impl_->answers; }

}  // namespace vp::test
