#pragma once
// Running a command of the CLI in-process, and a scratch directory for its input files:
// what the command tests (tests/app) share.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace vp::test {

/// What a command returned and printed.
struct command_outcome {
  int code;
  std::string out;
  std::string err;
};

/// Runs `command(args, out, err, extra…)` and collects its exit code and output.
template <class Command, class... Extra>
command_outcome run_command(Command command, const std::vector<std::string>& args, const Extra&... extra) {
  std::ostringstream out, err;
  const int code = command(args, out, err, extra...);
  return {code, out.str(), err.str()};
}

/// A fresh directory under the system temp directory, removed with everything in it.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "vp-test") {
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Writes `content` to `name` in the directory; its path.
  std::string write(const std::string& name, const std::string& content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace vp::test
