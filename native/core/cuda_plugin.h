// kdtorch_cuda.so (native/cuda/): what kdtorch does on CUDA that needs the CUDA headers and libtorch_cuda,
// which the addon does not link so that it also loads on a CPU-only libtorch. Opened on first use.
#pragma once
#include <c10/util/intrusive_ptr.h>

#include <cstdint>
#include <string>

#include "step_graph.h"

namespace c10d {
class Backend;
class Store;
}  // namespace c10d

// Its exports.
extern "C" {
using KdtorchCudaStepGraphsFn = const kdtorch::StepGraphs* (*)();
// A ProcessGroupNCCL for `rank` of `size` meeting through `store`, its collectives failing after
// `timeoutMs`: a reference released from its intrusive_ptr, which the caller reclaims. Throws c10::Error
// as c10d does (no CUDA device, say).
using KdtorchCudaNcclBackendFn = c10d::Backend* (*)(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    int64_t timeoutMs);
}

namespace kdtorch {

struct CudaPlugin {
  const StepGraphs* graphs = nullptr;
  KdtorchCudaNcclBackendFn ncclBackend = nullptr;
  std::string error;  // why the library could not be had; empty when both of the above are set
};

const CudaPlugin& cudaPlugin();

}  // namespace kdtorch
