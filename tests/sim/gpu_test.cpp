// The simulator's GPUs and its fake NVIDIA Remote Attestation Service, checked with the
// proxy's own verifiers (src/gpu): the nvidia_payload of a report passes every local check
// of docs/gpu-signatures-e2ee.md §1.4 for the request nonce and the configured GPU count,
// each GPU fault fails exactly its check, every CVM has GPUs of its own, and the fake
// NRAS answers what NRAS answers (§2.3), signed by keys that chain to the pinned
// intermediate — with each NRAS fault failing its J-check.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <openssl/x509.h>

#include <set>
#include <stdexcept>
#include <string>

#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "gpu/evidence.hpp"
#include "gpu/nras.hpp"
#include "sim/deployment.hpp"
#include "sim/report.hpp"
#include "sim/simulator.hpp"
#include "sim/workload.hpp"
#include "support/http_test_client.hpp"
#include "support/run_bounded.hpp"
#include "support/test_http_server.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::sim {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

unix_time now() { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

const deployment& shared_deployment() {
  static const deployment d(now());  // 8 GPUs per CVM
  return d;
}

gpu::trust_anchor load_root(const std::string& pem) {
  auto anchor = gpu::load_trust_anchor(pem);
  if (!anchor) throw std::runtime_error("GPU root CA: " + anchor.error());
  return std::move(*anchor);
}

const gpu::trust_anchor& sim_gpu_root(const std::string& pem) {
  static const gpu::trust_anchor anchor = load_root(pem);
  return anchor;
}

json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text.substr(0, 200);
  return v.is_object() ? v.as_object() : json::object{};
}

/// A report of instance `first_gpu / 8` of the shared deployment for `nonce`.
json::object report_for(const std::array<std::uint8_t, 32>& nonce, const backend_faults& faults,
                        std::size_t gpus = 8, std::size_t first_gpu = 0) {
  static const instance_workload workload = make_instance_workload(shared_deployment().workload(), "g.example", 0);
  static const signing_identity keys = random_signing_identity();
  report_subject subject;
  subject.where = &shared_deployment();
  subject.workload = &workload;
  subject.keys = &keys;
  subject.model_name = "sim-model";
  subject.cert_pem = "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n";
  subject.gpus = gpus;
  subject.first_gpu_index = first_gpu;
  return parse_object(make_report(subject, report_query{}, nonce, faults));
}

std::optional<std::size_t> configured_gpus(const json::object& report) {
  return gpu::configured_gpu_count(report.at("info").at("vm_config").as_string());
}

gpu::result<std::vector<gpu::verified_gpu>> verify_report_gpus(const json::object& report,
                                                               const std::array<std::uint8_t, 32>& nonce) {
  auto payload = gpu::parse_payload(report.at("nvidia_payload").as_string());
  if (!payload) return payload.error();
  return gpu::verify(*payload, nonce, sim_gpu_root(shared_deployment().gpu_pki().root_pem()), now(),
                     configured_gpus(report));
}

std::array<std::uint8_t, 32> nonce_of(std::uint8_t fill) {
  std::array<std::uint8_t, 32> n{};
  n.fill(fill);
  n[5] = 0x42;
  return n;
}

TEST(SimGpus, ReportCarriesEightGpusThatPassEveryLocalCheckForTheRequestNonce) {
  const auto nonce = nonce_of(0x3c);
  const json::object report = report_for(nonce, {});
  EXPECT_EQ(configured_gpus(report), std::optional<std::size_t>(8));
  const auto verified = verify_report_gpus(report, nonce);
  ASSERT_TRUE(verified) << verified.error().describe();
  ASSERT_EQ(verified->size(), 8u);
  const gpu_pins& pins = shared_deployment().gpu_pinned();
  std::set<std::string> ueids;
  for (const auto& g : *verified) {
    EXPECT_EQ(g.hwmodel, "GH100 A01 GSP BROM");
    EXPECT_EQ(g.hwmodel, pins.hwmodel);
    EXPECT_EQ(g.driver_version, pins.driver_version);
    EXPECT_EQ(g.vbios_version, pins.vbios_version);
    EXPECT_EQ(to_hex(g.measurement_record_sha256), pins.measurement_record_sha256_hex);
    ueids.insert(g.ueid);
  }
  EXPECT_EQ(ueids.size(), 8u) << "every GPU has its own leaf";
  // The copy in all_attestations is the same evidence.
  EXPECT_EQ(report.at("all_attestations").as_array().at(0).at("nvidia_payload"), report.at("nvidia_payload"));

  // Another nonce (a replay of this report) fails the payload nonce.
  const auto replayed = [&] {
    auto payload = gpu::parse_payload(report.at("nvidia_payload").as_string()).value();
    return gpu::verify(payload, nonce_of(0x3d), sim_gpu_root(shared_deployment().gpu_pki().root_pem()), now(), 8);
  }();
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error().check, gpu::check::payload_nonce);
}

TEST(SimGpus, PinnedMeasurementRecordIsNearsForTheDefaultBlocks) {
  // §1.7: the 64 blocks observed on every NEAR H100 hash to 53cc764a…; the simulator mints
  // those, so its policy pins NEAR's value without restating it.
  EXPECT_TRUE(shared_deployment().gpu_pinned().measurement_record_sha256_hex.starts_with("53cc764a"));
  EXPECT_EQ(shared_deployment().gpu_pinned().driver_version, "570.172.08");
  EXPECT_EQ(shared_deployment().gpu_pinned().vbios_version, "96.00.CF.00.02");
}

struct local_fault {
  const char* name;
  backend_faults faults;
  gpu::check check;
  std::optional<std::size_t> gpu;  ///< the GPU the failure names
};

class SimGpuFaults : public ::testing::TestWithParam<local_fault> {};

TEST_P(SimGpuFaults, FailExactlyTheirCheck) {
  const auto nonce = nonce_of(0x11);
  const json::object report = report_for(nonce, GetParam().faults);
  EXPECT_EQ(configured_gpus(report), std::optional<std::size_t>(8)) << "num_gpus stays the configured count";
  const auto verified = verify_report_gpus(report, nonce);
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().check, GetParam().check) << verified.error().describe();
  EXPECT_EQ(verified.error().gpu, GetParam().gpu) << verified.error().describe();
}

INSTANTIATE_TEST_SUITE_P(
    Switches, SimGpuFaults,
    ::testing::Values(local_fault{"gpu_wrong_nonce", {.gpu_wrong_nonce = true}, gpu::check::spdm_nonce, 7},
                      local_fault{"gpu_bad_signature", {.gpu_bad_signature = true}, gpu::check::signature, 7},
                      local_fault{"gpu_foreign_root", {.gpu_foreign_root = true}, gpu::check::chain, 7},
                      local_fault{"gpu_fewer", {.gpu_fewer = true}, gpu::check::count, std::nullopt},
                      local_fault{"gpu_payload_nonce", {.gpu_payload_nonce = true}, gpu::check::payload_nonce,
                                  std::nullopt}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(SimGpus, FewerSendsSevenOfTheEightConfigured) {
  const auto nonce = nonce_of(0x12);
  const json::object report = report_for(nonce, {.gpu_fewer = true});
  const auto payload = gpu::parse_payload(report.at("nvidia_payload").as_string()).value();
  EXPECT_EQ(payload.entries.size(), 7u);
  // Without the count (a verifier that ignores num_gpus), the seven are genuine.
  EXPECT_TRUE(gpu::verify(payload, nonce, sim_gpu_root(shared_deployment().gpu_pki().root_pem()), now(), std::nullopt));
}

TEST(SimGpus, MissingPayloadHasNoNvidiaPayloadKeyAtAll) {
  const json::object report = report_for(nonce_of(0x13), {.gpu_missing_payload = true});
  EXPECT_FALSE(report.contains("nvidia_payload"));
  EXPECT_FALSE(report.at("all_attestations").as_array().at(0).as_object().contains("nvidia_payload"));
  EXPECT_TRUE(report.contains("intel_quote"));
}

TEST(SimGpus, NoGpusIsAnEmptyEvidenceListAndNumGpusZero) {
  const deployment none(now(), std::nullopt, 0);
  EXPECT_EQ(gpu::configured_gpu_count(none.workload().vm_config), std::optional<std::size_t>(0));
  const json::object report = report_for(nonce_of(0x14), {}, 0);
  const auto payload = gpu::parse_payload(report.at("nvidia_payload").as_string());
  ASSERT_TRUE(payload);
  EXPECT_TRUE(payload->entries.empty());
  EXPECT_EQ(to_hex(payload->nonce), to_hex(nonce_of(0x14)));
}

TEST(SimGpus, AnotherIndexRangeIsAnotherSetOfGpus) {
  const auto nonce = nonce_of(0x15);
  const auto first = verify_report_gpus(report_for(nonce, {}, 8, 0), nonce);
  const auto second = verify_report_gpus(report_for(nonce, {}, 8, 8), nonce);
  ASSERT_TRUE(first && second);
  std::set<std::string> ueids;
  for (const auto* list : {&*first, &*second}) {
    for (const auto& g : *list) ueids.insert(g.ueid);
  }
  EXPECT_EQ(ueids.size(), 16u);
}

// ---------------------------------------------------------------------------------------
// Through the simulator's servers

/// The report body a simulated backend serves on a new connection, and the nonce asked.
struct served {
  std::string body;
  std::array<std::uint8_t, 32> nonce{};
};

served fetch(const simulator& sim, std::string_view domain) {
  served out;
  asio::io_context io;
  const test::temp_file upstream_ca(sim.upstream_ca_pem());
  const upstream::tls_client_context tls(upstream::tls_client_options{true, upstream_ca.path()});
  auto work = [&]() -> asio::awaitable<bool> {
    upstream::connect_options options;
    options.connect_to = upstream::dial_address{"127.0.0.1", sim.backend_port(domain)};
    auto conn = co_await upstream::connect_upstream(io.get_executor(), tls, std::string(domain), 443, options);
    if (!conn) co_return false;
    auto fetched = co_await upstream::fetch_report(*conn);
    if (!fetched) co_return false;
    out.body = fetched->body;
    std::copy(fetched->nonce.begin(), fetched->nonce.end(), out.nonce.begin());
    co_return true;
  };
  EXPECT_EQ(test::run_bounded(io, 20s, work()), std::optional<bool>(true));
  return out;
}

/// The verified GPUs of a served report.
std::vector<gpu::verified_gpu> served_gpus(const simulator& sim, const served& s) {
  const json::object report = parse_object(s.body);
  const auto payload = gpu::parse_payload(report.at("nvidia_payload").as_string());
  EXPECT_TRUE(payload) << payload.error().describe();
  if (!payload) return {};
  const auto anchor = load_root(sim.nvidia_root_ca_pem());
  auto verified = gpu::verify(*payload, s.nonce, anchor, now(), configured_gpus(report));
  EXPECT_TRUE(verified) << verified.error().describe();
  return verified ? *verified : std::vector<gpu::verified_gpu>{};
}

TEST(SimGpuServers, EveryCvmOfTheDeploymentHasGpusOfItsOwn) {
  simulator_options o;
  o.gpus = 2;
  domain_options a;
  a.domain = "a.sim.example";
  a.instances = 2;
  domain_options b;
  b.domain = "b.sim.example";
  b.instances = 2;
  o.domains = {a, b};
  const simulator sim(o);
  EXPECT_EQ(sim.gpus(), 2u);
  std::set<std::string> ueids;
  for (const char* domain : {"a.sim.example", "b.sim.example"}) {
    for (int i = 0; i < 2; ++i) {  // round-robin: instance 0, then 1
      const auto gpus = served_gpus(sim, fetch(sim, domain));
      EXPECT_EQ(gpus.size(), 2u);
      for (const auto& g : gpus) ueids.insert(g.ueid);
    }
  }
  EXPECT_EQ(ueids.size(), 8u) << "4 CVMs with 2 GPUs each, no GPU in two CVMs";
}

std::uint16_t port_of(const std::string& url) {
  // "http://127.0.0.1:PORT/…"
  const auto colon = url.find(':', 7);
  return static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1, url.find('/', colon) - colon - 1)));
}

std::string path_of(const std::string& url) { return url.substr(url.find('/', 7)); }

test::client_response post_to_nras(const simulator& sim, const std::string& payload) {
  test::client_request r;
  r.method = "POST";
  r.target = path_of(sim.nras_url());
  r.headers = {{"Content-Type", "application/json"}};
  r.body = payload;
  return test::http_exchange(port_of(sim.nras_url()), r);
}

class SimNras : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    simulator_options o;
    o.gpus = 4;
    sim_ = new simulator(o);
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }
  void SetUp() override { sim_->set_nras_faults({}); }

  /// A served report's payload, its GPUs as NRAS's J10 binding sees them, and its nonce.
  struct evidence {
    std::string payload;
    std::vector<gpu::nras::local_gpu> local;
    std::array<std::uint8_t, 32> nonce{};
  };
  static evidence served_evidence() {
    const served s = fetch(*sim_, "sim.completions.near.ai");
    evidence e;
    e.payload = std::string(parse_object(s.body).at("nvidia_payload").as_string());
    e.nonce = s.nonce;
    for (const auto& g : served_gpus(*sim_, s)) e.local.push_back({g.ueid, g.driver_version, g.vbios_version});
    return e;
  }
  static gpu::nras::jwks keys() {
    test::client_request r;
    r.target = path_of(sim_->nras_jwks_url());
    const auto answer = test::http_exchange(port_of(sim_->nras_jwks_url()), r);
    EXPECT_EQ(answer.status, 200u) << answer.body;
    auto parsed = gpu::nras::parse_jwks(answer.body);
    EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
    return parsed ? std::move(*parsed) : gpu::nras::jwks{};
  }
  static std::string describe(const gpu::nras::result<gpu::nras::verdict>& r) {
    if (r) return "ok";
    return r.error().check + ": " + r.error().message;
  }

  static simulator* sim_;
};

simulator* SimNras::sim_ = nullptr;

TEST_F(SimNras, AnswerVerifiesAgainstItsJwksAndChainsToTheKeyPin) {
  const evidence e = served_evidence();
  ASSERT_EQ(e.local.size(), 4u);
  const std::size_t attests = sim_->nras_attest_count(), jwks_fetches = sim_->nras_jwks_count();
  const auto answer = post_to_nras(*sim_, e.payload);
  ASSERT_EQ(answer.status, 200u) << answer.body;
  const gpu::nras::jwks k = keys();
  const auto verdict = gpu::nras::verify_response(answer.body, k, e.nonce, e.local, now());
  ASSERT_TRUE(verdict) << describe(verdict);
  ASSERT_EQ(verdict->gpus.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(verdict->gpus[i].ueid, e.local[i].ueid_decimal);
  EXPECT_EQ(sim_->nras_attest_count(), attests + 1);
  EXPECT_EQ(sim_->nras_jwks_count(), jwks_fetches + 1);

  // The --nras-key-pin policy (§2.2): the signing key's x5c[0] is issued by x5c[1], whose
  // SPKI hash is the pin the simulator prints. (gpu::nras::options::require_key_pin checks
  // the compiled-in NVIDIA pin only, so the chain is checked here by hand.)
  const gpu::nras::jwk* key = k.find(verdict->kid);
  ASSERT_NE(key, nullptr);
  ASSERT_EQ(key->x5c_der.size(), 2u);
  const auto leaf = crypto::parse_der_certificate(key->x5c_der[0]);
  const auto intermediate = crypto::parse_der_certificate(key->x5c_der[1]);
  ASSERT_TRUE(leaf && intermediate);
  EXPECT_EQ(::X509_check_issued(intermediate.get(), leaf.get()), X509_V_OK);
  EXPECT_EQ(::X509_verify(leaf.get(), ::X509_get0_pubkey(intermediate.get())), 1);
  EXPECT_EQ(to_hex(crypto::spki_sha256(intermediate.get())), sim_->nras_key_pin());
  EXPECT_EQ(sim_->nras_key_pin().size(), 64u);
  // NVIDIA's real pin does not vouch for the simulator's keys.
  EXPECT_FALSE(gpu::nras::key_chain_pinned(*key, now()));
}

struct nras_case {
  const char* name;
  nras_faults faults;
  const char* check;  ///< the J-check that fails; "" for an HTTP failure
};

class SimNrasFaults : public SimNras, public ::testing::WithParamInterface<nras_case> {};

TEST_P(SimNrasFaults, FailTheirCheck) {
  const evidence e = served_evidence();
  sim_->set_nras_faults(GetParam().faults);
  const std::size_t attests = sim_->nras_attest_count();
  const auto answer = post_to_nras(*sim_, e.payload);
  EXPECT_EQ(sim_->nras_attest_count(), attests + 1);  // counted even when refused
  if (std::string_view(GetParam().check).empty()) {
    EXPECT_EQ(answer.status, 503u) << answer.body;
    return;
  }
  ASSERT_EQ(answer.status, 200u) << answer.body;
  const auto verdict = gpu::nras::verify_response(answer.body, keys(), e.nonce, e.local, now());
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().check, GetParam().check) << describe(verdict);
}

INSTANTIATE_TEST_SUITE_P(Switches, SimNrasFaults,
                         ::testing::Values(nras_case{"nras_down", {.down = true}, ""},
                                           nras_case{"nras_verdict_false", {.verdict_false = true}, "J5"},
                                           nras_case{"nras_wrong_nonce", {.wrong_nonce = true}, "J4"},
                                           nras_case{"nras_expired", {.expired = true}, "J3"}),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

TEST_F(SimNras, OtherRequestsAreRefused) {
  test::client_request get;
  get.target = path_of(sim_->nras_url());
  EXPECT_EQ(test::http_exchange(port_of(sim_->nras_url()), get).status, 405u);
  EXPECT_EQ(post_to_nras(*sim_, "not json").status, 400u);
  test::client_request other;
  other.target = "/v2/attest/gpu";
  EXPECT_EQ(test::http_exchange(port_of(sim_->nras_url()), other).status, 404u);
}

}  // namespace
}  // namespace vp::sim
