// Images as the data loader hands them over: uint8 NHWC pixels straight from the decode cache, with
// a horizontal-flip flag per image. Turning them into normalised float NCHW happens here, on the
// model's device, so the host moves a quarter of the bytes and no JS loop touches every pixel.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace kdtorch {

struct PixelNormalization {
  std::vector<double> mean, std;  // per channel, in [0, 1] units as torchvision's Normalize
};

// (pixels / 255 - mean) / std, flipped where `flip` (uint8, one per image) is non-zero; float32
// N×C×H×W in channels-last memory (the layout NHWC pixels give for free) on `device`.
torch::Tensor pixelsToInput(const torch::Tensor& nhwc, const torch::Tensor& flip, const PixelNormalization& norm,
                            const c10::Device& device);

}  // namespace kdtorch
