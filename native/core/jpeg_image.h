// Decoding JPEG files with libjpeg-turbo (linked statically into the addon) straight to the
// network's input size: the common case of every image dataset, done without libvips's per-image
// pipeline set-up, which cost more than the decoding itself on small X-rays. The result is what
// PIL's Image.open(f).convert("RGB") + transforms.Resize((H, W)) gives, byte for byte (the same
// islow IDCT and upsampling, then resize.h). Anything unusual is declined, not guessed: the caller
// decodes those files with sharp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kdtorch {

struct JpegTarget {
  int height = 0, width = 0;
  int channels = 3;           // 3: grey expanded to RGB as PIL's convert("RGB"); 1: grey JPEGs only
  bool shrinkOnLoad = false;  // let libjpeg scale by 1/2, 1/4 or 1/8 while decoding a large image
};

// H×W×channels uint8, or nothing with `declined` saying why (not a JPEG libjpeg decodes cleanly,
// CMYK, an EXIF orientation to apply, colour asked as 1 channel, ...).
std::optional<std::vector<uint8_t>> decodeJpeg(const uint8_t* data, size_t size, const JpegTarget& target,
                                               std::string& declined);

}  // namespace kdtorch
