// Evaluation sums kept on the device across batches and read once: loss sum, correct count,
// confusion counts and every sample's class probabilities.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "model.h"

namespace kdtorch {

struct EvaluationResult {
  double lossSum = 0;  // sum over samples of the unweighted cross-entropy
  int64_t correct = 0, count = 0;
  torch::Tensor confusion;      // (C, C) int64 on the CPU, rows = true class, columns = predicted
  torch::Tensor probabilities;  // (count, C) float32 on the CPU, in the order the batches came
};

class Evaluator {
 public:
  explicit Evaluator(std::shared_ptr<Model> model);
  void add(const torch::Tensor& images, const torch::Tensor& labels);
  EvaluationResult read();  // one device-to-host copy

 private:
  std::shared_ptr<Model> model_;
  torch::Tensor lossSum_, correct_, confusion_;
  std::vector<torch::Tensor> probabilities_;
};

}  // namespace kdtorch
