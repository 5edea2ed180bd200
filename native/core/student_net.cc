#include "student_net.h"

#include <stdexcept>
#include <string>

#include "sync_batch_norm.h"

namespace kdtorch {
namespace {

// max_pool2d(x, 2, 2) for the even sizes the student takes. Without autograd it is the maximum of the
// window's four strided views: the same values, 3.7× faster than max_pool2d's CPU kernel on NCHW (4.9 vs
// 18.3 ms at 224², batch 32, in PyTorch). With autograd it is max_pool2d, whose backward gives a tie's
// gradient to the window's first maximum, as PyTorch's does (a split between ties would not be the same step).
torch::Tensor maxPool2(const torch::Tensor& x) {
  if (torch::GradMode::is_enabled() && x.requires_grad()) return torch::max_pool2d(x, 2, 2);
  const auto at = [&](int64_t row, int64_t column) {
    return x.slice(-2, row, std::nullopt, 2).slice(-1, column, std::nullopt, 2);
  };
  return torch::maximum(torch::maximum(at(0, 0), at(0, 1)), torch::maximum(at(1, 0), at(1, 1)));
}

}  // namespace

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

int64_t StudentNetImpl::multiplyAdds(const StudentNetOptions& o) {
  const int64_t pixels = o.inputSize * o.inputSize;
  return o.inChannels * o.width * 9 * pixels + o.width * (pixels / 4) * o.numClasses;
}

// layer1's modules in the article's order but for one swap: the max-pool runs before the ReLU, which then
// works in place. The two commute exactly (ReLU is monotone: the max of ReLUs is the ReLU of the max, and
// both send the gradient to the same element, or none), so outputs and gradients are the article's, while
// the ReLU reads and writes a quarter of the pixels and allocates nothing. The student is bound by memory
// traffic, not arithmetic: its step at 224² ran at 0.8× PyTorch's before this and convBn.
//
// A channels-last convolution's output goes back to NCHW before BatchNorm: with 4 channels, PyTorch's
// channels-last BatchNorm kernels are 13× slower than its NCHW ones (forward and backward at 224², batch
// 32: bf16 65 vs 5 ms, fp32 180 vs 13 ms), more than the convolution gains from channels-last.
torch::Tensor StudentNetImpl::forward(const torch::Tensor& x) {
  auto& conv = *layer1[0]->as<torch::nn::Conv2d>();
  auto& bn = *layer1[1]->as<torch::nn::BatchNorm2d>();
  torch::Tensor out;
  if (bn.is_training()) {
    convBn_.forget();  // this step changes the weights and statistics the pair folded
    out = batchNorm(bn, conv.forward(x).contiguous());
  } else {
    out = convBn_(conv, bn, x).contiguous();
  }
  out = maxPool2(out);  // layer1[3]
  return fc(out.relu_().flatten(1));
}

}  // namespace kdtorch
