#include "model.h"

#include <ATen/autocast_mode.h>

#include <stdexcept>

#include "resnet.h"
#include "runtime.h"
#include "student_net.h"

namespace kdtorch {
namespace {

torch::nn::AnyModule buildModule(const ModelSpec& spec) {
  if (spec.seed >= 0) torch::manual_seed(static_cast<uint64_t>(spec.seed));
  if (spec.numClasses < 2)
    throw std::invalid_argument("numClasses must be >= 2, got " + std::to_string(spec.numClasses));
  if (spec.inChannels < 1)
    throw std::invalid_argument("inChannels must be >= 1, got " + std::to_string(spec.inChannels));
  if (spec.architecture == "resnet18") return torch::nn::AnyModule(ResNet18(spec.numClasses, spec.inChannels));
  if (spec.architecture == "studentNet") {
    if (spec.width < 1) throw std::invalid_argument("studentNet width must be >= 1, got " + std::to_string(spec.width));
    StudentNetOptions options;
    options.numClasses = spec.numClasses;
    options.inputSize = spec.inputSize;
    options.inChannels = spec.inChannels;
    options.width = spec.width;
    return torch::nn::AnyModule(StudentNet(options));
  }
  throw std::invalid_argument("unknown architecture '" + spec.architecture + "' (use 'resnet18' or 'studentNet')");
}

// torch.autocast(device, dtype=torch.bfloat16) for one forward pass; autocast state is thread-local.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType type, bool on) : type_(type), on_(on) {
    if (!on_) return;
    previous_ = at::autocast::is_autocast_enabled(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  }
  ~AutocastScope() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, previous_);
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool on_;
  bool previous_ = false;
};

// What 'auto' means, by evidence (docs/results.md, "CPU precision"): on a CPU with native bf16 (oneDNN on
// AVX512-BF16 or AMX) a ResNet-18 training step at 224², batch 32, takes 1389 ms in fp32 and 724 ms in bf16
// autocast + channels-last (PyTorch; 1.9×, 112²: 1.7×), at the same accuracy over paired seeds. The
// student, one 4-channel convolution before a linear layer, is bound by memory traffic: in bf16 +
// channels-last its step gains little at the sizes it trains at (112²: 13.7 vs 14.2 ms) and its inference,
// what it is deployed for, is slower (224²: 20.3 vs 17.0 ms), so it stays fp32 and contiguous. On CUDA
// 'auto' leaves both off, as the GPU presets always have; set them there explicitly.
bool autoPrecision(const std::string& architecture, const c10::Device& device) {
  return device.is_cpu() && architecture == "resnet18" && cpuInfo().nativeBf16;
}

bool resolve(ModelSpec::Choice choice, bool automatic) {
  return choice == ModelSpec::Choice::Auto ? automatic : choice == ModelSpec::Choice::Yes;
}

}  // namespace

Model::Model(const ModelSpec& spec) : spec_(spec), device_(resolveDevice(spec.device)), module_(buildModule(spec)) {
  const bool automatic = autoPrecision(spec_.architecture, device_);
  autocastBf16_ = resolve(spec_.autocastBf16, automatic);
  channelsLast_ = resolve(spec_.channelsLast, automatic);
  spec_.autocastBf16 = autocastBf16_ ? ModelSpec::Choice::Yes : ModelSpec::Choice::No;
  spec_.channelsLast = channelsLast_ ? ModelSpec::Choice::Yes : ModelSpec::Choice::No;
  place();
}

void Model::place() {
  module_.ptr()->to(device_);
  spec_.device = device_.str();
  if (!channelsLast_) return;
  torch::NoGradGuard noGrad;
  for (auto& parameter : module_.ptr()->parameters()) {
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

void Model::checkInput(const torch::Tensor& input) const {
  const bool fixedSize = spec_.architecture == "studentNet";
  // ResNet-18 halves the input five times; below 32 px its last stage would have no pixels.
  const bool ok = input.dim() == 4 && input.size(1) == spec_.inChannels &&
                  (fixedSize ? input.size(2) == spec_.inputSize && input.size(3) == spec_.inputSize
                             : input.size(2) >= 32 && input.size(3) >= 32);
  if (!ok) {
    const std::string hw =
        fixedSize ? std::to_string(spec_.inputSize) + ", " + std::to_string(spec_.inputSize) : "H >= 32, W >= 32";
    throw std::invalid_argument(spec_.architecture + " expects input of shape [N, " + std::to_string(spec_.inChannels) +
                                ", " + hw + "], got " + c10::str(input.sizes()));
  }
}

torch::Tensor Model::forward(const torch::Tensor& input) {
  AutocastScope autocast(device_.type(), autocastBf16_);
  const auto x = channelsLast_ ? input.contiguous(at::MemoryFormat::ChannelsLast) : input;
  return module_.forward(x).to(torch::kFloat32);
}

torch::Tensor Model::predict(const torch::Tensor& input) {
  checkInput(input);
  c10::InferenceMode inference;
  return forward(toDevice(input, torch::TensorOptions().device(device_).dtype(torch::kFloat32)))
      .to(torch::kCPU)
      .contiguous();
}

void Model::to(const std::string& device) {
  device_ = resolveDevice(device);
  place();
}

int64_t Model::multiplyAdds(int64_t images, int64_t height, int64_t width) const {
  const int64_t perImage =
      spec_.architecture == "resnet18"
          ? ResNet18Impl::multiplyAdds(spec_.inChannels, spec_.numClasses, height, width)
          : StudentNetImpl::multiplyAdds({spec_.numClasses, spec_.inputSize, spec_.inChannels, spec_.width});
  return images * perImage;
}

int64_t Model::parameterCount() const {
  int64_t count = 0;
  for (const auto& parameter : module_.ptr()->parameters()) count += parameter.numel();
  return count;
}

}  // namespace kdtorch
