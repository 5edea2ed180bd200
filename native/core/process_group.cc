#include "process_group.h"

// ProcessGroupGloo.hpp declares its classes only under USE_C10D_GLOO, as libtorch's own build defines it.
// Its gloo headers come from Debian's libgloo-dev (the wheel ships none); the gloo code itself is the copy
// inside libtorch_cpu: this file only holds pointers to gloo's types and calls libtorch's functions.
#define USE_C10D_GLOO
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

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

}  // namespace

ProcessGroup::ProcessGroup(const ProcessGroupSpec& spec) : spec_(spec) {
  if (spec.worldSize < 1 || spec.rank < 0 || spec.rank >= spec.worldSize) {
    throw std::invalid_argument("rank must lie in [0, worldSize): got rank " + std::to_string(spec.rank) +
                                " of worldSize " + std::to_string(spec.worldSize));
  }
  if (spec.masterPort < 1 || spec.masterPort > 65535) {
    throw std::invalid_argument("masterPort must lie in [1, 65535], got " + std::to_string(spec.masterPort));
  }
  const std::string where = spec.masterAddr + ":" + std::to_string(spec.masterPort);
  const std::string hint =
      "every rank must use the same MASTER_ADDR and MASTER_PORT, rank 0 must be able to "
      "listen on that port (not in use there) and the others to reach it, and all " +
      std::to_string(spec.worldSize) + " ranks must start within the timeout";
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(spec.masterPort);
    options.isServer = spec.rank == 0;
    options.numWorkers = spec.worldSize;
    options.timeout = spec.timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(spec.masterAddr, options);
    auto gloo = c10d::ProcessGroupGloo::Options::create(spec.timeout);
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(spec.masterAddr));
    backend_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, spec.rank, spec.worldSize, gloo);
  } catch (const c10::Error& error) {
    throw distributedError(spec, "joining the process group at " + where, error.what_without_backtrace(), hint);
  } catch (const std::exception& error) {
    throw distributedError(spec, "joining the process group at " + where, error.what(), hint);
  }
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
  size_t first = 0;
  while (first < tensors.size()) {
    // A bucket holds tensors of one dtype and device, up to kBucketBytes (at least one tensor).
    size_t last = first + 1;
    int64_t bytes = tensors[first].nbytes();
    while (last < tensors.size() && tensors[last].options().dtype() == tensors[first].options().dtype() &&
           tensors[last].device() == tensors[first].device() && bytes + tensors[last].nbytes() <= kBucketBytes) {
      bytes += tensors[last].nbytes();
      ++last;
    }
    std::vector<torch::Tensor> flat;
    for (size_t i = first; i < last; ++i) flat.push_back(tensors[i].reshape(-1));
    auto bucket = torch::cat(flat);
    reduce(bucket);
    int64_t offset = 0;
    for (size_t i = first; i < last; ++i) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(bucket.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
    first = last;
  }
}

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (spec_.worldSize == 1) return;
  bucketed(tensors, [this](torch::Tensor& bucket) {
    std::vector<torch::Tensor> io{bucket};
    collective("broadcast from rank 0", bucket.nbytes(),
               [&] { return backend_->broadcast(io, c10d::BroadcastOptions{}); });
  });
}

std::shared_ptr<GradientReducer> ProcessGroup::gradientReducer(const std::vector<torch::Tensor>& parameters) {
  return std::make_shared<GradientReducer>(*this, parameters);
}

void ProcessGroup::sum(const torch::Tensor& tensor) {
  if (spec_.worldSize == 1) return;
  std::vector<torch::Tensor> io{tensor};
  collective("all-reduce", tensor.nbytes(), [&] { return backend_->allreduce(io, c10d::AllreduceOptions{}); });
}

GradientReducer::GradientReducer(ProcessGroup& group, const std::vector<torch::Tensor>& parameters)
    : group_(group),
      parameters_(parameters),
      bucketOf_(parameters.size()),
      alive_(std::make_shared<GradientReducer*>(this)) {
  for (size_t i = parameters_.size(); i-- > 0;) {
    const auto& p = parameters_[i];
    const int64_t cap = buckets_.size() == 1 ? ProcessGroup::kFirstBucketBytes : ProcessGroup::kBucketBytes;
    const auto& head = buckets_.empty() ? p : parameters_[buckets_.back().members.front()];
    const bool fits = !buckets_.empty() && head.options().dtype() == p.options().dtype() &&
                      head.device() == p.device() && buckets_.back().bytes + static_cast<int64_t>(p.nbytes()) <= cap;
    if (!fits) buckets_.emplace_back();
    buckets_.back().members.push_back(i);
    buckets_.back().bytes += p.nbytes();
    bucketOf_[i] = buckets_.size() - 1;
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
  std::vector<torch::Tensor> flat;
  for (const size_t i : bucket.members) {
    auto& grad = parameters_[i].mutable_grad();
    if (!grad.defined()) grad = torch::zeros_like(parameters_[i]);
    flat.push_back(grad.reshape(-1));
  }
  bucket.flat = torch::cat(flat);
  bucket.started = std::chrono::steady_clock::now();
  std::vector<torch::Tensor> io{bucket.flat};
  try {
    bucket.work = group_.backend_->allreduce(io, c10d::AllreduceOptions{});
  } catch (const c10::Error& error) {
    throw distributedError(group_.spec_, "gradient all-reduce", error.what_without_backtrace(), kPeerHint);
  }
}

void GradientReducer::finish() {
  if (group_.worldSize() == 1) return reset();
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
    int64_t offset = 0;
    for (const size_t i : bucket.members) {
      auto& grad = parameters_[i].mutable_grad();
      const int64_t n = grad.numel();
      grad.copy_(bucket.flat.narrow(0, offset, n).view(grad.sizes()));
      offset += n;
    }
  }
  reset();
}

}  // namespace kdtorch
