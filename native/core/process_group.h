// The processes that train one model together, over PyTorch's own distributed engine (c10d): a TCPStore
// for the rendezvous and a Gloo backend for the collectives, as torch.distributed's "gloo" process group.
// What a DistributedDataParallel step needs from them: rank 0's state to every rank, gradients averaged.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cstdint>
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
};

class ProcessGroup {
 public:
  // Blocks until every rank has joined (rank 0 serves the store at masterAddr:masterPort).
  explicit ProcessGroup(const ProcessGroupSpec& spec);

  int rank() const { return spec_.rank; }
  int worldSize() const { return spec_.worldSize; }

  // Rank 0's values into every rank's tensors, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // Every parameter's gradient replaced by its mean over the ranks (an absent gradient counts as zeros),
  // in buckets of at most kBucketBytes, as DistributedDataParallel's reducer averages them.
  void averageGradients(const std::vector<torch::Tensor>& parameters);
  // The element-wise sum over the ranks, in place.
  void sum(const torch::Tensor& tensor);

  // Time spent in collectives and the bytes they moved, since the group was made: what a step pays for
  // the ranks (read from the JS thread while the torch thread adds to it).
  struct Communication {
    double seconds;
    int64_t bytes;
    int64_t collectives;
  };
  Communication communication() const {
    return {static_cast<double>(nanoseconds_.load()) * 1e-9, bytes_.load(), collectives_.load()};
  }

  // DistributedDataParallel's default bucket_cap_mb (25).
  static constexpr int64_t kBucketBytes = 25 * 1024 * 1024;

 private:
  // Runs one collective and waits for it; c10d's failures become E_DISTRIBUTED errors naming this rank.
  void collective(const char* what, int64_t bytes, const std::function<c10::intrusive_ptr<c10d::Work>()>& start);
  // Tensors in buckets of at most kBucketBytes, each flattened, run through `reduce`, and copied back.
  void bucketed(const std::vector<torch::Tensor>& tensors, const std::function<void(torch::Tensor&)>& reduce);

  ProcessGroupSpec spec_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  std::atomic<int64_t> nanoseconds_{0}, bytes_{0}, collectives_{0};
};

}  // namespace kdtorch
