// Runs native work on the libuv thread pool and settles a Promise on the JS thread. Every call
// that touches tensors goes through here, so the JS thread never waits on libtorch.
#pragma once
#include <ATen/Parallel.h>
#include <napi.h>
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "../core/named_tensors.h"

namespace kdtorch::binding {

// A JS Error with a `code` property: lib/native.ts turns it into a typed KdtorchError.
inline Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

// Rejects a second call on one native object while the first still runs: two pool threads
// must never mutate one module. Only touched on the JS thread, so a plain bool suffices.
class BusyFlag {
 public:
  bool tryAcquire() {
    if (busy_) return false;
    busy_ = true;
    return true;
  }
  void release() { busy_ = false; }

 private:
  bool busy_ = false;
};

// Acquires every flag or none: a step that uses a student and its teacher holds both.
inline std::vector<BusyFlag*> acquireAll(Napi::Env env, std::vector<BusyFlag*> flags, const std::string& what) {
  for (size_t i = 0; i < flags.size(); ++i) {
    if (!flags[i]->tryAcquire()) {
      for (size_t j = 0; j < i; ++j) flags[j]->release();
      throw makeError(env, "E_BUSY",
                      what + " is busy with another call; await it first (the TypeScript objects queue calls for you)");
    }
  }
  return flags;
}

// Every libtorch call runs on this one thread, in the order submitted. A libuv pool thread hands
// its work here and waits (blocked, not spinning). One thread means one OpenMP team, as in a Python
// training loop; with the pool's four threads each running calls, each had its own team, and the
// idle teams' spin-waiting took the cores from the busy one (measured: up to 25% slower steps on
// 2 cores). It also serialises all native work, which libtorch's CPU kernels expect.
class TorchThread {
 public:
  static TorchThread& instance() {
    static TorchThread* thread = new TorchThread();  // never destroyed: exit must not join it
    return *thread;
  }

  // Runs `task` on the torch thread and returns when it is done, rethrowing what it threw.
  void run(std::function<void()> task) {
    std::packaged_task<void()> job(std::move(task));
    auto done = job.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    done.get();
  }

 private:
  TorchThread() {
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    // libtorch's own worker threads do this first: it sets this thread's OpenMP and MKL thread
    // counts to at::get_num_threads(); a fresh thread otherwise runs some kernels single-threaded.
    at::init_num_threads();
    while (true) {
      std::packaged_task<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> queue_;
};

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using ToJs = std::function<Napi::Value(Napi::Env, Result&)>;

  // `keepAlive` holds JS values the work reads (input buffers, the owning objects) until it ends;
  // `busy` flags are already acquired (acquireAll) and are released when the promise settles.
  static Napi::Promise start(Napi::Env env, Work work, ToJs toJs, std::vector<BusyFlag*> busy = {},
                             std::vector<Napi::Value> keepAlive = {}) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(toJs), busy, keepAlive);
    auto promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    TorchThread::instance().run([this] { runWork(); });
  }

  void runWork() {
    try {
      result_ = work_();
    } catch (const CodedError& error) {
      code_ = error.code;
      SetError(error.what());
    } catch (const c10::Error& error) {
      code_ = "E_TORCH";
      SetError(error.what_without_backtrace());
    } catch (const std::invalid_argument& error) {
      code_ = "E_INVALID_ARGUMENT";
      SetError(error.what());
    } catch (const std::exception& error) {
      code_ = "E_NATIVE";
      SetError(error.what());
    }
  }

  void OnOK() override {
    settle();
    deferred_.Resolve(toJs_(Env(), result_));
  }

  void OnError(const Napi::Error& error) override {
    settle();
    deferred_.Reject(makeError(Env(), code_, error.Message()).Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, ToJs toJs, std::vector<BusyFlag*> busy,
                const std::vector<Napi::Value>& keepAlive)
      : Napi::AsyncWorker(env, "kdtorch"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        toJs_(std::move(toJs)),
        busy_(std::move(busy)) {
    for (const auto& value : keepAlive) keepAlive_.push_back(Napi::Persistent(value));
  }

  void settle() {
    for (auto* flag : busy_) flag->release();
    keepAlive_.clear();
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs toJs_;
  std::vector<BusyFlag*> busy_;
  std::vector<Napi::Reference<Napi::Value>> keepAlive_;
  Result result_{};
  std::string code_ = "E_NATIVE";
};

}  // namespace kdtorch::binding
