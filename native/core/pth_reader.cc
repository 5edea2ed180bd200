#include "pth_reader.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <memory>
#include <unordered_map>
#include <variant>

#include "file_bytes.h"
#include "zip_directory.h"

namespace kdtorch {
namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Global {
  std::string module, name;
  std::string qualified() const { return module + "." + name; }
};
struct Storage {
  torch::Tensor flat;  // 1-D tensor over the whole storage record
};
struct Mark {};
using Tuple = std::vector<ValuePtr>;
struct List {
  std::vector<ValuePtr> items;
};
struct Dict {
  std::vector<std::pair<ValuePtr, ValuePtr>> items;
};

struct Value {
  std::variant<std::monostate, bool, int64_t, double, std::string, Tuple, List, Dict, Global, Storage, torch::Tensor,
               Mark>
      v;
};

const std::unordered_map<std::string, c10::ScalarType>& storageTypes() {
  static const std::unordered_map<std::string, c10::ScalarType> types = {
      {"FloatStorage", torch::kFloat32},     {"DoubleStorage", torch::kFloat64}, {"HalfStorage", torch::kFloat16},
      {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kInt64},     {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16},       {"CharStorage", torch::kInt8},      {"ByteStorage", torch::kUInt8},
      {"BoolStorage", torch::kBool}};
  return types;
}

class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& archive, const char* data, size_t size, std::string path)
      : archive_(archive), data_(data), size_(size), path_(std::move(path)) {}

  // Values are freed one by one, not by the recursive destructors of nested containers: a pickle of
  // 10^5 nested tuples (a few bytes each) would otherwise overflow the stack. Emptying every value
  // first also frees cycles (a list appended to itself).
  ~Unpickler() {
    for (auto& value : values_) value->v = std::monostate{};
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  ValuePtr run() {
    while (true) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80:
          byte();
          break;  // PROTO
        case 0x95:
          bytes(8);
          break;  // FRAME
        case '.':
          return pop();  // STOP
        case '(':
          push(make(Mark{}));
          break;  // MARK
        case '}':
          push(make(Dict{}));
          break;
        case ']':
          push(make(List{}));
          break;
        case ')':
          push(make(Tuple{}));
          break;
        case 'N':
          push(make(std::monostate{}));
          break;
        case 0x88:
          push(make(true));
          break;
        case 0x89:
          push(make(false));
          break;
        case 'K':
          push(make(static_cast<int64_t>(byte())));
          break;
        case 'M':
          push(make(static_cast<int64_t>(littleEndian(2))));
          break;
        case 'J':
          push(make(static_cast<int64_t>(static_cast<int32_t>(littleEndian(4)))));
          break;
        case 0x8a:
          push(make(long1()));
          break;
        case 'G':
          push(make(binfloat()));
          break;
        case 'X':
          push(make(string(littleEndian(4))));
          break;
        case 0x8c:
          push(make(string(byte())));
          break;
        case 0x8d:
          push(make(string(littleEndian(8))));
          break;
        case 'T':
          push(make(string(littleEndian(4))));
          break;
        case 'U':
          push(make(string(byte())));
          break;
        case 0x85:
          push(make(Tuple{popN(1)}));
          break;
        case 0x86:
          push(make(Tuple{popN(2)}));
          break;
        case 0x87:
          push(make(Tuple{popN(3)}));
          break;
        case 't':
          push(make(Tuple{popToMark()}));
          break;
        case 'q':
          memo_[byte()] = top();
          break;
        case 'r':
          memo_[littleEndian(4)] = top();
          break;
        case 0x94:
          memo_[memo_.size()] = top();
          break;
        case 'h':
          push(memoGet(byte()));
          break;
        case 'j':
          push(memoGet(littleEndian(4)));
          break;
        case 'c': {
          std::string module = line(), name = line();
          push(global(std::move(module), std::move(name)));
          break;
        }
        case 0x93: {
          auto name = pop(), module = pop();
          push(global(asString(module), asString(name)));
          break;
        }
        case 'Q':
          push(persistentLoad(pop()));
          break;
        case 'R': {
          auto args = pop();
          auto callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 'b':
          pop();
          break;  // BUILD: the state of an OrderedDict is its _metadata; we need only its items
        case 's': {
          auto value = pop(), key = pop();
          dict(top()).items.emplace_back(key, value);
          break;
        }
        case 'u': {
          auto items = popToMark();
          auto& d = dict(top());
          for (size_t i = 0; i + 1 < items.size(); i += 2) d.items.emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'a': {
          auto value = pop();
          list(top()).items.push_back(value);
          break;
        }
        case 'e': {
          auto items = popToMark();
          auto& l = list(top());
          l.items.insert(l.items.end(), items.begin(), items.end());
          break;
        }
        default:
          fail("pickle opcode 0x" + hex(op) + " is not one a state_dict uses; refusing the file");
      }
    }
  }

 private:
  ValuePtr global(std::string module, std::string name) {
    const Global g{std::move(module), std::move(name)};
    const std::string q = g.qualified();
    const bool storage = g.module == "torch" && storageTypes().count(g.name) > 0;
    if (q == "collections.OrderedDict" || q == "torch._utils._rebuild_tensor_v2" ||
        q == "torch._utils._rebuild_parameter" || storage) {
      return make(g);
    }
    fail("it refers to '" + q +
         "'. kdtorch reads only tensors and (Ordered)dicts of them, never code; save the weights with "
         "torch.save(model.state_dict(), path) or as safetensors");
  }

  ValuePtr persistentLoad(const ValuePtr& pid) {
    const auto* t = std::get_if<Tuple>(&pid->v);
    if (t == nullptr || t->size() < 5 || asString((*t)[0]) != "storage") fail("unexpected persistent id");
    const auto* type = std::get_if<Global>(&(*t)[1]->v);
    if (type == nullptr || storageTypes().count(type->name) == 0) fail("unexpected storage type");
    const std::string key = asString((*t)[2]);
    const auto found = storages_.find(key);
    if (found != storages_.end()) return found->second;
    const c10::ScalarType dtype = storageTypes().at(type->name);
    const int64_t numel = asInt((*t)[4]);
    const std::string record = "data/" + key;
    if (!archive_.hasRecord(record)) fail("storage record '" + record + "' is missing (truncated file?)");
    const size_t bytes = archive_.getRecordSize(record);  // ≤ the file: checkZipRecordSizes
    if (numel < 0 || static_cast<uint64_t>(numel) > bytes ||
        bytes != static_cast<uint64_t>(numel) * c10::elementSize(dtype)) {
      fail("storage '" + key + "' has " + std::to_string(bytes) + " bytes, not the " + std::to_string(numel) +
           " elements of " + c10::toString(dtype) + " its entry declares");
    }
    auto [buffer, read] = archive_.getRecord(record);
    if (read != bytes) fail("storage '" + key + "' changed size while being read");
    auto flat = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    if (bytes > 0) std::memcpy(flat.data_ptr(), buffer.get(), bytes);  // an empty record has no buffer
    auto value = make(Storage{flat});
    storages_[key] = value;
    return value;
  }

  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& argsValue) {
    const auto* g = std::get_if<Global>(&callable->v);
    const auto* args = std::get_if<Tuple>(&argsValue->v);
    if (g == nullptr || args == nullptr) fail("REDUCE of something that is not an allowed global");
    const std::string q = g->qualified();
    if (q == "collections.OrderedDict") return make(Dict{});
    if (q == "torch._utils._rebuild_parameter") {
      if (args->empty()) fail("_rebuild_parameter without data");
      return (*args)[0];
    }
    if (q == "torch._utils._rebuild_tensor_v2") {
      if (args->size() < 4) fail("_rebuild_tensor_v2 with too few arguments");
      const auto* storage = std::get_if<Storage>(&(*args)[0]->v);
      if (storage == nullptr) fail("_rebuild_tensor_v2 without a storage");
      const int64_t offset = asInt((*args)[1]);
      const auto size = intTuple((*args)[2]), stride = intTuple((*args)[3]);
      checkView(size, stride, offset, storage->flat.numel());
      // Kept a view: a zero-stride tensor of 2^29 elements over one float costs 4 bytes here, and
      // load_state_dict's copy_ refuses its shape (or copies it into a tensor that already exists).
      return make(storage->flat.as_strided(size, stride, offset));
    }
    fail("REDUCE of '" + q + "' is not allowed");
  }

  // The furthest element the view reaches lies inside the storage, computed without overflow.
  void checkView(const std::vector<int64_t>& size, const std::vector<int64_t>& stride, int64_t offset,
                 int64_t storageNumel) {
    if (size.size() != stride.size()) {
      fail("a tensor's size has " + std::to_string(size.size()) + " dimensions but its stride " +
           std::to_string(stride.size()));
    }
    if (size.size() > 64) fail("a tensor with more than 64 dimensions");
    bool empty = false;
    int64_t last = offset;
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0) fail("a tensor with a negative size or stride");
      empty = empty || size[d] == 0;
      int64_t reach = 0;
      if (size[d] > 0 &&
          (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) || __builtin_add_overflow(last, reach, &last))) {
        fail("a tensor's view reaches outside its storage");
      }
    }
    int64_t numel = 1;
    for (auto s : size) {
      if (__builtin_mul_overflow(numel, s, &numel)) fail("a tensor whose element count overflows int64");
    }
    if (offset < 0 || (empty ? offset > storageNumel : last >= storageNumel)) {
      fail("a tensor's view reaches outside its storage");
    }
  }

  ValuePtr make(decltype(Value::v) v) {
    values_.push_back(std::make_shared<Value>(Value{std::move(v)}));
    return values_.back();
  }

  // Primitive readers.
  uint8_t byte() { return static_cast<uint8_t>(*bytes(1)); }
  const char* bytes(size_t n) {
    if (n > size_ - pos_) fail("data.pkl ends early (truncated file?)");
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t littleEndian(size_t n) {
    const char* p = bytes(n);
    uint64_t value = 0;
    for (size_t i = 0; i < n; ++i) value |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    return value;
  }
  int64_t long1() {
    const size_t n = byte();
    if (n > 8) fail("integer too large");
    const char* p = bytes(n);
    int64_t value = 0;
    for (size_t i = 0; i < n; ++i) value |= static_cast<int64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(p[n - 1]) & 0x80)) value -= int64_t{1} << (8 * n);  // sign-extend
    return value;
  }
  double binfloat() {
    const char* p = bytes(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(p[i]);  // big-endian
    double value;
    std::memcpy(&value, &bits, 8);
    return value;
  }
  std::string string(uint64_t n) {
    const char* p = bytes(n);
    return std::string(p, n);
  }
  std::string line() {
    std::string out;
    for (char c = static_cast<char>(byte()); c != '\n'; c = static_cast<char>(byte())) out.push_back(c);
    return out;
  }

  // Stack.
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    if (stack_.empty()) fail("pickle stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr top() {
    if (stack_.empty()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<ValuePtr> popN(size_t n) {
    std::vector<ValuePtr> out(n);
    for (size_t i = n; i-- > 0;) out[i] = pop();
    return out;
  }
  std::vector<ValuePtr> popToMark() {
    std::vector<ValuePtr> out;
    while (true) {
      auto v = pop();
      if (std::holds_alternative<Mark>(v->v)) break;
      out.push_back(v);
    }
    return {out.rbegin(), out.rend()};
  }
  ValuePtr memoGet(uint64_t index) {
    const auto found = memo_.find(index);
    if (found == memo_.end()) fail("memo reference to an unknown entry");
    return found->second;
  }

  // Typed access.
  std::string asString(const ValuePtr& v) {
    if (const auto* s = std::get_if<std::string>(&v->v)) return *s;
    fail("expected a string");
  }
  int64_t asInt(const ValuePtr& v) {
    if (const auto* i = std::get_if<int64_t>(&v->v)) return *i;
    fail("expected an integer");
  }
  std::vector<int64_t> intTuple(const ValuePtr& v) {
    const auto* t = std::get_if<Tuple>(&v->v);
    if (t == nullptr) fail("expected a tuple of integers");
    std::vector<int64_t> out;
    for (const auto& item : *t) out.push_back(asInt(item));
    return out;
  }
  Dict& dict(const ValuePtr& v) {
    if (auto* d = std::get_if<Dict>(&v->v)) return *d;
    fail("SETITEM on something that is not a dict");
  }
  List& list(const ValuePtr& v) {
    if (auto* l = std::get_if<List>(&v->v)) return *l;
    fail("APPEND on something that is not a list");
  }

  static std::string hex(uint8_t op) {
    const char* digits = "0123456789abcdef";
    return {digits[op >> 4], digits[op & 15]};
  }
  [[noreturn]] void fail(const std::string& why) {
    throw BadFileError(path_ + ": cannot read as a PyTorch state_dict: " + why);
  }

  caffe2::serialize::PyTorchStreamReader& archive_;
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string path_;
  std::vector<ValuePtr> values_;  // every value made, for the iterative teardown
  std::vector<ValuePtr> stack_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::unordered_map<std::string, ValuePtr> storages_;
};

}  // namespace

NamedTensors readPth(const std::string& path) {
  const uint64_t fileSize = regularFileSize(path);
  checkZipRecordSizes(path, fileSize);
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> archive;
  try {
    archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& error) {
    throw BadFileError(
        path + ": not a PyTorch zip file (torch.save with the default zip format): " + error.what_without_backtrace());
  }
  if (!archive->hasRecord("data.pkl")) throw BadFileError(path + ": PyTorch zip file without data.pkl");
  auto [buffer, size] = archive->getRecord("data.pkl");
  Unpickler unpickler(*archive, static_cast<const char*>(buffer.get()), size, path);
  const auto root = unpickler.run();
  const auto* dict = std::get_if<Dict>(&root->v);
  if (dict == nullptr) throw BadFileError(path + ": holds no dict of tensors (save model.state_dict(), not the model)");
  NamedTensors tensors;
  for (const auto& [key, value] : dict->items) {
    const auto* name = std::get_if<std::string>(&key->v);
    const auto* tensor = std::get_if<torch::Tensor>(&value->v);
    if (name == nullptr || tensor == nullptr) {
      throw BadFileError(path + ": holds a dict whose entries are not all name → tensor (save model.state_dict())");
    }
    tensors.emplace_back(*name, *tensor);
  }
  return tensors;
}

}  // namespace kdtorch
