// The processes that train one model together, over PyTorch's own distributed engine (c10d): a TCPStore
// for the rendezvous and a Gloo backend for the collectives, as torch.distributed's "gloo" process group,
// with NCCL beside it for CUDA tensors when asked (as "nccl", with a Gloo group for host values, as users
// of torch.distributed make one). What a DistributedDataParallel step needs from them: rank 0's state to
// every rank, gradients averaged.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <vector>

namespace kdtorch {

struct ProcessGroupSpec {
  std::string masterAddr;
  int masterPort = 0;
  int rank = 0;
  int worldSize = 1;
  // How long joining and each collective may wait for the other ranks before failing with E_DISTRIBUTED.
  std::chrono::milliseconds timeout{60000};
  // "gloo": every collective on Gloo. "nccl": those of CUDA tensors on NCCL (kdtorch_cuda.so), the host's
  // on Gloo.
  std::string backend = "gloo";
};

class GradientReducer;

class ProcessGroup {
 public:
  // Blocks until every rank has joined (rank 0 serves the store at masterAddr:masterPort).
  explicit ProcessGroup(const ProcessGroupSpec& spec);

  int rank() const { return spec_.rank; }
  int worldSize() const { return spec_.worldSize; }

  // Rank 0's values into every rank's tensors, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // What averages `parameters`' gradients over the ranks during each backward (GradientReducer); null
  // for one rank on Gloo.
  std::shared_ptr<GradientReducer> gradientReducer(const std::vector<torch::Tensor>& parameters);
  // The element-wise sum over the ranks, in place.
  void sum(const torch::Tensor& tensor);

  // Time spent in collectives and the bytes they moved, since the group was made: what a step pays for
  // the ranks (read from the JS thread while the torch thread adds to it).
  struct Communication {
    double seconds;
    int64_t bytes;
    int64_t collectives;
    int64_t overlappedBuckets;  // gradient buckets whose all-reduce started during backward
  };
  Communication communication() const {
    return {static_cast<double>(nanoseconds_.load()) * 1e-9, bytes_.load(), collectives_.load(), overlapped_.load()};
  }

  // DistributedDataParallel's default bucket_cap_mb (25), and its smaller first bucket (1 MiB), which
  // starts the first all-reduce early in backward.
  static constexpr int64_t kBucketBytes = 25 * 1024 * 1024;
  static constexpr int64_t kFirstBucketBytes = 1024 * 1024;

 private:
  friend class GradientReducer;
  // Runs one collective and waits for it; c10d's failures become E_DISTRIBUTED errors naming this rank.
  void collective(const char* what, int64_t bytes, const std::function<c10::intrusive_ptr<c10d::Work>()>& start);
  // Waits for a collective started at `started` and counts it (collective()'s second half).
  void wait(const char* what, int64_t bytes, const c10::intrusive_ptr<c10d::Work>& work,
            std::chrono::steady_clock::time_point started);
  void joinNccl(const c10::intrusive_ptr<c10d::Store>& store);
  // One rank on Gloo: nothing to exchange, so no collective runs. NCCL's world of one still runs its
  // collectives, as DDP at world size 1 does: a 1-GPU run is then a check of the NCCL path.
  bool alone() const { return spec_.worldSize == 1 && !nccl_; }
  // NCCL for a CUDA tensor when the group has it, else Gloo.
  c10d::Backend& backendFor(const torch::Tensor& tensor) const;
  // Tensors in buckets of at most kBucketBytes, each flattened, run through `reduce`, and copied back.
  void bucketed(const std::vector<torch::Tensor>& tensors, const std::function<void(torch::Tensor&)>& reduce);

  ProcessGroupSpec spec_;
  c10::intrusive_ptr<c10d::Backend> gloo_, nccl_;  // nccl_ null unless spec.backend is "nccl"
  std::atomic<int64_t> nanoseconds_{0}, bytes_{0}, collectives_{0}, overlapped_{0};
};

// DistributedDataParallel's reducer: the parameters in buckets (in reverse order, about the order backward
// makes their gradients; the first bucket small), a hook on each parameter's gradient accumulator, and
// each bucket's all-reduce started as soon as its gradients are all there, while backward goes on with
// the layers before it. Buckets start in order on every rank (a bucket waits for the ones before it),
// as collectives must be issued in the same order everywhere. The communication counted is the time
// finish() waits: what backward did not hide.
class GradientReducer {
 public:
  GradientReducer(ProcessGroup& group, const std::vector<torch::Tensor>& parameters);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // After backward: starts the buckets whose gradients did not all come (an absent one counts as zeros),
  // waits for every bucket and leaves each gradient its mean over the ranks.
  void finish();

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into parameters_
    size_t pending = 0;           // gradients not yet accumulated in this backward
    torch::Tensor flat;
    c10::intrusive_ptr<c10d::Work> work;
  };
  void ready(size_t parameter);  // from a gradient accumulator's hook, on the backward thread
  void start(Bucket& bucket);
  void reset();

  ProcessGroup& group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<size_t> bucketOf_;  // parameter index → bucket index
  std::vector<Bucket> buckets_;
  size_t nextToStart_ = 0;
  std::exception_ptr failure_;  // a collective that failed to start inside a hook, rethrown by finish()
  // The accumulators carry the hooks and die with their last owner; the hooks reach this object through
  // `alive_`, so a graph that outlives it finds the hook a no-op.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::shared_ptr<GradientReducer*> alive_;
};

}  // namespace kdtorch
