#include "support/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace vp::test {

struct child_process::impl {
  pid_t pid = -1;
  int out_fd = -1;
  std::thread reader;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::string output;
  bool eof = false;
  std::optional<int> exit_code;
};

child_process::child_process(std::string program, std::vector<std::string> args) : impl_(std::make_unique<impl>()) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  impl_->pid = pid;
  impl_->out_fd = fds[0];
  impl_->reader = std::thread([s = impl_.get()] {
    char buf[4096];
    for (;;) {
      const auto n = ::read(s->out_fd, buf, sizeof buf);
      const std::lock_guard lock(s->mutex);
      if (n <= 0) {
        s->eof = true;
        s->changed.notify_all();
        return;
      }
      s->output.append(buf, static_cast<std::size_t>(n));
      s->changed.notify_all();
    }
  });
}

child_process::~child_process() {
  if (!impl_->exit_code) {
    ::kill(impl_->pid, SIGKILL);
    wait(std::chrono::seconds(10));
  }
  if (impl_->reader.joinable()) impl_->reader.join();
  ::close(impl_->out_fd);
}

std::string child_process::output() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->output;
}

bool child_process::wait_for_output(std::string_view text, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] {
    return impl_->output.find(text) != std::string::npos || impl_->eof;
  }) && impl_->output.find(text) != std::string::npos;
}

void child_process::send_signal(int signo) {
  if (!impl_->exit_code) ::kill(impl_->pid, signo);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  if (impl_->exit_code) return impl_->exit_code;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(impl_->pid, &status, WNOHANG);
    if (r == impl_->pid) {
      impl_->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      // The child's last bytes may still sit in the pipe: output() after wait() must hold
      // everything it wrote (bounded by the deadline, should a grandchild keep the pipe).
      std::unique_lock lock(impl_->mutex);
      impl_->changed.wait_until(lock, deadline, [&] { return impl_->eof; });
      return impl_->exit_code;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string built_program(std::string_view name) { return std::string(VP_BINARY_DIR) + "/src/" + std::string(name); }

}  // namespace vp::test
