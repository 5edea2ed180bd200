#include "cpu_block_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

namespace kdtorch {
namespace {

// Below this, glibc serves blocks from its arenas without mmap (its default mmap threshold is 128 KiB);
// small tensors keep going to c10's own allocation.
constexpr size_t kCachedFrom = 256 << 10;
constexpr size_t kHugePage = 2 << 20;
constexpr size_t kSmallRounding = 64 << 10;
// A cached block serves a request up to this much smaller than itself, so a slightly smaller last
// batch of an epoch reuses the full batch's blocks instead of mapping its own.
constexpr size_t kMaxWasteDivisor = 4;

size_t roundedSize(size_t n) {
  const size_t unit = n >= kHugePage ? kHugePage : kSmallRounding;
  return (n + unit - 1) / unit * unit;
}

// Anonymous memory aligned to a huge page where the block spans one, so the kernel can back it with them.
void* mapBlock(size_t size) {
  const size_t align = size >= kHugePage ? kHugePage : static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t span = size + align;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (begin + align - 1) / align * align;
  if (start > begin) munmap(raw, start - begin);
  const uintptr_t end = start + size;
  if (begin + span > end) munmap(reinterpret_cast<void*>(end), begin + span - end);
  if (align == kHugePage) madvise(reinterpret_cast<void*>(start), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(start);
}

class CpuBlockCache final : public c10::Allocator {
 public:
  CpuBlockCache() {
    limit_ = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE)) / 4;
  }

  c10::DataPtr allocate(size_t n) override {
    void* data = n < kCachedFrom ? c10::alloc_cpu(n) : take(roundedSize(n));
    return {data, data, &deleteBlock, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &deleteBlock; }

  void copy_data(void* dest, const void* src, size_t count) const override { default_copy_data(dest, src, count); }

  CpuBlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {static_cast<int64_t>(cached_), static_cast<int64_t>(liveBytes_), static_cast<int64_t>(limit_), hits_,
            misses_};
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    evictUntil(0);
  }

  static CpuBlockCache& instance() {
    static CpuBlockCache* cache = new CpuBlockCache();  // never destroyed: tensors may be freed at exit
    return *cache;
  }

 private:
  static void deleteBlock(void* data) { instance().give(data); }

  void* take(size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto fit = free_.lower_bound(size);
    if (fit != free_.end() && fit->first - size <= size / kMaxWasteDivisor) {
      void* data = fit->second;
      const size_t blockSize = fit->first;
      free_.erase(fit);
      cached_ -= blockSize;
      live_.emplace(data, blockSize);
      liveBytes_ += blockSize;
      ++hits_;
      return data;
    }
    void* data = mapBlock(size);
    if (data == nullptr) {
      evictUntil(0);  // the cache's blocks may be what the kernel lacks
      data = mapBlock(size);
    }
    TORCH_CHECK_WITH(OutOfMemoryError, data != nullptr, "CPU out of memory: could not map ", size, " bytes");
    live_.emplace(data, size);
    liveBytes_ += size;
    ++misses_;
    return data;
  }

  void give(void* data) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto found = live_.find(data);
    if (found == live_.end()) {
      lock.unlock();
      return c10::free_cpu(data);  // a small block, from c10::alloc_cpu
    }
    const size_t size = found->second;
    live_.erase(found);
    liveBytes_ -= size;
    if (size > limit_) {
      munmap(data, size);
      return;
    }
    evictUntil(limit_ - size);
    free_.emplace(size, data);
    cached_ += size;
  }

  // Unmaps cached blocks, largest first, until at most `bytes` stay cached.
  void evictUntil(size_t bytes) {
    while (cached_ > bytes && !free_.empty()) {
      const auto largest = std::prev(free_.end());
      munmap(largest->second, largest->first);
      cached_ -= largest->first;
      free_.erase(largest);
    }
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // by size, for the smallest block that fits
  std::unordered_map<void*, size_t> live_;
  size_t cached_ = 0, liveBytes_ = 0, limit_ = 0;
  int64_t hits_ = 0, misses_ = 0;
};

}  // namespace

void installCpuBlockCache() {
  static std::once_flag once;
  // Priority 1 outranks the default allocator's registration (0), whatever the order of static initialisation.
  std::call_once(once, [] { c10::SetCPUAllocator(&CpuBlockCache::instance(), /*priority=*/1); });
}

CpuBlockCacheStats cpuBlockCacheStats() { return CpuBlockCache::instance().stats(); }

void releaseCpuBlockCache() { CpuBlockCache::instance().release(); }

}  // namespace kdtorch
