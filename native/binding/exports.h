// Each binding file registers its functions on the addon's exports.
#pragma once
#include <napi.h>

namespace kdtorch::binding {

void registerRuntime(Napi::Env env, Napi::Object exports);
void registerModel(Napi::Env env, Napi::Object exports);
void registerTrainer(Napi::Env env, Napi::Object exports);
void registerImage(Napi::Env env, Napi::Object exports);
void registerPixelStore(Napi::Env env, Napi::Object exports);
void registerAugment(Napi::Env env, Napi::Object exports);
void registerProcessGroup(Napi::Env env, Napi::Object exports);

}  // namespace kdtorch::binding
