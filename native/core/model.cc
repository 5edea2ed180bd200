#include "model.h"

#include <stdexcept>

#include "runtime.h"
#include "student_net.h"

namespace kdtorch {
namespace {

torch::nn::AnyModule buildModule(const ModelSpec& spec) {
  if (spec.architecture == "studentNet") {
    StudentNetOptions options;
    options.numClasses = spec.numClasses;
    options.inputSize = spec.inputSize;
    options.inChannels = spec.inChannels;
    options.width = spec.width;
    return torch::nn::AnyModule(StudentNet(options));
  }
  throw std::invalid_argument("unknown architecture '" + spec.architecture + "'");
}

}  // namespace

Model::Model(const ModelSpec& spec) : spec_(spec), device_(resolveDevice(spec.device)), module_(buildModule(spec)) {
  module_.ptr()->to(device_);
}

torch::Tensor Model::forward(const torch::Tensor& input) {
  const auto expected = std::vector<int64_t>{spec_.inChannels, spec_.inputSize, spec_.inputSize};
  if (input.dim() != 4 || input.sizes().slice(1) != c10::IntArrayRef(expected)) {
    throw std::invalid_argument("forward expects input of shape [N, " + std::to_string(spec_.inChannels) + ", " +
                                std::to_string(spec_.inputSize) + ", " + std::to_string(spec_.inputSize) + "], got " +
                                c10::str(input.sizes()));
  }
  c10::InferenceMode inference;
  return module_.forward(input.to(device_)).to(torch::kCPU).contiguous();
}

int64_t Model::parameterCount() const {
  int64_t count = 0;
  for (const auto& parameter : module_.ptr()->parameters()) count += parameter.numel();
  return count;
}

}  // namespace kdtorch
