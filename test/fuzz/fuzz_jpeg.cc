// libFuzzer target: native/core/jpeg_image.cc (libjpeg-turbo, EXIF walk, resize) on arbitrary bytes,
// at the default pixel limit, to grey and RGB targets, with and without shrink-on-load.
#include "../../native/core/jpeg_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  kdtorch::JpegTarget target;
  target.height = 16 + data[0] % 32;
  target.width = 16 + data[0] / 8 % 32;
  target.channels = data[0] & 1 ? 3 : 1;
  target.shrinkOnLoad = data[0] & 2;
  target.maxPixels = 89'478'485;  // lib/data/decode.ts DEFAULT_MAX_PIXELS
  std::string declined;
  try {
    kdtorch::decodeJpeg(data + 1, size - 1, target, declined);
  } catch (const kdtorch::ImageTooLargeError&) {
  }
  return 0;
}
