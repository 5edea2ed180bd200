// Resizing uint8 images exactly as Pillow's Image.resize(size, BILINEAR) does, which is what
// torchvision's transforms.Resize((H, W)) runs on PIL images: a triangle filter widened by the
// scale factor (antialiasing when shrinking), separable, in 22-bit fixed point. Same arithmetic,
// same rounding, so the same input gives the same bytes.
#pragma once
#include <cstdint>

namespace kdtorch {

// `in` and `out` are interleaved H×W×channels. `in` may be `out` only when the sizes are equal.
void resizeLikePillow(const uint8_t* in, int inWidth, int inHeight, int channels, uint8_t* out, int outWidth,
                      int outHeight);

}  // namespace kdtorch
