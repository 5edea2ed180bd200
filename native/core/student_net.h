// The article's StudentNet, named as its PyTorch module so state_dicts move both ways:
//   layer1 = Sequential(Conv2d(in, width, 3, padding=1), BatchNorm2d(width), ReLU(), MaxPool2d(2, 2))
//   fc     = Linear(width * (H/2) * (W/2), numClasses)
#pragma once
#include <torch/torch.h>

namespace kdtorch {

struct StudentNetOptions {
  int64_t numClasses = 2;
  int64_t inputSize = 224;
  int64_t inChannels = 3;
  int64_t width = 4;
};

struct StudentNetImpl : torch::nn::Module {
  explicit StudentNetImpl(const StudentNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  StudentNetOptions options;
  torch::nn::Sequential layer1{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(StudentNet);

}  // namespace kdtorch
