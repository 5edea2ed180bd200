#include "step_graph.h"

#include <dlfcn.h>
#include <torch/torch.h>

#include <stdexcept>

namespace kdtorch {
namespace {

struct CudaPlugin {
  const StepGraphs* graphs = nullptr;
  std::string error;  // why `graphs` is null
};

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
    return {nullptr, "cannot load " + path + " (" + (why ? why : "unknown error") +
                         "): this kdtorch was built without CUDA graph support; rebuild it against a CUDA "
                         "libtorch with the CUDA headers present (npm run build)"};
  }
  auto entry = reinterpret_cast<KdtorchCudaStepGraphsFn>(dlsym(handle, "kdtorch_cuda_step_graphs"));
  if (!entry) return {nullptr, path + " has no kdtorch_cuda_step_graphs: it is not kdtorch's CUDA library"};
  return {entry(), ""};
}

const CudaPlugin& plugin() {
  static const CudaPlugin loaded = openPlugin();
  return loaded;
}

class ReplayedStepGraph final : public StepGraph {
 public:
  explicit ReplayedStepGraph(std::function<void()> step) : step_(std::move(step)) {}
  void replay() override { step_(); }

 private:
  std::function<void()> step_;
};

class ReplayedStepGraphs final : public StepGraphs {
 public:
  void warmUp(const std::function<void()>& step) const override { step(); }
  std::unique_ptr<StepGraph> capture(std::function<void()> step) const override {
    return std::make_unique<ReplayedStepGraph>(std::move(step));
  }
};

}  // namespace

std::string cudaStepGraphsUnavailable() {
  if (!plugin().graphs) return plugin().error;
  if (!torch::cuda::is_available()) return "no CUDA device";
  return "";
}

const StepGraphs& cudaStepGraphs() {
  const std::string why = cudaStepGraphsUnavailable();
  if (!why.empty()) throw std::invalid_argument("CUDA graphs are unavailable: " + why);
  return *plugin().graphs;
}

const StepGraphs& replayedStepGraphs() {
  static const ReplayedStepGraphs graphs;
  return graphs;
}

}  // namespace kdtorch
