// BatchNorm over the global batch of every rank, as torch.nn.SyncBatchNorm: in a training forward, the
// per-channel mean and variance are those of all ranks' images together, the running statistics move
// toward them, and backward carries each rank's gradient of the statistics to every other rank. Two ranks
// of B images then normalise, step and keep statistics as one process of their 2B images would.
#pragma once
#include <torch/torch.h>

#include <memory>

namespace kdtorch {

class ProcessGroup;

// While a scope is alive on a thread, the training-mode BatchNorms that thread runs through batchNorm()
// synchronise over `group` (Trainer opens one around a training forward). A thread-local scope, as
// autocast's, because the layers are reached through modules that know nothing of ranks.
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(std::shared_ptr<ProcessGroup> group);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

 private:
  const std::shared_ptr<ProcessGroup>* outer_;
  std::shared_ptr<ProcessGroup> group_;
};

// bn(x), as every BatchNorm of the networks runs: inside a scope and in training mode, with the global
// batch's statistics (one all-reduce forward and one backward; every rank runs the same layers in the
// same order); otherwise bn.forward(x).
torch::Tensor batchNorm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

}  // namespace kdtorch
