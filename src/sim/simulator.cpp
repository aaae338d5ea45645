#include "sim/simulator.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/hex.hpp"
#include "net/spawn.hpp"
#include "sim/backend_server.hpp"
#include "sim/deployment.hpp"
#include "sim/pccs.hpp"
#include "sim/plain_server.hpp"

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

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("verified-proxy-sim: cannot write " + path.string());
}

}  // namespace

struct simulator::impl {
  simulator_options options;
  std::unique_ptr<deployment> where;
  // Servers keep their state alive from their coroutines; these handles only read it.
  std::vector<std::unique_ptr<backend_server>> backends;
  std::uint16_t pccs_port = 0;
  std::uint16_t endpoints_port = 0;

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
};

simulator::simulator(simulator_options options) : impl_(std::make_unique<impl>()) {
  if (options.domains.empty()) throw std::invalid_argument("verified-proxy-sim: no domain to simulate");
  impl_->options = std::move(options);
  const simulator_options& o = impl_->options;
  impl_->where = std::make_unique<deployment>(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()), o.up_to_date_tcb_level_age);

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
  const backend_settings settings{o.stream_tokens, o.token_delay};
  for (std::size_t i = 0; i < o.domains.size(); ++i) {
    const std::uint16_t port =
        o.first_backend_port == 0 ? 0 : static_cast<std::uint16_t>(o.first_backend_port + i);
    impl_->backends.push_back(std::make_unique<backend_server>(*impl_->ioc, where, o.domains[i], settings, port));
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

std::vector<std::string> simulator::write_proxy_files(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("verified-proxy-sim: cannot create " + dir.string() + ": " + ec.message());
  const auto root = std::filesystem::absolute(dir / "root-ca.pem");
  const auto upstream = std::filesystem::absolute(dir / "upstream-ca.pem");
  write_text(root, root_ca_pem());
  write_text(upstream, upstream_ca_pem());
  std::vector<std::string> flags = {"--root-ca",  root.string(),    "--upstream-ca",  upstream.string(),
                                    "--pccs-url", pccs_url(),       "--endpoints-url", endpoints_url()};
  for (const auto& b : impl_->backends) {
    flags.insert(flags.end(), {"--connect-to", connect_to(b->domain()), "--allow-domain", b->domain()});
  }
  flags.emplace_back("--no-cache");
  return flags;
}

std::string simulator::policy_json() const {
  const measurements m = measured();
  const auto one = [](const std::string& hex) {
    json::array list;
    list.emplace_back(hex);
    return list;
  };
  json::object model;
  model["mrseam"] = one(m.mrseam);
  model["mrtd"] = one(m.mrtd);
  model["rtmr0"] = one(m.rtmr0);
  model["rtmr1"] = one(m.rtmr1);
  model["rtmr2"] = one(m.rtmr2);
  model["os_image_hash"] = one(m.os_image_hash);
  model["app_id"] = one(m.app_id);
  model["key_provider_id"] = one(m.key_provider);
  model["compose_hash"] = one(m.compose_hash);
  json::object policy;
  policy["name"] = "verified-proxy-sim";
  policy["description"] = "Pins the simulated deployment's workload (test keys; never use outside tests).";
  policy["model"] = std::move(model);
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

simulator::measurements simulator::measured() const {
  const deployment& where = *impl_->where;
  const workload_identity& w = where.workload();
  const instance_workload& first = impl_->backends.front()->workload(0);
  measurements m;
  m.mrtd = to_hex(w.mr_td);
  m.rtmr0 = to_hex(first.rtmrs[0]);
  m.rtmr1 = to_hex(first.rtmrs[1]);
  m.rtmr2 = to_hex(first.rtmrs[2]);
  m.rtmr3 = to_hex(first.rtmrs[3]);
  m.compose_hash = to_hex(w.compose_hash);
  m.app_id = to_hex(w.app_id);
  m.key_provider = to_hex(w.key_provider_id);
  m.os_image_hash = to_hex(w.os_image_hash);
  m.mrseam = to_hex(where.td_template().mr_seam);
  m.mr_config_id = to_hex(w.mr_config_id);
  return m;
}

}  // namespace vp::sim
