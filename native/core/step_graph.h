// Training steps replayed from a captured graph. On a GPU a small step (the student's) is a few
// dozen short kernels, and launching them costs more than running them; a CUDA graph launches the
// whole step at once. The capture lives in kdtorch_cuda.so (core/cuda_plugin.h); the trainer sees only
// this interface.
#pragma once
#include <functional>
#include <memory>
#include <string>

namespace kdtorch {

class StepGraph {
 public:
  virtual ~StepGraph() = default;
  // Runs the captured work again, on the same memory: the step's inputs are whatever its static
  // input tensors hold now, and its outputs land where they landed during capture.
  virtual void replay() = 0;
};

class StepGraphs {
 public:
  virtual ~StepGraphs() = default;
  // Runs `step` eagerly, as the steps before a capture must: they create the optimizer state and
  // let cuDNN pick its algorithms, so that no first-time work is captured.
  virtual void warmUp(const std::function<void()>& step) const = 0;
  // Records `step` without running it; replay() runs it. `step` must read and write only tensors
  // that outlive the graph, and must not read anything back to the host.
  virtual std::unique_ptr<StepGraph> capture(std::function<void()> step) const = 0;
};

// CUDA graphs from kdtorch_cuda.so, opened on first use. Throws, saying why, when they cannot be had.
const StepGraphs& cudaStepGraphs();
// Empty when cudaStepGraphs() works here; else the reason it does not.
std::string cudaStepGraphsUnavailable();
// The CPU stand-in: capture() keeps the step and replay() calls it. It runs the trainer's graph
// bookkeeping (static inputs, warm-up, capture, replay) where CI can test it: a CPU has no graphs.
const StepGraphs& replayedStepGraphs();

}  // namespace kdtorch
