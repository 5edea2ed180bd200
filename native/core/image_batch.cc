#include "image_batch.h"

#include <stdexcept>

namespace kdtorch {

torch::Tensor pixelsToInput(const torch::Tensor& nhwc, const torch::Tensor& flip, const PixelNormalization& norm,
                            const c10::Device& device) {
  if (nhwc.dim() != 4) throw std::invalid_argument("pixels must be [N, H, W, C], got " + c10::str(nhwc.sizes()));
  const int64_t channels = nhwc.size(3);
  if (static_cast<int64_t>(norm.mean.size()) != channels || static_cast<int64_t>(norm.std.size()) != channels) {
    throw std::invalid_argument("mean and std need one value per channel (" + std::to_string(channels) + ")");
  }
  if (flip.numel() != nhwc.size(0)) throw std::invalid_argument("flip needs one flag per image");
  auto x = nhwc.to(device, /*non_blocking=*/true);
  const auto flipped = flip.nonzero().squeeze(1).to(device);
  if (flipped.numel() > 0) x.index_put_({flipped}, x.index({flipped}).flip({2}));
  std::vector<double> scale(channels), shift(channels);
  for (int64_t c = 0; c < channels; ++c) {
    scale[c] = 1.0 / (255.0 * norm.std[c]);
    shift[c] = -norm.mean[c] / norm.std[c];
  }
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto s = torch::tensor(scale, options).view({1, channels, 1, 1});
  const auto b = torch::tensor(shift, options).view({1, channels, 1, 1});
  // Transposed to NCHW while still uint8 (a quarter of the bytes), so the float result is contiguous:
  // a permuted (channels-last) result sent the student's convolution down a path 2x slower on CPU.
  return torch::addcmul(b, x.permute({0, 3, 1, 2}).contiguous().to(torch::kFloat32), s);
}

}  // namespace kdtorch
