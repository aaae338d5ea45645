// The libFuzzer program of one entry point of fuzz_targets.hpp. CMake compiles this file
// once per target with VP_FUZZ_INPUT (the entry point, e.g. report_input) and, for
// targets with seeds built in code, VP_FUZZ_SEEDS (e.g. report_seeds).

#include "fuzz/fuzz_targets.hpp"

#ifdef VP_FUZZ_SEEDS
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vp::fuzz::write_seed_corpus(vp::fuzz::VP_FUZZ_SEEDS());
  return 0;
}
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vp::fuzz::VP_FUZZ_INPUT(data, size);
  return 0;
}
