#include "weights.h"

#include <cstring>
#include <fstream>
#include <unordered_map>

#include "file_bytes.h"
#include "pth_reader.h"
#include "safetensors.h"

namespace kdtorch {
namespace {

bool skipped(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& prefix : prefixes) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// Floating weights convert between float types as load_state_dict's copy_ does; integers
// (num_batches_tracked) must stay integers, and nothing converts between the two kinds.
bool compatible(const torch::Tensor& file, const torch::Tensor& model) {
  return c10::isFloatingType(file.scalar_type()) == c10::isFloatingType(model.scalar_type()) &&
         file.scalar_type() != torch::kBool;
}

std::string joinLines(const std::string& title, const std::vector<std::string>& items) {
  if (items.empty()) return "";
  std::string out = "\n  " + title + " (" + std::to_string(items.size()) + "):";
  const size_t shown = std::min<size_t>(items.size(), 20);
  for (size_t i = 0; i < shown; ++i) out += "\n    " + items[i];
  if (items.size() > shown) out += "\n    … and " + std::to_string(items.size() - shown) + " more";
  return out;
}

}  // namespace

NamedTensors stateDict(torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers()) out.emplace_back(item.key(), item.value());
  return out;
}

NamedTensors readWeightsFile(const std::string& path) {
  regularFileSize(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadFileError(path + ": cannot open (" + std::strerror(errno) + ")");
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) return readPth(path);
  // torch.save before PyTorch 1.6 (or with _use_new_zipfile_serialization=False) wrote a bare pickle
  // stream: protocol 2's opcode, then the magic number as a LONG1.
  if (static_cast<uint8_t>(magic[0]) == 0x80 && static_cast<uint8_t>(magic[2]) == 0x8a) {
    throw BadFileError(path +
                       ": a legacy (pre-zip) torch.save file, which kdtorch does not read; re-save it in Python "
                       "with torch.save(torch.load(path), path) (PyTorch >= 1.6) or as safetensors");
  }
  return readSafetensors(path).tensors;
}

LoadReport loadStateDict(torch::nn::Module& module, const NamedTensors& tensors, const LoadOptions& options,
                         const std::string& source) {
  LoadReport report;
  std::unordered_map<std::string, torch::Tensor> target;
  for (auto& [name, tensor] : stateDict(module)) target.emplace(name, tensor);

  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (model tensor, file tensor)
  std::unordered_map<std::string, bool> seen;
  for (const auto& [name, tensor] : tensors) {
    if (skipped(name, options.skip)) continue;
    seen[name] = true;
    const auto found = target.find(name);
    if (found == target.end()) {
      report.unexpected.push_back(name);
    } else if (found->second.sizes() != tensor.sizes()) {
      report.mismatched.push_back(name + ": file " + c10::str(tensor.sizes()) + " vs model " +
                                  c10::str(found->second.sizes()));
    } else if (!compatible(tensor, found->second)) {
      report.mismatched.push_back(name + ": file dtype " + c10::toString(tensor.scalar_type()) + " vs model " +
                                  c10::toString(found->second.scalar_type()));
    } else {
      copies.emplace_back(found->second, tensor);
      report.loaded.push_back(name);
    }
  }
  for (const auto& [name, tensor] : stateDict(module)) {
    if (!skipped(name, options.skip) && !seen.count(name)) report.missing.push_back(name);
  }

  const bool clean = report.missing.empty() && report.unexpected.empty() && report.mismatched.empty();
  if (options.strict && !clean) {
    throw WeightsMismatchError(
        source + " does not fit the model (nothing was loaded):" + joinLines("missing in the file", report.missing) +
        joinLines("unexpected in the file", report.unexpected) +
        joinLines("different shape or dtype", report.mismatched) +
        "\n  To fine-tune from weights with another head, skip it (skip: ['fc.']) or load with strict: false.");
  }
  torch::NoGradGuard noGrad;
  for (auto& [destination, source_tensor] : copies) destination.copy_(source_tensor);
  return report;
}

}  // namespace kdtorch
