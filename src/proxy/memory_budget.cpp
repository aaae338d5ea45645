#include "proxy/memory_budget.hpp"

#include <utility>

namespace vp::proxy {

bool memory_budget::take(std::size_t bytes) noexcept {
  std::size_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ || used > limit_ - bytes) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

memory_budget::lease::lease(lease&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), size_(std::exchange(other.size_, 0)) {}

memory_budget::lease& memory_budget::lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = std::exchange(other.budget_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

memory_budget::lease::~lease() { release(); }

void memory_budget::lease::release() noexcept {
  if (budget_ != nullptr && size_ != 0) budget_->give_back(size_);
  size_ = 0;
}

bool memory_budget::lease::resize(std::size_t bytes) noexcept {
  if (budget_ == nullptr) return false;
  if (bytes <= size_) {
    budget_->give_back(size_ - bytes);
    size_ = bytes;
    return true;
  }
  if (!budget_->take(bytes - size_)) return false;
  size_ = bytes;
  return true;
}

}  // namespace vp::proxy
