// One training step per call, whole on the native side: forward, loss, backward, optimizer step.
// Running sums of loss and accuracy stay on the device until takeMetrics() reads them.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "distill_loss.h"
#include "model.h"
#include "named_tensors.h"
#include "optimizer.h"
#include "process_group.h"
#include "step_graph.h"

namespace kdtorch {

struct TrainerSpec {
  OptimizerSpec optimizer;
  DistillLossOptions loss;
  // "none", or "backbone": every parameter but fc.* stops learning (requires_grad false and
  // left out of the optimizer). The article's `params.requires_grad_ = False` froze nothing.
  std::string freeze = "none";
  // "none": every step runs eagerly. "cuda": steps of a shape seen before are captured once into a
  // CUDA graph and replayed (the model must be on a CUDA device). "replayed": the same bookkeeping
  // with core/step_graph.h's CPU stand-in, for tests.
  std::string stepGraphs = "none";
  // The ranks this model trains with, as DistributedDataParallel with its defaults: parameters and
  // buffers broadcast from rank 0 before the first step, buffers again before every training forward
  // (broadcast_buffers), gradients averaged after backward, metric sums added over the ranks. Null: alone.
  std::shared_ptr<ProcessGroup> group;
  // With a group of more than one rank, the trained model's BatchNorms normalise over the global batch
  // in training forwards (core/sync_batch_norm.h), as torch.nn.SyncBatchNorm.convert_sync_batchnorm's.
  bool syncBatchNorm = false;
};

struct Metrics {
  double lossSum = 0, ceSum = 0, kdSum = 0;  // per-sample sums (batch mean times batch size)
  int64_t correct = 0, count = 0;
};

class Trainer {
 public:
  // `teacher` may be null; distillStep then refuses.
  Trainer(std::shared_ptr<Model> model, std::shared_ptr<Model> teacher, const TrainerSpec& spec);

  // Cross-entropy steps: teacherStep honours `freeze`; studentStep is the student trained alone.
  void teacherStep(const torch::Tensor& images, const torch::Tensor& labels);
  void studentStep(const torch::Tensor& images, const torch::Tensor& labels);
  // Teacher forward (eval mode, no grad) + student forward + fused loss + backward + step.
  // Given `teacherLogits` (N, classes), the teacher is not run: they are its outputs for these
  // images, computed once per view by the teacher-output cache, so the step costs a student step.
  void distillStep(const torch::Tensor& images, const torch::Tensor& labels, const torch::Tensor& teacherLogits = {});

  Metrics takeMetrics();  // reads the device once and resets the sums
  // With a process group, rank 0's values in every rank: the first time every parameter and buffer, after
  // that the buffers. Before each training forward (DDP's broadcast_buffers), and before an evaluation:
  // after a step each rank's BatchNorm statistics hold its own last batch. Without a group, nothing.
  void syncFromRankZero();
  void setLearningRate(double lr);
  double learningRate() const;

  // Optimizer state as named tensors ("<param>.exp_avg", "<param>.momentum_buffer", "<param>.step").
  NamedTensors optimizerState();
  void loadOptimizerState(const NamedTensors& state);
  Model& model() { return *model_; }

 private:
  enum class StepKind { CrossEntropy, Distill };
  // A step shape's graph: the inputs it reads (each call copies its batch in), and how far it got.
  struct GraphedStep {
    torch::Tensor images, labels, teacherLogits;
    int warmUps = 0;
    std::unique_ptr<StepGraph> graph;
  };

  // Runs the step eagerly, or through its shape's graph when the spec asks for graphs.
  void runStep(StepKind kind, const torch::Tensor& images, const torch::Tensor& labels,
               const torch::Tensor& teacherLogits);
  void eagerStep(StepKind kind, const torch::Tensor& images, const torch::Tensor& labels,
                 const torch::Tensor& teacherLogits);
  // The trained model's forward in training mode, after DDP's broadcast of rank 0's buffers.
  torch::Tensor trainingForward(const torch::Tensor& x);
  void finishStep(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& loss,
                  const torch::Tensor& ce, const torch::Tensor& kd);
  // Shape and label checks of a batch, before any of it goes to the device.
  void checkBatch(const torch::Tensor& images, const torch::Tensor& labels) const;

  std::shared_ptr<Model> model_, teacher_;
  TrainerSpec spec_;

  std::unique_ptr<FusedOptimizer> optimizer_;
  std::vector<torch::Tensor> trainable_;      // the optimizer's parameters, whose gradients the ranks average
  std::shared_ptr<GradientReducer> reducer_;  // with a group: averages trainable_'s gradients during backward
  bool synced_ = false;                       // the first step's broadcast of every parameter and buffer is done
  torch::Tensor sums_;                        // [loss, ce, kd, correct, count] in float64 on the model's device
  const StepGraphs* graphs_ = nullptr;        // null: eager steps
  // By kind, batch size and whether the teacher's outputs are given: the last, smaller batch of an
  // epoch gets a graph of its own once it too has had its warm-up steps.
  std::map<std::tuple<StepKind, int64_t, bool>, GraphedStep> graphed_;
};

}  // namespace kdtorch
