// Images as the data loader hands them over: uint8 NHWC pixels straight from the decode cache, with
// a horizontal-flip flag per image. Turning them into normalised float NCHW happens here, on the
// model's device, so the host moves a quarter of the bytes and no JS loop touches every pixel.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "augment.h"

namespace kdtorch {

struct PixelNormalization {
  std::vector<double> mean, std;  // per channel, in [0, 1] units as torchvision's Normalize
};

// The training augmentation of a batch: what is enabled, and each image's view seed.
struct Augmentation {
  AugmentSpec spec;
  std::vector<uint32_t> seeds;
};

// Flipped where `flip` (uint8, one per image) is non-zero, augmented when `augment` is given (each
// image's view drawn from its seed, augment.h), then normalised: (pixels / 255 - mean) / std, float32
// N×C×H×W on `device`.
torch::Tensor pixelsToInput(const torch::Tensor& nhwc, const torch::Tensor& flip, const PixelNormalization& norm,
                            const c10::Device& device, const Augmentation* augment = nullptr);

// The views `augment` gives the flipped pixels, in pixel units (0..255) before normalising, with the
// parameters sampled for each image: what the parity test hands to torchvision.
std::pair<torch::Tensor, std::vector<ViewParams>> augmentedPixels(const torch::Tensor& nhwc, const torch::Tensor& flip,
                                                                  const PixelNormalization& norm,
                                                                  const Augmentation& augment);

// Every image of a dataset, decoded, in one uint8 [N, H, W, C] tensor on a device (the GPU's memory
// for a GPU run): an epoch then sends only row indices and flip flags, and each batch is gathered,
// flipped and normalised where the model is. Rows are filled once, from the decode cache.
class PixelStore {
 public:
  PixelStore(int64_t count, int64_t height, int64_t width, int64_t channels, const c10::Device& device);

  // Copies `images` consecutive H×W×C images into rows first .. first + images - 1.
  void put(int64_t first, const uint8_t* pixels, int64_t images);
  // The rows `indices` (integers, on the host) as uint8 [n, H, W, C] on the store's device.
  torch::Tensor gather(const torch::Tensor& indices) const;

  const torch::Tensor& pixels() const { return pixels_; }

 private:
  torch::Tensor pixels_;
};

}  // namespace kdtorch
