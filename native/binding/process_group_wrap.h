// The JS class NativeProcessGroup: this process's place among the ranks training together (core ProcessGroup).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "../core/process_group.h"

namespace kdtorch::binding {

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ProcessGroupWrap(const Napi::CallbackInfo& args);

  // `value`'s group; E_INVALID_ARGUMENT naming `what` when it is not a NativeProcessGroup.
  static std::shared_ptr<ProcessGroup> unwrap(Napi::Env env, const Napi::Value& value, const std::string& what);

 private:
  Napi::Value rank(const Napi::CallbackInfo& args);
  Napi::Value worldSize(const Napi::CallbackInfo& args);
  Napi::Value communication(const Napi::CallbackInfo& args);
  Napi::Value sum(const Napi::CallbackInfo& args);

  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace kdtorch::binding
