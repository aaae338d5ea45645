#include "server/backend_attestation.hpp"

#include <utility>

#include "observe/status_board.hpp"
#include "proxy/routing.hpp"
#include "server/nras_client.hpp"

namespace vp::server {

namespace asio = boost::asio;

namespace {

/// Passes every attestation on to the proxy's attester and keeps a copy of its result:
/// the gate hands on only the refusal, a person wants every factor.
class recording_attester final : public attester {
 public:
  recording_attester(std::shared_ptr<attester> inner, attestation_result& kept)
      : inner_(std::move(inner)), kept_(kept) {}

  asio::awaitable<attestation_result> attest(upstream::upstream_connection& conn,
                                             attestation_subject subject) override {
    auto result = co_await inner_->attest(conn, std::move(subject));
    kept_ = result;
    co_return result;
  }

 private:
  std::shared_ptr<attester> inner_;
  attestation_result& kept_;
};

/// The collateral source the attester asks, counted on the status board.
class counted_collateral_source final : public collateral::source {
 public:
  counted_collateral_source(std::shared_ptr<collateral::source> inner, std::shared_ptr<observe::status_board> board)
      : inner_(std::move(inner)), board_(std::move(board)) {}

  asio::awaitable<collateral::result<collateral::verified_collateral>> get(collateral::platform_key key) override {
    auto got = co_await inner_->get(key);
    board_->count_collateral_fetch(got.has_value());
    co_return got;
  }

 private:
  std::shared_ptr<collateral::source> inner_;
  std::shared_ptr<observe::status_board> board_;
};

}  // namespace

std::shared_ptr<attester> make_attester(asio::any_io_executor executor, const proxy_config& config,
                                        const proxy_dependencies& dependencies,
                                        std::shared_ptr<observe::status_board> board) {
  if (dependencies.attester) return dependencies.attester;
  std::shared_ptr<nras_client> nras;
  if (config.nras.enabled) {
    nras = std::make_shared<nras_client>(
        executor, config.nras,
        net::http_client_options{config.timeouts.connect, config.timeouts.attestation,
                                 gpu::nras::max_response_bytes, {}, "verified-proxy", {}},
        *dependencies.time_source, board);
  }
  std::shared_ptr<collateral::source> collateral = dependencies.collateral;
  if (board) collateral = std::make_shared<counted_collateral_source>(std::move(collateral), board);
  return std::make_shared<near_attester>(
      executor, std::move(collateral), dependencies.anchor, dependencies.policy, *dependencies.time_source,
      upstream::attest_options{config.timeouts.attestation, config.max_attestation_report, std::nullopt,
                               config.signing_algo},
      dependencies.gpu_anchor, std::move(nras), dependencies.gpu_crls);
}

upstream::connect_options connect_options_for(const proxy_config& config, std::string_view domain) {
  upstream::connect_options options{config.timeouts.connect, config.timeouts.tls, std::nullopt};
  if (const auto* rule = proxy::find_connect_to(config.connect_to, domain, config.upstream_port)) {
    options.connect_to = upstream::dial_address{rule->address, rule->address_port};
  }
  return options;
}

std::string attestation_target::backend_name() const {
  return gateway ? domain + " (model " + model.value_or("") + ")" : domain;
}

attestation_subject attestation_target::subject() const {
  attestation_subject out{model, std::nullopt};
  if (gateway) out.gateway = upstream::gateway_report_query{model.value_or(""), "near", authorization};
  return out;
}

asio::awaitable<attestation_outcome> attest_backend(asio::any_io_executor executor, proxy_config config,
                                                    proxy_dependencies dependencies, attestation_target target) {
  attestation_outcome out;
  const upstream::tls_client_context tls(config.upstream_tls);
  const auto options = connect_options_for(config, target.domain);
  std::string host = target.domain;
  auto connected = co_await upstream::connect_upstream(executor, tls, std::move(host), config.upstream_port, options);
  if (!connected) {
    out.refusal = upstream::to_failure(connected.error());
    co_return out;
  }
  out.live_spki = connected->spki_sha256();
  out.dialled = connected->dialled();

  // The subject a client request would carry to the gate (proxy_server's acquire).
  attestation_subject subject = target.subject();
  auto recorder = std::make_shared<recording_attester>(make_attester(executor, config, dependencies), out.attested);
  attestation_gate::attest_fn attest = [recorder, &conn = *connected, subject]() {
    return recorder->attest(conn, subject);
  };
  attestation_gate gate(*dependencies.time_source,
                        appraise::verdict_cache_options{config.attestation_ttl, config.negative_ttl, 1, 1});
  std::string key = target.backend_name();
  const sha256_digest spki = connected->spki_sha256();
  auto admitted = co_await gate.admit(std::move(key), spki, std::move(attest));
  if (!admitted) out.refusal = admitted.error();
  co_return out;
}

}  // namespace vp::server
