#include "process_group.h"

// ProcessGroupGloo.hpp declares its classes only under USE_C10D_GLOO, as libtorch's own build defines it.
// Its gloo headers come from Debian's libgloo-dev (the wheel ships none); the gloo code itself is the copy
// inside libtorch_cpu: this file only holds pointers to gloo's types and calls libtorch's functions.
#define USE_C10D_GLOO
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include <numeric>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "cuda_plugin.h"
#include "named_tensors.h"

namespace kdtorch {
namespace {

// `hint` says what to look at: the rendezvous address when joining, the other ranks afterwards.
CodedError distributedError(const ProcessGroupSpec& spec, const std::string& what, const std::string& cause,
                            const std::string& hint) {
  return CodedError("E_DISTRIBUTED", "rank " + std::to_string(spec.rank) + " of " + std::to_string(spec.worldSize) +
                                         ": " + what + " failed (" + cause + "); " + hint);
}

const char* const kPeerHint = "another rank stopped, crashed or cannot be reached: its own log says why";

// `order`'s tensors in buckets of consecutive ones of one dtype and device, each at most `firstCap` bytes
// for the first bucket and kBucketBytes after (at least one tensor each); as indices into `tensors`.
std::vector<std::vector<size_t>> inBuckets(const std::vector<torch::Tensor>& tensors, const std::vector<size_t>& order,
                                           int64_t firstCap) {
  std::vector<std::vector<size_t>> buckets;
  int64_t bytes = 0;
  for (const size_t i : order) {
    const auto& t = tensors[i];
    const int64_t cap = buckets.size() == 1 ? firstCap : ProcessGroup::kBucketBytes;
    const bool fits = !buckets.empty() && tensors[buckets.back().front()].options().dtype() == t.options().dtype() &&
                      tensors[buckets.back().front()].device() == t.device() &&
                      bytes + static_cast<int64_t>(t.nbytes()) <= cap;
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(i);
    bytes += t.nbytes();
  }
  return buckets;
}

// One flat tensor of `parts`' values, one after another; unflatten() copies them back.
torch::Tensor flatten(const std::vector<torch::Tensor>& parts) {
  std::vector<torch::Tensor> flat;
  for (const auto& part : parts) flat.push_back(part.reshape(-1));
  return torch::cat(flat);
}

void unflatten(const torch::Tensor& flat, const std::vector<torch::Tensor>& parts) {
  int64_t offset = 0;
  for (const auto& part : parts) {
    const int64_t n = part.numel();
    part.copy_(flat.narrow(0, offset, n).view(part.sizes()));
    offset += n;
  }
}

}  // namespace

ProcessGroup::ProcessGroup(const ProcessGroupSpec& spec) : spec_(spec) {
  if (spec.worldSize < 1 || spec.rank < 0 || spec.rank >= spec.worldSize) {
    throw std::invalid_argument("rank must lie in [0, worldSize): got rank " + std::to_string(spec.rank) +
                                " of worldSize " + std::to_string(spec.worldSize));
  }
  if (spec.backend != "gloo" && spec.backend != "nccl") {
    throw std::invalid_argument("backend must be 'gloo' or 'nccl', got '" + spec.backend + "'");
  }
  if (spec.masterPort < 1 || spec.masterPort > 65535) {
    throw std::invalid_argument("masterPort must lie in [1, 65535], got " + std::to_string(spec.masterPort));
  }
  const std::string where = spec.masterAddr + ":" + std::to_string(spec.masterPort);
  const std::string hint =
      "every rank must use the same MASTER_ADDR and MASTER_PORT, rank 0 must be able to "
      "listen on that port (not in use there) and the others to reach it, and all " +
      std::to_string(spec.worldSize) + " ranks must start within the timeout";
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(spec.masterPort);
    options.isServer = spec.rank == 0;
    options.numWorkers = spec.worldSize;
    options.timeout = spec.timeout;
    store = c10::make_intrusive<c10d::TCPStore>(spec.masterAddr, options);
    auto gloo = c10d::ProcessGroupGloo::Options::create(spec.timeout);
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(spec.masterAddr));
    gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, spec.rank, spec.worldSize, gloo);
  } catch (const c10::Error& error) {
    throw distributedError(spec, "joining the process group at " + where, error.what_without_backtrace(), hint);
  } catch (const std::exception& error) {
    throw distributedError(spec, "joining the process group at " + where, error.what(), hint);
  }
  if (spec.backend == "nccl") joinNccl(store);
}

void ProcessGroup::joinNccl(const c10::intrusive_ptr<c10d::Store>& store) {
  const std::string hint =
      "backend 'nccl' needs kdtorch's CUDA library and a CUDA device for each local rank (cuda:LOCAL_RANK); "
      "on CPUs use 'gloo'";
  const auto& plugin = cudaPlugin();
  if (!plugin.ncclBackend) throw distributedError(spec_, "making the NCCL backend", plugin.error, hint);
  try {
    // Its own key space in the store, as torch.distributed gives each group.
    auto keys = c10::make_intrusive<c10d::PrefixStore>("nccl", store);
    nccl_ = c10::intrusive_ptr<c10d::Backend>::reclaim(
        plugin.ncclBackend(keys, spec_.rank, spec_.worldSize, spec_.timeout.count()));
  } catch (const c10::Error& error) {
    throw distributedError(spec_, "making the NCCL backend", error.what_without_backtrace(), hint);
  }
}

c10d::Backend& ProcessGroup::backendFor(const torch::Tensor& tensor) const {
  return nccl_ && tensor.is_cuda() ? *nccl_ : *gloo_;
}

void ProcessGroup::collective(const char* what, int64_t bytes,
                              const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
  const auto started = std::chrono::steady_clock::now();
  c10::intrusive_ptr<c10d::Work> work;
  try {
    work = start();
  } catch (const c10::Error& error) {
    throw distributedError(spec_, what, error.what_without_backtrace(), kPeerHint);
  }
  wait(what, bytes, work, started);
}

void ProcessGroup::wait(const char* what, int64_t bytes, const c10::intrusive_ptr<c10d::Work>& work,
                        std::chrono::steady_clock::time_point started) {
  try {
    work->wait(spec_.timeout);
    nanoseconds_ +=
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count();
    bytes_ += bytes;
    ++collectives_;
  } catch (const c10::Error& error) {
    throw distributedError(spec_, what, error.what_without_backtrace(), kPeerHint);
  } catch (const std::exception& error) {
    throw distributedError(spec_, what, error.what(), kPeerHint);
  }
}

void ProcessGroup::bucketed(const std::vector<torch::Tensor>& tensors,
                            const std::function<void(torch::Tensor&)>& reduce) {
  torch::NoGradGuard noGrad;
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  for (const auto& members : inBuckets(tensors, order, kBucketBytes)) {
    std::vector<torch::Tensor> parts;
    for (const size_t i : members) parts.push_back(tensors[i]);
    auto bucket = flatten(parts);
    reduce(bucket);
    unflatten(bucket, parts);
  }
}

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (alone()) return;
  bucketed(tensors, [this](torch::Tensor& bucket) {
    std::vector<torch::Tensor> io{bucket};
    collective("broadcast from rank 0", bucket.nbytes(),
               [&] { return backendFor(bucket).broadcast(io, c10d::BroadcastOptions{}); });
  });
}

std::shared_ptr<GradientReducer> ProcessGroup::gradientReducer(const std::vector<torch::Tensor>& parameters) {
  if (alone()) return nullptr;  // nothing to average: no hooks, no copies
  return std::make_shared<GradientReducer>(*this, parameters);
}

void ProcessGroup::sum(const torch::Tensor& tensor) {
  if (alone()) return;
  std::vector<torch::Tensor> io{tensor};
  collective("all-reduce", tensor.nbytes(), [&] { return backendFor(tensor).allreduce(io, c10d::AllreduceOptions{}); });
}

GradientReducer::GradientReducer(ProcessGroup& group, const std::vector<torch::Tensor>& parameters)
    : group_(group),
      parameters_(parameters),
      bucketOf_(parameters.size()),
      alive_(std::make_shared<GradientReducer*>(this)) {
  // Reverse order: about the order backward makes the gradients; the first bucket small, to start early.
  std::vector<size_t> order(parameters_.size());
  std::iota(order.rbegin(), order.rend(), 0);
  for (auto& members : inBuckets(parameters_, order, ProcessGroup::kFirstBucketBytes)) {
    for (const size_t i : members) bucketOf_[i] = buckets_.size();
    buckets_.push_back({std::move(members)});
  }
  std::weak_ptr<GradientReducer*> alive = alive_;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    auto accumulator = torch::autograd::impl::grad_accumulator(parameters_[i]);
    accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [alive, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          if (auto self = alive.lock()) (*self)->ready(i);
          return outputs;
        }));
    accumulators_.push_back(std::move(accumulator));
  }
  reset();
}

GradientReducer::~GradientReducer() { alive_.reset(); }

void GradientReducer::reset() {
  for (auto& bucket : buckets_) {
    bucket.pending = bucket.members.size();
    bucket.work.reset();
  }
  nextToStart_ = 0;
  failure_ = nullptr;
}

void GradientReducer::ready(size_t parameter) {
  auto& bucket = buckets_[bucketOf_[parameter]];
  if (bucket.pending == 0) return;  // a second backward through it before finish(): counted once
  --bucket.pending;
  while (!failure_ && nextToStart_ < buckets_.size() && buckets_[nextToStart_].pending == 0) {
    try {
      start(buckets_[nextToStart_]);
      ++group_.overlapped_;
    } catch (...) {
      failure_ = std::current_exception();  // thrown through autograd it would lose its E_DISTRIBUTED code
    }
    ++nextToStart_;
  }
}

void GradientReducer::start(Bucket& bucket) {
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> grads;
  for (const size_t i : bucket.members) {
    auto& grad = parameters_[i].mutable_grad();
    if (!grad.defined()) grad = torch::zeros_like(parameters_[i]);
    grads.push_back(grad);
  }
  bucket.flat = flatten(grads);
  std::vector<torch::Tensor> io{bucket.flat};
  try {
    bucket.work = group_.backendFor(bucket.flat).allreduce(io, c10d::AllreduceOptions{});
  } catch (const c10::Error& error) {
    throw distributedError(group_.spec_, "gradient all-reduce", error.what_without_backtrace(), kPeerHint);
  }
}

void GradientReducer::finish() {
  if (failure_) {
    auto failure = failure_;
    reset();
    std::rethrow_exception(failure);
  }
  for (; nextToStart_ < buckets_.size(); ++nextToStart_) start(buckets_[nextToStart_]);
  torch::NoGradGuard noGrad;
  const double ranks = group_.worldSize();
  for (auto& bucket : buckets_) {
    // Only the wait counts: the time backward did not hide.
    group_.wait("gradient all-reduce", bucket.flat.nbytes(), bucket.work, std::chrono::steady_clock::now());
    bucket.flat.div_(ranks);
    std::vector<torch::Tensor> grads;
    for (const size_t i : bucket.members) grads.push_back(parameters_[i].grad());
    unflatten(bucket.flat, grads);
  }
  reset();
}

}  // namespace kdtorch
