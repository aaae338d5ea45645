// Local verification of one 8-GPU `nvidia_payload` (docs/gpu-signatures-e2ee.md §1.4:
// 5-certificate chains, SPDM signatures, nonces, FWID, versions, count) and offline
// verification of the matching 8-GPU NRAS answer (§2.3), per call, in CPU time. On the
// real NEAR capture when the shared vectors are present, else on synthetic evidence from
// nvidia_test_pki / fake_nras_signer (shaped like NEAR's: 8 H100s, 4266-byte evidence);
// each benchmark's label says which. Issue target: <= 5 ms CPU per 8-GPU verification on
// the 2-core machine.
//
// Cold: the host is new (chain cache empty: every chain decoded and path-validated).
// Warm: the steady state, the host presenting the chains it presented before.

#include <benchmark/benchmark.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "gpu/chain_cache.hpp"
#include "gpu/evidence.hpp"
#include "gpu/nras.hpp"
#include "support/testdata.hpp"
#include "testpki/nvidia_pki.hpp"

namespace {

using namespace vp;
namespace json = boost::json;

constexpr const char* real_capture = "direct-2026-03-22-ecdsa";

struct gpu_case {
  std::string label;
  gpu::nvidia_payload payload;
  const gpu::trust_anchor* anchor = nullptr;
  unix_time at{};
  std::string nras_answer;
  gpu::nras::jwks keys;
};

std::optional<json::value> parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

std::optional<gpu_case> load_real() {
  if (!test::shared_testdata_dir()) return std::nullopt;
  const std::string dir = std::string("nearai/") + real_capture + "/";
  const auto report = parse(test::read_shared(dir + "report.json"));
  const auto expected = parse(test::read_shared(dir + "expected.json"));
  if (!report || !expected || !report->is_object()) return std::nullopt;
  // A gateway capture carries the GPUs in its model attestation.
  const json::object* model = &report->as_object();
  if (const auto* list = model->if_contains("model_attestations")) model = &list->as_array().at(0).as_object();
  auto payload = gpu::parse_payload(model->at("nvidia_payload").as_string());
  auto keys = gpu::nras::parse_jwks(test::read_shared(dir + "nvidia/jwks.json"));
  if (!payload || !keys) return std::nullopt;
  return gpu_case{std::string("real capture ") + real_capture, std::move(*payload), &gpu::nvidia_device_identity_ca(),
                  from_unix_seconds(expected->at("verify_at_unix").as_int64()),
                  test::read_shared(dir + "nvidia/nras_response.json"), std::move(*keys)};
}

gpu_case make_synthetic() {
  static const test::nvidia_test_pki pki;
  static const test::fake_nras_signer nras;
  test::payload_spec spec;
  for (std::size_t i = 0; i < spec.nonce.size(); ++i) spec.nonce[i] = static_cast<std::uint8_t>(0x5a ^ i);
  const std::string text = pki.payload(spec);
  static const gpu::trust_anchor anchor = [] {
    auto a = gpu::load_trust_anchor(pki.root_pem());
    if (!a) std::abort();  // the synthetic root is a constant of the PKI
    return std::move(*a);
  }();
  const unix_time at = test::default_time;
  return gpu_case{"synthetic nvidia_test_pki (shared vectors absent)", gpu::parse_payload(text).value(), &anchor, at,
                  nras.answer(text, at),
                  gpu::nras::parse_jwks(nras.jwks_json()).value()};
}

const gpu_case& the_case() {
  static const gpu_case c = [] {
    auto real = load_real();
    return real ? std::move(*real) : make_synthetic();
  }();
  return c;
}

gpu::result<std::vector<gpu::verified_gpu>> verify_once(const gpu_case& c) {
  return gpu::verify(c.payload, c.payload.nonce, *c.anchor, c.at, 8);
}

void BM_GpuVerify8_Cold(benchmark::State& state) {
  const gpu_case& c = the_case();
  state.SetLabel(c.label);
  for (auto _ : state) {
    state.PauseTiming();
    gpu::chain_cache::clear();
    state.ResumeTiming();
    auto r = verify_once(c);
    if (!r) state.SkipWithError(r.error().describe().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_GpuVerify8_Cold)->Unit(benchmark::kMicrosecond);

void BM_GpuVerify8_Warm(benchmark::State& state) {
  const gpu_case& c = the_case();
  state.SetLabel(c.label);
  gpu::chain_cache::clear();
  if (auto first = verify_once(c); !first) state.SkipWithError(first.error().describe().c_str());
  for (auto _ : state) {
    auto r = verify_once(c);
    if (!r) state.SkipWithError(r.error().describe().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_GpuVerify8_Warm)->Unit(benchmark::kMicrosecond);

void BM_NrasVerify8(benchmark::State& state) {
  const gpu_case& c = the_case();
  state.SetLabel(c.label);
  const auto local_gpus = verify_once(c);
  if (!local_gpus) {
    state.SkipWithError(local_gpus.error().describe().c_str());
    return;
  }
  std::vector<gpu::nras::local_gpu> local;
  for (const auto& g : *local_gpus) local.push_back({g.ueid, g.driver_version, g.vbios_version});
  for (auto _ : state) {
    auto r = gpu::nras::verify_response(c.nras_answer, c.keys, c.payload.nonce, local, c.at);
    if (!r) state.SkipWithError(r.error().message.c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_NrasVerify8)->Unit(benchmark::kMicrosecond);

}  // namespace
