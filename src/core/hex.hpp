#pragma once
// Hex encoding for digests, measurements and the collateral's hex fields.

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace vp {

/// Lower-case hex of `data`.
std::string to_hex(byte_view data);

/// Upper-case hex of `data` (Intel prints FMSPC and QE vendor ids this way).
std::string to_hex_upper(byte_view data);

/// Strict decode: an even number of hex digits, either case, nothing else.
/// Returns nullopt for anything else (untrusted input never throws).
std::optional<bytes> from_hex(std::string_view text);

/// Lenient decode for files a person wrote: an optional `0x` prefix and any ASCII
/// white space anywhere are ignored.
std::optional<bytes> from_hex_lenient(std::string_view text);

}  // namespace vp
