#include "app/serve_command.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/url/parse.hpp>

#include "app/cli.hpp"
#include "app/config_file.hpp"
#include "app/program.hpp"
#include "app/workload_policy.hpp"
#include "core/text.hpp"
#include "proxy/routing.hpp"
#include "net/spawn.hpp"
#include "server/proxy_server.hpp"

namespace vp::app {
namespace po = boost::program_options;
namespace asio = boost::asio;

po::options_description backend_options() {
  auto backends = options_group("Backends");
  backends.add_options()
      ("gateway-url", po::value<std::string>()->value_name("URL")->default_value("https://cloud-api.near.ai"),
       "NEAR's gateway for --backend gateway (https, no path; --connect-to applies)")
      ("allow-domain", po::value<std::vector<std::string>>()->value_name("PATTERN"),
       "backend host pattern requests may go to; repeatable (default: *.completions.near.ai; '*.' = one label)")
      ("connect-to", po::value<std::vector<std::string>>()->value_name("HOST:PORT:ADDR:PORT"),
       "dial ADDR:PORT for HOST:PORT while SNI, certificate and Host stay HOST (curl semantics); repeatable")
      ("upstream-ca", po::value<std::string>()->value_name("PEM"),
       "CA certificates for backend TLS instead of the system store")
      ("no-webpki", "do not validate backend certificates against CAs; rely on attestation alone")
      ("signing-algo", po::value<std::string>()->value_name("ALGO")->default_value("ed25519"),
       "the backend key the attestation binds: ed25519 (E2EE v2) or ecdsa (E2EE with ECIES)");

  auto trust = options_group("Verification");
  trust.add_options()
      ("root-ca", po::value<std::string>()->value_name("PEM"),
       "trust anchor for quotes (default: the Intel SGX Root CA built in)")
      ("nvidia-root-ca", po::value<std::string>()->value_name("PEM"),
       "root of GPU evidence certificate chains (default: the NVIDIA Device Identity CA built in)")
      ("gpu-crl-dir", po::value<std::string>()->value_name("DIR"),
       "CRLs (DER or PEM) for the GPU certificate chains, e.g. NVIDIA's l1-root.crl and l2-gh100.crl; without "
       "them GPU revocation is unchecked")
      ("policy", po::value<std::string>()->value_name("FILE"),
       "workload policy JSON (default: the built-in 'nearai' policy)");

  auto nvidia = options_group("NVIDIA attestation service (GPU evidence)");
  nvidia.add_options()
      ("no-nras", "never send GPU evidence to NVIDIA's attestation service (gpu_nras is skipped; a policy that "
                  "requires it refuses every backend)")
      ("nras-url", po::value<std::string>()->value_name("URL")->default_value(server::nras_options{}.attest_url),
       "NRAS GPU attestation endpoint")
      ("nras-jwks-url", po::value<std::string>()->value_name("URL")->default_value(server::nras_options{}.jwks_url),
       "NRAS signing keys")
      ("nras-key-pin", po::value<std::vector<std::string>>()->value_name("SHA256"),
       "SHA-256 (hex) of the SPKI of an intermediate NRAS signing keys must chain to; repeatable, replaces the "
       "default (NVIDIA Attestation Service GPU Intermediate 004)")
      ("nras-ca", po::value<std::string>()->value_name("PEM"),
       "CA certificates for https NRAS URLs instead of the system store");

  auto timing = options_group("Attestation timeouts (DURATION: 500ms, 10s, 5m, 1h; bare numbers are seconds)");
  timing.add_options()
      ("connect-timeout", po::value<std::string>()->value_name("DURATION")->default_value("10s"), "DNS + TCP connect")
      ("tls-timeout", po::value<std::string>()->value_name("DURATION")->default_value("10s"), "TLS handshake")
      ("attestation-timeout", po::value<std::string>()->value_name("DURATION")->default_value("30s"),
       "attestation report request → complete report");

  auto coll = options_group("Collateral (Intel PCS / PCCS)");
  add_collateral_options(coll);

  auto all = options_group();
  all.add(backends).add(trust).add(nvidia).add(timing).add(coll);
  return all;
}

po::options_description serve_options() {
  auto listen = options_group("Listening");
  listen.add_options()
      ("host", po::value<std::string>()->value_name("ADDR")->default_value("127.0.0.1"),
       "address to listen on (keep it on loopback: the proxy adds no client authentication)")
      ("port", po::value<std::string>()->value_name("PORT")->default_value("8080"),
       "port to listen on (0: any free one, named in the startup line)")
      ("max-body", po::value<std::string>()->value_name("SIZE")->default_value("32MiB"),
       "largest request body accepted (413 above)")
      ("body-memory", po::value<std::string>()->value_name("SIZE")->default_value("256MiB"),
       "request bodies held in memory at once, over all clients (503 above)")
      ("max-connections", po::value<std::string>()->value_name("N")->default_value("4096"),
       "client connections served at once; near it idle keep-alive ones are closed, at it new clients get 503")
      ("threads", po::value<std::string>()->value_name("N")->default_value("0"),
       "event-loop threads serving clients, each with its own listening socket (SO_REUSEPORT), connections and "
       "upstream pool; verdicts are shared (0: one per core)")
      ("log-level", po::value<std::string>()->value_name("LEVEL")->default_value("info"),
       "debug, info, warn or error")
      ("log-format", po::value<std::string>()->value_name("FORMAT")->default_value("text"),
       "text, or json: one object per line with the keys ts (RFC 3339 UTC), level and msg, for log shippers");

  auto routing = options_group("Routing");
  routing.add_options()
      ("backend", po::value<std::string>()->value_name("KIND")->default_value("direct"),
       "direct: each model's own CVM domain from the discovery list (byte-exact, model-signed answers); gateway: "
       "NEAR's gateway (--gateway-url), attested together with the model CVM behind it, prompts sealed to the model")
      ("endpoints-url",
       po::value<std::string>()->value_name("URL")->default_value("https://completions.near.ai/endpoints"),
       "discovery list mapping models to backend domains")
      ("endpoints-refresh", po::value<std::string>()->value_name("DURATION")->default_value("300s"),
       "how often the discovery list is refreshed")
      ("endpoints-ca", po::value<std::string>()->value_name("PEM"),
       "CA certificates for an https endpoints URL instead of the system store");

  auto verdicts = options_group("Verdicts");
  verdicts.add_options()
      ("attestation-ttl", po::value<std::string>()->value_name("DURATION")->default_value("1h"),
       "how long a verified backend key is trusted before it is attested again")
      ("negative-ttl", po::value<std::string>()->value_name("DURATION")->default_value("30s"),
       "how long a failed attestation is remembered")
      ("tls-resumption", po::value<std::string>()->value_name("on|off")->default_value("on"),
       "resume a backend's TLS session on new connections while its key's verdict is fresh (no certificate is "
       "sent again: the session is the one made with the attested key)");

  auto integrity = options_group("End-to-end encryption and response signatures");
  integrity.add_options()
      ("e2ee", po::value<std::string>()->value_name("MODE"),
       "on (default for --backend direct): encrypt the prompt fields of chat, completions, embeddings, images, rerank "
       "and score requests to the attested model key and decrypt the answers; other requests use the attested TLS "
       "only. required (default for --backend gateway): also refuse requests with a body that cannot be encrypted. "
       "off: attested TLS only (not with --backend gateway)")
      ("verify-signatures", po::value<std::string>()->value_name("MODE")->default_value("check"),
       "check: verify each answer's signature by the attested key over the exact bytes, report it (log, "
       "X-Signature-Status trailer); enforce: withhold answers (and a stream's [DONE]) until it verifies; off")
      ("signature-wait", po::value<std::string>()->value_name("DURATION")->default_value("3s"),
       "how long a signature the backend has not stored yet (404) is asked for again");

  auto timing = options_group("Request timeouts (DURATION)");
  timing.add_options()
      ("response-timeout", po::value<std::string>()->value_name("DURATION")->default_value("300s"),
       "request sent → response headers")
      ("idle-timeout", po::value<std::string>()->value_name("DURATION")->default_value("120s"),
       "silence between two pieces of a response body")
      ("keep-alive-timeout", po::value<std::string>()->value_name("DURATION")->default_value("120s"),
       "how long a client connection may wait for its next request")
      ("header-timeout", po::value<std::string>()->value_name("DURATION")->default_value("10s"),
       "first byte of a request → end of its header section")
      ("body-timeout", po::value<std::string>()->value_name("DURATION")->default_value("30s"),
       "silence between two pieces of a request body")
      ("shutdown-grace", po::value<std::string>()->value_name("DURATION")->default_value("10s"),
       "on SIGINT/SIGTERM, how long requests in flight may finish")
      ("pool-idle-timeout", po::value<std::string>()->value_name("DURATION")->default_value("55s"),
       "how long a verified backend connection waits in the pool for the next request before it is closed");

  auto general = options_group("General");
  general.add_options()("help,h", "show this help")("version", "print the version and exit");
  add_config_option(general);
  auto all = options_group();
  all.add(general).add(listen).add(routing).add(backend_options()).add(verdicts).add(integrity).add(timing);
  return all;
}

namespace {

std::chrono::seconds seconds_flag(const po::variables_map& vm, const char* name) {
  return std::chrono::duration_cast<std::chrono::seconds>(duration_flag(vm, name));
}

}  // namespace

std::size_t default_thread_count() { return std::max<std::size_t>(std::thread::hardware_concurrency(), 1); }

std::string fit_connections_to_descriptors(server::proxy_config& config, const server::descriptor_limit& limit) {
  std::string line;
  const std::size_t wanted = config.max_client_connections;
  const std::size_t fits = server::connections_within(limit.soft);
  // One connection at least: a proxy that refuses everyone helps nobody find the limit.
  config.max_descriptors = std::max<std::size_t>(fits, 1);
  if (fits < wanted) {
    config.max_client_connections = std::max<std::size_t>(fits, 1);
    line = "file descriptor limit " + std::to_string(limit.soft) + " (hard " + std::to_string(limit.hard) +
           ") carries " + std::to_string(fits) + " connections (clients and backend connections, one descriptor each, " +
           std::to_string(server::reserved_descriptors) + " kept for the rest), not --max-connections " +
           std::to_string(wanted) + ": serving at most " + std::to_string(config.max_client_connections) +
           " (raise it with ulimit -n or LimitNOFILE=)";
  }
  if (!limit.error.empty()) line += (line.empty() ? "" : "; ") + limit.error;
  return line;
}

std::optional<std::string> parse_gateway_url(std::string_view url, std::string& error) {
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    error = "'" + std::string(url) + "' is not a URL (e.g. https://cloud-api.near.ai)";
    return std::nullopt;
  }
  const boost::urls::url_view u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::https) {
    error = "'" + std::string(url) + "' is not https: the gateway is attested on its TLS connection";
    return std::nullopt;
  }
  if (u.has_port() || u.has_userinfo() || u.has_query() || u.has_fragment() ||
      (!u.encoded_path().empty() && u.encoded_path() != "/" && u.encoded_path() != "/v1")) {
    error = "'" + std::string(url) +
            "' must be https://HOST (no port, path, user or query; --connect-to dials another address)";
    return std::nullopt;
  }
  auto host = proxy::normalize_host(std::string_view(u.encoded_host().data(), u.encoded_host().size()));
  if (!host) {
    error = "'" + std::string(url) + "' does not name a DNS host";
    return std::nullopt;
  }
  return host;
}

std::string serve_help() {
  std::ostringstream s;
  s << "Usage: verified-proxy [serve] [flags]\n\n"
       "Runs the verifying proxy: point an OpenAI-compatible client at http://HOST:PORT/v1. Each backend is\n"
       "attested (Intel TDX quote, TLS key and nonce binding, workload policy) on the connection that then\n"
       "carries the request; nothing of a request leaves this machine before the verdict.\n"
    << serve_options();
  return s.str();
}

serve_settings read_backend_settings(const po::variables_map& vm) {
  serve_settings s;
  auto& p = s.proxy;
  if (vm.count("allow-domain") != 0) {
    p.allow_domains = vm["allow-domain"].as<std::vector<std::string>>();
    for (const auto& pattern : p.allow_domains) {
      if (!proxy::is_host_pattern(pattern)) {
        throw po::error("--allow-domain '" + pattern +
                        "' is not a host name or '*.' followed by one (e.g. *.completions.near.ai)");
      }
    }
  }
  std::string gateway_error;
  const auto gateway_host = parse_gateway_url(vm["gateway-url"].as<std::string>(), gateway_error);
  if (!gateway_host) throw po::error("--gateway-url: " + gateway_error);
  p.gateway_host = *gateway_host;
  if (vm.count("connect-to") != 0) {
    for (const auto& spec : vm["connect-to"].as<std::vector<std::string>>()) {
      std::string error;
      auto rule = proxy::parse_connect_to(spec, error);
      if (!rule) throw po::error(error);
      p.connect_to.push_back(std::move(*rule));
    }
  }
  if (vm.count("root-ca") != 0) s.root_ca = vm["root-ca"].as<std::string>();
  if (vm.count("nvidia-root-ca") != 0) s.nvidia_root_ca = vm["nvidia-root-ca"].as<std::string>();
  if (vm.count("gpu-crl-dir") != 0) s.gpu_crl_dir = vm["gpu-crl-dir"].as<std::string>();
  if (vm.count("policy") != 0) s.policy_file = vm["policy"].as<std::string>();
  p.nras.enabled = vm.count("no-nras") == 0;
  if (vm.count("nras-url") != 0) p.nras.attest_url = vm["nras-url"].as<std::string>();
  if (vm.count("nras-jwks-url") != 0) p.nras.jwks_url = vm["nras-jwks-url"].as<std::string>();
  if (vm.count("nras-ca") != 0) p.nras.ca_file = vm["nras-ca"].as<std::string>();
  if (vm.count("nras-key-pin") != 0) {
    std::string error;
    auto pins = parse_key_pins(vm["nras-key-pin"].as<std::vector<std::string>>(), error);
    if (!pins) throw po::error(error);
    p.nras.key_pins = std::move(*pins);
  }
  for (const auto* url : {&p.nras.attest_url, &p.nras.jwks_url}) {
    if (!url->starts_with("https://") && !url->starts_with("http://")) {
      throw po::error("--nras-url / --nras-jwks-url " + *url + ": expected an http(s) URL");
    }
  }
  if (vm.count("upstream-ca") != 0) p.upstream_tls.ca_file = vm["upstream-ca"].as<std::string>();
  p.upstream_tls.webpki = vm.count("no-webpki") == 0;
  if (!p.upstream_tls.webpki && !p.upstream_tls.ca_file.empty()) {
    throw po::error("--upstream-ca and --no-webpki contradict each other");
  }
  const auto algo = attest::signing_algorithm_named(vm["signing-algo"].as<std::string>());
  if (!algo) throw po::error("--signing-algo must be ed25519 or ecdsa");
  p.signing_algo = *algo;
  p.timeouts.connect = duration_flag(vm, "connect-timeout");
  p.timeouts.tls = duration_flag(vm, "tls-timeout");
  p.timeouts.attestation = duration_flag(vm, "attestation-timeout");
  s.collateral = read_collateral_options(vm);
  return s;
}

serve_settings read_serve_settings(const po::variables_map& vm) {
  serve_settings s = read_backend_settings(vm);
  auto& p = s.proxy;
  p.listen_host = vm["host"].as<std::string>();
  p.listen_port = port_flag(vm, "port", true);
  p.max_body = size_flag(vm, "max-body");
  if (p.max_body == 0) throw po::error("--max-body must be larger than 0");
  p.max_buffered_bodies = size_flag(vm, "body-memory");
  if (p.max_buffered_bodies < p.max_body) {
    throw po::error("--body-memory (" + text::size_text(p.max_buffered_bodies) + ") is smaller than --max-body (" +
                    text::size_text(p.max_body) + "): no request of the largest allowed size could ever be held");
  }
  p.max_client_connections = number_flag(vm, "max-connections", 1, std::size_t{1} << 20);
  s.threads = number_flag(vm, "threads", 0, 1024);
  if (s.threads == 0) s.threads = default_thread_count();
  if (!log::parse_level(vm["log-level"].as<std::string>(), s.log_level)) {
    throw po::error("--log-level must be debug, info, warn or error");
  }
  if (!log::parse_format(vm["log-format"].as<std::string>(), s.log_format)) {
    throw po::error("--log-format must be text or json");
  }
  p.endpoints_url = vm["endpoints-url"].as<std::string>();
  if (!p.endpoints_url.starts_with("https://") && !p.endpoints_url.starts_with("http://")) {
    throw po::error("--endpoints-url " + p.endpoints_url + " is not an http:// or https:// URL");
  }
  p.endpoints_refresh = seconds_flag(vm, "endpoints-refresh");
  if (vm.count("endpoints-ca") != 0) p.endpoints_ca = vm["endpoints-ca"].as<std::string>();
  const auto backend = server::parse_backend_kind(vm["backend"].as<std::string>());
  if (!backend) throw po::error("--backend must be direct or gateway");
  p.backend = *backend;
  p.attestation_ttl = seconds_flag(vm, "attestation-ttl");
  p.negative_ttl = seconds_flag(vm, "negative-ttl");
  // A verdict kept for no time at all cannot carry the request it was made for (its
  // keys are what E2EE and the signature check use), and a zero refresh would refetch
  // the list on every request.
  for (const char* name : {"attestation-ttl", "negative-ttl", "endpoints-refresh"}) {
    if (seconds_flag(vm, name).count() == 0) {
      throw po::error("--" + std::string(name) + " must be at least 1s");
    }
  }
  const bool gateway = p.backend == server::backend_kind::gateway;
  // Behind the gateway nothing the gateway can read is sent unless the user says so.
  const auto e2ee = vm.count("e2ee") != 0 ? proxy::parse_e2ee_mode(vm["e2ee"].as<std::string>())
                                           : (gateway ? proxy::e2ee_mode::required : proxy::e2ee_mode::on);
  if (!e2ee) throw po::error("--e2ee must be on, off or required");
  if (gateway && *e2ee == proxy::e2ee_mode::off) {
    throw po::error("--backend gateway with --e2ee off would let the gateway read every prompt; use --e2ee required "
                    "(the default there) or on, or --backend direct");
  }
  p.e2ee = *e2ee;
  const auto signatures = proxy::parse_signature_mode(vm["verify-signatures"].as<std::string>());
  if (!signatures) throw po::error("--verify-signatures must be off, check or enforce");
  p.verify_signatures = *signatures;
  p.signature_wait = duration_flag(vm, "signature-wait");
  p.timeouts.response_headers = duration_flag(vm, "response-timeout");
  p.timeouts.idle = duration_flag(vm, "idle-timeout");
  p.timeouts.client_keep_alive = duration_flag(vm, "keep-alive-timeout");
  p.timeouts.client_header = duration_flag(vm, "header-timeout");
  p.timeouts.client_body = duration_flag(vm, "body-timeout");
  for (const char* name : {"keep-alive-timeout", "header-timeout", "body-timeout"}) {
    if (duration_flag(vm, name).count() == 0) throw po::error("--" + std::string(name) + " must be longer than 0");
  }
  p.shutdown_grace = seconds_flag(vm, "shutdown-grace");
  p.pool_idle_timeout = seconds_flag(vm, "pool-idle-timeout");
  if (p.pool_idle_timeout.count() == 0) throw po::error("--pool-idle-timeout must be at least 1s");
  const std::string resumption = vm["tls-resumption"].as<std::string>();
  if (resumption != "on" && resumption != "off") throw po::error("--tls-resumption must be on or off");
  p.tls_resumption = resumption == "on";
  return s;
}

backend_dependencies load_backend_dependencies(boost::asio::any_io_executor executor, const serve_settings& settings,
                                               std::shared_ptr<const clock> time_source) {
  auto anchor = load_anchor(settings.root_ca);
  auto workload = load_workload_policy(settings.policy_file);
  auto source = make_collateral_source(std::move(executor), settings.collateral, anchor, *time_source);
  backend_dependencies out{server::proxy_dependencies{source, anchor, std::move(time_source), workload.policy},
                           std::move(workload.description)};
  out.dependencies.gpu_anchor = load_gpu_anchor(settings.nvidia_root_ca);
  out.dependencies.gpu_crls = load_gpu_crls(settings.gpu_crl_dir);
  return out;
}

namespace {

/// The serve flags over the config file, or nullopt after --help / --version or an error.
std::optional<loaded_options> load_serve_options(const std::vector<std::string>& args, std::string_view help,
                                                 std::ostream& out, std::ostream& err, int& exit_code) {
  try {
    auto loaded = load_options(serve_options(), args);
    if (loaded.values.count("help") != 0) {
      out << help;
      exit_code = exit_ok;
      return std::nullopt;
    }
    if (loaded.values.count("version") != 0) {
      out << version_line("verified-proxy") << '\n';
      exit_code = exit_ok;
      return std::nullopt;
    }
    return loaded;
  } catch (const po::error& e) {
    err << "verified-proxy: " << e.what() << "\n\nRun `verified-proxy --help` for the flags.\n";
    exit_code = exit_usage;
    return std::nullopt;
  }
}

}  // namespace

std::optional<serve_settings> parse_serve_settings(const std::vector<std::string>& args, std::ostream& out,
                                                   std::ostream& err, int& exit_code) {
  auto loaded = load_serve_options(args, serve_help(), out, err, exit_code);
  if (!loaded) return std::nullopt;
  try {
    auto settings = read_serve_settings(loaded->values);
    settings.config_file = loaded->config_file;
    return settings;
  } catch (const po::error& e) {
    err << "verified-proxy: " << e.what() << "\n\nRun `verified-proxy --help` for the flags.\n";
    exit_code = exit_usage;
    return std::nullopt;
  }
}

int print_config_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::string help =
      "Usage: verified-proxy print-config [flags]\n\n"
      "Prints the configuration `verified-proxy serve` would run with — the config file, the flags given here over\n"
      "it, and the defaults — as a config file that --config reads back. It takes every serve flag (see\n"
      "`verified-proxy serve --help`) and checks them as serve does.\n";
  int exit_code = exit_ok;
  auto loaded = load_serve_options(args, help, out, err, exit_code);
  if (!loaded) return exit_code;
  try {
    (void)read_serve_settings(loaded->values);
  } catch (const po::error& e) {
    err << "verified-proxy print-config: " << e.what() << "\n\n" << help_hint("verified-proxy print-config") << '\n';
    return exit_usage;
  }
  out << "# " << version_line("verified-proxy") << ": the effective configuration (flags over the config file over "
      << "the defaults)\n"
      << "# config file: "
      << (loaded->config_file.empty() ? loaded->no_config_reason : loaded->config_file.string()) << "\n"
      << effective_config_toml(serve_options(), loaded->values);
  return exit_ok;
}

int serve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  int exit_code = exit_ok;
  auto settings = parse_serve_settings(args, out, err, exit_code);
  if (!settings) return exit_code;
  log::set_min_level(settings->log_level);
  log::set_format(settings->log_format);
  if (const auto line = fit_connections_to_descriptors(settings->proxy, server::raise_descriptor_limit());
      !line.empty()) {
    log::warn(line);
  }

  // One io_context per shard, each run by one thread (concurrency hint 1: no locking
  // inside Asio's scheduler). The first is the control executor: the signal handler, the
  // collateral source, the model list and NVIDIA's service client run there.
  std::vector<std::unique_ptr<asio::io_context>> shards;
  std::vector<asio::any_io_executor> executors;
  for (std::size_t i = 0; i < settings->threads; ++i) {
    shards.push_back(std::make_unique<asio::io_context>(1));
    executors.push_back(shards.back()->get_executor());
  }
  auto& ioc = *shards.front();
  const auto clock = std::make_shared<system_clock>();
  std::unique_ptr<server::proxy_server> proxy;
  try {
    auto loaded = load_backend_dependencies(ioc.get_executor(), *settings, clock);
    proxy = std::make_unique<server::proxy_server>(executors, settings->proxy, loaded.dependencies);
    proxy->start();
    const auto& p = settings->proxy;
    log::info(version_line("verified-proxy") + " listening on http://" + p.listen_host + ":" +
              std::to_string(proxy->port()) + "/v1 — point your OpenAI client's base URL there");
    log::info(std::to_string(proxy->shard_count()) + (proxy->shard_count() == 1 ? " thread serves" : " threads serve") +
              " clients (--threads; verdicts shared, each thread with its own connections and upstream pool)");
    log::info("status page: http://" + p.listen_host + ":" + std::to_string(proxy->port()) +
              "/_proxy/ (JSON: /_proxy/status, Prometheus: /_proxy/metrics, /_proxy/healthz)");
    log::info("config file: " + (settings->config_file.empty() ? std::string("none") : settings->config_file.string()));
    const auto& c = settings->collateral;
    const std::string collateral_from =
        !c.collateral_dir.empty() ? c.collateral_dir.string() + " (offline)"
                                  : (c.pccs_urls.empty() ? std::string("Intel PCS") : c.pccs_urls.front());
    const std::string anchor_name = settings->root_ca.empty() ? std::string("Intel SGX Root CA") : settings->root_ca;
    log::info("quotes: trust anchor " + anchor_name + "; collateral from " + collateral_from);
    log::info("GPU evidence: root " + (settings->nvidia_root_ca.empty() ? std::string("NVIDIA Device Identity CA")
                                                                        : settings->nvidia_root_ca));
    log::info("workload policy: " + loaded.policy_description);
    log::info("end-to-end encryption " + std::string(proxy::to_string(p.e2ee)) + "; response signatures " +
              std::string(proxy::to_string(p.verify_signatures)) + "; attested signing key " +
              std::string(attest::to_string(p.signing_algo)));
    std::string allowed;
    for (const auto& a : p.allow_domains) allowed += (allowed.empty() ? "" : ", ") + a;
    if (p.backend == server::backend_kind::gateway) {
      log::info("backend: NEAR's gateway " + p.gateway_host +
                " — each request's model is attested behind it with the client's API key (the gateway requires one "
                "for reports); prompts sealed to the model CVM (e2ee " + std::string(proxy::to_string(p.e2ee)) + ")");
    }
    log::info("backends: " + allowed +
              (p.backend == server::backend_kind::gateway ? ", " + p.gateway_host + " (models from its /v1/models)"
                                                          : " via " + p.endpoints_url) +
              "; TLS certificates " +
              (p.upstream_tls.webpki ? (p.upstream_tls.ca_file.empty() ? "checked against the system store"
                                                                       : "checked against " + p.upstream_tls.ca_file)
                                     : "NOT checked (--no-webpki: attestation alone)") +
              "; verdicts trusted for " + std::to_string(p.attestation_ttl.count()) + " s");
  } catch (const std::exception& e) {
    err << "verified-proxy: " << text::exception_text(e) << '\n';
    return exit_usage;
  }

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  bool stopping = false;
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int signo) {
    if (ec) return;
    if (stopping) {
      log::warn("second signal: exiting now");
      for (auto& shard : shards) shard->stop();
      return;
    }
    stopping = true;
    log::info(std::string(signo == SIGINT ? "SIGINT" : "SIGTERM") + ": shutting down");
    proxy->stop([&] {
      log::info("stopped");
      signals.cancel();
      for (auto& shard : shards) shard->stop();
    });
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  // The other shards have nothing to wait for until a client connects: keep them running
  // until stop().
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < shards.size(); ++i) {
    keep_running.push_back(asio::make_work_guard(*shards[i]));
    threads.emplace_back([&shard = *shards[i]] { net::run_contained(shard, "proxy event loop"); });
  }
  net::run_contained(ioc, "proxy event loop");
  for (auto& t : threads) t.join();
  return exit_ok;
}

}  // namespace vp::app
