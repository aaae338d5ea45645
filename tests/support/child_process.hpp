#pragma once
// Runs one of our programs as a child process for end-to-end tests of the real binaries:
// stdout and stderr are collected (merged) on a background thread so a test can wait for
// a startup line, send a signal, and check the exit status. The destructor kills the
// child if it still runs. Test-only code: failures to spawn throw std::runtime_error.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vp::test {

class child_process {
 public:
  /// Starts `program` with `args` (argv[1…]).
  child_process(std::string program, std::vector<std::string> args);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Everything the child wrote so far (stdout and stderr interleaved).
  std::string output() const;
  /// Waits until the output contains `text`; false on timeout or when the child exited first.
  bool wait_for_output(std::string_view text, std::chrono::milliseconds timeout) const;
  void send_signal(int signo);
  /// Waits for the exit; the exit code (128 + signal when killed), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Path of a program built in this tree (build/src/NAME).
std::string built_program(std::string_view name);

}  // namespace vp::test
