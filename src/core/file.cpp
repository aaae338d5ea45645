#include "core/file.hpp"

#include <fstream>
#include <iterator>

namespace vp {

std::optional<std::string> read_file(const std::filesystem::path& path, std::size_t max_size) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > max_size) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data(static_cast<std::size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in.gcount()) != size) return std::nullopt;
  return data;
}

}  // namespace vp
