// A convolution followed by BatchNorm, as both networks use them.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "sync_batch_norm.h"

namespace kdtorch {

// bn(conv(x)), one per conv + BatchNorm pair of a network. In eval mode BatchNorm is a per-channel affine
// map of fixed statistics, so it is folded into the convolution's weights and bias (as torch.fx's
// fuse_conv_bn_eval and inference compilers do): one convolution writes the result, instead of a
// convolution writing an activation-sized tensor that BatchNorm reads and writes again. Results equal the
// unfolded layers up to float rounding (the tests hold eval logits to PyTorch's within 1e-4). Not under
// bf16 autocast: weights scaled before their rounding to bf16 round differently, and the logits moved 1.7×
// further from fp32 than torch.autocast's own (a ResNet-18 at 64²: 0.016 against 0.0096).
//
// Without autograd on the CPU the folded pair is kept between eval forwards: folding reads and writes
// every weight, and kept, a ResNet-18's batch-1 forward at 64² went from 11.1 to 9.1 ms on a 2-core CPU.
// What changes the six tensors in kdtorch is a training step, whose training forward drops the pair
// (forget(): the step's BatchNorm statistics and its fused optimizer write in place without bumping a
// version counter), loading weights (copy_: a new version) and a move (other memory); the pair also
// remembers which tensor, memory and version it folded, and folds again when one differs. It costs a
// copy of the convolution weights while the model serves. Not on CUDA: a step graph captures the fold's
// kernels, and a replay must never read a cached pair that a later change freed.
class ConvBn {
 public:
  torch::Tensor operator()(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
    if (bn.is_training() || at::autocast::is_autocast_enabled(x.device().type())) {
      forget();
      return batchNorm(bn, conv.forward(x));
    }
    const std::array<const torch::Tensor*, 6> sources{&conv.weight, &conv.bias,       &bn.weight,
                                                      &bn.bias,     &bn.running_mean, &bn.running_var};
    // An inference tensor has no version to watch: tensors made under InferenceMode are folded each call.
    const auto watchable = [](const torch::Tensor* t) { return !t->defined() || !t->is_inference(); };
    if (torch::GradMode::is_enabled() || !x.device().is_cpu() ||
        !std::all_of(sources.begin(), sources.end(), watchable)) {
      const auto [weight, bias] = fold(conv, bn);
      return convolve(conv, x, weight, bias);
    }
    std::array<Stamp, 6> stamps;
    for (size_t i = 0; i < sources.size(); ++i) stamps[i] = Stamp::of(*sources[i]);
    if (!weight_.defined() || stamps != stamps_ || eps_ != bn.options.eps()) {
      std::tie(weight_, bias_) = fold(conv, bn);
      stamps_ = stamps;
      eps_ = bn.options.eps();
    }
    return convolve(conv, x, weight_, bias_);
  }

  // Drops the kept pair: the next eval forward folds anew. Every training forward of the layers calls it.
  void forget() { weight_ = bias_ = torch::Tensor(); }

 private:
  // What a tensor is now: which tensor, over which memory, at which in-place version.
  struct Stamp {
    const void* tensor = nullptr;
    const void* data = nullptr;
    int64_t version = -1;
    static Stamp of(const torch::Tensor& t) {
      return t.defined() ? Stamp{t.unsafeGetTensorImpl(), t.data_ptr(), t._version()} : Stamp{};
    }
    bool operator==(const Stamp& other) const {
      return tensor == other.tensor && data == other.data && version == other.version;
    }
    bool operator!=(const Stamp& other) const { return !(*this == other); }
  };

  static std::pair<torch::Tensor, torch::Tensor> fold(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn) {
    const auto scale = bn.weight * torch::rsqrt(bn.running_var + bn.options.eps());
    const auto weight = conv.weight * scale.reshape({-1, 1, 1, 1});  // keeps the weight's memory format
    const auto shift = bn.bias - bn.running_mean * scale;
    return {weight, conv.bias.defined() ? conv.bias * scale + shift : shift};
  }

  static torch::Tensor convolve(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias) {
    const auto& o = conv.options;
    return torch::conv2d(x, weight, bias, o.stride(), std::get<torch::ExpandingArray<2>>(o.padding()), o.dilation(),
                         o.groups());
  }

  torch::Tensor weight_, bias_;
  std::array<Stamp, 6> stamps_;
  double eps_ = 0;
};

}  // namespace kdtorch
