#include "net/spawn.hpp"

#include <atomic>
#include <stdexcept>

#include "core/log.hpp"
#include "core/text.hpp"

namespace vp::net {

namespace {
std::atomic<std::uint64_t> contained{0};
}

void report_contained_exception(std::string_view what, const std::exception_ptr& e) noexcept {
  contained.fetch_add(1, std::memory_order_relaxed);
  try {
    std::string why = "unknown exception";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      why = text::exception_text(x);
    } catch (...) {
    }
    log::error("internal error contained in " + std::string(what) + ": " + why);
  } catch (...) {
    // Logging itself failed (out of memory): the count above still records it.
  }
}

std::uint64_t contained_exception_count() noexcept { return contained.load(std::memory_order_relaxed); }

void run_contained(boost::asio::io_context& io, std::string_view what) noexcept {
  for (;;) {
    try {
      io.run();
      return;
    } catch (...) {
      report_contained_exception(what, std::current_exception());
    }
  }
}

}  // namespace vp::net
