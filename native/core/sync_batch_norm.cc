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

// The element-wise sum over the ranks, differentiable: every rank's output is the same sum, so the
// gradient of its input is every rank's gradient summed (torch.distributed.nn's all_reduce rule).
struct SumOverRanks : torch::autograd::Function<SumOverRanks> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& local,
                               const std::shared_ptr<ProcessGroup>& group) {
    ctx->saved_data["group"] = c10::IValue::make_capsule(c10::make_intrusive<GroupHolder>(group));
    auto total = local.clone(at::MemoryFormat::Contiguous);
    group->sum(total);
    return total;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto holder = c10::static_intrusive_pointer_cast<GroupHolder>(ctx->saved_data["group"].toCapsule());
    auto total = grads[0].clone(at::MemoryFormat::Contiguous);  // an incoming gradient may be expanded
    holder->group->sum(total);
    return {total, torch::Tensor()};
  }
};

torch::Tensor syncBatchNorm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x,
                            const std::shared_ptr<ProcessGroup>& group) {
  const auto& options = bn.options;
  const auto input = x.to(torch::kFloat32);  // statistics in fp32, as BatchNorm keeps them under autocast
  const int64_t channels = input.size(1);
  const std::vector<int64_t> perChannel{0, 2, 3};
  const std::vector<int64_t> broadcastable{1, channels, 1, 1};
  // The count travels with the sums: the ranks' shards may differ in size (a dataset's last batch).
  const auto count = torch::full({1}, static_cast<double>(input.numel() / channels), input.options());
  const auto sums = SumOverRanks::apply(torch::cat({input.sum(perChannel), count}), group);
  const double n = sums[channels].item<double>();
  if (n <= 1) {
    throw std::invalid_argument("BatchNorm needs more than 1 value per channel in training, got " +
                                std::to_string(static_cast<int64_t>(n)) + " over all ranks: use a larger batch");
  }
  const auto mean = sums.narrow(0, 0, channels) / n;
  const auto centred = input - mean.view(broadcastable);
  const auto variance = SumOverRanks::apply(centred.square().sum(perChannel), group) / n;
  auto y = centred * torch::rsqrt(variance + options.eps()).view(broadcastable);
  if (options.affine()) y = y * bn.weight.view(broadcastable) + bn.bias.view(broadcastable);
  if (options.track_running_stats()) {
    // As BatchNorm's own update: momentum, or a cumulative average without one; the running variance unbiased.
    torch::NoGradGuard noGrad;
    bn.num_batches_tracked += 1;
    const double momentum = options.momentum() ? *options.momentum() : 1.0 / bn.num_batches_tracked.item<double>();
    bn.running_mean.mul_(1 - momentum).add_(mean.detach(), momentum);
    bn.running_var.mul_(1 - momentum).add_(variance.detach() * (n / (n - 1)), momentum);
  }
  return y.to(x.scalar_type());
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
