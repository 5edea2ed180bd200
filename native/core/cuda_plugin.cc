#include "cuda_plugin.h"

#include <dlfcn.h>

namespace kdtorch {
namespace {

// kdtorch_cuda.so is built and shipped beside the addon (build/Release, prebuilds/<platform>), so it
// is looked for in the folder this code was loaded from.
std::string pluginPath() {
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&pluginPath), &self) == 0 || !self.dli_fname) return "kdtorch_cuda.so";
  const std::string addon = self.dli_fname;
  const auto slash = addon.rfind('/');
  return (slash == std::string::npos ? std::string() : addon.substr(0, slash + 1)) + "kdtorch_cuda.so";
}

CudaPlugin openPlugin() {
  const std::string path = pluginPath();
  // Its libtorch_cuda is already loaded (lib/native/load-addon.ts preloads libtorch), so nothing is searched for.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return {nullptr, nullptr,
            "cannot load " + path + " (" + (why ? why : "unknown error") +
                "): this kdtorch was built without its CUDA library; rebuild it against a CUDA libtorch with the "
                "CUDA headers present (npm run build)"};
  }
  auto graphs = reinterpret_cast<KdtorchCudaStepGraphsFn>(dlsym(handle, "kdtorch_cuda_step_graphs"));
  auto nccl = reinterpret_cast<KdtorchCudaNcclBackendFn>(dlsym(handle, "kdtorch_cuda_nccl_backend"));
  if (!graphs || !nccl)
    return {nullptr, nullptr, path + " lacks kdtorch's exports: it is not this kdtorch's CUDA library"};
  return {graphs(), nccl, ""};
}

}  // namespace

const CudaPlugin& cudaPlugin() {
  static const CudaPlugin loaded = openPlugin();
  return loaded;
}

}  // namespace kdtorch
