#include "evaluator.h"

#include <stdexcept>

#include "runtime.h"

namespace kdtorch {

Evaluator::Evaluator(std::shared_ptr<Model> model) : model_(std::move(model)) {
  const auto device = model_->device();
  const int64_t c = model_->spec().numClasses;
  lossSum_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  correct_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  confusion_ = torch::zeros({c * c}, torch::TensorOptions().dtype(torch::kInt64).device(device));
}

void Evaluator::add(const torch::Tensor& images, const torch::Tensor& labels) {
  model_->checkInput(images);
  if (labels.dim() != 1 || labels.size(0) != images.size(0)) {
    throw std::invalid_argument("labels must hold one class index per image");
  }
  const int64_t c = model_->spec().numClasses;
  c10::InferenceMode inference;
  model_->train(false);
  const auto on = torch::TensorOptions().device(model_->device());
  const auto x = toDevice(images, on.dtype(torch::kFloat32));
  const auto y = toDevice(labels, on.dtype(torch::kInt64));
  const auto logits = model_->forward(x).to(torch::kFloat32);
  lossSum_ += torch::nn::functional::cross_entropy(
                  logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                  .to(torch::kFloat64);
  const auto predicted = logits.argmax(1);
  correct_ += (predicted == y).sum();
  confusion_ += torch::bincount(y * c + predicted, {}, c * c);
  probabilities_.push_back(torch::softmax(logits, 1));
}

EvaluationResult Evaluator::read() {
  const int64_t c = model_->spec().numClasses;
  EvaluationResult result;
  result.lossSum = lossSum_.item<double>();
  result.correct = correct_.item<int64_t>();
  result.confusion = confusion_.view({c, c}).to(torch::kCPU);
  result.probabilities = probabilities_.empty() ? torch::zeros({0, c}) : torch::cat(probabilities_).to(torch::kCPU);
  result.count = result.probabilities.size(0);
  return result;
}

}  // namespace kdtorch
