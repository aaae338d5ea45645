#include "support/test_http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>

#include "crypto/ossl.hpp"
#include "crypto/x509.hpp"
#include "testpki/test_pki.hpp"
#include "testpki/web_pki.hpp"

namespace vp::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::optional<std::string_view> find_header(const header_list& headers, std::string_view name) {
  for (const auto& [field, value] : headers) {
    if (beast::iequals(field, name)) return std::string_view{value};
  }
  return std::nullopt;
}

std::optional<std::string_view> http_request_record::header(std::string_view name) const {
  return find_header(headers, name);
}

// ---------------------------------------------------------------------------------------
// Certificates

namespace {

std::atomic<unsigned> ca_counter{0};

/// The validity every test certificate gets: from an hour ago for a day.
std::pair<unix_time, unix_time> test_validity() {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return {now - std::chrono::hours(1), now + std::chrono::hours(24)};
}

/// A server leaf with a new P-256 key, issued by `ca`.
test_tls_identity issue_server_leaf(X509* ca, EVP_PKEY* ca_key, const std::vector<std::string>& dns_names,
                                    const std::vector<std::string>& ip_addresses) {
  web_certificate_spec server_spec;
  server_spec.common_name = "vp test server";
  std::tie(server_spec.not_before, server_spec.not_after) = test_validity();
  for (const auto& dns : dns_names) server_spec.subject_alt_names.push_back("DNS:" + dns);
  for (const auto& ip : ip_addresses) server_spec.subject_alt_names.push_back("IP:" + ip);
  auto server_key = generate_p256_key();
  auto server = issue_web_certificate(server_key.get(), server_spec, ca, ca_key);
  return test_tls_identity{certificate_pem(ca), certificate_pem(server.get()), private_key_pem(server_key.get()),
                           private_key_pem(ca_key)};
}

}  // namespace

test_tls_identity test_tls_identity::generate(const std::vector<std::string>& dns_names,
                                              const std::vector<std::string>& ip_addresses) {
  // Distinct CA names make "wrong CA" failures read "unable to get local issuer
  // certificate" rather than a signature mismatch between same-named CAs.
  const std::string ca_name = "vp test CA " + std::to_string(::getpid()) + "-" + std::to_string(++ca_counter);
  web_certificate_spec ca_spec;
  ca_spec.common_name = ca_name;
  std::tie(ca_spec.not_before, ca_spec.not_after) = test_validity();
  ca_spec.is_ca = true;
  auto ca_key = generate_p256_key();
  auto ca = issue_web_certificate(ca_key.get(), ca_spec, nullptr, ca_key.get());
  return issue_server_leaf(ca.get(), ca_key.get(), dns_names, ip_addresses);
}

test_tls_identity test_tls_identity::reissue(const std::vector<std::string>& dns_names,
                                             const std::vector<std::string>& ip_addresses) const {
  auto ca = crypto::parse_pem_certificates(ca_pem);
  crypto::bio_ptr bio(::BIO_new_mem_buf(ca_key_pem.data(), static_cast<int>(ca_key_pem.size())));
  crypto::evp_pkey_ptr ca_key(::PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!ca || ca->empty() || !ca_key) throw std::runtime_error("test_tls_identity: cannot read the CA back");
  return issue_server_leaf(ca->front().get(), ca_key.get(), dns_names, ip_addresses);
}

temp_file::temp_file(std::string_view contents, std::string_view suffix) {
  std::string pattern = (std::filesystem::temp_directory_path() / "vp-test-XXXXXX").string();
  pattern += suffix;
  const int fd = ::mkstemps(pattern.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error("temp_file: mkstemps failed for " + pattern);
  std::size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n <= 0) {
      ::close(fd);
      std::filesystem::remove(pattern);
      throw std::runtime_error("temp_file: write failed for " + pattern);
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  path_ = std::move(pattern);
}

temp_file::~temp_file() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

// ---------------------------------------------------------------------------------------
// Server

namespace {

bool has_field(const header_list& headers, std::string_view name) {
  for (const auto& [field, value] : headers) {
    if (beast::iequals(field, name)) return true;
  }
  return false;
}

std::string hex(std::size_t n) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[n % 16]);
    n /= 16;
  } while (n != 0);
  return out;
}

/// The raw bytes of a scripted response (written by hand so faults can break framing).
std::string serialize(const scripted_response& r, bool keep_alive) {
  const auto reason = http::obsolete_reason(http::int_to_status(r.status));
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason) + "\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  const bool chunked = r.chunked && r.fault != http_fault::truncated_body;
  if (!has_field(r.headers, "content-length") && !has_field(r.headers, "transfer-encoding")) {
    out += chunked ? std::string("Transfer-Encoding: chunked\r\n")
                   : "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  }
  if (!has_field(r.headers, "connection")) out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  if (r.fault == http_fault::truncated_body) {
    out.append(r.body, 0, std::min(r.truncate_at.value_or(r.body.size() / 2), r.body.size()));
  } else if (chunked) {
    const std::size_t step = std::max<std::size_t>(r.chunk_size, 1);
    for (std::size_t at = 0; at < r.body.size(); at += step) {
      const std::size_t n = std::min(step, r.body.size() - at);
      out += hex(n) + "\r\n";
      out.append(r.body, at, n);
      out += "\r\n";
    }
    out += "0\r\n";
    for (const auto& [name, value] : r.trailers) out += name + ": " + value + "\r\n";
    out += "\r\n";
  } else {
    out += r.body;
  }
  return out;
}

template <class Stream>
constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

template <class Stream>
asio::awaitable<void> close_gracefully(Stream& stream) {
  auto& lowest = beast::get_lowest_layer(stream);
  if constexpr (is_tls<Stream>) {
    lowest.expires_after(std::chrono::seconds(1));
    [[maybe_unused]] auto [ec] = co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }
  boost::system::error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
  lowest.close();
}

}  // namespace

struct test_http_server::impl {
  test_http_server_options options;
  std::optional<test_tls_identity> identity;
  std::optional<ssl::context> tls_context;  // outlives the io_context (sessions use it)
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>(1);
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t port = 0;
  std::thread thread;

  mutable std::mutex mutex;
  mutable std::condition_variable arrived;
  http_handler handler;
  std::vector<http_request_record> log;
  std::map<std::string, std::size_t, std::less<>> per_target;
  std::size_t connections = 0;
  mutable std::unique_ptr<temp_file> ca;

  std::mutex stop_mutex;
  bool stopped = false;

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        continue;
      }
      {
        const std::lock_guard lock(mutex);
        ++connections;
      }
      asio::co_spawn(*ioc, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    try {
      if (tls_context) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls_context);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
        if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::server,
                                                         asio::as_tuple(asio::use_awaitable));
            ec) {
          co_return;  // e.g. the client rejected our certificate
        }
        beast::get_lowest_layer(stream).expires_never();
        const char* sni = ::SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
        co_await serve(stream, sni != nullptr ? sni : "");
      } else {
        beast::tcp_stream stream(std::move(socket));
        co_await serve(stream, "");
      }
    } catch (const std::exception&) {
      // A test server connection failing is the client's business; never take the
      // server thread down.
    }
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, std::string sni) {
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    beast::flat_buffer buffer;
    for (std::size_t sequence = 1;; ++sequence) {
      http::request<http::string_body> request;
      if (auto [ec, n] = co_await http::async_read(stream, buffer, request, tuple); ec) co_return;

      http_request_record record;
      record.method = std::string(request.method_string());
      record.target = std::string(request.target());
      for (const auto& field : request) {
        record.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      record.tls_server_name = sni;
      record.request_on_connection = sequence;
      record.body = request.body();

      http_handler current;
      {
        const std::lock_guard lock(mutex);
        log.push_back(record);
        ++per_target[record.target];
        current = handler;
      }
      arrived.notify_all();

      scripted_response response;
      try {
        if (current) {
          response = current(record);
        } else {
          response.status = 404;
          response.body = "no handler";
        }
      } catch (const std::exception& e) {
        response = scripted_response{};
        response.status = 500;
        response.body = std::string("handler threw: ") + e.what();
      }

      if (response.delay.count() > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(response.delay);
        co_await timer.async_wait(tuple);
      }

      switch (response.fault) {
        case http_fault::hang: {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          timer.expires_at(asio::steady_timer::time_point::max());
          co_await timer.async_wait(tuple);  // ends only when the server stops
          co_return;
        }
        case http_fault::close_without_response:
          co_await close_gracefully(stream);
          co_return;
        case http_fault::truncated_body: {
          const std::string bytes = serialize(response, false);
          co_await asio::async_write(stream, asio::buffer(bytes), tuple);
          co_await close_gracefully(stream);
          co_return;
        }
        case http_fault::none:
          break;
      }

      const bool keep_alive = request.keep_alive();
      std::string bytes = serialize(response, keep_alive);
      if (response.before_body) {
        const auto head_end = bytes.find("\r\n\r\n") + 4;
        if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes.data(), head_end), tuple); ec) {
          co_return;
        }
        bytes.erase(0, head_end);
        response.before_body();
      }
      if (response.trailing_delay.count() == 0) bytes += response.trailing_bytes;
      if (response.burst_piece != 0) {
        const int fd = beast::get_lowest_layer(stream).socket().native_handle();
        int cork = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
        for (std::size_t at = 0; at < bytes.size(); at += response.burst_piece) {
          const auto piece = asio::buffer(bytes.data() + at, std::min(response.burst_piece, bytes.size() - at));
          if (auto [ec, n] = co_await asio::async_write(stream, piece, tuple); ec) co_return;
        }
        cork = 0;
        ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
      } else if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), tuple); ec) {
        co_return;
      }
      if (response.trailing_delay.count() != 0 && !response.trailing_bytes.empty()) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(response.trailing_delay);
        co_await timer.async_wait(tuple);
        if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(response.trailing_bytes), tuple); ec) {
          co_return;
        }
      }
      if (!keep_alive) {
        co_await close_gracefully(stream);
        co_return;
      }
    }
  }
};

test_http_server::test_http_server(http_handler handler, test_http_server_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  if (impl_->options.tls) {
    impl_->identity = test_tls_identity::generate(impl_->options.dns_names, impl_->options.ip_addresses);
    impl_->tls_context.emplace(ssl::context::tls_server);
    auto& ctx = *impl_->tls_context;
    if (::SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
      throw std::runtime_error("test_http_server: cannot require TLS 1.2");
    }
    ctx.use_certificate_chain(asio::buffer(impl_->identity->cert_pem));
    ctx.use_private_key(asio::buffer(impl_->identity->key_pem), ssl::context::pem);
  }
  auto& acceptor = impl_->acceptor.emplace(*impl_->ioc);
  const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), 0);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen();
  impl_->port = acceptor.local_endpoint().port();
  asio::co_spawn(*impl_->ioc, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([io = impl_->ioc.get()] { io->run(); });
}

test_http_server::~test_http_server() { stop(); }

void test_http_server::stop() {
  const std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->ioc->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Destroying the io_context destroys every suspended session coroutine and with it
  // its socket: hanging connections are closed, nothing waits for a peer.
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

std::uint16_t test_http_server::port() const { return impl_->port; }
bool test_http_server::tls() const { return impl_->options.tls; }

std::string test_http_server::base_url() const {
  return std::string(tls() ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}

std::string test_http_server::url(std::string_view target) const { return base_url() + std::string(target); }

const std::string& test_http_server::ca_pem() const {
  if (!impl_->identity) throw std::logic_error("test_http_server: ca_pem() on a plain HTTP server");
  return impl_->identity->ca_pem;
}

const std::string& test_http_server::cert_pem() const {
  if (!impl_->identity) throw std::logic_error("test_http_server: cert_pem() on a plain HTTP server");
  return impl_->identity->cert_pem;
}

const std::string& test_http_server::ca_file() const {
  const std::string& pem = ca_pem();
  const std::lock_guard lock(impl_->mutex);
  if (!impl_->ca) impl_->ca = std::make_unique<temp_file>(pem);
  return impl_->ca->path();
}

void test_http_server::set_handler(http_handler handler) {
  const std::lock_guard lock(impl_->mutex);
  impl_->handler = std::move(handler);
}

std::vector<http_request_record> test_http_server::requests() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->log;
}

std::size_t test_http_server::request_count() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->log.size();
}

std::size_t test_http_server::request_count(std::string_view target) const {
  const std::lock_guard lock(impl_->mutex);
  const auto it = impl_->per_target.find(target);
  return it == impl_->per_target.end() ? 0 : it->second;
}

std::size_t test_http_server::connection_count() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->connections;
}

bool test_http_server::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->arrived.wait_for(lock, timeout, [&] { return impl_->log.size() >= n; });
}

}  // namespace vp::test
