// The addon's entry point: registers functions and nothing else (the work lives in native/core).
#include <napi.h>

#include "async.h"
#include "exports.h"
#include "model_wrap.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new kdtorch::binding::Constructors());
  kdtorch::binding::Completions::install(env);
  kdtorch::binding::registerRuntime(env, exports);
  kdtorch::binding::registerModel(env, exports);
  kdtorch::binding::registerTrainer(env, exports);
  kdtorch::binding::registerImage(env, exports);
  kdtorch::binding::registerPixelStore(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(kdtorch, init)
