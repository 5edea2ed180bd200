#include "zip_directory.h"

#include <algorithm>
#include <fstream>

#include "named_tensors.h"

namespace kdtorch {
namespace {

constexpr uint32_t kEndSignature = 0x06054b50, kZip64LocatorSignature = 0x07064b50, kZip64EndSignature = 0x06064b50,
                   kEntrySignature = 0x02014b50;
constexpr uint64_t kEndSize = 22, kZip64LocatorSize = 20, kZip64EndSize = 56, kEntrySize = 46;
constexpr uint32_t kSaturated = 0xffffffff;  // a 32-bit field whose value is in the zip64 extra field
constexpr uint16_t kZip64ExtraId = 0x0001;

uint64_t le(const std::string& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = value << 8 | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

class File {
 public:
  File(const std::string& path, uint64_t size) : in_(path, std::ios::binary), size_(size) {}
  // `length` bytes at `offset`, or an empty string when they are not all inside the file.
  std::string read(uint64_t offset, uint64_t length) {
    if (offset > size_ || length > size_ - offset) return {};
    std::string bytes(length, '\0');
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(bytes.data(), static_cast<std::streamsize>(length));
    return static_cast<uint64_t>(in_.gcount()) == length ? bytes : std::string{};
  }

 private:
  std::ifstream in_;
  uint64_t size_;
};

// The zip64 sizes of one entry, in the order the extra field stores them (only saturated fields appear).
void readZip64Sizes(const std::string& extra, uint64_t& uncompressed, uint64_t& compressed) {
  for (size_t at = 0; at + 4 <= extra.size();) {
    const uint64_t id = le(extra, at, 2), length = le(extra, at + 2, 2);
    const size_t end = at + 4 + length;
    if (end > extra.size()) return;
    if (id == kZip64ExtraId) {
      size_t field = at + 4;
      for (uint64_t* size : {&uncompressed, &compressed}) {
        if (*size != kSaturated) continue;
        if (field + 8 > end) return;
        *size = le(extra, field, 8);
        field += 8;
      }
      return;
    }
    at = end;
  }
}

}  // namespace

void checkZipRecordSizes(const std::string& path, uint64_t fileSize) {
  if (fileSize < kEndSize) return;
  File file(path, fileSize);
  // miniz takes the last end-of-directory signature with a whole record after it, searching back a
  // comment's reach (64 KiB) and up to one 4 KiB read further; searching that far too is never less.
  const uint64_t window = std::min<uint64_t>(fileSize, 0xffff + kEndSize + 4096);
  const std::string tail = file.read(fileSize - window, window);
  if (tail.empty()) return;
  int64_t found = -1;
  for (int64_t i = static_cast<int64_t>(window - kEndSize); i >= 0 && found < 0; --i) {
    if (le(tail, i, 4) == kEndSignature) found = i;
  }
  if (found < 0) return;
  const uint64_t end = fileSize - window + found;
  uint64_t entries = le(tail, found + 10, 2), directorySize = le(tail, found + 12, 4),
           directoryOffset = le(tail, found + 16, 4);
  if (end >= kZip64LocatorSize + kZip64EndSize) {
    const std::string locator = file.read(end - kZip64LocatorSize, kZip64LocatorSize);
    if (!locator.empty() && le(locator, 0, 4) == kZip64LocatorSignature) {
      const std::string zip64 = file.read(le(locator, 8, 8), kZip64EndSize);
      if (!zip64.empty() && le(zip64, 0, 4) == kZip64EndSignature) {
        entries = le(zip64, 32, 8);
        directorySize = le(zip64, 40, 8);
        directoryOffset = le(zip64, 48, 8);
      }
    }
  }
  const std::string directory = file.read(directoryOffset, directorySize);
  if (directory.empty()) return;
  size_t at = 0;
  for (uint64_t i = 0; i < entries && at + kEntrySize <= directory.size(); ++i) {
    if (le(directory, at, 4) != kEntrySignature) return;
    uint64_t compressed = le(directory, at + 20, 4), uncompressed = le(directory, at + 24, 4);
    const uint64_t nameLength = le(directory, at + 28, 2), extraLength = le(directory, at + 30, 2),
                   commentLength = le(directory, at + 32, 2);
    const size_t next = at + kEntrySize + nameLength + extraLength + commentLength;
    if (next > directory.size()) return;
    readZip64Sizes(directory.substr(at + kEntrySize + nameLength, extraLength), uncompressed, compressed);
    if (uncompressed > fileSize || compressed > fileSize) {
      throw BadFileError(path + ": zip record '" + directory.substr(at + kEntrySize, nameLength) + "' claims " +
                         std::to_string(std::max(uncompressed, compressed)) +
                         " bytes, more bytes than the file has (torch.save stores records uncompressed)");
    }
    at = next;
  }
}

}  // namespace kdtorch
