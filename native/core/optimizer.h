// SGD, Adam and AdamW as PyTorch's fused implementations (torch.optim.*(fused=True)): one
// multi-tensor kernel updates every parameter, where libtorch's torch::optim loops over them with
// about ten small kernels each (ResNet-18: ~600 launches per step on a GPU). The learning rate and the
// step counts live in tensors on the parameters' device, so a step reads nothing back from the
// device and bakes no host number in: a CUDA graph can capture it and replay it at any rate and step.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "named_tensors.h"

namespace kdtorch {

struct OptimizerSpec {
  std::string name = "sgd";  // "sgd", "adam" or "adamw"
  double lr = 0.01;
  double momentum = 0;
  bool nesterov = false;
  double weightDecay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class FusedOptimizer {
 public:
  // `params` are (name, tensor) pairs: the names key the saved state.
  FusedOptimizer(NamedTensors params, const OptimizerSpec& spec);

  // Updates every parameter that has a gradient, as torch.optim skips those without one.
  void step();
  // Forgets the gradients (set_to_none, torch.optim's default): the next backward writes them afresh.
  void zeroGrad();
  // Takes effect from the next step; writes the device's copy, never reads it.
  void setLearningRate(double lr);
  double learningRate() const { return lr_; }

  // "<param>.momentum_buffer" (SGD with momentum), or "<param>.step" (int64), "<param>.exp_avg",
  // "<param>.exp_avg_sq" (Adam, AdamW): torch.optim's state names, for parameters that stepped.
  NamedTensors state() const;
  void loadState(const NamedTensors& saved);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param;
    torch::Tensor step, expAvg, expAvgSq;  // Adam/AdamW; step is float32 as in fused torch.optim
    torch::Tensor momentum;                // SGD with momentum
  };
  bool isAdam() const { return spec_.name != "sgd"; }
  void initialise(Slot& slot) const;

  OptimizerSpec spec_;
  std::vector<Slot> slots_;
  double lr_;
  torch::Tensor lrTensor_;  // scalar on the parameters' device (dtype: see the constructor)
};

}  // namespace kdtorch
