#include "jpeg_image.h"

#include <algorithm>
#include <condition_variable>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <mutex>

// After <cstdio>: jpeglib.h uses FILE without declaring it.
#include <jpeglib.h>

#include "resize.h"

namespace kdtorch {

ImageTooLargeError::ImageTooLargeError(uint64_t width, uint64_t height, uint64_t limit)
    : std::runtime_error("its header declares " + std::to_string(width) + "×" + std::to_string(height) + " = " +
                         std::to_string(width * height) + " pixels, more than the limit of " + std::to_string(limit) +
                         " (data.maxPixels; raise it if the image is genuine)") {}

namespace {

// The process-wide budget of decoded bytes in flight (kDecodeBudgetBytes).
class DecodeBudget {
 public:
  uint64_t acquire(uint64_t bytes) {
    bytes = std::min(bytes, kDecodeBudgetBytes);
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] { return used_ + bytes <= kDecodeBudgetBytes; });
    used_ += bytes;
    return bytes;
  }
  void release(uint64_t bytes) {
    if (bytes == 0) return;
    {
      std::lock_guard lock(mutex_);
      used_ -= bytes;
    }
    freed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable freed_;
  uint64_t used_ = 0;
};

DecodeBudget& decodeBudget() {
  static DecodeBudget budget;
  return budget;
}

// libjpeg reports errors through a callback that must not return; the documented way out is a
// longjmp back to decodeJpeg. Warnings (corrupt or truncated data that libjpeg would patch over)
// end the decode too: sharp then decides, so bad files are reported exactly as before.
// jpeg_std_error() is not used: its object in Debian's libjpeg.a refers to stderr in a way that
// cannot go into a shared object, and the English messages are not needed (sharp words the errors).
struct ErrorExit {
  jpeg_error_mgr manager{};
  std::jmp_buf jump;
  int code = 0;
};

void onError(j_common_ptr cinfo) {
  auto* exit = reinterpret_cast<ErrorExit*>(cinfo->err);
  exit->code = cinfo->err->msg_code;
  std::longjmp(exit->jump, 1);
}

void onMessage(j_common_ptr cinfo, int level) {
  if (level < 0) onError(cinfo);  // -1: a warning; >= 0: trace messages, ignored
}

void ignoreMessage(j_common_ptr) {}
void formatCode(j_common_ptr cinfo, char* buffer) {
  std::snprintf(buffer, JMSG_LENGTH_MAX, "libjpeg message %d", cinfo->err->msg_code);
}

void installErrorExit(ErrorExit& error) {
  error.manager.error_exit = onError;
  error.manager.emit_message = onMessage;
  error.manager.output_message = ignoreMessage;
  error.manager.format_message = formatCode;
  error.manager.reset_error_mgr = ignoreMessage;
}

uint16_t read16(const uint8_t* p, bool bigEndian) {
  return bigEndian ? static_cast<uint16_t>(p[0] << 8 | p[1]) : static_cast<uint16_t>(p[1] << 8 | p[0]);
}

uint32_t read32(const uint8_t* p, bool bigEndian) {
  return bigEndian ? static_cast<uint32_t>(read16(p, true)) << 16 | read16(p + 2, true)
                   : static_cast<uint32_t>(read16(p + 2, false)) << 16 | read16(p, false);
}

// The EXIF orientation (1–8) in an APP1 marker; 1 when there is none; 0 when the EXIF block
// cannot be read (declined: libvips may read what we cannot).
int exifOrientation(const jpeg_decompress_struct& cinfo) {
  for (auto* marker = cinfo.marker_list; marker != nullptr; marker = marker->next) {
    const uint8_t* exif = marker->data;
    const size_t length = marker->data_length;
    if (marker->marker != JPEG_APP0 + 1 || length < 6 || std::memcmp(exif, "Exif\0\0", 6) != 0) continue;
    const uint8_t* tiff = exif + 6;
    const size_t size = length - 6;
    if (size < 8 || !(tiff[0] == tiff[1] && (tiff[0] == 'I' || tiff[0] == 'M'))) return 0;
    const bool big = tiff[0] == 'M';
    const uint32_t ifd = read32(tiff + 4, big);
    if (ifd > size - 2) return 0;
    const uint16_t entries = read16(tiff + ifd, big);
    if (ifd + 2 + static_cast<size_t>(entries) * 12 > size) return 0;
    for (uint16_t i = 0; i < entries; ++i) {
      const uint8_t* entry = tiff + ifd + 2 + i * 12;
      if (read16(entry, big) == 0x0112) return read16(entry + 2, big) == 3 ? read16(entry + 8, big) : 0;
    }
    return 1;
  }
  return 1;
}

// The largest libjpeg scale (1/8, 1/4, 1/2) that still leaves at least twice the target size, so
// the antialiasing resize after it has pixels to average, as the full-size decode would.
int shrinkDenominator(const jpeg_decompress_struct& cinfo, const JpegTarget& target) {
  if (!target.shrinkOnLoad) return 1;
  for (int denominator : {8, 4, 2}) {
    const auto scaled = [denominator](JDIMENSION size) { return (size + denominator - 1) / denominator; };
    if (scaled(cinfo.image_width) >= 2u * target.width && scaled(cinfo.image_height) >= 2u * target.height) {
      return denominator;
    }
  }
  return 1;
}

// Everything that touches libjpeg: no object with a destructor lives in this frame, so the
// longjmp from onError skips nothing.
bool readPixels(jpeg_decompress_struct& cinfo, ErrorExit& error, const uint8_t* data, size_t size,
                const JpegTarget& target, std::vector<uint8_t>& pixels, int& width, int& height, int& channels,
                std::string& declined, uint64_t& reserved, bool& tooLarge) {
  if (setjmp(error.jump)) {
    declined = "libjpeg message " + std::to_string(error.code) + " (see jerror.h)";
    return false;
  }
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  if (target.maxPixels > 0 && static_cast<uint64_t>(cinfo.image_width) * cinfo.image_height > target.maxPixels) {
    tooLarge = true;
    return false;
  }
  if (exifOrientation(cinfo) != 1) {
    declined = "EXIF orientation to apply";
    return false;
  }
  if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    cinfo.out_color_space = JCS_GRAYSCALE;  // expanded to RGB after resizing: 1/3 of the work
  } else if ((cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB) && target.channels == 3) {
    cinfo.out_color_space = JCS_RGB;
  } else {
    declined = "colour space this decoder leaves to libvips";
    return false;
  }
  cinfo.scale_num = 1;
  cinfo.scale_denom = shrinkDenominator(cinfo, target);
  jpeg_start_decompress(&cinfo);
  width = static_cast<int>(cinfo.output_width);
  height = static_cast<int>(cinfo.output_height);
  channels = cinfo.output_components;
  reserved = decodeBudget().acquire(static_cast<uint64_t>(width) * height * channels);
  pixels.resize(static_cast<size_t>(width) * height * channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = &pixels[static_cast<size_t>(cinfo.output_scanline) * width * channels];
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

}  // namespace

std::optional<std::vector<uint8_t>> decodeJpeg(const uint8_t* data, size_t size, const JpegTarget& target,
                                               std::string& declined) {
  jpeg_decompress_struct cinfo;
  ErrorExit error;
  installErrorExit(error);
  cinfo.err = &error.manager;
  jpeg_create_decompress(&cinfo);
  std::vector<uint8_t> decoded;
  int width = 0, height = 0, channels = 0;
  uint64_t reserved = 0;
  bool tooLarge = false;
  const bool ok =
      readPixels(cinfo, error, data, size, target, decoded, width, height, channels, declined, reserved, tooLarge);
  const uint64_t declaredWidth = cinfo.image_width, declaredHeight = cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  if (tooLarge) throw ImageTooLargeError(declaredWidth, declaredHeight, target.maxPixels);
  if (!ok) {
    decodeBudget().release(reserved);
    return std::nullopt;
  }
  struct Release {
    uint64_t bytes;
    ~Release() { decodeBudget().release(bytes); }
  } release{reserved};  // the resize below still reads `decoded`

  std::vector<uint8_t> out(static_cast<size_t>(target.width) * target.height * target.channels);
  if (channels == target.channels) {
    resizeLikePillow(decoded.data(), width, height, channels, out.data(), target.width, target.height);
    return out;
  }
  // Grey to RGB: resize the one channel, then copy it to all three, as convert("RGB") would before.
  std::vector<uint8_t> grey(static_cast<size_t>(target.width) * target.height);
  resizeLikePillow(decoded.data(), width, height, 1, grey.data(), target.width, target.height);
  for (size_t i = 0; i < grey.size(); ++i) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = grey[i];
  return out;
}

}  // namespace kdtorch
