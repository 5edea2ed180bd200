// kdtorch_cuda.so: c10d's NCCL backend for core/process_group.h, as torch.distributed's "nccl" process
// group makes it. ProcessGroupNCCL.hpp declares its classes only under USE_C10D_NCCL, as libtorch's own
// build defines it; the class itself is libtorch_cuda's.
#define USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "../core/cuda_plugin.h"

extern "C" __attribute__((visibility("default"))) c10d::Backend* kdtorch_cuda_nccl_backend(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, int64_t timeoutMs) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = std::chrono::milliseconds(timeoutMs);
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options).release();
}
