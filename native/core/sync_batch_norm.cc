#include "sync_batch_norm.h"

#include <string>
#include <utility>
#include <vector>

#include "process_group.h"

namespace kdtorch {
namespace {

thread_local const std::shared_ptr<ProcessGroup>* innermost = nullptr;

// The group as an autograd context keeps it until backward (a capsule: no TorchScript class needed).
struct GroupHolder : torch::CustomClassHolder {
  explicit GroupHolder(std::shared_ptr<ProcessGroup> group) : group(std::move(group)) {}
  std::shared_ptr<ProcessGroup> group;
};

const std::vector<int64_t> kPerChannel{0, 2, 3};

// torch.nn.SyncBatchNorm's training step (torch/nn/modules/_functions.py), one all-reduce each way:
// forward the sums of x and x² and the count, backward the sums of the normalised input's gradient and of
// its product with the normalised input, so each rank's input gradient includes what its images did to
// the global statistics. The weight's and bias's gradients stay this rank's own sums, as the
// DistributedDataParallel reducer averages them after. Outputs: y, and the global batch's mean and
// unbiased variance (fp64) for the running statistics.
struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                                const torch::Tensor& weight, const torch::Tensor& bias, double eps,
                                                const std::shared_ptr<ProcessGroup>& group) {
    const int64_t channels = x.size(1);
    const std::vector<int64_t> broadcastable{1, channels, 1, 1};
    // fp32 values square exactly in fp64 and sum there with rounding far below fp32's, so E[x²] − E[x]²
    // keeps the variance as exact as BatchNorm's own two-pass one in a single collective. The count
    // travels with the sums: the ranks' shards may differ in size (a dataset's last batch).
    const auto wide = x.to(torch::kFloat64);
    auto moments = torch::cat({wide.sum(kPerChannel), wide.square().sum(kPerChannel),
                               torch::full({1}, static_cast<double>(x.numel() / channels), wide.options())});
    group->sum(moments);
    const double n = moments[2 * channels].item<double>();
    if (n <= 1) {
      throw std::invalid_argument("BatchNorm needs more than 1 value per channel in training, got " +
                                  std::to_string(static_cast<int64_t>(n)) + " over all ranks: use a larger batch");
    }
    const auto mean = moments.narrow(0, 0, channels) / n;
    const auto variance = (moments.narrow(0, channels, channels) / n - mean.square()).clamp_min(0);
    const auto invstd = torch::rsqrt(variance + eps).to(x.scalar_type());
    const auto normalised = (x - mean.to(x.scalar_type()).view(broadcastable)) * invstd.view(broadcastable);
    const auto y = weight.defined() ? normalised * weight.view(broadcastable) + bias.view(broadcastable) : normalised;
    ctx->save_for_backward({normalised, invstd, weight});
    ctx->saved_data["group"] = c10::IValue::make_capsule(c10::make_intrusive<GroupHolder>(group));
    ctx->saved_data["count"] = n;
    const auto unbiased = variance * (n / (n - 1));
    ctx->mark_non_differentiable({mean, unbiased});
    return {y, mean, unbiased};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &normalised = saved[0], &invstd = saved[1], &weight = saved[2];
    const auto group = c10::static_intrusive_pointer_cast<GroupHolder>(ctx->saved_data["group"].toCapsule())->group;
    const double n = ctx->saved_data["count"].toDouble();
    const int64_t channels = normalised.size(1);
    const std::vector<int64_t> broadcastable{1, channels, 1, 1};
    const auto& dy = grads[0];
    const auto dNormalised = weight.defined() ? dy * weight.view(broadcastable) : dy;
    auto sums = torch::cat({dNormalised.sum(kPerChannel, false, torch::kFloat64),
                            (dNormalised * normalised).sum(kPerChannel, false, torch::kFloat64)});
    group->sum(sums);
    const auto meanD = (sums.narrow(0, 0, channels) / n).to(dy.scalar_type()).view(broadcastable);
    const auto meanDx = (sums.narrow(0, channels, channels) / n).to(dy.scalar_type()).view(broadcastable);
    const auto dx = (dNormalised - meanD - normalised * meanDx) * invstd.view(broadcastable);
    if (!weight.defined()) return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    return {dx, (dy * normalised).sum(kPerChannel), dy.sum(kPerChannel), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor syncBatchNorm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x,
                            const std::shared_ptr<ProcessGroup>& group) {
  const auto& options = bn.options;
  const auto input = x.to(torch::kFloat32);  // statistics in fp32, as BatchNorm keeps them under autocast
  const auto weight = options.affine() ? bn.weight : torch::Tensor();
  const auto bias = options.affine() ? bn.bias : torch::Tensor();
  const auto out = SyncBatchNormFunction::apply(input, weight, bias, options.eps(), group);
  if (options.track_running_stats()) {
    // As BatchNorm's own update: momentum, or a cumulative average without one.
    torch::NoGradGuard noGrad;
    bn.num_batches_tracked += 1;
    const double momentum = options.momentum() ? *options.momentum() : 1.0 / bn.num_batches_tracked.item<double>();
    bn.running_mean.mul_(1 - momentum).add_(out[1].to(torch::kFloat32), momentum);
    bn.running_var.mul_(1 - momentum).add_(out[2].to(torch::kFloat32), momentum);
  }
  return out[0].to(x.scalar_type());
}

}  // namespace

SyncBatchNormScope::SyncBatchNormScope(std::shared_ptr<ProcessGroup> group)
    : outer_(innermost), group_(std::move(group)) {
  innermost = &group_;
}

SyncBatchNormScope::~SyncBatchNormScope() { innermost = outer_; }

torch::Tensor batchNorm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  return innermost && bn.is_training() ? syncBatchNorm(bn, x, *innermost) : bn.forward(x);
}

}  // namespace kdtorch
