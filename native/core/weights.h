// Moving weights between files and modules by state_dict name, as torch's load_state_dict does.
#pragma once
#include <string>
#include <vector>

#include "named_tensors.h"

namespace kdtorch {

struct LoadOptions {
  bool strict = true;
  std::vector<std::string> skip;  // name prefixes left as they are in the module, e.g. "fc." to fine-tune
};

struct LoadReport {
  std::vector<std::string> loaded, missing, unexpected, mismatched;  // mismatched: "name: file [..] vs model [..]"
};

// Parameters and buffers of `module` under their state_dict names.
NamedTensors stateDict(torch::nn::Module& module);

// Reads a safetensors or PyTorch zip (.pth) file, telling them apart by their first bytes.
NamedTensors readWeightsFile(const std::string& path);

// Copies `tensors` into `module`. Strict: any missing, unexpected or mismatched name (outside `skip`)
// throws WeightsMismatchError listing all of them, and nothing is changed.
LoadReport loadStateDict(torch::nn::Module& module, const NamedTensors& tensors, const LoadOptions& options,
                         const std::string& source);

}  // namespace kdtorch
