#include "support/testdata.hpp"

#include <cstdlib>

#include "core/file.hpp"

namespace vp::test {

std::optional<std::filesystem::path> shared_testdata_dir() {
  std::filesystem::path dir = VP_SHARED_TESTDATA;
  if (const char* env = std::getenv("VP_TESTDATA_DIR"); env != nullptr && *env != '\0') dir = env;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir / "tdx", ec)) return std::nullopt;
  return dir;
}

std::string read_shared(const std::filesystem::path& relative) {
  const auto dir = shared_testdata_dir();
  if (!dir) {
    ADD_FAILURE() << "shared testdata missing";
    return {};
  }
  auto data = vp::read_file(*dir / relative);
  if (!data) {
    ADD_FAILURE() << "cannot read " << (*dir / relative);
    return {};
  }
  return std::move(*data);
}

std::filesystem::path binary_dir() { return VP_BINARY_DIR; }

}  // namespace vp::test
