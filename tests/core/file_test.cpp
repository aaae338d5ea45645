#include "core/file.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace vp {
namespace {

TEST(ReadFile, ReadsARegularFileWithinItsLimit) {
  const auto path = std::filesystem::temp_directory_path() / ("vp-file-test-" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string("abc\0def", 7);
  }
  EXPECT_EQ(read_file(path), std::string("abc\0def", 7));
  EXPECT_EQ(read_file(path, 7), std::string("abc\0def", 7));
  EXPECT_FALSE(read_file(path, 6));
  std::filesystem::remove(path);
  EXPECT_FALSE(read_file(path));
}

TEST(ReadFile, ReadsAPipeToItsEndAndBoundsIt) {
  // What /dev/stdin and a process substitution `<(…)` are: a descriptor without a size.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string payload(200'000, 'q');
  std::thread writer([&] {
    std::size_t at = 0;
    while (at < payload.size()) {
      const auto n = ::write(fds[1], payload.data() + at, payload.size() - at);
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
  });
  const auto got = read_file("/proc/self/fd/" + std::to_string(fds[0]));
  writer.join();
  ::close(fds[0]);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, payload);

  ASSERT_EQ(::pipe(fds), 0);
  std::thread big([&] {
    (void)!::write(fds[1], payload.data(), 70'000);
    ::close(fds[1]);
  });
  EXPECT_FALSE(read_file("/proc/self/fd/" + std::to_string(fds[0]), 65'536));
  ::close(fds[0]);
  big.join();
}

}  // namespace
}  // namespace vp
