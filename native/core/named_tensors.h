// An ordered list of named tensors: a state_dict, a weights file's content, an optimizer's state.
#pragma once
#include <torch/torch.h>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kdtorch {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
using Metadata = std::map<std::string, std::string>;

// An error with a stable code, passed to JS as KdtorchError.code.
struct CodedError : std::runtime_error {
  CodedError(std::string errorCode, const std::string& message)
      : std::runtime_error(message), code(std::move(errorCode)) {}
  std::string code;
};

// A file kdtorch cannot use: the message names the file and says what is wrong with it.
struct BadFileError : CodedError {
  explicit BadFileError(const std::string& message) : CodedError("E_BAD_WEIGHTS_FILE", message) {}
};

// Weights whose names or shapes do not fit the model: the message lists every difference.
struct WeightsMismatchError : CodedError {
  explicit WeightsMismatchError(const std::string& message) : CodedError("E_WEIGHTS_MISMATCH", message) {}
};

}  // namespace kdtorch
