// The JS class NativePixelStore: a dataset's decoded pixels on a model's device (core PixelStore).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "../core/image_batch.h"

namespace kdtorch::binding {

class PixelStoreWrap : public Napi::ObjectWrap<PixelStoreWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit PixelStoreWrap(const Napi::CallbackInfo& args);

  // Whether `value` is a NativePixelStore; its store when it is.
  static std::shared_ptr<PixelStore> unwrapIf(Napi::Env env, const Napi::Value& value);

 private:
  Napi::Value put(const Napi::CallbackInfo& args);
  Napi::Value release(const Napi::CallbackInfo& args);
  Napi::Value byteLength(const Napi::CallbackInfo& args);
  // The store, or E_RELEASED once release() ran.
  const std::shared_ptr<PixelStore>& live(Napi::Env env) const;

  std::shared_ptr<PixelStore> store_;
};

}  // namespace kdtorch::binding
