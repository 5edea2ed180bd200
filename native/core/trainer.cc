#include "trainer.h"

#include <optional>
#include <stdexcept>

#include "runtime.h"
#include "sync_batch_norm.h"

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
    if (learns) {
      trainable.emplace_back(item.key(), item.value());
      trainable_.push_back(item.value());
    }
  }
  if (spec_.loss.classWeights.defined()) spec_.loss.classWeights = spec_.loss.classWeights.to(model_->device());
  optimizer_ = std::make_unique<FusedOptimizer>(std::move(trainable), spec_.optimizer);
  if (spec_.group) reducer_ = spec_.group->gradientReducer(trainable_);
  sums_ = torch::zeros({5}, torch::TensorOptions().dtype(torch::kFloat64).device(model_->device()));
  if (spec_.stepGraphs == "cuda") {
    if (!model_->device().is_cuda()) {
      throw std::invalid_argument("stepGraphs 'cuda' needs the model on a CUDA device, not " + model_->device().str());
    }
    graphs_ = &cudaStepGraphs();
  } else if (spec_.stepGraphs == "replayed") {
    graphs_ = &replayedStepGraphs();
  } else if (spec_.stepGraphs != "none") {
    throw std::invalid_argument("stepGraphs must be 'none', 'cuda' or 'replayed', got '" + spec_.stepGraphs + "'");
  }
  if (spec_.group && graphs_) {
    throw std::invalid_argument("stepGraphs with a process group are not supported yet: use stepGraphs 'none'");
  }
}

void Trainer::syncFromRankZero() {
  if (!spec_.group) return;
  std::vector<torch::Tensor> tensors;
  if (!synced_) {
    for (const auto& parameter : model_->module().parameters()) tensors.push_back(parameter);
  }
  for (const auto& buffer : model_->module().buffers()) tensors.push_back(buffer);
  spec_.group->broadcast(tensors);
  synced_ = true;
}

void Trainer::checkBatch(const torch::Tensor& images, const torch::Tensor& labels) const {
  model_->checkInput(images);
  if (labels.dim() != 1 || labels.size(0) != images.size(0)) {
    throw std::invalid_argument("labels must hold one class index per image (" + std::to_string(images.size(0)) + ")");
  }
  const int64_t classes = model_->spec().numClasses;
  if (labels.numel() > 0 && (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= classes)) {
    throw std::invalid_argument("labels must lie in [0, " + std::to_string(classes - 1) + "]");
  }
}

void Trainer::teacherStep(const torch::Tensor& images, const torch::Tensor& labels) {
  runStep(StepKind::CrossEntropy, images, labels, {});
}

void Trainer::studentStep(const torch::Tensor& images, const torch::Tensor& labels) {
  runStep(StepKind::CrossEntropy, images, labels, {});
}

void Trainer::distillStep(const torch::Tensor& images, const torch::Tensor& labels, const torch::Tensor& cached) {
  if (!teacher_ && !cached.defined()) {
    throw std::invalid_argument("distillStep needs a teacher or its outputs: create the trainer with one");
  }
  const int64_t classes = model_->spec().numClasses;
  if (cached.defined() && (cached.dim() != 2 || cached.size(0) != images.size(0) || cached.size(1) != classes)) {
    throw std::invalid_argument("teacher outputs must be (" + std::to_string(images.size(0)) + ", " +
                                std::to_string(classes) + "), got " + c10::str(cached.sizes()));
  }
  runStep(StepKind::Distill, images, labels, cached);
}

void Trainer::runStep(StepKind kind, const torch::Tensor& images, const torch::Tensor& labels,
                      const torch::Tensor& teacher) {
  checkBatch(images, labels);
  const auto device = model_->device();
  const auto floats = torch::TensorOptions().device(device).dtype(torch::kFloat32);
  if (!graphs_) {
    return eagerStep(kind, toDevice(images, floats), toDevice(labels, floats.dtype(torch::kInt64)),
                     teacher.defined() ? toDevice(teacher, floats) : teacher);
  }
  // PyTorch's recipe warms up with three steps before capturing; so does every new step shape here.
  constexpr int kWarmUpSteps = 3;
  auto& step = graphed_[{kind, images.size(0), teacher.defined()}];
  if (!step.images.defined()) {
    step.images = torch::empty(images.sizes(), floats);
    step.labels = torch::empty(labels.sizes(), floats.dtype(torch::kInt64));
    if (teacher.defined()) step.teacherLogits = torch::empty(teacher.sizes(), floats);
  }
  // One copy each, converting type and device on the way: the batch goes straight into the graph's inputs.
  step.images.copy_(stagedFor(images, device), /*non_blocking=*/true);
  step.labels.copy_(stagedFor(labels, device), /*non_blocking=*/true);
  if (teacher.defined()) step.teacherLogits.copy_(stagedFor(teacher, device), /*non_blocking=*/true);
  if (step.graph) return step.graph->replay();
  // `step` is a node of graphed_ and stays where it is for the trainer's life, as does `this`.
  auto run = [this, kind, &step] { eagerStep(kind, step.images, step.labels, step.teacherLogits); };
  if (step.warmUps < kWarmUpSteps) {
    ++step.warmUps;
    return graphs_->warmUp(run);
  }
  // Gradients are then made inside the capture, in the graph's memory, and every replay refills them.
  optimizer_->zeroGrad();
  step.graph = graphs_->capture(run);
  step.graph->replay();  // capture records the step without running it
}

void Trainer::eagerStep(StepKind kind, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& cached) {
  if (kind == StepKind::CrossEntropy) {
    const auto logits = trainingForward(x);
    const auto loss = crossEntropy(logits, y, spec_.loss.classWeights, spec_.loss.labelSmoothing);
    return finishStep(logits, y, loss, loss.detach(), torch::zeros({}, loss.options()));
  }
  torch::Tensor teacherLogits = cached;
  if (!cached.defined()) {
    torch::NoGradGuard noGrad;
    teacher_->train(false);
    teacherLogits = teacher_->forward(x.to(teacher_->device())).to(x.device());
  }
  const auto logits = trainingForward(x);
  const auto parts = distillLoss(logits, teacherLogits, y, spec_.loss);
  finishStep(logits, y, parts.total, parts.ce, parts.kd);
}

torch::Tensor Trainer::trainingForward(const torch::Tensor& x) {
  model_->train(true);
  syncFromRankZero();
  std::optional<SyncBatchNormScope> synchronised;
  if (spec_.syncBatchNorm && spec_.group && spec_.group->worldSize() > 1) synchronised.emplace(spec_.group);
  return model_->forward(x);
}

void Trainer::finishStep(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& loss,
                         const torch::Tensor& ce, const torch::Tensor& kd) {
  optimizer_->zeroGrad();
  loss.backward();  // with a group, the reducer's buckets all-reduce as their gradients come
  if (reducer_) reducer_->finish();
  optimizer_->step();
  torch::NoGradGuard noGrad;
  const double n = static_cast<double>(labels.size(0));
  const auto correct = (logits.argmax(1) == labels).sum();
  sums_ += torch::stack({loss.detach().to(torch::kFloat64) * n, ce.to(torch::kFloat64) * n, kd.to(torch::kFloat64) * n,
                         correct.to(torch::kFloat64), torch::full({}, n, sums_.options())});
}

Metrics Trainer::takeMetrics() {
  if (spec_.group) spec_.group->sum(sums_);
  const auto host = sums_.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);  // a copy even on the CPU
  sums_.zero_();
  const auto* v = host.data_ptr<double>();
  return {v[0], v[1], v[2], static_cast<int64_t>(v[3]), static_cast<int64_t>(v[4])};
}

void Trainer::setLearningRate(double lr) { optimizer_->setLearningRate(lr); }

double Trainer::learningRate() const { return optimizer_->learningRate(); }

NamedTensors Trainer::optimizerState() { return optimizer_->state(); }

void Trainer::loadOptimizerState(const NamedTensors& saved) {
  optimizer_->loadState(saved);
  graphed_.clear();  // the graphs would go on updating the replaced state tensors
}

}  // namespace kdtorch
