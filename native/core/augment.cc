#include "augment.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace kdtorch {
namespace {

constexpr double kPi = 3.14159265358979323846;

// SplitMix64 (Steele et al. 2014) from the view seed: a view's parameters depend on its seed alone,
// not on what other images or threads drew before it.
class ViewRandom {
 public:
  explicit ViewRandom(uint32_t seed) : state_(0x9e3779b97f4a7c15ull * (static_cast<uint64_t>(seed) + 1)) {}

  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double uniform(const Range& range) { return uniform(range.lo, range.hi); }
  // An integer in [lo, hi), as torch.randint(lo, hi).
  int64_t integer(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(uniform() * static_cast<double>(hi - lo));
  }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

// One try of torchvision's box sampling (RandomResizedCrop, RandomErasing): an area share from `scale`
// and an aspect ratio log-uniform in `ratio`; returns (round √(area · aspect), round √(area / aspect)).
std::pair<int64_t, int64_t> sampleSides(ViewRandom& random, const Range& scale, const Range& ratio, double area) {
  const double target = area * random.uniform(scale);
  const double aspect = std::exp(random.uniform(std::log(ratio.lo), std::log(ratio.hi)));
  return {static_cast<int64_t>(std::round(std::sqrt(target * aspect))),
          static_cast<int64_t>(std::round(std::sqrt(target / aspect)))};
}

// An h×w box at a uniform position inside the image: {top, left, h, w}.
std::array<int64_t, 4> place(ViewRandom& random, int64_t h, int64_t w, int64_t height, int64_t width) {
  const int64_t top = random.integer(0, height - h + 1);
  return {top, random.integer(0, width - w + 1), h, w};
}

// RandomResizedCrop.make_params: ten tries at an area share and aspect ratio, then a central crop.
std::array<int64_t, 4> sampleCrop(ViewRandom& random, const AugmentSpec::ResizedCrop& crop, int64_t height,
                                  int64_t width) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    const auto [w, h] = sampleSides(random, crop.scale, crop.ratio, static_cast<double>(height * width));
    if (0 < w && w <= width && 0 < h && h <= height) return place(random, h, w, height, width);
  }
  const double inRatio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (inRatio < crop.ratio.lo) {
    h = static_cast<int64_t>(std::round(static_cast<double>(w) / crop.ratio.lo));
  } else if (inRatio > crop.ratio.hi) {
    w = static_cast<int64_t>(std::round(static_cast<double>(h) * crop.ratio.hi));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

// RandomErasing: applied with probability p; ten tries (note h and w swap roles), none that fits
// erases nothing.
std::array<int64_t, 4> sampleErase(ViewRandom& random, const AugmentSpec::Erasing& erasing, int64_t height,
                                   int64_t width) {
  if (random.uniform() >= erasing.p) return {0, 0, 0, 0};
  for (int attempt = 0; attempt < 10; ++attempt) {
    const auto [h, w] = sampleSides(random, erasing.scale, erasing.ratio, static_cast<double>(height * width));
    if (h < height && w < width) return place(random, h, w, height, width);
  }
  return {0, 0, 0, 0};
}

// torchvision's _get_inverse_affine_matrix about the image centre: output pixel → input pixel, in
// coordinates centred on the image.
std::array<double, 6> inverseAffine(double angle, double tx, double ty, double scale, double shearX, double shearY) {
  const double rot = angle * kPi / 180, sx = shearX * kPi / 180, sy = shearY * kPi / 180;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -(a * std::tan(sx) + std::sin(rot));
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = std::cos(rot) - c * std::tan(sx);
  std::array<double, 6> m{d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0};
  m[2] -= m[0] * tx + m[1] * ty;
  m[5] -= m[3] * tx + m[4] * ty;
  return m;
}

// F.affine's grid transform for a batch of matrices: torchvision's _affine_grid (pixel-centred base
// grid, theta scaled by half the size), grid_sample with zero padding, and fill 0 as RandomAffine's
// default gives it — the sample of a ones channel multiplies the result, darkening the border pixels
// that reach outside the image, exactly as torchvision's fill path does.
torch::Tensor gridTransform(const torch::Tensor& images, const std::vector<std::array<double, 6>>& matrices,
                            bool bilinear) {
  const int64_t n = images.size(0), height = images.size(2), width = images.size(3);
  const auto options = images.options();
  std::vector<float> theta;
  theta.reserve(n * 6);
  // theta transposed and divided by [w/2, h/2], laid out [n, 3, 2] for the bmm below.
  for (const auto& m : matrices) {
    const double sx = 0.5 * width, sy = 0.5 * height;
    const double t[6] = {m[0] / sx, m[3] / sy, m[1] / sx, m[4] / sy, m[2] / sx, m[5] / sy};
    theta.insert(theta.end(), t, t + 6);
  }
  const auto rescaled = torch::tensor(theta, torch::kFloat32).view({n, 3, 2}).to(options.device());
  const auto xs = torch::linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, width, options);
  const auto ys = torch::linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, height, options);
  const auto base = torch::stack({xs.view({1, width}).expand({height, width}),
                                  ys.view({height, 1}).expand({height, width}), torch::ones({height, width}, options)},
                                 -1)
                        .view({1, height * width, 3})
                        .expand({n, height * width, 3});
  const auto grid = torch::bmm(base, rescaled).view({n, height, width, 2});
  const auto withMask = torch::cat({images, torch::ones({n, 1, height, width}, options)}, 1);
  namespace F = torch::nn::functional;
  auto sampling = F::GridSampleFuncOptions().padding_mode(torch::kZeros).align_corners(false);
  if (bilinear) {
    sampling.mode(torch::kBilinear);
  } else {
    sampling.mode(torch::kNearest);
  }
  const auto sampled = F::grid_sample(withMask, grid, sampling);
  const auto channels = images.size(1);
  auto out = sampled.narrow(1, 0, channels);
  auto mask = sampled.narrow(1, channels, 1);
  if (bilinear) return out * mask;
  return out.masked_fill(mask < 0.5, 0.0);
}

// rgb_to_grayscale's luma ([N, 1, H, W]); a one-channel image is its own.
torch::Tensor grayscale(const torch::Tensor& images) {
  if (images.size(1) == 1) return images;
  return (images.select(1, 0) * 0.2989 + images.select(1, 1) * 0.587 + images.select(1, 2) * 0.114).unsqueeze(1);
}

// _blend(image, other, factor) per image: factor · image + (1 − factor) · other, clamped to the range.
torch::Tensor blend(const torch::Tensor& images, const torch::Tensor& other, const torch::Tensor& factor) {
  return (images * factor + other * (1 - factor)).clamp_(0, 255);
}

torch::Tensor perImage(const std::vector<float>& values, const torch::TensorOptions& options) {
  return torch::tensor(values, torch::kFloat32).view({-1, 1, 1, 1}).to(options.device());
}

}  // namespace

ViewParams sampleView(const AugmentSpec& spec, uint32_t seed, int64_t height, int64_t width) {
  ViewRandom random(seed);
  ViewParams view;
  view.crop = {0, 0, height, width};
  if (spec.resizedCrop) view.crop = sampleCrop(random, *spec.resizedCrop, height, width);
  if (spec.affine) {
    const auto& affine = *spec.affine;
    view.angle = random.uniform(-affine.degrees, affine.degrees);
    const double dx = affine.translateX * static_cast<double>(width),
                 dy = affine.translateY * static_cast<double>(height);
    view.translateX = std::round(random.uniform(-dx, dx));
    view.translateY = std::round(random.uniform(-dy, dy));
    view.scale = random.uniform(affine.scale);
    view.shearX = random.uniform(affine.shearX);
    view.shearY = random.uniform(affine.shearY);
  }
  if (spec.rotation) view.rotation = random.uniform(-*spec.rotation, *spec.rotation);
  if (spec.colorJitter) {
    const auto& jitter = *spec.colorJitter;
    const auto factor = [&](double v) { return v > 0 ? random.uniform(std::max(0.0, 1 - v), 1 + v) : 1.0; };
    // ColorJitter applies its adjustments in a random order (torch.randperm): Fisher–Yates here.
    for (int i = 2; i > 0; --i) std::swap(view.colorOrder[i], view.colorOrder[random.integer(0, i + 1)]);
    view.brightness = factor(jitter.brightness);
    view.contrast = factor(jitter.contrast);
    view.saturation = factor(jitter.saturation);
  }
  if (spec.erasing) view.erase = sampleErase(random, *spec.erasing, height, width);
  return view;
}

torch::Tensor applyViews(const torch::Tensor& images, const std::vector<ViewParams>& params, const AugmentSpec& spec,
                         const std::vector<double>& fill) {
  if (images.dim() != 4 || static_cast<int64_t>(params.size()) != images.size(0)) {
    throw std::invalid_argument("augmentation needs one view per image of an [N, C, H, W] batch");
  }
  const int64_t n = images.size(0), channels = images.size(1), height = images.size(2), width = images.size(3);
  const auto options = images.options();
  auto x = images;
  if (spec.resizedCrop) {
    // One antialiased resize per image (crops differ in size): F.resized_crop is a slice, then
    // interpolate(bilinear, antialias=True), which is _upsample_bilinear2d_aa.
    x = torch::empty_like(images);
    for (int64_t i = 0; i < n; ++i) {
      const auto& [top, left, h, w] = params[i].crop;
      auto crop = images.narrow(0, i, 1).narrow(2, top, h).narrow(3, left, w);
      x.narrow(0, i, 1).copy_(h == height && w == width
                                  ? crop
                                  : at::_upsample_bilinear2d_aa(crop, {height, width}, /*align_corners=*/false));
    }
  }
  if (spec.affine) {
    std::vector<std::array<double, 6>> matrices;
    for (const auto& p : params) {
      matrices.push_back(inverseAffine(p.angle, p.translateX, p.translateY, p.scale, p.shearX, p.shearY));
    }
    x = gridTransform(x, matrices, spec.bilinear);
  }
  if (spec.rotation) {
    // F.rotate turns counter-clockwise: F.affine's matrix with the angle negated.
    std::vector<std::array<double, 6>> matrices;
    for (const auto& p : params) matrices.push_back(inverseAffine(-p.rotation, 0, 0, 1, 0, 0));
    x = gridTransform(x, matrices, spec.bilinear);
  }
  if (spec.colorJitter) {
    // Three rounds; in round r each image gets its r-th adjustment, the other two at factor 1 (no-op).
    for (int round = 0; round < 3; ++round) {
      std::vector<float> factors[3];
      for (const auto& p : params) {
        const double values[3] = {p.brightness, p.contrast, p.saturation};
        for (int op = 0; op < 3; ++op) factors[op].push_back(p.colorOrder[round] == op ? values[op] : 1.0f);
      }
      x = (x * perImage(factors[0], options)).clamp_(0, 255);
      x = blend(x, grayscale(x).mean({1, 2, 3}, /*keepdim=*/true), perImage(factors[1], options));
      if (channels == 3) x = blend(x, grayscale(x), perImage(factors[2], options));
    }
  }
  if (spec.erasing) {
    if (static_cast<int64_t>(fill.size()) != channels) throw std::invalid_argument("erasing needs a fill per channel");
    std::vector<int64_t> boxes;
    for (const auto& p : params) boxes.insert(boxes.end(), p.erase.begin(), p.erase.end());
    const auto box = torch::tensor(boxes, torch::kInt64).view({n, 4, 1}).to(options.device());
    const auto rows = torch::arange(height, options.dtype(torch::kInt64)).view({1, height});
    const auto cols = torch::arange(width, options.dtype(torch::kInt64)).view({1, width});
    const auto inRows = (rows >= box.select(1, 0)) & (rows < box.select(1, 0) + box.select(1, 2));  // [n, H]
    const auto inCols = (cols >= box.select(1, 1)) & (cols < box.select(1, 1) + box.select(1, 3));  // [n, W]
    const auto erased = (inRows.unsqueeze(2) & inCols.unsqueeze(1)).unsqueeze(1);                   // [n, 1, H, W]
    const auto value = torch::tensor(std::vector<float>(fill.begin(), fill.end()), torch::kFloat32)
                           .view({1, channels, 1, 1})
                           .to(options.device());
    x = torch::where(erased, value, x);
  }
  return x;
}

}  // namespace kdtorch
