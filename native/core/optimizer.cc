#include "optimizer.h"

#include <map>
#include <stdexcept>

namespace kdtorch {

FusedOptimizer::FusedOptimizer(NamedTensors params, const OptimizerSpec& spec) : spec_(spec), lr_(spec.lr) {
  if (spec_.name != "sgd" && spec_.name != "adam" && spec_.name != "adamw") {
    throw std::invalid_argument("optimizer '" + spec_.name + "' is not one of 'sgd', 'adam', 'adamw'");
  }
  if (!(spec_.lr > 0)) throw std::invalid_argument("optimizer lr must be > 0, got " + std::to_string(spec_.lr));
  for (auto& [name, param] : params) slots_.push_back({name, param, {}, {}, {}, {}});
  const auto device = slots_.empty() ? torch::Device(torch::kCPU) : slots_.front().param.device();
  // CUDA's fused kernels read the rate as float on the device; the CPU kernel reads it with
  // item<double>(), so float64 there keeps CPU steps exactly torch.optim's.
  lrTensor_ = torch::full(
      {}, lr_, torch::TensorOptions().device(device).dtype(device.is_cuda() ? torch::kFloat32 : torch::kFloat64));
}

void FusedOptimizer::initialise(Slot& slot) const {
  const auto zeros = [&] { return torch::zeros_like(slot.param, torch::MemoryFormat::Preserve); };
  if (isAdam()) {
    slot.step = torch::zeros({}, slot.param.options().dtype(torch::kFloat32));
    slot.expAvg = zeros();
    slot.expAvgSq = zeros();
  } else {
    slot.momentum = zeros();  // filled from the gradient by the first step (is_first_step)
  }
}

void FusedOptimizer::step() {
  torch::NoGradGuard noGrad;
  // SGD's first step copies the gradient into the momentum buffer instead of blending it in, so
  // parameters stepping for the first time go in a call of their own.
  struct Group {
    std::vector<torch::Tensor> params, grads, steps, expAvgs, expAvgSqs, momenta;
  } groups[2];
  for (auto& slot : slots_) {
    const auto& grad = slot.param.grad();
    if (!grad.defined()) continue;
    const bool first = isAdam() ? !slot.step.defined() : (spec_.momentum != 0 && !slot.momentum.defined());
    if (first) initialise(slot);
    auto& g = groups[first ? 1 : 0];
    g.params.push_back(slot.param);
    g.grads.push_back(grad);
    if (isAdam()) {
      g.steps.push_back(slot.step);
      g.expAvgs.push_back(slot.expAvg);
      g.expAvgSqs.push_back(slot.expAvgSq);
    } else if (spec_.momentum != 0) {
      g.momenta.push_back(slot.momentum);
    }
  }
  for (int first = 0; first < 2; ++first) {
    auto& g = groups[first];
    if (g.params.empty()) continue;
    if (spec_.name == "sgd") {
      at::_fused_sgd_(g.params, g.grads, g.momenta, spec_.weightDecay, spec_.momentum, lrTensor_, /*dampening=*/0,
                      spec_.nesterov, /*maximize=*/false, /*is_first_step=*/first == 1);
      continue;
    }
    torch::_foreach_add_(g.steps, 1);
    if (spec_.name == "adam") {
      at::_fused_adam_(g.params, g.grads, g.expAvgs, g.expAvgSqs, {}, g.steps, lrTensor_, spec_.beta1, spec_.beta2,
                       spec_.weightDecay, spec_.eps, /*amsgrad=*/false, /*maximize=*/false);
    } else {
      at::_fused_adamw_(g.params, g.grads, g.expAvgs, g.expAvgSqs, {}, g.steps, lrTensor_, spec_.beta1, spec_.beta2,
                        spec_.weightDecay, spec_.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
  }
}

void FusedOptimizer::zeroGrad() {
  for (auto& slot : slots_) slot.param.mutable_grad().reset();
}

void FusedOptimizer::setLearningRate(double lr) {
  if (!(lr >= 0)) throw std::invalid_argument("learning rate must be >= 0, got " + std::to_string(lr));
  lr_ = lr;
  lrTensor_.fill_(lr);
}

NamedTensors FusedOptimizer::state() const {
  NamedTensors out;
  for (const auto& slot : slots_) {
    if (slot.momentum.defined()) out.emplace_back(slot.name + ".momentum_buffer", slot.momentum);
    if (!slot.step.defined()) continue;
    out.emplace_back(slot.name + ".step", slot.step.to(torch::kCPU, torch::kInt64));
    out.emplace_back(slot.name + ".exp_avg", slot.expAvg);
    out.emplace_back(slot.name + ".exp_avg_sq", slot.expAvgSq);
  }
  return out;
}

void FusedOptimizer::loadState(const NamedTensors& saved) {
  std::map<std::string, torch::Tensor> byName(saved.begin(), saved.end());
  for (auto& slot : slots_) {
    auto take = [&](const std::string& suffix) {
      const std::string key = slot.name + suffix;
      const auto found = byName.find(key);
      if (found == byName.end()) throw WeightsMismatchError("checkpoint optimizer state lacks '" + key + "'");
      if (suffix != ".step" && found->second.sizes() != slot.param.sizes()) {
        throw WeightsMismatchError("checkpoint optimizer state '" + key + "' is " + c10::str(found->second.sizes()) +
                                   " but the parameter is " + c10::str(slot.param.sizes()));
      }
      // A copy: the steps update it in place, and the saved tensor may be memory the caller owns.
      return found->second.to(slot.param.device(), suffix == ".step" ? torch::kFloat32 : slot.param.scalar_type(),
                              /*non_blocking=*/false, /*copy=*/true);
    };
    if (isAdam()) {
      // A parameter that never stepped has no state, in torch.optim's files as in ours.
      if (!byName.count(slot.name + ".step")) continue;
      slot.step = take(".step");
      slot.expAvg = take(".exp_avg");
      slot.expAvgSq = take(".exp_avg_sq");
    } else if (byName.count(slot.name + ".momentum_buffer")) {
      slot.momentum = take(".momentum_buffer");
    }
  }
}

}  // namespace kdtorch
