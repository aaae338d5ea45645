#pragma once
// Entry points shared by the libFuzzer programs (clang, `make fuzz`) and by the
// deterministic mutation test in the unit suite (GCC, `make test`). Each must
// accept any bytes without crashing, throwing or reading out of bounds.

#include <cstddef>
#include <cstdint>

namespace vp::fuzz {

/// Quote parser, then the PCK chain and SGX extension it carries.
void quote_input(const std::uint8_t* data, std::size_t size);

/// QuoteCollateralV3 JSON, PCS response splitting, TCB info / QE identity parsers and
/// collateral preparation.
void collateral_input(const std::uint8_t* data, std::size_t size);

}  // namespace vp::fuzz
