// The article's StudentNet, named as its PyTorch module so state_dicts move both ways:
//   layer1 = Sequential(Conv2d(in, width, 3, padding=1), BatchNorm2d(width), ReLU(), MaxPool2d(2, 2))
//   (forward runs the pool before an in-place ReLU: the same numbers, see student_net.cc)
//   fc     = Linear(width * (H/2) * (W/2), numClasses)
#pragma once
#include <torch/torch.h>

#include "conv_bn.h"

namespace kdtorch {

// Every field is given by ModelSpec (native/core/model.h), which states none of them itself.
struct StudentNetOptions {
  int64_t numClasses;
  int64_t inputSize;
  int64_t inChannels;
  int64_t width;
};

struct StudentNetImpl : torch::nn::Module {
  explicit StudentNetImpl(const StudentNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  // Multiply-adds of one image's forward (the convolution and fc; 5.5 M at 224² with the article's sizes).
  static int64_t multiplyAdds(const StudentNetOptions& options);

  StudentNetOptions options;
  torch::nn::Sequential layer1{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  ConvBn convBn_;
};
TORCH_MODULE(StudentNet);

}  // namespace kdtorch
