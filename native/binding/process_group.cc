// NativeProcessGroup: joinProcessGroup({masterAddr, masterPort, rank, worldSize, timeoutMs, backend}), argument
// conversion and the torch-thread job over core ProcessGroup.
#include "exports.h"
#include "model_wrap.h"
#include "process_group_wrap.h"

namespace kdtorch::binding {
namespace {

int readInteger(Napi::Env env, const Napi::Object& spec, const char* key) {
  const auto value = spec.Get(key);
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (number < 0 || number > 2147483647 || number != static_cast<double>(static_cast<int>(number))) {
    throw makeError(env, "E_INVALID_ARGUMENT", std::string("joinProcessGroup: ") + key + " must be an integer >= 0");
  }
  return static_cast<int>(number);
}

// joinProcessGroup(spec) → Promise<NativeProcessGroup>, settled once every rank has joined.
Napi::Value joinProcessGroup(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  if (!args[0].IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", "joinProcessGroup: spec must be an object");
  auto o = args[0].As<Napi::Object>();
  ProcessGroupSpec spec;
  if (!o.Get("masterAddr").IsString()) {
    throw makeError(env, "E_INVALID_ARGUMENT", "joinProcessGroup: masterAddr must be a host name or address");
  }
  spec.masterAddr = o.Get("masterAddr").ToString();
  spec.masterPort = readInteger(env, o, "masterPort");
  spec.rank = readInteger(env, o, "rank");
  spec.worldSize = readInteger(env, o, "worldSize");
  spec.timeout = std::chrono::milliseconds(readInteger(env, o, "timeoutMs"));
  if (o.Has("backend") && !o.Get("backend").IsUndefined()) spec.backend = o.Get("backend").ToString().Utf8Value();
  return PromiseJob<std::shared_ptr<ProcessGroup>>::start(
      env, [spec] { return std::make_shared<ProcessGroup>(spec); },
      [](Napi::Env env, std::shared_ptr<ProcessGroup>& group) -> Napi::Value {
        return env.GetInstanceData<Constructors>()->processGroup.New(
            {Napi::External<std::shared_ptr<ProcessGroup>>::New(env, &group)});
      });
}

}  // namespace

Napi::Function ProcessGroupWrap::define(Napi::Env env) {
  return DefineClass(
      env, "NativeProcessGroup",
      {InstanceAccessor<&ProcessGroupWrap::rank>("rank"), InstanceAccessor<&ProcessGroupWrap::worldSize>("worldSize"),
       InstanceMethod<&ProcessGroupWrap::communication>("communication"),
       InstanceMethod<&ProcessGroupWrap::sum>("sum")});
}

ProcessGroupWrap::ProcessGroupWrap(const Napi::CallbackInfo& args) : Napi::ObjectWrap<ProcessGroupWrap>(args) {
  if (args.Length() != 1 || !args[0].IsExternal()) {
    throw makeError(args.Env(), "E_INVALID_ARGUMENT", "NativeProcessGroup is made by joinProcessGroup(), not new");
  }
  group_ = *args[0].As<Napi::External<std::shared_ptr<ProcessGroup>>>().Data();
}

std::shared_ptr<ProcessGroup> ProcessGroupWrap::unwrap(Napi::Env env, const Napi::Value& value,
                                                       const std::string& what) {
  auto constructor = env.GetInstanceData<Constructors>()->processGroup.Value();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor)) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + " must be a process group made by joinProcessGroup()");
  }
  return Unwrap(value.As<Napi::Object>())->group_;
}

Napi::Value ProcessGroupWrap::rank(const Napi::CallbackInfo& args) {
  return Napi::Number::New(args.Env(), group_->rank());
}

Napi::Value ProcessGroupWrap::worldSize(const Napi::CallbackInfo& args) {
  return Napi::Number::New(args.Env(), group_->worldSize());
}

// Synchronous: it reads three counters, no tensor work.
Napi::Value ProcessGroupWrap::communication(const Napi::CallbackInfo& args) {
  const auto c = group_->communication();
  auto out = Napi::Object::New(args.Env());
  out.Set("seconds", c.seconds);
  out.Set("bytes", static_cast<double>(c.bytes));
  out.Set("collectives", static_cast<double>(c.collectives));
  out.Set("overlappedBuckets", static_cast<double>(c.overlappedBuckets));
  return out;
}

// sum(values: Float64Array) → Promise<Float64Array>: the element-wise sum over the ranks, every rank
// calling it with as many values (the epoch loop's validation sums, its stop flag, rank 0's run folder).
Napi::Value ProcessGroupWrap::sum(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  if (!args[0].IsTypedArray() || args[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw makeError(env, "E_INVALID_ARGUMENT", "sum: values must be a Float64Array");
  }
  auto array = args[0].As<Napi::Float64Array>();
  auto values = torch::from_blob(array.Data(), {static_cast<int64_t>(array.ElementLength())}, torch::kFloat64).clone();
  return PromiseJob<torch::Tensor>::start(
      env,
      [group = group_, values] {
        group->sum(values);
        return values;
      },
      [](Napi::Env env, torch::Tensor& summed) -> Napi::Value {
        auto out = Napi::Float64Array::New(env, summed.numel());
        std::memcpy(out.Data(), summed.data_ptr<double>(), summed.numel() * sizeof(double));
        return out;
      });
}

void registerProcessGroup(Napi::Env env, Napi::Object exports) {
  env.GetInstanceData<Constructors>()->processGroup = Napi::Persistent(ProcessGroupWrap::define(env));
  exports.Set("joinProcessGroup", Napi::Function::New(env, joinProcessGroup, "joinProcessGroup"));
}

}  // namespace kdtorch::binding
