// What libtorch can do in this process: versions, CUDA devices, threads. Knows nothing of Node.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kdtorch {

struct CudaDevice {
  int index = 0;
  std::string name;
  int64_t totalMemoryBytes = 0;
  int capabilityMajor = 0;
  int capabilityMinor = 0;
};

// What the CPU offers for bf16, as ATen reads it (the flags torch.backends.cpu reports).
struct CpuInfo {
  std::string name;
  bool avx512Bf16 = false;  // AVX512-BF16: bf16 dot products (AMD Zen 4, Intel Cooper Lake and later)
  bool amxBf16 = false;     // AMX tiles with bf16 (Intel Sapphire Rapids and later)
  bool onednn = false;      // libtorch built with oneDNN, which runs bf16 convolutions and matmuls on them
  // bf16 autocast computes natively here, rather than converting to fp32 around each kernel:
  // what precision 'auto' reads (lib/native/precision.ts).
  bool nativeBf16 = false;
  int64_t physicalCores = 0;
};

struct RuntimeInfo {
  std::string torchBuilt;  // TORCH_VERSION of the headers this binary was compiled against
  bool cudaAvailable = false;
  std::vector<CudaDevice> devices;
  int64_t cudnnVersion = -1;  // -1 when cuDNN is not available
  int threads = 0;
  CpuInfo cpu;
  bool cudnnBenchmark = false;        // setCudnnBenchmark's process-wide setting
  std::string cudaGraphsUnavailable;  // why training steps cannot be CUDA graphs here; empty when they can
};

RuntimeInfo collectRuntimeInfo();
// Read once: the CPU does not change under a running process.
const CpuInfo& cpuInfo();

// torch.backends.cudnn.benchmark, for the whole process: cuDNN times its convolution algorithms once
// per input shape and keeps the fastest. A phase trains at one image size and batch size, so the
// timing is paid once per shape (the last, smaller batch is one more). No effect on a CPU.
void setCudnnBenchmark(bool on);

// Parses "cpu", "cuda", "cuda:N" or "auto" (CUDA when present, else CPU). Asking for CUDA
// where there is none is an error naming what was found, never a silent fallback.
c10::Device resolveDevice(const std::string& spec);

// `host` (a CPU tensor) as a source for a copy to `device`: itself, except for a GPU, where it is first
// copied into page-locked memory. CUDA makes a copy from pageable memory wait for all work already queued
// on the stream, so one such copy per step kept this thread from queueing the next step while the GPU ran
// this one, and it is slow: a 154 MB batch took 24 ms on an H200, against 4.5 ms from page-locked memory,
// where the copy is queued like a kernel. The block comes from PyTorch's caching host allocator, which
// hands it out again only after the copy has run.
torch::Tensor stagedFor(const torch::Tensor& host, const c10::Device& device);

// `host` on `options`' device (and dtype, where given) through stagedFor, without waiting for the GPU.
torch::Tensor toDevice(const torch::Tensor& host, const torch::TensorOptions& options);

struct DeviceCheck {
  std::string device;
  double checksum = 0;  // sum of A·B for A, B ~ N(0, 1) drawn on the CPU from `seed`
  double milliseconds = 0;
};

// One real matrix product on `device`: proves the device computes, and its checksum is
// comparable with PyTorch's (torch.Generator().manual_seed(seed), torch.randn on CPU).
DeviceCheck checkDevice(const std::string& device, int64_t size, uint64_t seed);

}  // namespace kdtorch
