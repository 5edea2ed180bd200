// The JS class NativeModel: one per network, made by createModel().
#pragma once
#include <napi.h>

#include <memory>

#include "convert.h"
#include "external_memory.h"

namespace kdtorch::binding {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& args);
  ~ModelWrap() override;

  // The model behind a JS value that must be a NativeModel; throws E_INVALID_ARGUMENT otherwise.
  static std::shared_ptr<ModelHandle> unwrap(Napi::Env env, const Napi::Value& value, const std::string& what);

 private:
  Napi::Value forward(const Napi::CallbackInfo& args);
  Napi::Value setTraining(const Napi::CallbackInfo& args);
  Napi::Value moveTo(const Napi::CallbackInfo& args);
  Napi::Value loadWeights(const Napi::CallbackInfo& args);
  Napi::Value saveWeights(const Napi::CallbackInfo& args);
  Napi::Value parameterCount(const Napi::CallbackInfo& args);
  Napi::Value copyStateDict(const Napi::CallbackInfo& args);
  Napi::Value device(const Napi::CallbackInfo& args);
  Napi::Value training(const Napi::CallbackInfo& args);
  Napi::Value precision(const Napi::CallbackInfo& args);  // what runs: the spec's 'auto' resolved
  Napi::Value dispose(const Napi::CallbackInfo& args);

  // The model, or E_RELEASED once dispose() ran.
  const std::shared_ptr<ModelHandle>& live(Napi::Env env) const;

  std::shared_ptr<ModelHandle> handle_;
  ExternalMemory memory_;
};

// Constructors kept per Node environment (worker threads each have their own).
struct Constructors {
  Napi::FunctionReference model, trainer, evaluator, pixelStore, processGroup;
};

}  // namespace kdtorch::binding
