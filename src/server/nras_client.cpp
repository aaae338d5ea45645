#include "server/nras_client.hpp"

#include "core/text.hpp"

namespace vp::server {

namespace asio = boost::asio;

namespace {

/// What a non-200 answer says, bounded and escaped: NRAS's text is not trusted.
std::string status_sentence(std::string_view what, const net::http_response& r) {
  return std::string(what) + " answered HTTP " + std::to_string(r.status) +
         (r.body.empty() ? std::string() : ": " + text::printable_excerpt(r.body));
}

}  // namespace

nras_client::nras_client(asio::any_io_executor executor, nras_options options, net::http_client_options http,
                         const clock& clock, std::shared_ptr<observe::status_board> board)
    : options_(std::move(options)),
      clock_(clock),
      http_(std::make_shared<net::http_client>(executor, [&] {
        http.ca_file = options_.ca_file;
        http.max_body = gpu::nras::max_response_bytes;
        return http;
      }())),
      board_(std::move(board)) {}

asio::awaitable<nras_client::answer> nras_client::attest(std::string payload) {
  ++attests_;
  const std::string url = options_.attest_url;
  auto reply = co_await http_->post(url, std::move(payload), "application/json");
  answer out;
  if (!reply) {
    out.why = "NVIDIA's attestation service: " + reply.error().message;
  } else if (reply->status != 200) {
    out.why = status_sentence("NVIDIA's attestation service " + url, *reply);
  } else {
    out.body = std::move(reply->body);
  }
  if (board_) board_->count_nras_fetch(observe::nras_fetch::attest, out.body.has_value());
  co_return out;
}

asio::awaitable<std::shared_ptr<const gpu::nras::jwks>> nras_client::keys(bool refresh) {
  auto work = [this] { return fetch_keys(); };  // named: no temporaries in a co_await operand
  // A fetch under way is joined: the attestations that start while the first key set is
  // being fetched must wait for it, not go on without keys.
  if (key_flight_.in_flight(0)) co_return co_await key_flight_.run(0, work, keys_);
  const auto now = clock_.now();
  // While NRAS is unreachable, one key fetch per cool-down, not one per attestation.
  const bool cooling = key_fetches_ > 0 && now - keys_fetched_ < refresh_cooldown;
  const bool stale = !keys_ || now - keys_fetched_ > keys_max_age;
  if (cooling || !(stale || refresh)) co_return keys_;
  co_return co_await key_flight_.run(0, work, keys_);
}

asio::awaitable<std::shared_ptr<const gpu::nras::jwks>> nras_client::fetch_keys() {
  ++key_fetches_;
  keys_fetched_ = clock_.now();  // a failed fetch also starts the cool-down
  const std::string url = options_.jwks_url;
  auto reply = co_await http_->get(url);
  if (!reply) {
    key_error_ = "NVIDIA's attestation service keys: " + reply.error().message;
  } else if (reply->status != 200) {
    key_error_ = status_sentence("NVIDIA's attestation service keys " + url, *reply);
  } else if (auto parsed = gpu::nras::parse_jwks(reply->body); !parsed) {
    key_error_ = "NVIDIA's attestation service keys " + url + ": " + parsed.error().message;
  } else {
    key_error_.clear();
    keys_ = std::make_shared<const gpu::nras::jwks>(std::move(*parsed));
  }
  if (board_) board_->count_nras_fetch(observe::nras_fetch::keys, key_error_.empty());
  co_return keys_;
}

}  // namespace vp::server
