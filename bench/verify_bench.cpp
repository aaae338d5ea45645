// One full DCAP verification (every chain, CRL, signature and TCB step), on a real
// Intel-signed quote when the shared vectors are present and on a synthetic one always.
// Issue target: <= 1 ms per verification on the 2-core CI machine.

#include <benchmark/benchmark.h>

#include <cstdio>

#include "collateral/bundle.hpp"
#include "core/file.hpp"
#include "testpki/test_pki.hpp"
#include "support/testdata.hpp"
#include "tdx/verifier.hpp"

namespace {

using namespace vp;

struct real_case {
  bytes quote;
  tdx::collateral_v3 collateral;
  unix_time at;
};

const real_case* load_real_case() {
  static const std::optional<real_case> c = []() -> std::optional<real_case> {
    const auto dir = test::shared_testdata_dir();
    if (!dir) return std::nullopt;
    const auto quote = read_file(*dir / "tdx/v4-phala-uptodate/quote.bin");
    auto collateral = vp::collateral::load_collateral(*dir / "tdx/v4-phala-uptodate/collateral.json");
    if (!quote || !collateral) return std::nullopt;
    return real_case{bytes(quote->begin(), quote->end()), std::move(*collateral), from_unix_seconds(1752919234)};
  }();
  return c ? &*c : nullptr;
}

void BM_VerifyRealQuote(benchmark::State& state) {
  const real_case* c = load_real_case();
  if (c == nullptr) {
    state.SkipWithError("shared test vectors absent");
    return;
  }
  const auto prepared = tdx::prepare_collateral(c->collateral, tdx::intel_sgx_root_ca());
  for (auto _ : state) {
    auto v = tdx::verify_quote(c->quote, **prepared, tdx::intel_sgx_root_ca(), c->at);
    if (!v) state.SkipWithError(v.error().message.c_str());
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_VerifyRealQuote)->Unit(benchmark::kMicrosecond);

// The first quote from a machine: its PCK chain is not yet authenticated against this
// collateral (collateral preparation itself is excluded from the timing).
void BM_VerifyRealQuoteFirstFromMachine(benchmark::State& state) {
  const real_case* c = load_real_case();
  if (c == nullptr) {
    state.SkipWithError("shared test vectors absent");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    const auto prepared = tdx::prepare_collateral(c->collateral, tdx::intel_sgx_root_ca());
    state.ResumeTiming();
    auto v = tdx::verify_quote(c->quote, **prepared, tdx::intel_sgx_root_ca(), c->at);
    if (!v) state.SkipWithError(v.error().message.c_str());
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_VerifyRealQuoteFirstFromMachine)->Unit(benchmark::kMicrosecond);

void BM_VerifyRealQuoteIncludingCollateralParsing(benchmark::State& state) {
  const real_case* c = load_real_case();
  if (c == nullptr) {
    state.SkipWithError("shared test vectors absent");
    return;
  }
  for (auto _ : state) {
    auto v = tdx::verify_quote(c->quote, c->collateral, tdx::intel_sgx_root_ca(), c->at);
    if (!v) state.SkipWithError(v.error().message.c_str());
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_VerifyRealQuoteIncludingCollateralParsing)->Unit(benchmark::kMicrosecond);

void BM_VerifySyntheticQuote(benchmark::State& state) {
  static const test::test_pki pki;
  const bytes quote = pki.mint();
  const auto anchor = tdx::load_trust_anchor(pki.root_der());
  const auto prepared = tdx::prepare_collateral(pki.collateral(), **anchor);
  for (auto _ : state) {
    auto v = tdx::verify_quote(quote, **prepared, **anchor, test::default_time);
    if (!v) state.SkipWithError(v.error().message.c_str());
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_VerifySyntheticQuote)->Unit(benchmark::kMicrosecond);

void BM_ParseQuote(benchmark::State& state) {
  static const test::test_pki pki;
  const bytes quote = pki.mint();
  for (auto _ : state) benchmark::DoNotOptimize(tdx::parse_quote(quote));
}
BENCHMARK(BM_ParseQuote)->Unit(benchmark::kMicrosecond);

}  // namespace
