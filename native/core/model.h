// A network kdtorch can run, whatever its architecture: the module, its device and its input contract.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace kdtorch {

struct ModelSpec {
  // Required, as the caller's description states them (lib/native/model.ts); 0 is refused by Model.
  std::string architecture;  // "resnet18" or "studentNet"
  int64_t numClasses = 0;
  int64_t inChannels = 0;
  int64_t inputSize = 0;  // studentNet only: its fc size depends on it
  int64_t width = 0;      // studentNet only
  std::string device = "cpu";
  // Precision and layout: bf16 autocast (matmuls and convolutions in bf16, the rest in fp32, as
  // torch.autocast does) and channels-last tensors, which cuDNN and oneDNN run faster. Auto: where
  // they pay on the model's device (autoPrecision in model.cc); Model resolves it, so its spec() says
  // Yes or No.
  enum class Choice { No, Yes, Auto };
  Choice autocastBf16 = Choice::No;
  Choice channelsLast = Choice::No;
  // Seeds libtorch's generators just before the weights are initialised, so a seeded run starts
  // from the same weights every time. Negative: leave the generators as they are.
  int64_t seed = -1;
};

class Model {
 public:
  explicit Model(const ModelSpec& spec);

  // Inference: logits for a batch (N, C, H, W) given on any device; returns float32 logits on the CPU.
  torch::Tensor predict(const torch::Tensor& input);
  // The module's forward in its current mode, with autograd as the caller's guards say; input on device().
  // Applies the spec's autocast and memory format; the logits come back as float32.
  torch::Tensor forward(const torch::Tensor& input);
  // Throws std::invalid_argument unless `input` is (N, inChannels, H, W) with the sizes this model takes.
  void checkInput(const torch::Tensor& input) const;

  // Multiply-adds of one forward of `images` images of height × width, from the architecture's layer
  // shapes: the size of a call's compute, known before running it (binding/model.cc runs the smallest
  // on the JS thread).
  int64_t multiplyAdds(int64_t images, int64_t height, int64_t width) const;

  void train(bool on) { module_.ptr()->train(on); }
  bool isTraining() const { return module_.ptr()->is_training(); }
  void to(const std::string& device);  // keeps the spec's memory format
  int64_t parameterCount() const;
  bool autocastBf16() const { return autocastBf16_; }
  bool channelsLast() const { return channelsLast_; }

  torch::nn::Module& module() { return *module_.ptr(); }
  const c10::Device& device() const { return device_; }
  const ModelSpec& spec() const { return spec_; }

 private:
  void place();

  ModelSpec spec_;
  c10::Device device_;
  bool autocastBf16_ = false, channelsLast_ = false;  // the spec's choices, Auto resolved
  torch::nn::AnyModule module_;
};

}  // namespace kdtorch
