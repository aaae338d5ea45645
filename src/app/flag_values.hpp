#pragma once
// The value grammar every flag of every program shares (verified-proxy, its subcommands,
// the config file, verified-proxy-sim), so that "10s" or "32MiB" means the same wherever
// it is typed:
//
//   DURATION  a whole number and a unit: ms, s, m, h (500ms, 10s, 5m, 1h; case does not
//             matter). A bare number is in the flag's own unit: seconds for every
//             duration flag, milliseconds for the simulator's *-ms flags and fault values.
//   SIZE      a whole number of bytes and an optional unit, case-insensitive: B; K, KB or
//             KiB (1024); M, MB or MiB (1024²); G, GB or GiB (1024³). All units are binary
//             (what every byte budget of the proxy means), so 1MB is 1048576 bytes; at most
//             1TiB. Messages print sizes as text::size_text does ("32MiB", "1000 bytes").
//   N, PORT   a decimal number without sign or unit, in the flag's range. Parsed here, not
//             by program_options, whose lexical_cast reads "-1" as the largest unsigned.

#include <boost/program_options/variables_map.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vp::app {

/// A DURATION (above); nullopt for anything else or over 2^40 ms.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text,
                                                        std::chrono::milliseconds bare_unit = std::chrono::seconds(1));

/// A SIZE (above); nullopt for anything else or over 1TiB.
std::optional<std::size_t> parse_size(std::string_view text);

/// A decimal number from `min` to `max`; nullopt otherwise (a sign, a unit, spaces).
std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t min, std::uint64_t max);

/// The flags above read from `values` (a string-valued option). Each throws
/// boost::program_options::error naming the flag ("--idle-timeout 'soon' is not a
/// duration (e.g. 500ms, 10s, 5m, 1h)").
std::chrono::milliseconds duration_flag(const boost::program_options::variables_map& values, const char* name,
                                        std::chrono::milliseconds bare_unit = std::chrono::seconds(1));
std::size_t size_flag(const boost::program_options::variables_map& values, const char* name);
std::uint64_t number_flag(const boost::program_options::variables_map& values, const char* name, std::uint64_t min,
                          std::uint64_t max);
/// A PORT: 1-65535, or 0 too when `zero_allowed` (the proxy's --port 0: any free port).
std::uint16_t port_flag(const boost::program_options::variables_map& values, const char* name, bool zero_allowed);

}  // namespace vp::app
