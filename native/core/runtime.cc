#include "runtime.h"

#include <ATen/cpu/Utils.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>

#include <chrono>
#include <stdexcept>

#include "step_graph.h"

#define KDTORCH_STR2(x) #x
#define KDTORCH_STR(x) KDTORCH_STR2(x)

// Read from the file by lib/native/load-addon.ts before the binary is loaded, so a binary built for another
// libtorch is refused with a message instead of failing inside the dynamic linker or, worse, later.
extern "C" __attribute__((used, visibility("default"))) const char kdtorch_build_stamp[] =
    "kdtorch-build:{\"torch\":\"" TORCH_VERSION "\",\"cxx11abi\":" KDTORCH_STR(_GLIBCXX_USE_CXX11_ABI) "}";

namespace kdtorch {
namespace {

// Device names and memory come from the CUDA driver, which libtorch_cuda has already loaded.
// Looking its entry points up at run time keeps this binary free of CUDA link dependencies:
// the same file then serves CPU-only and CUDA libtorch builds (see README, "Prebuilt binaries").
struct CudaDriver {
  using Init = int (*)(unsigned);
  using GetName = int (*)(char*, int, int);
  using TotalMem = int (*)(size_t*, int);
  using GetAttribute = int (*)(int*, int, int);
  Init init = nullptr;
  GetName getName = nullptr;
  TotalMem totalMem = nullptr;
  GetAttribute getAttribute = nullptr;

  static CudaDriver open() {
    CudaDriver driver;
    void* handle = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) return driver;
    driver.init = reinterpret_cast<Init>(dlsym(handle, "cuInit"));
    driver.getName = reinterpret_cast<GetName>(dlsym(handle, "cuDeviceGetName"));
    driver.totalMem = reinterpret_cast<TotalMem>(dlsym(handle, "cuDeviceTotalMem_v2"));
    driver.getAttribute = reinterpret_cast<GetAttribute>(dlsym(handle, "cuDeviceGetAttribute"));
    return driver;
  }
  bool usable() const { return init && getName && totalMem && getAttribute && init(0) == 0; }
};

constexpr int kComputeCapabilityMajor = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kComputeCapabilityMinor = 76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

std::vector<CudaDevice> listCudaDevices(int count) {
  std::vector<CudaDevice> devices;
  CudaDriver driver = CudaDriver::open();
  const bool described = driver.usable();
  for (int index = 0; index < count; ++index) {
    CudaDevice device;
    device.index = index;
    if (described) {
      char name[256] = {0};
      size_t bytes = 0;
      driver.getName(name, sizeof(name) - 1, index);
      driver.totalMem(&bytes, index);
      driver.getAttribute(&device.capabilityMajor, kComputeCapabilityMajor, index);
      driver.getAttribute(&device.capabilityMinor, kComputeCapabilityMinor, index);
      device.name = name;
      device.totalMemoryBytes = static_cast<int64_t>(bytes);
    }
    devices.push_back(device);
  }
  return devices;
}

CpuInfo readCpuInfo() {
  const auto capabilities = at::cpu::get_cpu_capabilities();
  const auto flag = [&](const char* name) {
    const auto found = capabilities.find(name);
    return found != capabilities.end() && found->second.isBool() && found->second.toBool();
  };
  CpuInfo cpu;
  const auto name = capabilities.find("cpu_name");
  if (name != capabilities.end() && name->second.isString()) cpu.name = name->second.toStringRef();
  const auto cores = capabilities.find("num_physical_cores");
  if (cores != capabilities.end() && cores->second.isInt()) cpu.physicalCores = cores->second.toInt();
  cpu.avx512Bf16 = flag("avx512_bf16");
  cpu.amxBf16 = flag("amx_bf16");
  cpu.onednn = at::hasMKLDNN();
  cpu.nativeBf16 = cpu.onednn && (cpu.avx512Bf16 || cpu.amxBf16);
  return cpu;
}

}  // namespace

RuntimeInfo collectRuntimeInfo() {
  RuntimeInfo info;
  info.torchBuilt = TORCH_VERSION;
  info.cudaAvailable = torch::cuda::is_available();
  info.threads = at::get_num_threads();
  info.cpu = cpuInfo();
  info.cudnnBenchmark = at::globalContext().benchmarkCuDNN();
  info.cudaGraphsUnavailable = cudaStepGraphsUnavailable();
  if (info.cudaAvailable) {
    info.devices = listCudaDevices(static_cast<int>(torch::cuda::device_count()));
    const auto& hooks = at::detail::getCUDAHooks();
    if (hooks.hasCuDNN()) info.cudnnVersion = hooks.versionCuDNN();
  }
  return info;
}

const CpuInfo& cpuInfo() {
  static const CpuInfo cpu = readCpuInfo();
  return cpu;
}

void setCudnnBenchmark(bool on) { at::globalContext().setBenchmarkCuDNN(on); }

torch::Tensor stagedFor(const torch::Tensor& host, const c10::Device& device) {
  if (!device.is_cuda() || !host.device().is_cpu() || host.is_pinned()) return host;
  auto pinned = torch::empty(host.sizes(), host.options().pinned_memory(true));
  pinned.copy_(host);
  return pinned;
}

torch::Tensor toDevice(const torch::Tensor& host, const torch::TensorOptions& options) {
  return stagedFor(host, options.device()).to(options, /*non_blocking=*/true);
}

c10::Device resolveDevice(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(spec);
  } catch (const c10::Error&) {
    throw std::invalid_argument("device '" + spec + "' is not one of 'cpu', 'cuda', 'cuda:N', 'auto'");
  }
  if (device.is_cuda()) {
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (count == 0) {
      throw std::invalid_argument("device '" + spec +
                                  "' asked for, but this libtorch sees no CUDA device (use device 'cpu' or 'auto', or "
                                  "check nvidia-smi and that libtorch was built with CUDA)");
    }
    if (device.has_index() && device.index() >= count) {
      throw std::invalid_argument("device '" + spec + "' asked for, but only " + std::to_string(count) +
                                  " CUDA device(s) are present");
    }
    if (!device.has_index()) device.set_index(0);
  } else if (!device.is_cpu()) {
    throw std::invalid_argument("device '" + spec + "' is not supported: use 'cpu', 'cuda', 'cuda:N' or 'auto'");
  }
  return device;
}

DeviceCheck checkDevice(const std::string& spec, int64_t size, uint64_t seed) {
  if (size < 1) throw std::invalid_argument("size must be >= 1, got " + std::to_string(size));
  const c10::Device device = resolveDevice(spec);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto a = torch::randn({size, size}, generator, torch::kFloat32);
  const auto b = torch::randn({size, size}, generator, torch::kFloat32);

  torch::NoGradGuard noGrad;
  const auto start = std::chrono::steady_clock::now();
  const auto product = a.to(device).mm(b.to(device));
  const double checksum = product.sum(torch::kFloat64).item<double>();  // item() waits for the device
  const auto elapsed = std::chrono::steady_clock::now() - start;

  DeviceCheck check;
  check.device = device.str();
  check.checksum = checksum;
  check.milliseconds = std::chrono::duration<double, std::milli>(elapsed).count();
  return check;
}

}  // namespace kdtorch
