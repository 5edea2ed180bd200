#include "student_net.h"

#include <stdexcept>
#include <string>

namespace kdtorch {

StudentNetImpl::StudentNetImpl(const StudentNetOptions& opts) : options(opts) {
  if (opts.inputSize < 2 || opts.inputSize % 2 != 0) {
    throw std::invalid_argument("studentNet inputSize must be an even number >= 2, got " +
                                std::to_string(opts.inputSize));
  }
  const int64_t pooled = opts.inputSize / 2;
  layer1 = register_module(
      "layer1",
      torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(opts.inChannels, opts.width, 3).padding(1)),
                            torch::nn::BatchNorm2d(opts.width), torch::nn::ReLU(),
                            torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2))));
  fc = register_module("fc", torch::nn::Linear(opts.width * pooled * pooled, opts.numClasses));
}

torch::Tensor StudentNetImpl::forward(const torch::Tensor& x) { return fc(layer1->forward(x).flatten(1)); }

}  // namespace kdtorch
