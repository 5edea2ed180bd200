#include "resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace kdtorch {
namespace {

// Pillow keeps 8 bits for the result and 2 for overflow (Resample.c, PRECISION_BITS).
constexpr int kPrecisionBits = 32 - 8 - 2;

// One output coordinate's source window [first, first + count) and its fixed-point weights.
struct Taps {
  int size = 0;  // weights per output coordinate (Pillow's ksize)
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // size per output coordinate
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1) over the
// whole input (box 0..inSize), step for step: the same doubles, casts and rounding.
Taps computeTaps(int inSize, int outSize) {
  const double scale = static_cast<double>(inSize) / outSize;
  const double filterScale = std::max(scale, 1.0);
  const double support = 1.0 * filterScale;
  Taps taps;
  taps.size = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(outSize);
  taps.count.resize(outSize);
  taps.weights.assign(static_cast<size_t>(outSize) * taps.size, 0);
  std::vector<double> k(taps.size);
  for (int xx = 0; xx < outSize; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double inverse = 1.0 / filterScale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), inSize) - xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double distance = std::abs((x + xmin - center + 0.5) * inverse);
      k[x] = distance < 1.0 ? 1.0 - distance : 0.0;
      sum += k[x];
    }
    int32_t* weights = &taps.weights[static_cast<size_t>(xx) * taps.size];
    for (int x = 0; x < xmax; ++x) {
      const double w = sum != 0.0 ? k[x] / sum : k[x];
      weights[x] = static_cast<int32_t>((w < 0 ? -0.5 : 0.5) + w * (1 << kPrecisionBits));
    }
    taps.first[xx] = xmin;
    taps.count[xx] = xmax;
  }
  return taps;
}

inline uint8_t clip8(int32_t sum) { return static_cast<uint8_t>(std::clamp(sum >> kPrecisionBits, 0, 255)); }

}  // namespace

void resizeLikePillow(const uint8_t* in, int inWidth, int inHeight, int channels, uint8_t* out, int outWidth,
                      int outHeight) {
  const size_t rowBytes = static_cast<size_t>(outWidth) * channels;
  if (inWidth == outWidth && inHeight == outHeight) {
    if (in != out) std::memcpy(out, in, rowBytes * outHeight);
    return;
  }
  const int32_t half = 1 << (kPrecisionBits - 1);
  const Taps vertical = computeTaps(inHeight, outHeight);
  // Pillow resizes horizontally first, only over the rows the vertical pass will read.
  const int firstRow = vertical.first.front();
  const int lastRow = vertical.first.back() + vertical.count.back();
  std::vector<uint8_t> temp;
  // What the vertical pass reads: rows of outWidth pixels, row 0 being input row `rowOffset`.
  const uint8_t* source = in;
  int rowOffset = 0;
  if (inWidth != outWidth) {
    const Taps horizontal = computeTaps(inWidth, outWidth);
    temp.resize(rowBytes * (lastRow - firstRow));
    for (int y = firstRow; y < lastRow; ++y) {
      const uint8_t* row = in + static_cast<size_t>(y) * inWidth * channels;
      uint8_t* dst = &temp[(y - firstRow) * rowBytes];
      for (int xx = 0; xx < outWidth; ++xx) {
        const int32_t* k = &horizontal.weights[static_cast<size_t>(xx) * horizontal.size];
        const uint8_t* src = row + static_cast<size_t>(horizontal.first[xx]) * channels;
        for (int c = 0; c < channels; ++c) {
          int32_t sum = half;
          for (int x = 0; x < horizontal.count[xx]; ++x) sum += src[x * channels + c] * k[x];
          dst[xx * channels + c] = clip8(sum);
        }
      }
    }
    source = temp.data();
    rowOffset = firstRow;
  }
  if (inHeight == outHeight) {
    std::memcpy(out, source, rowBytes * outHeight);
    return;
  }
  std::vector<int32_t> sums(rowBytes);
  for (int yy = 0; yy < outHeight; ++yy) {
    const int32_t* k = &vertical.weights[static_cast<size_t>(yy) * vertical.size];
    std::fill(sums.begin(), sums.end(), half);
    // Row by row over the window: the inner loop runs along memory, and the integer sums are the
    // same as Pillow's column-by-column order (addition of integers is exact).
    for (int y = 0; y < vertical.count[yy]; ++y) {
      const uint8_t* src = source + (vertical.first[yy] + y - rowOffset) * rowBytes;
      for (size_t i = 0; i < rowBytes; ++i) sums[i] += src[i] * k[y];
    }
    uint8_t* dst = out + yy * rowBytes;
    for (size_t i = 0; i < rowBytes; ++i) dst[i] = clip8(sums[i]);
  }
}

}  // namespace kdtorch
