#include "app/program.hpp"

namespace vp::app {

namespace {

constexpr unsigned description_width = 70;
static_assert(description_width < help_width);

}  // namespace

boost::program_options::options_description options_group(const std::string& caption) {
  return boost::program_options::options_description(caption, help_width, description_width);
}

std::string version_line(std::string_view program) { return std::string(program) + " " + std::string(version); }

std::string help_hint(std::string_view command) {
  return "Run `" + std::string(command) + " --help` for its flags.";
}

}  // namespace vp::app
