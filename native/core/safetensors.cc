#include "safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "file_bytes.h"

namespace kdtorch {
namespace {

const std::vector<std::pair<std::string, c10::ScalarType>>& dtypeNames() {
  static const std::vector<std::pair<std::string, c10::ScalarType>> names = {
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
      {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
      {"U8", torch::kUInt8},    {"BOOL", torch::kBool}};
  return names;
}

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool validUtf8(const std::string& text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const uint8_t c = *p;
    int length = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (length == 0 || end - p < length) return false;
    uint32_t code = length == 1 ? c : c & (0x7f >> length);
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      code = code << 6 | (p[i] & 0x3f);
    }
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    p += length;
  }
  return true;
}

// The header is a small, fixed shape of JSON; this reader takes exactly that shape and rejects the rest.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  // `data` null: check every tensor's record against `dataSize` but read no bytes (metadata only).
  SafetensorsFile parse(const char* data, size_t dataSize) {
    if (!validUtf8(text_)) fail("the header is not valid UTF-8");
    SafetensorsFile file;
    std::vector<Extent> extents;
    std::unordered_set<std::string> names;  // a header may list millions: no pairwise comparison
    expect('{');
    if (peek() != '}') {
      do {
        const std::string name = readString();
        expect(':');
        if (name == "__metadata__") {
          readMetadata(file.metadata);
        } else {
          if (!names.insert(name).second) fail("tensor '" + name + "' appears twice");
          auto [tensor, extent] = readTensor(name, data, dataSize);
          file.tensors.emplace_back(name, std::move(tensor));
          extents.push_back(std::move(extent));
        }
      } while (accept(','));
    }
    expect('}');
    checkCoverage(extents, dataSize);
    return file;
  }

 private:
  struct Extent {
    std::string name;
    uint64_t begin, end;
  };

  // The safetensors library's rule: the tensors' byte ranges, in order, tile the data exactly, with
  // no gap, no overlap (another tensor's bytes loaded as weights) and nothing after the last.
  void checkCoverage(std::vector<Extent>& extents, size_t dataSize) {
    std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
    uint64_t end = 0;
    for (const auto& extent : extents) {
      if (extent.begin != end) {
        fail("tensor '" + extent.name + "' starts at byte " + std::to_string(extent.begin) + ", not " +
             std::to_string(end) + (extent.begin < end ? " (it overlaps another tensor)" : " (a gap before it)"));
      }
      end = extent.end;
    }
    if (end != dataSize) {
      fail(std::to_string(dataSize - end) + " bytes after the last tensor's data (not a file safetensors writes)");
    }
  }

  std::pair<torch::Tensor, Extent> readTensor(const std::string& name, const char* data, size_t dataSize) {
    std::string dtype;
    std::vector<int64_t> shape, offsets;
    expect('{');
    do {
      const std::string key = readString();
      expect(':');
      if (key == "dtype") {
        dtype = readString();
      } else if (key == "shape") {
        shape = readIntegers();
      } else if (key == "data_offsets") {
        offsets = readIntegers();
      } else {
        fail("unexpected field '" + key + "' in tensor '" + name + "'");
      }
    } while (accept(','));
    expect('}');
    c10::ScalarType type = torch::kFloat32;
    bool known = false;
    for (const auto& [label, scalar] : dtypeNames()) {
      if (label == dtype) type = scalar, known = true;
    }
    if (!known) fail("tensor '" + name + "' has dtype '" + dtype + "', which kdtorch does not read");
    if (offsets.size() != 2 || offsets[1] < offsets[0] || static_cast<uint64_t>(offsets[1]) > dataSize) {
      fail("tensor '" + name + "' has data_offsets outside the file (truncated?)");
    }
    // Every factor is checked before it multiplies, so a shape like [2^62, 4] is refused, not wrapped.
    uint64_t bytes = c10::elementSize(type);
    for (auto size : shape) {
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(size), &bytes)) bytes = UINT64_MAX;
    }
    if (bytes != static_cast<uint64_t>(offsets[1] - offsets[0])) {
      fail("tensor '" + name + "': shape and dtype do not match its byte length");
    }
    Extent extent{name, static_cast<uint64_t>(offsets[0]), static_cast<uint64_t>(offsets[1])};
    if (data == nullptr) return {torch::Tensor(), std::move(extent)};
    auto tensor = torch::empty(shape, torch::TensorOptions().dtype(type));
    if (bytes > 0) std::memcpy(tensor.data_ptr(), data + offsets[0], bytes);  // an empty tensor has no buffer
    return {tensor, std::move(extent)};
  }

  void readMetadata(Metadata& metadata) {
    expect('{');
    if (accept('}')) return;
    do {
      const std::string key = readString();
      expect(':');
      metadata[key] = readString();
    } while (accept(','));
    expect('}');
  }

  std::vector<int64_t> readIntegers() {
    std::vector<int64_t> values;
    expect('[');
    if (accept(']')) return values;
    do {
      skipSpace();
      size_t end = pos_;
      while (end < text_.size() && std::isdigit(static_cast<unsigned char>(text_[end]))) ++end;
      if (end == pos_) fail("expected a non-negative integer");
      int64_t value = 0;
      for (size_t i = pos_; i < end; ++i) {
        if (__builtin_mul_overflow(value, int64_t{10}, &value) ||
            __builtin_add_overflow(value, int64_t{text_[i] - '0'}, &value)) {
          fail("the integer " + text_.substr(pos_, std::min<size_t>(end - pos_, 40)) + " does not fit in int64");
        }
      }
      values.push_back(value);
      pos_ = end;
    } while (accept(','));
    expect(']');
    return values;
  }

  // A JSON string as serde_json (the safetensors library's parser) reads it: the eight escapes, \u with
  // surrogate pairs, and no raw control characters.
  std::string readString() {
    expect('"');
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (static_cast<unsigned char>(c) < 0x20) fail("a control character inside a string");
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        const char escaped = text_[pos_++];
        switch (escaped) {
          case '"':
          case '\\':
          case '/':
            c = escaped;
            break;
          case 'n':
            c = '\n';
            break;
          case 't':
            c = '\t';
            break;
          case 'r':
            c = '\r';
            break;
          case 'b':
            c = '\b';
            break;
          case 'f':
            c = '\f';
            break;
          case 'u':
            appendUtf8(out, readCodePoint());
            continue;
          default:
            fail(std::string("the escape \\") + escaped + " is not JSON");
        }
      }
      out.push_back(c);
    }
    expect('"');
    return out;
  }

  // After "\u": one code point, a surrogate pair read as one; a lone surrogate is refused.
  uint32_t readCodePoint() {
    const uint32_t first = readHex4();
    if (first >= 0xDC00 && first <= 0xDFFF) fail("a lone low surrogate in a \\u escape");
    if (first < 0xD800 || first > 0xDBFF) return first;
    if (text_.compare(pos_, 2, "\\u") != 0) fail("a high surrogate without its low half in a \\u escape");
    pos_ += 2;
    const uint32_t second = readHex4();
    if (second < 0xDC00 || second > 0xDFFF) fail("a high surrogate without its low half in a \\u escape");
    return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
  }

  uint32_t readHex4() {
    if (pos_ + 4 > text_.size()) fail("a \\u escape without four hex digits");
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      const int digit = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                        : (h >= 'a' && h <= 'f')                    ? h - 'a' + 10
                        : (h >= 'A' && h <= 'F')                    ? h - 'A' + 10
                                                                    : -1;
      if (digit < 0) fail("a \\u escape without four hex digits");
      value = value << 4 | static_cast<uint32_t>(digit);
    }
    return value;
  }

  static void appendUtf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | code >> 6));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | code >> 12));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | code >> 18));
      out.push_back(static_cast<char>(0x80 | (code >> 12 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  void skipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  char peek() {
    skipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("malformed header: expected '") + c + "' at byte " + std::to_string(pos_));
  }
  [[noreturn]] void fail(const std::string& why) {
    throw BadFileError(path_ + ": not a valid safetensors file: " + why);
  }

  const std::string& text_;
  std::string path_;
  size_t pos_ = 0;
};

// JSON's escapes: quotes, backslashes and every control character (serde_json refuses them raw).
std::string jsonString(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\', out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      const char* digits = "0123456789abcdef";
      out += "\\u00", out += digits[c >> 4], out += digits[c & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string dtypeName(c10::ScalarType type) {
  for (const auto& [label, scalar] : dtypeNames()) {
    if (scalar == type) return label;
  }
  throw std::invalid_argument(std::string("cannot write dtype ") + c10::toString(type) + " to safetensors");
}

// The u64 header size at the start of a `fileSize`-byte file, refused when the header cannot fit.
uint64_t headerSizeOf(const std::string& path, const char* first8, size_t fileSize) {
  if (fileSize < 8) throw BadFileError(path + ": not a valid safetensors file: shorter than its 8-byte header size");
  uint64_t headerSize = 0;
  std::memcpy(&headerSize, first8, 8);  // little-endian, as x86-64 and arm64 are
  if (headerSize > fileSize - 8 || headerSize > 100'000'000) {
    throw BadFileError(path + ": not a valid safetensors file: header size " + std::to_string(headerSize) +
                       " exceeds the file (truncated, or another format)");
  }
  return headerSize;
}

}  // namespace

SafetensorsFile readSafetensors(const std::string& path) {
  const std::string bytes = readRegularFile(path);
  const uint64_t headerSize = headerSizeOf(path, bytes.data(), bytes.size());
  const std::string header = bytes.substr(8, headerSize);
  const char* data = bytes.data() + 8 + headerSize;
  return HeaderParser(header, path).parse(data, bytes.size() - 8 - headerSize);
}

Metadata readSafetensorsMetadata(const std::string& path) {
  const uint64_t fileSize = regularFileSize(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadFileError(path + ": cannot open (" + std::strerror(errno) + ")");
  char first8[8] = {};
  in.read(first8, fileSize < 8 ? static_cast<std::streamsize>(fileSize) : 8);
  const uint64_t headerSize = headerSizeOf(path, first8, fileSize);
  std::string header(headerSize, '\0');
  in.read(header.data(), static_cast<std::streamsize>(headerSize));
  if (!in) throw BadFileError(path + ": cannot read its header (" + std::strerror(errno) + ")");
  return HeaderParser(header, path).parse(nullptr, fileSize - 8 - headerSize).metadata;
}

void writeSafetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::ostringstream header;
  header << "{";
  bool first = true;
  if (!metadata.empty()) {
    header << "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it) {
      header << (it == metadata.begin() ? "" : ",") << jsonString(it->first) << ":" << jsonString(it->second);
    }
    header << "}";
    first = false;
  }
  std::vector<torch::Tensor> contiguous;
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    const int64_t bytes = cpu.numel() * static_cast<int64_t>(cpu.element_size());
    header << (first ? "" : ",") << jsonString(name) << ":{\"dtype\":\"" << dtypeName(cpu.scalar_type())
           << "\",\"shape\":[";
    for (int64_t d = 0; d < cpu.dim(); ++d) header << (d ? "," : "") << cpu.size(d);
    header << "],\"data_offsets\":[" << offset << "," << offset + bytes << "]}";
    offset += bytes;
    first = false;
    contiguous.push_back(cpu);
  }
  header << "}";
  std::string text = header.str();
  text.append((8 - text.size() % 8) % 8, ' ');  // the format pads the header with spaces to 8-byte alignment

  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw BadFileError(path + ": cannot write (" + std::strerror(errno) + ")");
    const uint64_t size = text.size();
    out.write(reinterpret_cast<const char*>(&size), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& tensor : contiguous) {
      out.write(static_cast<const char*>(tensor.data_ptr()),
                static_cast<std::streamsize>(tensor.numel() * tensor.element_size()));
    }
    out.flush();
    if (!out) {
      std::remove(temp.c_str());
      throw BadFileError(path + ": write failed (disk full?)");
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    throw BadFileError(path + ": cannot rename the finished file into place (" + std::strerror(errno) + ")");
  }
}

}  // namespace kdtorch
