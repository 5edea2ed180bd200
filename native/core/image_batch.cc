#include "image_batch.h"

#include <stdexcept>

#include "named_tensors.h"
#include "runtime.h"

namespace kdtorch {

namespace {

void checkPixels(const torch::Tensor& nhwc, const torch::Tensor& flip, const PixelNormalization& norm) {
  if (nhwc.dim() != 4) throw std::invalid_argument("pixels must be [N, H, W, C], got " + c10::str(nhwc.sizes()));
  const int64_t channels = nhwc.size(3);
  if (static_cast<int64_t>(norm.mean.size()) != channels || static_cast<int64_t>(norm.std.size()) != channels) {
    throw std::invalid_argument("mean and std need one value per channel (" + std::to_string(channels) + ")");
  }
  if (flip.numel() != nhwc.size(0)) throw std::invalid_argument("flip needs one flag per image");
}

// The pixels on `device`, flipped where asked, as float N×C×H×W in pixel units. The flip works on a
// copy: on the CPU the pixels are the caller's buffer, which must come back as it went in.
torch::Tensor flippedFloat(const torch::Tensor& nhwc, const torch::Tensor& flip, const c10::Device& device) {
  const auto on = torch::TensorOptions().device(device);
  // Transposed to NCHW while still uint8 (a quarter of the bytes), so the float result is contiguous:
  // a permuted (channels-last) result sent the student's convolution down a path 2x slower on CPU. The
  // copy is made even where the permuted view is already contiguous (one channel).
  auto x = toDevice(nhwc, on).permute({0, 3, 1, 2}).clone(at::MemoryFormat::Contiguous);
  const auto flipped = toDevice(flip.nonzero().squeeze(1), on);
  if (flipped.numel() > 0) x.index_put_({flipped}, x.index({flipped}).flip({3}));
  return x.to(torch::kFloat32);
}

std::vector<ViewParams> sampleViews(const Augmentation& augment, int64_t images, int64_t height, int64_t width) {
  if (static_cast<int64_t>(augment.seeds.size()) != images) {
    throw std::invalid_argument("augmentation needs one view seed per image");
  }
  std::vector<ViewParams> views;
  views.reserve(images);
  for (const auto seed : augment.seeds) views.push_back(sampleView(augment.spec, seed, height, width));
  return views;
}

// 255 × mean: what RandomErasing(value=0) after Normalize writes, in pixel units.
std::vector<double> erasingFill(const PixelNormalization& norm) {
  std::vector<double> fill;
  for (const double mean : norm.mean) fill.push_back(255.0 * mean);
  return fill;
}

}  // namespace

torch::Tensor pixelsToInput(const torch::Tensor& nhwc, const torch::Tensor& flip, const PixelNormalization& norm,
                            const c10::Device& device, const Augmentation* augment) {
  checkPixels(nhwc, flip, norm);
  const int64_t channels = nhwc.size(3);
  auto x = flippedFloat(nhwc, flip, device);
  if (augment && augment->spec.any()) {
    x = applyViews(x, sampleViews(*augment, nhwc.size(0), nhwc.size(1), nhwc.size(2)), augment->spec,
                   erasingFill(norm));
  }
  // Per channel, scale then shift, in one tensor: one copy to the device per batch, not two.
  std::vector<double> coefficients(2 * channels);
  for (int64_t c = 0; c < channels; ++c) {
    coefficients[c] = 1.0 / (255.0 * norm.std[c]);
    coefficients[channels + c] = -norm.mean[c] / norm.std[c];
  }
  const auto on = torch::TensorOptions().device(device);
  const auto scaleShift = toDevice(torch::tensor(coefficients, torch::kFloat32), on).view({2, 1, channels, 1, 1});
  return torch::addcmul(scaleShift[1], x, scaleShift[0]);
}

std::pair<torch::Tensor, std::vector<ViewParams>> augmentedPixels(const torch::Tensor& nhwc, const torch::Tensor& flip,
                                                                  const PixelNormalization& norm,
                                                                  const Augmentation& augment) {
  checkPixels(nhwc, flip, norm);
  auto views = sampleViews(augment, nhwc.size(0), nhwc.size(1), nhwc.size(2));
  auto x = flippedFloat(nhwc, flip, torch::kCPU);
  return {applyViews(x, views, augment.spec, erasingFill(norm)), std::move(views)};
}

PixelStore::PixelStore(int64_t count, int64_t height, int64_t width, int64_t channels, const c10::Device& device) {
  try {
    pixels_ =
        torch::empty({count, height, width, channels}, torch::TensorOptions().dtype(torch::kUInt8).device(device));
  } catch (const c10::Error& error) {
    // An empty tensor of positive sizes fails only for want of memory: CUDA's allocator says so with
    // OutOfMemoryError, the CPU's with a plain enforce failure; both become E_OUT_OF_MEMORY.
    throw CodedError("E_OUT_OF_MEMORY", std::string("pixel store of ") + std::to_string(count) +
                                            " images: " + error.what_without_backtrace());
  }
}

void PixelStore::put(int64_t first, const uint8_t* pixels, int64_t images) {
  if (first < 0 || images < 0 || first + images > pixels_.size(0)) {
    throw std::invalid_argument("pixel store rows " + std::to_string(first) + ".." + std::to_string(first + images) +
                                " are outside its " + std::to_string(pixels_.size(0)) + " rows");
  }
  auto sizes = pixels_.sizes().vec();
  sizes[0] = images;
  const auto source = torch::from_blob(const_cast<uint8_t*>(pixels), sizes, torch::kUInt8);
  pixels_.narrow(0, first, images).copy_(source);
}

torch::Tensor PixelStore::gather(const torch::Tensor& indices) const {
  // Checked on the host, where the indices come from: a check on the device would wait for it.
  const auto rows = indices.to(torch::kCPU, torch::kInt64);
  if (rows.numel() > 0 && (rows.min().item<int64_t>() < 0 || rows.max().item<int64_t>() >= pixels_.size(0))) {
    throw std::invalid_argument("pixel store row index out of range 0.." + std::to_string(pixels_.size(0) - 1));
  }
  return pixels_.index_select(0, toDevice(rows, torch::TensorOptions().device(pixels_.device())));
}

}  // namespace kdtorch
