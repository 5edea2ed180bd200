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
#include <stdexcept>
#include <string>
#include <vector>

namespace kdtorch {

struct JpegTarget {
  int height = 0, width = 0;
  int channels = 3;           // 3: grey expanded to RGB as PIL's convert("RGB"); 1: grey JPEGs only
  bool shrinkOnLoad = false;  // let libjpeg scale by 1/2, 1/4 or 1/8 while decoding a large image
  uint64_t maxPixels = 0;     // width × height the header may declare; 0: no limit
};

// A header declaring more pixels than JpegTarget::maxPixels: refused before anything is allocated,
// as a 400-byte file may declare 60000×60000.
struct ImageTooLargeError : std::runtime_error {
  ImageTooLargeError(uint64_t width, uint64_t height, uint64_t limit);
};

// Decoded pixels in flight, all decodes of the process together, may not pass this many bytes: a
// pool thread whose image would pass it waits until others finish (an image larger than the whole
// budget waits until it runs alone).
constexpr uint64_t kDecodeBudgetBytes = uint64_t{1} << 30;

// H×W×channels uint8, or nothing with `declined` saying why (not a JPEG libjpeg decodes cleanly,
// CMYK, an EXIF orientation to apply, colour asked as 1 channel, ...). Throws ImageTooLargeError.
std::optional<std::vector<uint8_t>> decodeJpeg(const uint8_t* data, size_t size, const JpegTarget& target,
                                               std::string& declined);

}  // namespace kdtorch
