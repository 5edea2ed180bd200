// A network kdtorch can run, whatever its architecture: the module, its device and its input contract.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace kdtorch {

struct ModelSpec {
  std::string architecture;  // "studentNet"
  int64_t numClasses = 2;
  int64_t inputSize = 224;
  int64_t inChannels = 3;
  int64_t width = 4;
  std::string device = "cpu";
};

class Model {
 public:
  explicit Model(const ModelSpec& spec);

  // Logits for a batch (N, C, H, W) of float32 on the CPU; returns float32 logits on the CPU.
  torch::Tensor forward(const torch::Tensor& input);
  int64_t parameterCount() const;
  const c10::Device& device() const { return device_; }
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  c10::Device device_;
  torch::nn::AnyModule module_;
};

}  // namespace kdtorch
