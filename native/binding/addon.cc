// The addon's entry point: installs the CPU block cache and registers functions (the work lives in native/core).
#include <napi.h>

#include "../core/cpu_block_cache.h"
#include "async.h"
#include "exports.h"
#include "model_wrap.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  kdtorch::installCpuBlockCache();  // before any tensor of ours is allocated
  env.SetInstanceData(new kdtorch::binding::Constructors());
  kdtorch::binding::Completions::install(env);
  kdtorch::binding::registerRuntime(env, exports);
  kdtorch::binding::registerModel(env, exports);
  kdtorch::binding::registerTrainer(env, exports);
  kdtorch::binding::registerImage(env, exports);
  kdtorch::binding::registerPixelStore(env, exports);
  kdtorch::binding::registerAugment(env, exports);
  kdtorch::binding::registerProcessGroup(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(kdtorch, init)
