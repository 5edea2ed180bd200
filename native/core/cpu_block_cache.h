// libtorch's CPU allocator for kdtorch's process: large blocks are kept when freed and handed out again,
// as PyTorch's CUDA caching allocator does on a GPU.
//
// Why: a training step allocates and frees the same large activations every time (the student's first
// layer at 224², batch 32: 25.7 MB; the teacher's: 103 MB). glibc gives blocks that large to the torch
// thread as fresh mmap()s (a thread's arena cannot grow past 64 MB, and the mmap threshold stops at
// 32 MB), and the kernel zero-fills every 4 KiB page again on first touch: measured on 2 cores, the
// student step spent over half its time in page faults (3.3 M faults in 120 calls), in PyTorch's own
// loop too. Cached blocks fault once; they are mapped 2 MiB-aligned and advised as transparent huge
// pages, so that first time costs 512× fewer faults.
#pragma once
#include <cstdint>

namespace kdtorch {

struct CpuBlockCacheStats {
  int64_t cachedBytes = 0;  // free blocks kept for reuse
  int64_t liveBytes = 0;    // large blocks handed out and not yet freed
  int64_t limitBytes = 0;   // cachedBytes never exceeds it: a quarter of physical memory
  int64_t hits = 0;         // large allocations served from the cache
  int64_t misses = 0;       // large allocations that mapped fresh memory
};

// Makes the cache libtorch's CPU allocator for the rest of the process. Idempotent. Blocks already
// allocated by the default allocator are freed by it, as their deleters say.
void installCpuBlockCache();
CpuBlockCacheStats cpuBlockCacheStats();
// Unmaps every cached block (live ones stay): after a phase, so an idle service does not hold a training
// step's peak. The next large allocation maps fresh memory again.
void releaseCpuBlockCache();

}  // namespace kdtorch
