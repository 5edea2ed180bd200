// Runs native work off the JS thread and settles a Promise on it. Every call that touches
// tensors goes through here, so the JS thread never waits on libtorch.
#pragma once
#include <ATen/Parallel.h>
#include <napi.h>
#include <omp.h>
#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>

#include "../core/named_tensors.h"

namespace kdtorch::binding {

// A JS Error with a `code` property: lib/native/addon.ts turns it into a typed KdtorchError.
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

// Every libtorch call runs on this one thread, in the order submitted. One thread means one
// OpenMP team, as in a Python training loop; with libuv's four pool threads each running calls,
// each had its own team, and the idle teams' spin-waiting took the cores from the busy one
// (measured: up to 25% slower steps on 2 cores). It also keeps libuv's pool free for sharp's
// decoding, so a queue of decodes never delays a training step.
class TorchThread {
 public:
  static TorchThread& instance() {
    static TorchThread* thread = new TorchThread();  // never destroyed: exit must not join it
    return *thread;
  }

  void post(std::function<void()> task) {
    ++outstanding_;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

  // Nothing queued or running: a call made now on another thread has the cores to itself.
  bool idle() const { return outstanding_.load() == 0; }

 private:
  TorchThread() {
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    // libtorch's own worker threads do this first: it sets this thread's OpenMP and MKL thread
    // counts to at::get_num_threads(); a fresh thread otherwise runs some kernels single-threaded.
    at::init_num_threads();
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
      --outstanding_;
    }
  }

  std::atomic<int64_t> outstanding_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
};

// Work that runs on the torch thread, then settles its Promise on its Node environment's JS thread.
class Job {
 public:
  virtual ~Job() = default;
  virtual void run() = 0;                  // torch thread
  virtual void settle(Napi::Env env) = 0;  // JS thread
};

// Carries finished jobs back to one Node environment's JS thread. While jobs are pending it keeps
// the event loop alive, as a libuv request would; when none are, it lets the process exit.
class Completions {
 public:
  static void install(Napi::Env env) {
    auto* self = new Completions();
    self->tsfn_ = Tsfn::New(env, "kdtorch", 0, 1, self);
    self->tsfn_.Unref(env);
    current_ = self;
    env.AddCleanupHook([self] { self->tsfn_.Release(); });
  }

  // Called on a JS thread: the environment that installed Completions on this thread.
  static Completions& current() { return *current_; }

  void submit(Napi::Env env, Job* job) {
    if (pending_++ == 0) tsfn_.Ref(env);
    TorchThread::instance().post([this, job] {
      job->run();
      // Closing environment: the job and its references are abandoned with it.
      if (tsfn_.BlockingCall(job) != napi_ok) return;
    });
  }

 private:
  static void deliver(Napi::Env env, Napi::Function, Completions* self, Job* job) {
    std::unique_ptr<Job> owned(job);
    if (env == nullptr) return;
    if (--self->pending_ == 0) self->tsfn_.Unref(env);
    owned->settle(env);
  }

  using Tsfn = Napi::TypedThreadSafeFunction<Completions, Job, &Completions::deliver>;
  Tsfn tsfn_;
  size_t pending_ = 0;
  static inline thread_local Completions* current_ = nullptr;
};

// Runs `work` into `result`; a failure becomes the error code and message a rejected Promise carries.
template <typename Result>
bool capture(const std::function<Result()>& work, Result& result, std::string& code, std::string& message) {
  try {
    result = work();
    return true;
  } catch (const CodedError& error) {
    code = error.code;
    message = error.what();
  } catch (const c10::OutOfMemoryError& error) {
    // A device (or host) allocation that did not fit: callers fall back or say what to shrink.
    code = "E_OUT_OF_MEMORY";
    message = error.what_without_backtrace();
  } catch (const std::bad_alloc& error) {
    code = "E_OUT_OF_MEMORY";
    message = std::string("out of host memory (") + error.what() + ")";
  } catch (const c10::Error& error) {
    code = "E_TORCH";
    message = error.what_without_backtrace();
  } catch (const std::invalid_argument& error) {
    code = "E_INVALID_ARGUMENT";
    message = error.what();
  } catch (const std::exception& error) {
    code = "E_NATIVE";
    message = error.what();
  }
  return false;
}

// Readies the JS thread for a call it runs itself (PromiseJob::runHere): one OpenMP thread there, set for
// that thread alone. The torch thread keeps its team; two teams spinning on two cores make every parallel
// op about 2x slower, and at::set_num_threads would shrink MKL and oneDNN for the torch thread too.
inline void useOneThreadHere() {
  static thread_local const bool ready = [] {
    at::get_num_threads();  // libtorch's lazy per-thread setup first, or it would undo the next line later
    omp_set_num_threads(1);
    return true;
  }();
  (void)ready;
}

template <typename Result>
class PromiseJob : public Job {
 public:
  using Work = std::function<Result()>;
  using ToJs = std::function<Napi::Value(Napi::Env, Result&)>;

  // `keepAlive` holds JS values the work reads (input buffers, the owning objects) until it ends;
  // `busy` flags are already acquired (acquireAll) and are released when the promise settles.
  static Napi::Promise start(Napi::Env env, Work work, ToJs toJs, std::vector<BusyFlag*> busy = {},
                             std::vector<Napi::Value> keepAlive = {}) {
    auto* job = new PromiseJob(env, std::move(work), std::move(toJs), std::move(busy), keepAlive);
    auto promise = job->deferred_.Promise();
    Completions::current().submit(env, job);
    return promise;
  }

  void run() override { failed_ = !capture(work_, result_, code_, message_); }

  // Runs the work now, on the JS thread, single-threaded: for calls whose compute is shorter than the
  // round trip to the torch thread. The caller checks TorchThread::instance().idle() first.
  static Napi::Promise runHere(Napi::Env env, Work work, ToJs toJs) {
    useOneThreadHere();
    PromiseJob job(env, std::move(work), std::move(toJs), {}, {});
    job.run();
    job.settle(env);
    return job.deferred_.Promise();
  }

  void settle(Napi::Env env) override {
    for (auto* flag : busy_) flag->release();
    keepAlive_.clear();
    try {
      if (failed_) {
        deferred_.Reject(makeError(env, code_, message_).Value());
      } else {
        deferred_.Resolve(toJs_(env, result_));
      }
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  }

 private:
  PromiseJob(Napi::Env env, Work work, ToJs toJs, std::vector<BusyFlag*> busy,
             const std::vector<Napi::Value>& keepAlive)
      : deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        toJs_(std::move(toJs)),
        busy_(std::move(busy)) {
    // Node 20 refers only to objects; an absent optional argument (undefined) needs no keeping.
    for (const auto& value : keepAlive) {
      if (value.IsObject()) keepAlive_.push_back(Napi::Persistent(value));
    }
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs toJs_;
  std::vector<BusyFlag*> busy_;
  std::vector<Napi::Reference<Napi::Value>> keepAlive_;
  Result result_{};
  bool failed_ = false;
  std::string code_, message_;
};

}  // namespace kdtorch::binding
