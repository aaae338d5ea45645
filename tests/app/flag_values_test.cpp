// The DURATION / SIZE / N / PORT grammar every flag of every program shares.

#include "app/flag_values.hpp"

#include <boost/program_options.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vp::app {
namespace {

namespace po = boost::program_options;
using namespace std::chrono_literals;

TEST(FlagValues, Durations) {
  EXPECT_EQ(parse_duration("30"), 30s);
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("0"), 0ms);
  // Units in either case; a bare number in the flag's own unit.
  EXPECT_EQ(parse_duration("10S"), 10s);
  EXPECT_EQ(parse_duration("1H"), 1h);
  EXPECT_EQ(parse_duration("500MS"), 500ms);
  EXPECT_EQ(parse_duration("250", 1ms), 250ms);
  EXPECT_EQ(parse_duration("2s", 1ms), 2s);
  for (const char* bad : {"", "-1s", "5 s", " 5s", "5s ", "1.5s", "s", "10d", "1hour", "99999999999999h",
                          "0x10s"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(FlagValues, SizesAreBinaryWhateverTheSpelling) {
  EXPECT_EQ(parse_size("100"), 100u);
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("7B"), 7u);
  for (const char* kib : {"10K", "10KB", "10KiB", "10kb", "10kib", "10k", "10Kb"}) {
    EXPECT_EQ(parse_size(kib), 10u * 1024) << kib;
  }
  EXPECT_EQ(parse_size("32MiB"), std::size_t{32} << 20);
  EXPECT_EQ(parse_size("32mb"), std::size_t{32} << 20);
  EXPECT_EQ(parse_size("1GB"), std::size_t{1} << 30);
  EXPECT_EQ(parse_size("1gib"), std::size_t{1} << 30);
  EXPECT_EQ(parse_size("1024GiB"), std::size_t{1} << 40);  // the largest
  for (const char* bad : {"", "MiB", "1TB", "1TiB", "1025GiB", "-1", "1.5MiB", "1 MiB", "10KiBs", "lots",
                          "99999999999999999999"}) {
    EXPECT_FALSE(parse_size(bad)) << bad;
  }
}

TEST(FlagValues, NumbersHaveNoSignUnitOrSpace) {
  EXPECT_EQ(parse_number("12", 1, 64), 12u);
  EXPECT_EQ(parse_number("0", 0, 16), 0u);
  for (const char* bad : {"0", "-1", "+1", "65", "12k", " 1", "1 ", "", "18446744073709551616"}) {
    EXPECT_FALSE(parse_number(bad, 1, 64)) << bad;
  }
}

po::variables_map values_of(const std::vector<std::string>& args) {
  po::options_description options;
  options.add_options()("timeout", po::value<std::string>())("size", po::value<std::string>())(
      "count", po::value<std::string>())("port", po::value<std::string>());
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(options).run(), vm);
  return vm;
}

std::string error_of(const std::function<void()>& read) {
  try {
    read();
  } catch (const po::error& e) {
    return e.what();
  }
  return "";
}

TEST(FlagValues, FlagReadersNameTheFlagAndTheValue) {
  const auto vm = values_of({"--timeout", "1500ms", "--size", "64KiB", "--count", "3", "--port", "0"});
  EXPECT_EQ(duration_flag(vm, "timeout"), 1500ms);
  EXPECT_EQ(size_flag(vm, "size"), 64u * 1024);
  EXPECT_EQ(number_flag(vm, "count", 1, 10), 3u);
  EXPECT_EQ(port_flag(vm, "port", true), 0);

  const auto bad = values_of({"--timeout", "soon", "--size", "lots", "--count", "-1", "--port", "0"});
  EXPECT_EQ(error_of([&] { duration_flag(bad, "timeout"); }),
            "--timeout 'soon' is not a duration (e.g. 500ms, 10s, 5m, 1h)");
  EXPECT_EQ(error_of([&] { size_flag(bad, "size"); }), "--size 'lots' is not a size (e.g. 512KiB, 32MiB, 1GiB)");
  // What program_options' lexical_cast would have read as 18446744073709551615.
  EXPECT_EQ(error_of([&] { number_flag(bad, "count", 1, 64); }), "--count '-1' is not a whole number from 1 to 64");
  EXPECT_EQ(error_of([&] { port_flag(bad, "port", false); }), "--port '0' is not a port from 1 to 65535");
  EXPECT_EQ(error_of([&] { port_flag(values_of({"--port", "65536"}), "port", true); }),
            "--port '65536' is not a port from 0 (any free port) to 65535");
  EXPECT_EQ(error_of([&] { port_flag(values_of({"--port", "-1"}), "port", true); }),
            "--port '-1' is not a port from 0 (any free port) to 65535");
}

}  // namespace
}  // namespace vp::app
