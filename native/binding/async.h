// Runs native work on the libuv thread pool and settles a Promise on the JS thread. Every call
// that touches tensors goes through here, so the JS thread never waits on libtorch.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <functional>
#include <string>
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
