// Workspace memory that outlives the trainer it was made for: a process-wide cache of freed blocks, so
// that the next fit of the same shape gets memory the process has already mapped. Above 128 KiB glibc
// hands out fresh mmap'd pages and unmaps them on free, and each 4 KiB page then costs a page fault on
// first touch (about 2 us on a VM): for a small network's fit that is more than its epochs (an
// estimator's 200-epoch fit of a 10-100-1 network paid ~100 faults, 0.25 ms, per fit).
//
// Blocks are kept by exact size (repeated fits ask for the same sizes), at most kKeepBytes in all and
// kKeepBlocks of them, the oldest given back first; blocks under kMinBytes go to malloc as usual.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>
#include <utility>

namespace fastmlp {

class BlockCache {
 public:
  static constexpr std::size_t kKeepBytes = std::size_t(64) << 20;
  static constexpr std::size_t kKeepBlocks = 64;
  static constexpr std::size_t kMinBytes = std::size_t(64) << 10;

  static void* take(std::size_t bytes) {
    if (bytes >= kMinBytes) {
      BlockCache& c = instance();
      std::lock_guard<std::mutex> lock(c.mutex_);
      for (auto it = c.blocks_.begin(); it != c.blocks_.end(); ++it)
        if (it->first == bytes) {
          void* p = it->second;
          c.kept_ -= bytes;
          c.blocks_.erase(it);
          return p;
        }
    }
    return ::operator new(bytes);
  }

  static void give(void* p, std::size_t bytes) noexcept {
    if (bytes >= kMinBytes && bytes <= kKeepBytes) {
      BlockCache& c = instance();
      std::lock_guard<std::mutex> lock(c.mutex_);
      c.blocks_.emplace_back(bytes, p);
      c.kept_ += bytes;
      while (c.kept_ > kKeepBytes || c.blocks_.size() > kKeepBlocks) {
        ::operator delete(c.blocks_.front().second);
        c.kept_ -= c.blocks_.front().first;
        c.blocks_.pop_front();
      }
      return;
    }
    ::operator delete(p);
  }

  // The bytes held for reuse now (for tests).
  static std::size_t kept_bytes() {
    BlockCache& c = instance();
    std::lock_guard<std::mutex> lock(c.mutex_);
    return c.kept_;
  }

 private:
  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache;  // never destroyed: blocks may be freed during exit
    return *cache;
  }
  std::mutex mutex_;
  std::deque<std::pair<std::size_t, void*>> blocks_;
  std::size_t kept_ = 0;
};

// An allocator over BlockCache, for the buffers a trainer allocates from its plan.
template <class T>
struct ReusedAllocator {
  using value_type = T;
  ReusedAllocator() = default;
  template <class U>
  ReusedAllocator(const ReusedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > std::size_t(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(BlockCache::take(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { BlockCache::give(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const ReusedAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const ReusedAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace fastmlp
