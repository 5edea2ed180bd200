#include "trainer.h"

#include <stdexcept>

namespace kdtorch {
Trainer::Trainer(std::shared_ptr<Model> model, std::shared_ptr<Model> teacher, const TrainerSpec& spec)
    : model_(std::move(model)), teacher_(std::move(teacher)), spec_(spec) {
  if (spec_.freeze != "none" && spec_.freeze != "backbone") {
    throw std::invalid_argument("freeze must be 'none' or 'backbone', got '" + spec_.freeze + "'");
  }
  NamedTensors trainable;
  for (auto& item : model_->module().named_parameters()) {
    const bool learns = spec_.freeze == "none" || item.key().rfind("fc.", 0) == 0;
    item.value().set_requires_grad(learns);
    if (learns) trainable.emplace_back(item.key(), item.value());
  }
  if (spec_.loss.classWeights.defined()) spec_.loss.classWeights = spec_.loss.classWeights.to(model_->device());
  optimizer_ = std::make_unique<FusedOptimizer>(std::move(trainable), spec_.optimizer);
  sums_ = torch::zeros({5}, torch::TensorOptions().dtype(torch::kFloat64).device(model_->device()));
}

std::pair<torch::Tensor, torch::Tensor> Trainer::toDevice(const torch::Tensor& images,
                                                          const torch::Tensor& labels) const {
  model_->checkInput(images);
  if (labels.dim() != 1 || labels.size(0) != images.size(0)) {
    throw std::invalid_argument("labels must hold one class index per image (" + std::to_string(images.size(0)) + ")");
  }
  const int64_t classes = model_->spec().numClasses;
  if (labels.numel() > 0 && (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= classes)) {
    throw std::invalid_argument("labels must lie in [0, " + std::to_string(classes - 1) + "]");
  }
  const auto device = model_->device();
  return {images.to(device, torch::kFloat32, /*non_blocking=*/true), labels.to(device, torch::kInt64, true)};
}

void Trainer::teacherStep(const torch::Tensor& images, const torch::Tensor& labels) {
  crossEntropyStep(images, labels);
}

void Trainer::studentStep(const torch::Tensor& images, const torch::Tensor& labels) {
  crossEntropyStep(images, labels);
}

void Trainer::crossEntropyStep(const torch::Tensor& images, const torch::Tensor& labels) {
  auto [x, y] = toDevice(images, labels);
  model_->train(true);
  const auto logits = model_->forward(x);
  const auto loss = crossEntropy(logits, y, spec_.loss.classWeights, spec_.loss.labelSmoothing);
  finishStep(logits, y, loss, loss.detach(), torch::zeros({}, loss.options()));
}

void Trainer::distillStep(const torch::Tensor& images, const torch::Tensor& labels, const torch::Tensor& cached) {
  if (!teacher_ && !cached.defined()) {
    throw std::invalid_argument("distillStep needs a teacher or its outputs: create the trainer with one");
  }
  auto [x, y] = toDevice(images, labels);
  torch::Tensor teacherLogits = cached;
  if (cached.defined()) {
    const int64_t classes = model_->spec().numClasses;
    if (cached.dim() != 2 || cached.size(0) != x.size(0) || cached.size(1) != classes) {
      throw std::invalid_argument("teacher outputs must be (" + std::to_string(x.size(0)) + ", " +
                                  std::to_string(classes) + "), got " + c10::str(cached.sizes()));
    }
  } else {
    torch::NoGradGuard noGrad;
    teacher_->train(false);
    teacherLogits = teacher_->forward(x.to(teacher_->device()));
  }
  model_->train(true);
  const auto logits = model_->forward(x);
  const auto parts = distillLoss(logits, teacherLogits.to(logits.device()), y, spec_.loss);
  finishStep(logits, y, parts.total, parts.ce, parts.kd);
}

void Trainer::finishStep(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& loss,
                         const torch::Tensor& ce, const torch::Tensor& kd) {
  optimizer_->zeroGrad();
  loss.backward();
  optimizer_->step();
  torch::NoGradGuard noGrad;
  const double n = static_cast<double>(labels.size(0));
  const auto correct = (logits.argmax(1) == labels).sum();
  sums_ += torch::stack({loss.detach().to(torch::kFloat64) * n, ce.to(torch::kFloat64) * n, kd.to(torch::kFloat64) * n,
                         correct.to(torch::kFloat64), torch::full({}, n, sums_.options())});
}

Metrics Trainer::takeMetrics() {
  const auto host = sums_.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);  // a copy even on the CPU
  sums_.zero_();
  const auto* v = host.data_ptr<double>();
  return {v[0], v[1], v[2], static_cast<int64_t>(v[3]), static_cast<int64_t>(v[4])};
}

void Trainer::setLearningRate(double lr) { optimizer_->setLearningRate(lr); }

double Trainer::learningRate() const { return optimizer_->learningRate(); }

NamedTensors Trainer::optimizerState() { return optimizer_->state(); }

void Trainer::loadOptimizerState(const NamedTensors& saved) { optimizer_->loadState(saved); }

}  // namespace kdtorch
