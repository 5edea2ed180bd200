// A convolution followed by BatchNorm, as both networks use them.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

namespace kdtorch {

// bn(conv(x)). In eval mode BatchNorm is a per-channel affine map of fixed statistics, so it is folded
// into the convolution's weights and bias (as torch.fx's fuse_conv_bn_eval and inference compilers do):
// one convolution writes the result, instead of a convolution writing an activation-sized tensor that
// BatchNorm reads and writes again. The folded weights are a few thousand values per layer, made anew
// each call, so loading weights or switching modes needs no bookkeeping. Results equal the unfolded
// layers up to float rounding (the tests hold eval logits to PyTorch's within 1e-4). Not under bf16
// autocast: weights scaled before their rounding to bf16 round differently, and the logits moved 1.7×
// further from fp32 than torch.autocast's own (a ResNet-18 at 64²: 0.016 against 0.0096).
inline torch::Tensor convBn(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (bn.is_training() || at::autocast::is_autocast_enabled(x.device().type())) return bn.forward(conv.forward(x));
  const auto scale = bn.weight * torch::rsqrt(bn.running_var + bn.options.eps());
  const auto weight = conv.weight * scale.reshape({-1, 1, 1, 1});  // keeps the weight's memory format
  const auto shift = bn.bias - bn.running_mean * scale;
  const auto bias = conv.bias.defined() ? conv.bias * scale + shift : shift;
  const auto& o = conv.options;
  return torch::conv2d(x, weight, bias, o.stride(), std::get<torch::ExpandingArray<2>>(o.padding()), o.dilation(),
                       o.groups());
}

}  // namespace kdtorch
