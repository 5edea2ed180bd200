// The distillation loss as one autograd node: its forward computes the loss and, in the same pass,
// its analytic gradient with respect to the student's logits; backward only scales that gradient.
//   loss = (1 - alpha) * CE(s, y) + alpha * KD(s, t)
//   hinton: KD = T^2 * KL(softmax(t/T) || softmax(s/T)) averaged over the batch ("batchmean")
//   article: KD = nn.KLDivLoss()(log_softmax(s/T), softmax(t/T)), i.e. reduction 'mean' over N*C
//            elements and no T^2: the article's code, kept exactly for its `article` preset.
// CE follows torch.nn.functional.cross_entropy, with optional class weights and label smoothing.
#pragma once
#include <torch/torch.h>

#include <limits>

namespace kdtorch {

enum class KdMode { Hinton, Article };

struct DistillLossOptions {
  KdMode mode = KdMode::Hinton;
  // Required: the caller's config states them (lib/config/presets.ts); NaN fails distillLoss's checks.
  double alpha = std::numeric_limits<double>::quiet_NaN();
  double temperature = std::numeric_limits<double>::quiet_NaN();
  double labelSmoothing = 0.0;
  torch::Tensor classWeights;  // (C) or undefined
};

struct DistillLossParts {
  torch::Tensor total;  // differentiable with respect to the student logits
  torch::Tensor ce;     // detached parts, for reporting
  torch::Tensor kd;
};

DistillLossParts distillLoss(const torch::Tensor& studentLogits, const torch::Tensor& teacherLogits,
                             const torch::Tensor& labels, const DistillLossOptions& options);

// Cross-entropy exactly as torch.nn.functional.cross_entropy(logits, labels, weight, label_smoothing).
torch::Tensor crossEntropy(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& classWeights,
                           double labelSmoothing);

}  // namespace kdtorch
