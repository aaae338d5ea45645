// A deterministic, bounded mutation run through the fuzz entry points on every
// `make test` (the open-ended libFuzzer runs are `make fuzz`). Mutations are seeded
// from real quotes and collateral so they reach deep into the parsers.

#include <gtest/gtest.h>

#include <random>

#include "fuzz/fuzz_targets.hpp"
#include "support/testdata.hpp"

namespace vp::fuzz {
namespace {

std::string mutate(std::string input, std::mt19937& rng) {
  std::uniform_int_distribution<int> op(0, 4);
  const int rounds = std::uniform_int_distribution<int>(1, 8)(rng);
  for (int i = 0; i < rounds && !input.empty(); ++i) {
    const std::size_t pos = std::uniform_int_distribution<std::size_t>(0, input.size() - 1)(rng);
    switch (op(rng)) {
      case 0: input[pos] = static_cast<char>(rng()); break;                       // flip a byte
      case 1: input.resize(pos); break;                                           // truncate
      case 2: input.insert(pos, 1, static_cast<char>(rng())); break;              // insert
      case 3: input.erase(pos, std::min<std::size_t>(input.size() - pos, 16)); break;  // delete a run
      default: input[pos] = static_cast<char>(input[pos] ^ 0xff); break;
    }
  }
  return input;
}

void run_mutations(const std::vector<std::string>& seeds, void (*target)(const std::uint8_t*, std::size_t),
                   int iterations) {
  std::mt19937 rng(20261125);
  for (int i = 0; i < iterations; ++i) {
    const std::string input = mutate(seeds[static_cast<std::size_t>(i) % seeds.size()], rng);
    target(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
}

TEST(FuzzTargets, SurviveEmptyAndTinyInputs) {
  const std::uint8_t byte = 0;
  quote_input(&byte, 0);
  quote_input(&byte, 1);
  collateral_input(&byte, 0);
  collateral_input(&byte, 1);
}

TEST(FuzzTargets, QuoteParserSurvivesMutatedRealQuotes) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::vector<std::string> seeds = {test::read_shared("tdx/v4-phala-uptodate/quote.bin"),
                                          test::read_shared("tdx/v5-google-quote-phala-collateral-uptodate/quote.bin"),
                                          test::read_shared("tdx/sgx-v3-phala-config-and-sw-hardening/quote.bin")};
  run_mutations(seeds, quote_input, 3000);
}

TEST(FuzzTargets, CollateralParsersSurviveMutatedRealCollateral) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::vector<std::string> seeds = {test::read_shared("tdx/v4-phala-uptodate/collateral.json"),
                                          test::read_shared("nearai/direct-2026-06-29-ed25519/pcs/tcb_info.json"),
                                          test::read_shared("nearai/direct-2026-06-29-ed25519/pcs/qe_identity.json")};
  run_mutations(seeds, collateral_input, 600);
}

}  // namespace
}  // namespace vp::fuzz
