#include "safetensors.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kdtorch {
namespace {

const std::vector<std::pair<std::string, c10::ScalarType>>& dtypeNames() {
  static const std::vector<std::pair<std::string, c10::ScalarType>> names = {
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
      {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
      {"U8", torch::kUInt8},    {"BOOL", torch::kBool}};
  return names;
}

// The header is a small, fixed shape of JSON; this reader takes exactly that shape and rejects the rest.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  // `data` null: check every tensor's record against `dataSize` but read no bytes (metadata only).
  SafetensorsFile parse(const char* data, size_t dataSize) {
    SafetensorsFile file;
    expect('{');
    if (peek() != '}') {
      do {
        const std::string name = readString();
        expect(':');
        if (name == "__metadata__") {
          readMetadata(file.metadata);
        } else {
          file.tensors.emplace_back(name, readTensor(name, data, dataSize));
        }
      } while (accept(','));
    }
    expect('}');
    return file;
  }

 private:
  torch::Tensor readTensor(const std::string& name, const char* data, size_t dataSize) {
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
    if (offsets.size() != 2 || offsets[0] < 0 || offsets[1] < offsets[0] ||
        static_cast<size_t>(offsets[1]) > dataSize) {
      fail("tensor '" + name + "' has data_offsets outside the file (truncated?)");
    }
    int64_t numel = 1;
    for (auto size : shape) numel *= size;
    if (numel * static_cast<int64_t>(c10::elementSize(type)) != offsets[1] - offsets[0]) {
      fail("tensor '" + name + "': shape and dtype do not match its byte length");
    }
    if (data == nullptr) return {};
    auto tensor = torch::empty(shape, torch::TensorOptions().dtype(type));
    std::memcpy(tensor.data_ptr(), data + offsets[0], offsets[1] - offsets[0]);
    return tensor;
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
      values.push_back(std::stoll(text_.substr(pos_, end - pos_)));
      pos_ = end;
    } while (accept(','));
    expect(']');
    return values;
  }

  std::string readString() {
    expect('"');
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        const char escaped = text_[pos_++];
        switch (escaped) {
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
            fail("\\u escapes in names are not supported");
            break;
          default:
            c = escaped;
        }
      }
      out.push_back(c);
    }
    expect('"');
    return out;
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

std::string jsonString(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else
      out += c;
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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadFileError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const uint64_t headerSize = headerSizeOf(path, bytes.data(), bytes.size());
  const std::string header = bytes.substr(8, headerSize);
  const char* data = bytes.data() + 8 + headerSize;
  return HeaderParser(header, path).parse(data, bytes.size() - 8 - headerSize);
}

Metadata readSafetensorsMetadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw BadFileError(path + ": cannot open (" + std::strerror(errno) + ")");
  const auto fileSize = static_cast<size_t>(in.tellg());
  char first8[8] = {};
  in.seekg(0);
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
