#include "server/descriptor_budget.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace vp::server {
namespace {

// Linux refuses a soft limit above fs.nr_open (default 2^20) even when the hard limit is
// unlimited.
constexpr rlim_t nr_open_default = rlim_t{1} << 20;

std::uint64_t as_count(rlim_t value) {
  return value == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(value);
}

}  // namespace

descriptor_limit raise_descriptor_limit() {
  descriptor_limit out;
  rlimit current{};
  if (::getrlimit(RLIMIT_NOFILE, &current) != 0) {
    out.error = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return out;
  }
  const auto try_raise = [&](rlim_t target) {
    rlimit raised = current;
    raised.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) return false;
    current = raised;
    return true;
  };
  if (current.rlim_cur < current.rlim_max && !try_raise(current.rlim_max)) {
    const int first_errno = errno;
    const bool capped = current.rlim_max > nr_open_default && current.rlim_cur < nr_open_default &&
                        try_raise(nr_open_default);
    if (!capped) out.error = std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(first_errno);
  }
  out.soft = as_count(current.rlim_cur);
  out.hard = as_count(current.rlim_max);
  return out;
}

std::size_t connections_within(std::uint64_t soft_limit) noexcept {
  if (soft_limit <= reserved_descriptors) return 0;
  const std::uint64_t connections = soft_limit - reserved_descriptors;
  return connections > std::numeric_limits<std::size_t>::max() ? std::numeric_limits<std::size_t>::max()
                                                               : static_cast<std::size_t>(connections);
}

}  // namespace vp::server
