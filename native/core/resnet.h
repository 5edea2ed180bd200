// ResNet-18 as torchvision.models.resnet18 builds it: module names are torchvision's state_dict
// keys (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc, ...), so weights move without a map.
#pragma once
#include <torch/torch.h>

#include "conv_bn.h"

namespace kdtorch {

struct BasicBlockImpl : torch::nn::Module {
  BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // 1x1 conv + BN where the shape changes, else absent

 private:
  ConvBn convBn1_, convBn2_, convBnDownsample_;
};
TORCH_MODULE(BasicBlock);

struct ResNet18Impl : torch::nn::Module {
  explicit ResNet18Impl(int64_t numClasses, int64_t inChannels = 3);
  torch::Tensor forward(const torch::Tensor& x);
  // Multiply-adds of one image's forward (convolutions and fc; 1.81 G at 224², 3 channels).
  static int64_t multiplyAdds(int64_t inChannels, int64_t numClasses, int64_t height, int64_t width);

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  torch::nn::Sequential makeLayer(int64_t& inplanes, int64_t planes, int64_t stride);
  ConvBn convBn1_;
};
TORCH_MODULE(ResNet18);

}  // namespace kdtorch
