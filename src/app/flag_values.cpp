#include "app/flag_values.hpp"

#include <boost/program_options/errors.hpp>

#include <charconv>
#include <string>

#include "core/text.hpp"

namespace vp::app {
namespace po = boost::program_options;

namespace {

// The number at the start of `text` and the unit after it; nullopt when there is no number.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  return std::pair{value, std::string_view(end, static_cast<std::size_t>(text.data() + text.size() - end))};
}

bool unit_is(std::string_view unit, std::initializer_list<std::string_view> spellings) {
  for (const auto s : spellings) {
    if (text::ascii_iequals(unit, s)) return true;
  }
  return false;
}

const std::string& string_value(const po::variables_map& values, const char* name) {
  return values[name].as<std::string>();
}

[[noreturn]] void bad_value(const char* name, const std::string& text, std::string_view expected) {
  throw po::error("--" + std::string(name) + " '" + text + "' is not " + std::string(expected));
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::chrono::milliseconds bare_unit) {
  const auto parsed = split_number(text);
  if (!parsed) return std::nullopt;
  const auto [value, unit] = *parsed;
  std::uint64_t factor = 0;
  if (unit.empty()) factor = static_cast<std::uint64_t>(bare_unit.count());
  else if (unit_is(unit, {"ms"})) factor = 1;
  else if (unit_is(unit, {"s"})) factor = 1000;
  else if (unit_is(unit, {"m"})) factor = 60'000;
  else if (unit_is(unit, {"h"})) factor = 3'600'000;
  if (factor == 0) return std::nullopt;
  if (value > (std::uint64_t{1} << 40) / factor) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(value * factor));
}

std::optional<std::size_t> parse_size(std::string_view text) {
  const auto parsed = split_number(text);
  if (!parsed) return std::nullopt;
  const auto [value, unit] = *parsed;
  int shift = -1;
  if (unit.empty() || unit_is(unit, {"B"})) shift = 0;
  else if (unit_is(unit, {"K", "KB", "KiB"})) shift = 10;
  else if (unit_is(unit, {"M", "MB", "MiB"})) shift = 20;
  else if (unit_is(unit, {"G", "GB", "GiB"})) shift = 30;
  if (shift < 0 || value > (std::uint64_t{1} << (40 - shift))) return std::nullopt;
  return static_cast<std::size_t>(value << shift);
}

std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t min, std::uint64_t max) {
  const auto parsed = split_number(text);
  if (!parsed || !parsed->second.empty() || parsed->first < min || parsed->first > max) return std::nullopt;
  return parsed->first;
}

std::chrono::milliseconds duration_flag(const po::variables_map& values, const char* name,
                                        std::chrono::milliseconds bare_unit) {
  const auto& text = string_value(values, name);
  const auto d = parse_duration(text, bare_unit);
  if (!d) bad_value(name, text, "a duration (e.g. 500ms, 10s, 5m, 1h)");
  return *d;
}

std::size_t size_flag(const po::variables_map& values, const char* name) {
  const auto& text = string_value(values, name);
  const auto size = parse_size(text);
  if (!size) bad_value(name, text, "a size (e.g. 512KiB, 32MiB, 1GiB)");
  return *size;
}

std::uint64_t number_flag(const po::variables_map& values, const char* name, std::uint64_t min, std::uint64_t max) {
  const auto& text = string_value(values, name);
  const auto n = parse_number(text, min, max);
  if (!n) bad_value(name, text, "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  return *n;
}

std::uint16_t port_flag(const po::variables_map& values, const char* name, bool zero_allowed) {
  const auto& text = string_value(values, name);
  const auto n = parse_number(text, zero_allowed ? 0 : 1, 65535);
  if (!n) {
    bad_value(name, text, zero_allowed ? "a port from 0 (any free port) to 65535" : "a port from 1 to 65535");
  }
  return static_cast<std::uint16_t>(*n);
}

}  // namespace vp::app
