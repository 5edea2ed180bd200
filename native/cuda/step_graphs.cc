// kdtorch_cuda.so: core/step_graph.h's StepGraphs over at::cuda::CUDAGraph, following PyTorch's
// "whole network capture" recipe (torch.cuda.graph and its notes). Built only where the CUDA headers
// are (lib/native/libtorch.mjs), and opened by the addon only on a CUDA device.
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/Event.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <stdexcept>
#include <string>

#include "../core/step_graph.h"

namespace kdtorch {
namespace {

// Runs `work` on a side stream, ordered after everything queued on the current stream and before
// anything queued after it. Capture cannot use the default stream, and warm-up goes on a side
// stream too, as torch.cuda.make_graphed_callables does, so that lazily made per-stream state
// exists before capture.
void onSideStream(const std::function<void()>& work) {
  const auto current = at::cuda::getCurrentCUDAStream();
  const auto side = at::cuda::getStreamFromPool();
  // c10's device-generic events: ATen's CUDAEvent needs cuda_runtime.h, which the runtime wheel lacks.
  c10::Event before(c10::DeviceType::CUDA), after(c10::DeviceType::CUDA);
  before.record(current);
  before.block(side);
  {
    c10::cuda::CUDAStreamGuard guard(side);
    work();
  }
  after.record(side);
  after.block(current);
}

// A weight cast cached before capture would be read from memory the graph does not own, and one cached
// during capture would be skipped by the next: torch.cuda.make_graphed_callables also asks for autocast
// without its cache. Restores the setting however the capture ends.
class AutocastCacheOff {
 public:
  AutocastCacheOff() : was_(at::autocast::is_autocast_cache_enabled()) {
    at::autocast::set_autocast_cache_enabled(false);
  }
  ~AutocastCacheOff() { at::autocast::set_autocast_cache_enabled(was_); }

 private:
  bool was_;
};

class CudaStepGraph final : public StepGraph {
 public:
  void replay() override { graph.replay(); }
  at::cuda::CUDAGraph graph;
};

class CudaStepGraphs final : public StepGraphs {
 public:
  void warmUp(const std::function<void()>& step) const override { onSideStream(step); }

  std::unique_ptr<StepGraph> capture(std::function<void()> step) const override {
    auto captured = std::make_unique<CudaStepGraph>();
    // Nothing queued before the capture may still be running into it (torch.cuda.graph does the same).
    c10::cuda::device_synchronize();
    AutocastCacheOff noCache;
    try {
      onSideStream([&] {
        captured->graph.capture_begin();
        try {
          step();
        } catch (...) {
          try {
            captured->graph.capture_end();  // ends the stream's capture; the graph is unusable anyway
          } catch (...) {
          }
          throw;
        }
        captured->graph.capture_end();
      });
    } catch (const std::exception& error) {
      throw std::runtime_error(std::string("capturing the training step into a CUDA graph failed; train without "
                                           "graphs (config cudaGraphs: false, or Trainer graphs: 'none'): ") +
                               error.what());
    }
    return captured;
  }
};

}  // namespace
}  // namespace kdtorch

extern "C" __attribute__((visibility("default"))) const kdtorch::StepGraphs* kdtorch_cuda_step_graphs() {
  static const kdtorch::CudaStepGraphs graphs;
  return &graphs;
}
