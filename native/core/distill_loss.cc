#include "distill_loss.h"

#include <stdexcept>

namespace kdtorch {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void checkOptions(const DistillLossOptions& o, int64_t classes) {
  if (!(o.alpha >= 0 && o.alpha <= 1))
    throw std::invalid_argument("alpha must be in [0, 1], got " + std::to_string(o.alpha));
  if (!(o.temperature > 0))
    throw std::invalid_argument("temperature must be > 0, got " + std::to_string(o.temperature));
  if (!(o.labelSmoothing >= 0 && o.labelSmoothing <= 1)) {
    throw std::invalid_argument("labelSmoothing must be in [0, 1], got " + std::to_string(o.labelSmoothing));
  }
  if (o.classWeights.defined() && (o.classWeights.dim() != 1 || o.classWeights.size(0) != classes)) {
    throw std::invalid_argument("classWeights must have one weight per class (" + std::to_string(classes) + ")");
  }
}

struct FusedDistillLoss : torch::autograd::Function<FusedDistillLoss> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& s, const torch::Tensor& t,
                               const torch::Tensor& y, const torch::Tensor& classWeights, double alpha, double T,
                               bool articleMode, double smoothing) {
    const double n = static_cast<double>(s.size(0));
    const int64_t classes = s.size(1);

    // Cross-entropy with weights w and smoothing eps, normalised by W = sum_i w[y_i] as PyTorch does:
    //   ce = (1-eps) * sum_i w[y_i] * -log p[i,y_i] / W + eps/C * sum_i sum_c w[c] * -log p[i,c] / W
    //   d ce / d s_i = (1-eps) * w[y_i]/W * (p_i - e_{y_i}) + eps/C * (sum(w)/W * p_i - w/W)
    const auto logp = torch::log_softmax(s, 1);
    const auto p = logp.exp();
    const auto w = classWeights.to(s.options());
    const auto wy = w.index_select(0, y);
    const auto W = wy.sum();
    const auto onehot = torch::one_hot(y, classes).to(s.scalar_type());
    const auto nll = -(logp.gather(1, y.unsqueeze(1)).squeeze(1) * wy).sum() / W;
    auto ce = (1 - smoothing) * nll;
    auto gradCe = (1 - smoothing) * (wy / W).unsqueeze(1) * (p - onehot);
    if (smoothing > 0) {
      ce = ce + smoothing / classes * -(logp * w).sum() / W;
      gradCe = gradCe + smoothing / classes * (w.sum() / W * p - w.unsqueeze(0) / W);
    }

    // KL(pt || ps) at temperature T; its gradient in s is (ps - pt) / T per element before reduction.
    const auto logps = torch::log_softmax(s / T, 1);
    const auto pt = torch::softmax(t.to(s.scalar_type()) / T, 1);
    const auto klSum = (torch::xlogy(pt, pt) - pt * logps).sum();
    const auto gradKlSum = (logps.exp() - pt) / T;
    const double scale = articleMode ? 1.0 / (n * classes) : T * T / n;
    const auto kd = klSum * scale;

    const auto total = (1 - alpha) * ce + alpha * kd;
    ctx->saved_data["grad"] = (1 - alpha) * gradCe + alpha * scale * gradKlSum;
    ctx->mark_non_differentiable({ce, kd});
    return {total, ce, kd};
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const auto grad = ctx->saved_data["grad"].toTensor() * gradOutputs[0];
    return {grad,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

DistillLossParts distillLoss(const torch::Tensor& studentLogits, const torch::Tensor& teacherLogits,
                             const torch::Tensor& labels, const DistillLossOptions& options) {
  checkOptions(options, studentLogits.size(1));
  if (teacherLogits.sizes() != studentLogits.sizes()) {
    throw std::invalid_argument("teacher logits " + c10::str(teacherLogits.sizes()) + " and student logits " +
                                c10::str(studentLogits.sizes()) +
                                " differ: do teacher and student have the same classes?");
  }
  // Unit weights are exactly the unweighted loss (W = N); autograd's apply takes only defined tensors.
  const auto weights = options.classWeights.defined() ? options.classWeights
                                                      : torch::ones({studentLogits.size(1)}, studentLogits.options());
  auto out = FusedDistillLoss::apply(studentLogits, teacherLogits.detach(), labels, weights, options.alpha,
                                     options.temperature, options.mode == KdMode::Article, options.labelSmoothing);
  return {out[0], out[1], out[2]};
}

torch::Tensor crossEntropy(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& classWeights,
                           double labelSmoothing) {
  auto options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(labelSmoothing);
  if (classWeights.defined()) options.weight(classWeights.to(logits.options()));
  return torch::nn::functional::cross_entropy(logits, labels, options);
}

}  // namespace kdtorch
