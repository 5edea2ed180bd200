// info() and checkDevice(): argument conversion and workers over core/runtime.
#include "../core/runtime.h"

#include "../core/cpu_block_cache.h"
#include "async.h"
#include "exports.h"

namespace kdtorch::binding {
namespace {

Napi::Value info(const Napi::CallbackInfo& args) {
  return PromiseJob<RuntimeInfo>::start(args.Env(), collectRuntimeInfo, [](Napi::Env env, RuntimeInfo& info) {
    auto out = Napi::Object::New(env);
    out.Set("torchBuilt", info.torchBuilt);
    out.Set("cudaAvailable", info.cudaAvailable);
    auto devices = Napi::Array::New(env, info.devices.size());
    for (size_t i = 0; i < info.devices.size(); ++i) {
      const auto& d = info.devices[i];
      auto device = Napi::Object::New(env);
      device.Set("index", d.index);
      device.Set("name", d.name);
      device.Set("totalMemoryBytes", static_cast<double>(d.totalMemoryBytes));
      device.Set("capability", std::to_string(d.capabilityMajor) + "." + std::to_string(d.capabilityMinor));
      devices.Set(i, device);
    }
    out.Set("devices", devices);
    out.Set("cudnnVersion", info.cudnnVersion < 0 ? env.Null() : Napi::Number::New(env, info.cudnnVersion));
    out.Set("threads", info.threads);
    auto cpu = Napi::Object::New(env);
    cpu.Set("name", info.cpu.name);
    cpu.Set("physicalCores", static_cast<double>(info.cpu.physicalCores));
    cpu.Set("avx512Bf16", info.cpu.avx512Bf16);
    cpu.Set("amxBf16", info.cpu.amxBf16);
    cpu.Set("onednn", info.cpu.onednn);
    cpu.Set("nativeBf16", info.cpu.nativeBf16);
    out.Set("cpu", cpu);
    out.Set("cudnnBenchmark", info.cudnnBenchmark);
    out.Set("cudaGraphsUnavailable",
            info.cudaGraphsUnavailable.empty() ? env.Null() : Napi::String::New(env, info.cudaGraphsUnavailable));
    return out;
  });
}

Napi::Value checkDeviceBinding(const Napi::CallbackInfo& args) {
  const std::string device = args[0].As<Napi::String>();
  const int64_t size = args[1].As<Napi::Number>().Int64Value();
  const uint64_t seed = static_cast<uint64_t>(args[2].As<Napi::Number>().Int64Value());
  return PromiseJob<DeviceCheck>::start(
      args.Env(), [=] { return checkDevice(device, size, seed); },
      [](Napi::Env env, DeviceCheck& check) {
        auto out = Napi::Object::New(env);
        out.Set("device", check.device);
        out.Set("checksum", check.checksum);
        out.Set("milliseconds", check.milliseconds);
        return out;
      });
}

// Synchronous: it sets a flag, which cuDNN reads when it next picks an algorithm for a new shape.
Napi::Value setCudnnBenchmarkBinding(const Napi::CallbackInfo& args) {
  setCudnnBenchmark(args[0].As<Napi::Boolean>());
  return args.Env().Undefined();
}

// Synchronous, as both only take the cache's lock: no tensor work.
Napi::Value cpuBlockCacheBinding(const Napi::CallbackInfo& args) {
  const auto stats = cpuBlockCacheStats();
  auto out = Napi::Object::New(args.Env());
  out.Set("cachedBytes", static_cast<double>(stats.cachedBytes));
  out.Set("liveBytes", static_cast<double>(stats.liveBytes));
  out.Set("limitBytes", static_cast<double>(stats.limitBytes));
  out.Set("hits", static_cast<double>(stats.hits));
  out.Set("misses", static_cast<double>(stats.misses));
  return out;
}

Napi::Value releaseCpuBlockCacheBinding(const Napi::CallbackInfo& args) {
  releaseCpuBlockCache();
  return args.Env().Undefined();
}

}  // namespace

void registerRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, info, "info"));
  exports.Set("checkDevice", Napi::Function::New(env, checkDeviceBinding, "checkDevice"));
  exports.Set("setCudnnBenchmark", Napi::Function::New(env, setCudnnBenchmarkBinding, "setCudnnBenchmark"));
  exports.Set("cpuBlockCache", Napi::Function::New(env, cpuBlockCacheBinding, "cpuBlockCache"));
  exports.Set("releaseCpuBlockCache", Napi::Function::New(env, releaseCpuBlockCacheBinding, "releaseCpuBlockCache"));
}

}  // namespace kdtorch::binding
