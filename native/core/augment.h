// Training augmentation with torchvision's semantics, run batched on the model's device over the
// cached uint8 pixels: RandomResizedCrop, RandomAffine, RandomRotation, ColorJitter and RandomErasing
// (the horizontal flip stays with the flip flags, image_batch.h). Each image's parameters are a pure
// function of a 32-bit view seed the data loader gives it, so a view is reproducible anywhere — a
// resumed run, the teacher-output cache's precomputed views, the parity test's PyTorch side.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace kdtorch {

struct Range {
  double lo, hi;
};

// What is enabled, with torchvision's parameter names and meanings; a transform left empty is off.
struct AugmentSpec {
  struct ResizedCrop {
    Range scale, ratio;  // share of the area, width/height (sampled on a log scale)
  };
  struct Affine {
    double degrees;                 // angle in [-degrees, degrees], clockwise (F.affine)
    double translateX, translateY;  // largest shift, as a share of the width / height
    Range scale;                    // zoom factor
    Range shearX, shearY;           // degrees
  };
  struct ColorJitter {
    double brightness, contrast, saturation;  // factor in [max(0, 1 - v), 1 + v]; 0 leaves it out
  };
  struct Erasing {
    double p;
    Range scale, ratio;
  };
  std::optional<ResizedCrop> resizedCrop;
  std::optional<Affine> affine;
  std::optional<double> rotation;  // degrees: angle in [-rotation, rotation], counter-clockwise (F.rotate)
  std::optional<ColorJitter> colorJitter;
  std::optional<Erasing> erasing;
  bool bilinear = true;  // the interpolation of affine and rotation; false: nearest (torchvision's default)

  bool any() const { return resizedCrop || affine || rotation || colorJitter || erasing; }
};

// One image's sampled parameters, in the form torchvision.transforms.v2.functional takes them.
struct ViewParams {
  std::array<int64_t, 4> crop{};  // top, left, height, width (the whole image when resizedCrop is off)
  double angle = 0, translateX = 0, translateY = 0, scale = 1, shearX = 0, shearY = 0;  // F.affine
  double rotation = 0;                                                                  // F.rotate
  double brightness = 1, contrast = 1, saturation = 1;
  std::array<int, 3> colorOrder{0, 1, 2};  // 0 brightness, 1 contrast, 2 saturation: the order applied
  std::array<int64_t, 4> erase{};          // top, left, height, width; height 0: nothing erased
};

ViewParams sampleView(const AugmentSpec& spec, uint32_t seed, int64_t height, int64_t width);

// The augmented images: `images` float N×C×H×W in pixel units (0..255), `params` one per image; the
// result has the same size (RandomResizedCrop resizes back to it). Erased rectangles get `fill` per
// channel: 255 × the normalisation mean makes them 0 after normalising, as RandomErasing(value=0)
// placed after Normalize does.
torch::Tensor applyViews(const torch::Tensor& images, const std::vector<ViewParams>& params, const AugmentSpec& spec,
                         const std::vector<double>& fill);

}  // namespace kdtorch
