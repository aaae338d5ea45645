#pragma once
// One bound on the request bytes the proxy holds in memory at once, over all clients.
//
// A request body is kept whole until the backend is verified (routing by `model` and
// field-level encryption both need it), so --max-body alone bounds one request but not
// the process: many concurrent uploads of the largest allowed size would exhaust memory.
// Each request leases what it holds; a request the budget cannot cover is refused with
// 503 before its body is read (declared Content-Length) or as soon as it outgrows the
// budget (chunked). Lock-free so that it can be shared by several event-loop threads.

#include <atomic>
#include <cstddef>

namespace vp::proxy {

class memory_budget {
 public:
  explicit memory_budget(std::size_t limit_bytes) noexcept : limit_(limit_bytes) {}
  memory_budget(const memory_budget&) = delete;
  memory_budget& operator=(const memory_budget&) = delete;

  /// Bytes held by one request; returned to the budget when it is destroyed.
  class lease {
   public:
    lease() = default;
    lease(lease&& other) noexcept;
    lease& operator=(lease&& other) noexcept;
    ~lease();

    /// Makes the lease `bytes` in total (growing or shrinking it); false, and the lease
    /// unchanged, when the budget cannot cover the growth.
    bool resize(std::size_t bytes) noexcept;
    std::size_t size() const noexcept { return size_; }

   private:
    friend class memory_budget;
    explicit lease(memory_budget& budget) noexcept : budget_(&budget) {}
    void release() noexcept;

    memory_budget* budget_ = nullptr;
    std::size_t size_ = 0;
  };

  /// An empty lease on this budget (the budget must outlive it).
  lease open() noexcept { return lease(*this); }

  std::size_t limit() const noexcept { return limit_; }
  std::size_t in_use() const noexcept { return used_.load(std::memory_order_relaxed); }

 private:
  bool take(std::size_t bytes) noexcept;
  void give_back(std::size_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

}  // namespace vp::proxy
