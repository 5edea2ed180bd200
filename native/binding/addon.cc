// The addon's entry point: registers functions and nothing else (the work lives in native/core).
#include <napi.h>

#include "exports.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  kdtorch::binding::registerRuntime(env, exports);
  kdtorch::binding::registerModel(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(kdtorch, init)
