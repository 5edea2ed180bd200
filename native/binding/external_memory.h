// Native bytes held behind a small JS object, reported to V8 (napi_adjust_external_memory) so that its
// GC feels their weight: objects made in a loop and dropped are collected before they fill the machine.
#pragma once
#include <napi.h>

#include <cstdint>

namespace kdtorch::binding {

class ExternalMemory {
 public:
  void report(Napi::Env env, int64_t bytes) {
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
    bytes_ += bytes;
  }
  // Once the bytes are freed (dispose) or about to be (the finalizer); a second call does nothing.
  void release(Napi::Env env) {
    if (bytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -bytes_);
    bytes_ = 0;
  }

 private:
  int64_t bytes_ = 0;
};

}  // namespace kdtorch::binding
