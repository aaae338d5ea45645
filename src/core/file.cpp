#include "core/file.hpp"

#include <fstream>
#include <iterator>

namespace vp {

std::optional<std::string> read_file(const std::filesystem::path& path, std::size_t max_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size > max_size) return std::nullopt;
    std::string data(static_cast<std::size_t>(size), '\0');
    in.read(data.data(), static_cast<std::streamsize>(size));
    if (static_cast<std::size_t>(in.gcount()) != size) return std::nullopt;
    return data;
  }
  // A pipe, /dev/stdin or a process substitution has no size: read it in pieces, still
  // never more than max_size (one byte over proves it too large).
  std::string data;
  char piece[64 * 1024];
  while (in) {
    in.read(piece, sizeof piece);
    data.append(piece, static_cast<std::size_t>(in.gcount()));
    if (data.size() > max_size) return std::nullopt;
  }
  if (in.bad()) return std::nullopt;
  return data;
}

}  // namespace vp
