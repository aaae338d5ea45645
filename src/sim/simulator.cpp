#include "sim/simulator.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/hex.hpp"
#include "net/spawn.hpp"
#include "sim/backend_server.hpp"
#include "sim/deployment.hpp"
#include "sim/gateway_server.hpp"
#include "sim/pccs.hpp"
#include "sim/plain_server.hpp"
#include "sim/report.hpp"

namespace vp::sim {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

std::string endpoints_body(const simulator_options& options) {
  json::array endpoints;
  for (const auto& d : options.domains) {
    json::array models;
    for (const auto& m : d.models) models.emplace_back(m);
    endpoints.emplace_back(json::object{{"domain", d.domain}, {"models", std::move(models)}});
  }
  return json::serialize(json::object{{"endpoints", std::move(endpoints)}});
}

/// The fake NRAS's run-time state (its keys live in the deployment).
struct nras_state {
  mutable std::mutex mutex;
  nras_faults faults;
  std::size_t attests = 0;
  std::size_t jwks = 0;
};

constexpr std::string_view nras_attest_path = "/v3/attest/gpu";
constexpr std::string_view nras_jwks_path = "/.well-known/jwks.json";

plain_response nras_error(unsigned status, std::string_view message) {
  return make_plain_response(status, "application/json",
                             json::serialize(json::object{{"error", message}, {"status", status}}));
}

/// One request to the fake NRAS (docs/gpu-signatures-e2ee.md §2.1-2.3): the body of POST
/// /v3/attest/gpu is the nvidia_payload text, answered with the detached EAT
/// `[["JWT", overall], {"GPU-0": …}]` for it, issued now, with the deployment's NRAS faults.
plain_response nras_answer(const deployment& where, nras_state& state, const plain_request& request) {
  namespace http = boost::beast::http;
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == nras_jwks_path) {
    if (request.method() != http::verb::get) return nras_error(405, "use GET");
    {
      const std::lock_guard lock(state.mutex);
      ++state.jwks;
    }
    return make_plain_response(200, "application/json", where.nras_signer().jwks_json());
  }
  if (path != nras_attest_path) return nras_error(404, "not found");
  if (request.method() != http::verb::post) return nras_error(405, "use POST");
  nras_faults f;
  {
    const std::lock_guard lock(state.mutex);
    ++state.attests;
    f = state.faults;
  }
  if (f.down) return nras_error(503, "service unavailable (verified-proxy-sim fault nras_down)");
  test::nras_spec spec;
  spec.overall_result = !f.verdict_false;
  if (f.expired) spec.lifetime_seconds = 0;  // exp = iat: expired as it arrives
  if (f.wrong_nonce) {
    // Tokens for another request: the payload's nonce with one bit flipped.
    boost::system::error_code ec;
    const json::value doc = json::parse(request.body(), ec);
    const json::string* nonce_hex = !ec && doc.is_object() && doc.as_object().contains("nonce")
                                        ? doc.as_object().at("nonce").if_string()
                                        : nullptr;
    const auto nonce = nonce_hex != nullptr ? from_hex(*nonce_hex) : std::nullopt;
    if (!nonce || nonce->size() != 32) return nras_error(400, "the payload has no 32-byte nonce");
    test::gpu_nonce other{};
    std::copy(nonce->begin(), nonce->end(), other.begin());
    other[0] ^= 0x01;
    spec.eat_nonce = other;
  }
  try {
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    return make_plain_response(200, "application/json", where.nras_signer().answer(request.body(), now, spec));
  } catch (const std::exception& e) {
    return nras_error(400, std::string("cannot appraise the evidence: ") + e.what());
  }
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("verified-proxy-sim: cannot write " + path.string());
}

/// The measurements a verifier pins for a CVM of `where` that runs `w` and measured `cvm`.
simulator::measurements measurements_of(const deployment& where, const workload_identity& w,
                                        const instance_workload& cvm) {
  simulator::measurements m;
  m.mrtd = to_hex(w.mr_td);
  m.rtmr0 = to_hex(cvm.rtmrs[0]);
  m.rtmr1 = to_hex(cvm.rtmrs[1]);
  m.rtmr2 = to_hex(cvm.rtmrs[2]);
  m.rtmr3 = to_hex(cvm.rtmrs[3]);
  m.compose_hash = to_hex(w.compose_hash);
  m.app_id = to_hex(w.app_id);
  m.key_provider = to_hex(w.key_provider_id);
  m.os_image_hash = to_hex(w.os_image_hash);
  m.mrseam = to_hex(where.td_template().mr_seam);
  m.mr_config_id = to_hex(w.mr_config_id);
  return m;
}

}  // namespace

struct simulator::impl {
  simulator_options options;
  std::unique_ptr<deployment> where;
  // Servers keep their state alive from their coroutines; these handles only read it.
  std::vector<std::unique_ptr<backend_server>> backends;
  std::unique_ptr<gateway_server> gateway;
  std::uint16_t pccs_port = 0;
  std::uint16_t endpoints_port = 0;
  std::uint16_t nras_port = 0;
  nras_state nras;

  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>(1);
  std::thread thread;
  std::mutex stop_mutex;
  bool stopped = false;

  const backend_server& backend(std::string_view domain) const {
    for (const auto& b : backends) {
      if (b->domain() == domain) return *b;
    }
    throw std::out_of_range("verified-proxy-sim: no simulated domain " + std::string(domain));
  }
  backend_server& backend(std::string_view domain) {
    return const_cast<backend_server&>(std::as_const(*this).backend(domain));
  }

  const gateway_server& the_gateway() const {
    if (!gateway) throw std::logic_error("verified-proxy-sim: this deployment has no gateway");
    return *gateway;
  }
  gateway_server& the_gateway() { return const_cast<gateway_server&>(std::as_const(*this).the_gateway()); }
};

simulator::simulator(simulator_options options) : impl_(std::make_unique<impl>()) {
  if (options.domains.empty()) throw std::invalid_argument("verified-proxy-sim: no domain to simulate");
  impl_->options = std::move(options);
  const simulator_options& o = impl_->options;
  if (o.gpus > max_gpus_per_cvm) {
    throw std::invalid_argument("verified-proxy-sim: at most " + std::to_string(max_gpus_per_cvm) + " GPUs per CVM");
  }
  impl_->where = std::make_unique<deployment>(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()), o.up_to_date_tcb_level_age, o.gpus);
  impl_->nras.faults = o.nras;

  const deployment& where = *impl_->where;
  impl_->pccs_port = start_plain_server(*impl_->ioc, o.pccs_port,
                                        [&where](const plain_request& r) { return pccs_answer(where.pccs(), r); });
  impl_->endpoints_port =
      start_plain_server(*impl_->ioc, o.endpoints_port, [body = endpoints_body(o)](const plain_request& r) {
        if (r.target() == "/endpoints" || r.target().starts_with("/endpoints?")) {
          return make_plain_response(200, "application/json", body);
        }
        return make_plain_response(404, "application/json",
                                   R"({"error":{"message":"not found","type":"invalid_request_error","code":"not_found"}})");
      });
  nras_state& nras = impl_->nras;
  impl_->nras_port = start_plain_server(*impl_->ioc, o.nras_port, [&where, &nras](const plain_request& r) {
    return nras_answer(where, nras, r);
  });
  backend_settings settings{o.stream_tokens, o.token_delay, o.gpus, 0, o.signature_delay, {}};
  if (o.gateway) {
    for (const auto& d : o.domains) {
      if (d.domain == o.gateway->domain) {
        throw std::invalid_argument("verified-proxy-sim: the gateway's domain " + d.domain + " is a model domain too");
      }
    }
    // inference-proxy's TOKEN, which only cloud-api holds (docs/gpu-signatures-e2ee.md §3.3).
    settings.gateway_token = "sim-gateway-" + to_hex(random_report_nonce());
  }
  for (std::size_t i = 0; i < o.domains.size(); ++i) {
    const std::uint16_t port =
        o.first_backend_port == 0 ? 0 : static_cast<std::uint16_t>(o.first_backend_port + i);
    impl_->backends.push_back(std::make_unique<backend_server>(*impl_->ioc, where, o.domains[i], settings, port));
    // Every CVM of the deployment gets GPUs of its own (NEAR: no GPU is in two CVMs).
    settings.first_gpu_index += o.domains[i].instances * o.gpus;
  }
  if (o.gateway) {
    std::vector<const backend_server*> models;
    for (const auto& b : impl_->backends) models.push_back(b.get());
    impl_->gateway = std::make_unique<gateway_server>(*impl_->ioc, where, *o.gateway, std::move(models),
                                                      settings.gateway_token, o.gateway_port, o.stream_tokens);
  }
  impl_->thread = std::thread([io = impl_->ioc.get()] { net::run_contained(*io, "simulator event loop"); });
}

simulator::~simulator() { stop(); }

void simulator::stop() {
  const std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->ioc->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Destroying the io_context destroys every suspended coroutine — acceptors, hanging
  // and streaming connections — and closes their sockets.
  impl_->ioc.reset();
}

std::string simulator::pccs_url() const { return "http://127.0.0.1:" + std::to_string(impl_->pccs_port); }

std::string simulator::endpoints_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->endpoints_port) + "/endpoints";
}

std::uint16_t simulator::backend_port(std::string_view domain) const { return impl_->backend(domain).port(); }

std::string simulator::connect_to(std::string_view domain) const {
  return std::string(domain) + ":443:127.0.0.1:" + std::to_string(backend_port(domain));
}

const std::string& simulator::root_ca_pem() const { return impl_->where->root_ca_pem(); }
const std::string& simulator::upstream_ca_pem() const { return impl_->where->upstream_ca_pem(); }
const std::string& simulator::nvidia_root_ca_pem() const { return impl_->where->gpu_pki().root_pem(); }

const test::nvidia_test_pki& simulator::nvidia_pki() const { return impl_->where->gpu_pki(); }

std::string simulator::nras_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->nras_port) + std::string(nras_attest_path);
}

std::string simulator::nras_jwks_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->nras_port) + std::string(nras_jwks_path);
}

std::string simulator::nras_key_pin() const { return impl_->where->nras_signer().intermediate_spki_sha256_hex(); }

std::string simulator::nras_jwks_json() const { return impl_->where->nras_signer().jwks_json(); }

void simulator::set_nras_faults(nras_faults faults) {
  const std::lock_guard lock(impl_->nras.mutex);
  impl_->nras.faults = faults;
}

std::size_t simulator::nras_attest_count() const {
  const std::lock_guard lock(impl_->nras.mutex);
  return impl_->nras.attests;
}

std::size_t simulator::nras_jwks_count() const {
  const std::lock_guard lock(impl_->nras.mutex);
  return impl_->nras.jwks;
}

std::size_t simulator::gpus() const { return impl_->options.gpus; }

simulator::gpu_measurements simulator::gpu_pinned() const {
  const gpu_pins& p = impl_->where->gpu_pinned();
  return {p.hwmodel, p.driver_version, p.vbios_version, p.measurement_record_sha256_hex};
}

std::vector<std::string> simulator::write_proxy_files(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("verified-proxy-sim: cannot create " + dir.string() + ": " + ec.message());
  const auto root = std::filesystem::absolute(dir / "root-ca.pem");
  const auto upstream = std::filesystem::absolute(dir / "upstream-ca.pem");
  const auto nvidia_root = std::filesystem::absolute(dir / "nvidia-root-ca.pem");
  write_text(root, root_ca_pem());
  write_text(upstream, upstream_ca_pem());
  write_text(nvidia_root, nvidia_root_ca_pem());
  std::vector<std::string> flags = {"--root-ca",        root.string(),        "--upstream-ca",   upstream.string(),
                                    "--nvidia-root-ca", nvidia_root.string(), "--pccs-url",      pccs_url(),
                                    "--endpoints-url",  endpoints_url(),      "--nras-url",      nras_url(),
                                    "--nras-jwks-url",  nras_jwks_url(),      "--nras-key-pin", nras_key_pin()};
  for (const auto& b : impl_->backends) {
    flags.insert(flags.end(), {"--connect-to", connect_to(b->domain()), "--allow-domain", b->domain()});
  }
  if (impl_->gateway) {
    flags.insert(flags.end(), {"--connect-to",
                               gateway_domain() + ":443:127.0.0.1:" + std::to_string(gateway_port()),
                               "--gateway-url", gateway_url()});
  }
  flags.emplace_back("--no-cache");
  return flags;
}

std::string simulator::policy_json() const {
  const auto one = [](const std::string& hex) {
    json::array list;
    list.emplace_back(hex);
    return list;
  };
  const auto pins = [&one](const measurements& m) {
    json::object section;
    section["mrseam"] = one(m.mrseam);
    section["mrtd"] = one(m.mrtd);
    section["rtmr0"] = one(m.rtmr0);
    section["rtmr1"] = one(m.rtmr1);
    section["rtmr2"] = one(m.rtmr2);
    section["os_image_hash"] = one(m.os_image_hash);
    section["app_id"] = one(m.app_id);
    section["key_provider_id"] = one(m.key_provider);
    section["compose_hash"] = one(m.compose_hash);
    return section;
  };
  json::object policy;
  policy["name"] = "verified-proxy-sim";
  policy["description"] = "Pins the simulated deployment's workload (test keys; never use outside tests).";
  policy["model"] = pins(measured());
  // The gateway CVM is another app (§5.1 step 3: its own workload policy).
  if (impl_->gateway) policy["gateway"] = pins(gateway_measured());
  if (gpus() > 0) {
    // What the simulated GPUs report (docs/gpu-signatures-e2ee.md §1.7): a report without
    // them, or with other ones, must not pass.
    const gpu_measurements g = gpu_pinned();
    json::object set;
    set["driver_version"] = g.driver_version;
    set["vbios_version"] = g.vbios_version;
    set["measurement_record_sha256"] = g.measurement_record_sha256;
    json::array sets;
    sets.emplace_back(std::move(set));
    json::object gpu;
    gpu["required"] = true;
    // As the built-in nearai policy: NVIDIA's verdict (here the fake NRAS's) is required.
    gpu["nras"] = "required";
    gpu["hwmodels"] = one(g.hwmodel);
    gpu["measurements"] = std::move(sets);
    // Nobody can check a synthetic chain's revocation: there is no OCSP for it (§1.5).
    gpu["accept_unchecked_revocation"] = true;
    policy["gpu"] = std::move(gpu);
  }
  return json::serialize(policy) + "\n";
}

std::filesystem::path simulator::write_policy_file(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("verified-proxy-sim: cannot create " + dir.string() + ": " + ec.message());
  const auto path = std::filesystem::absolute(dir / "policy.json");
  write_text(path, policy_json());
  return path;
}

void simulator::set_faults(std::string_view domain, std::size_t instance, backend_faults faults) {
  impl_->backend(domain).set_faults(instance, faults);
}

std::string simulator::spki_sha256_hex(std::string_view domain, std::size_t instance) const {
  return impl_->backend(domain).spki_sha256_hex(instance);
}

std::pair<std::filesystem::path, std::filesystem::path> simulator::write_backend_tls(
    const std::filesystem::path& dir, std::string_view domain, std::size_t instance) const {
  const tls_identity id = impl_->backend(domain).tls_key_and_chain(instance);
  const auto tls_dir = std::filesystem::absolute(dir / "backend-tls");
  std::error_code ec;
  std::filesystem::create_directories(tls_dir, ec);
  if (ec) throw std::runtime_error("verified-proxy-sim: cannot create " + tls_dir.string() + ": " + ec.message());
  const std::string stem = std::string(domain) + "-" + std::to_string(instance);
  const auto key = tls_dir / (stem + ".key.pem");
  const auto chain = tls_dir / (stem + ".chain.pem");
  // Owner-only before the key is in it: servers such as nginx read it as the same user.
  write_text(key, "");
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  if (ec) throw std::runtime_error("verified-proxy-sim: cannot restrict " + key.string() + ": " + ec.message());
  write_text(key, id.key_pem);
  write_text(chain, id.cert_pem);
  return {key, chain};
}

std::size_t simulator::attestation_count(std::string_view domain) const {
  return impl_->backend(domain).attestation_count();
}

std::size_t simulator::request_count(std::string_view domain) const { return impl_->backend(domain).request_count(); }

std::size_t simulator::unsolicited_count(std::string_view domain) const {
  return impl_->backend(domain).unsolicited_count();
}

std::size_t simulator::connection_count(std::string_view domain) const {
  return impl_->backend(domain).connection_count();
}

std::vector<connection_record> simulator::connections(std::string_view domain) const {
  return impl_->backend(domain).connections();
}

std::vector<std::vector<std::pair<std::string, std::string>>> simulator::request_headers(
    std::string_view domain) const {
  return impl_->backend(domain).request_headers();
}

std::vector<std::string> simulator::request_bodies(std::string_view domain) const {
  return impl_->backend(domain).request_bodies();
}

std::vector<backend_exchange> simulator::exchanges(std::string_view domain) const {
  return impl_->backend(domain).exchanges();
}

std::size_t simulator::signature_lookup_count(std::string_view domain) const {
  return impl_->backend(domain).signature_lookup_count();
}

void simulator::set_signature_delay(std::chrono::milliseconds delay) {
  for (auto& b : impl_->backends) b->set_signature_delay(delay);
}

const std::string& simulator::gateway_domain() const { return impl_->the_gateway().domain(); }

std::string simulator::gateway_url() const { return "https://" + gateway_domain(); }

std::uint16_t simulator::gateway_port() const { return impl_->the_gateway().port(); }

std::string simulator::gateway_spki_sha256_hex() const { return impl_->the_gateway().spki_sha256_hex(); }

std::string simulator::gateway_signing_address(std::string_view algo) const {
  const auto named = attest::signing_algorithm_named(algo);
  if (!named) throw std::invalid_argument("verified-proxy-sim: no signing algorithm " + std::string(algo));
  return attest::format_signing_address(*named, impl_->the_gateway().signing_keys().address(*named));
}

void simulator::set_gateway_faults(gateway_faults faults) { impl_->the_gateway().set_faults(faults); }

std::size_t simulator::gateway_attestation_count() const { return impl_->the_gateway().attestation_count(); }

std::size_t simulator::gateway_signature_lookup_count() const {
  return impl_->the_gateway().signature_lookup_count();
}

std::vector<gateway_exchange> simulator::gateway_exchanges() const { return impl_->the_gateway().exchanges(); }

simulator::measurements simulator::gateway_measured() const {
  const gateway_server& g = impl_->the_gateway();
  return measurements_of(*impl_->where, g.workload(), g.instance());
}

simulator::measurements simulator::measured() const {
  const deployment& where = *impl_->where;
  return measurements_of(where, where.workload(), impl_->backends.front()->workload(0));
}

}  // namespace vp::sim
