#pragma once
// The proxy's side of NVIDIA's Remote Attestation Service (docs/gpu-signatures-e2ee.md
// §2): the GPU evidence of a model CVM is POSTed unchanged, and NRAS's signing keys (the
// JWKS) are fetched and kept. What NRAS answers is verified by gpu::nras inside the
// appraisal; this class only transports and caches.
//
// Keys are trusted through their x5c chain to a pinned intermediate (the appraisal
// requires it), so a key set fetched over any transport, or kept for hours, is as good as
// the pin. NVIDIA rotates signing keys continuously: an answer signed by a kid the cached
// set lacks makes the caller ask for a fresh set, at most once per cool-down.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "gpu/nras.hpp"
#include "net/http_client.hpp"
#include "net/single_flight.hpp"
#include "observe/status_board.hpp"
#include "server/proxy_config.hpp"

namespace vp::server {

class nras_client {
 public:
  /// Throws std::runtime_error for an unusable --nras-ca (a startup error). `board` (null:
  /// none) counts every request and its failures.
  nras_client(boost::asio::any_io_executor executor, nras_options options, net::http_client_options http,
              const clock& clock, std::shared_ptr<observe::status_board> board = nullptr);

  /// NVIDIA's answer body for a payload, or a sentence saying why there is none
  /// (unreachable, timeout, a status other than 200).
  struct answer {
    std::optional<std::string> body;
    std::string why;
  };
  /// POSTs `payload` (the nvidia_payload string, byte for byte). Never throws.
  boost::asio::awaitable<answer> attest(std::string payload);

  /// The signing keys: the cached set, fetched when there is none yet or it is older than
  /// an hour; with `refresh`, a new set unless one was fetched within the cool-down. Null
  /// when none could ever be fetched (`why` says why). Concurrent callers share one fetch.
  boost::asio::awaitable<std::shared_ptr<const gpu::nras::jwks>> keys(bool refresh);

  /// Why the last key fetch failed ("" after a success).
  const std::string& last_key_error() const { return key_error_; }
  const std::vector<std::string>& key_pins() const { return options_.key_pins; }
  std::size_t attest_requests() const { return attests_; }
  std::size_t key_fetches() const { return key_fetches_; }

  static constexpr std::chrono::seconds refresh_cooldown{30};
  static constexpr std::chrono::seconds keys_max_age{3600};

 private:
  boost::asio::awaitable<std::shared_ptr<const gpu::nras::jwks>> fetch_keys();

  nras_options options_;
  const clock& clock_;
  std::shared_ptr<net::http_client> http_;
  net::single_flight<int, std::shared_ptr<const gpu::nras::jwks>> key_flight_;
  std::shared_ptr<const gpu::nras::jwks> keys_;
  unix_time keys_fetched_{};
  std::string key_error_;
  std::shared_ptr<observe::status_board> board_;
  std::size_t attests_ = 0;
  std::size_t key_fetches_ = 0;
};

}  // namespace vp::server
