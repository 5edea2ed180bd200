#include "step_graph.h"

#include <torch/torch.h>

#include <stdexcept>

#include "cuda_plugin.h"

namespace kdtorch {
namespace {

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
  if (!cudaPlugin().graphs) return cudaPlugin().error;
  if (!torch::cuda::is_available()) return "no CUDA device";
  return "";
}

const StepGraphs& cudaStepGraphs() {
  const std::string why = cudaStepGraphsUnavailable();
  if (!why.empty()) throw std::invalid_argument("CUDA graphs are unavailable: " + why);
  return *cudaPlugin().graphs;
}

const StepGraphs& replayedStepGraphs() {
  static const ReplayedStepGraphs graphs;
  return graphs;
}

}  // namespace kdtorch
