// NativeModel: argument conversion and workers over core::Model and core/weights.
#include "../core/safetensors.h"
#include "../core/weights.h"
#include "exports.h"
#include "model_wrap.h"

namespace kdtorch::binding {
namespace {

int64_t optionalInt(const Napi::Object& spec, const char* key, int64_t fallback) {
  return spec.Has(key) && !spec.Get(key).IsUndefined() ? spec.Get(key).ToNumber().Int64Value() : fallback;
}

// The network's shape has no native default: lib/native/model.ts states the defaults once.
int64_t requiredInt(Napi::Env env, const Napi::Object& spec, const char* key) {
  if (!spec.Has(key) || !spec.Get(key).IsNumber()) {
    throw makeError(env, "E_INVALID_ARGUMENT", std::string("createModel: spec.") + key + " must be given as a number");
  }
  return spec.Get(key).As<Napi::Number>().Int64Value();
}

Napi::Value createModel(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  if (!args[0].IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", "createModel: spec must be an object");
  auto spec = args[0].As<Napi::Object>();
  ModelSpec modelSpec;
  modelSpec.architecture = spec.Get("architecture").ToString().Utf8Value();
  modelSpec.numClasses = requiredInt(env, spec, "numClasses");
  modelSpec.inChannels = requiredInt(env, spec, "inChannels");
  if (modelSpec.architecture == "studentNet") {
    modelSpec.inputSize = requiredInt(env, spec, "inputSize");
    modelSpec.width = requiredInt(env, spec, "width");
  }
  modelSpec.seed = optionalInt(spec, "seed", modelSpec.seed);
  if (spec.Has("device") && !spec.Get("device").IsUndefined()) modelSpec.device = spec.Get("device").ToString();
  if (spec.Has("autocast") && !spec.Get("autocast").IsUndefined()) {
    const std::string autocast = spec.Get("autocast").ToString();
    if (autocast != "none" && autocast != "bf16" && autocast != "auto") {
      throw makeError(env, "E_INVALID_ARGUMENT", "autocast must be 'none', 'bf16' or 'auto', got '" + autocast + "'");
    }
    modelSpec.autocastBf16 = autocast == "auto"   ? ModelSpec::Choice::Auto
                             : autocast == "bf16" ? ModelSpec::Choice::Yes
                                                  : ModelSpec::Choice::No;
  }
  if (spec.Has("channelsLast") && !spec.Get("channelsLast").IsUndefined()) {
    const auto value = spec.Get("channelsLast");
    if (!value.IsBoolean() && !(value.IsString() && value.ToString().Utf8Value() == "auto")) {
      throw makeError(env, "E_INVALID_ARGUMENT", "channelsLast must be true, false or 'auto'");
    }
    modelSpec.channelsLast = value.IsString()                    ? ModelSpec::Choice::Auto
                             : value.As<Napi::Boolean>().Value() ? ModelSpec::Choice::Yes
                                                                 : ModelSpec::Choice::No;
  }
  return PromiseJob<std::shared_ptr<Model>>::start(
      env, [modelSpec] { return std::make_shared<Model>(modelSpec); },
      [](Napi::Env env, std::shared_ptr<Model>& model) -> Napi::Value {
        return env.GetInstanceData<Constructors>()->model.New(
            {Napi::External<std::shared_ptr<Model>>::New(env, &model)});
      });
}

// readSafetensorsMetadata(path) → Promise<{[key]: string}>: a model file's description without its tensors,
// so TypeScript never parses the format itself.
Napi::Value readSafetensorsMetadata(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  if (!args[0].IsString()) throw makeError(env, "E_INVALID_ARGUMENT", "readSafetensorsMetadata: path must be a string");
  const std::string path = args[0].ToString();
  return PromiseJob<Metadata>::start(
      env, [path] { return kdtorch::readSafetensorsMetadata(path); },
      [](Napi::Env env, Metadata& metadata) -> Napi::Value {
        auto out = Napi::Object::New(env);
        for (const auto& [key, value] : metadata) out.Set(key, Napi::String::New(env, value));
        return out;
      });
}

// A forward so small that the round trip to the torch thread and back (two thread wake-ups, 10-25 µs here)
// is a large share of it runs on the JS thread instead, single-threaded, while the torch thread is idle (so
// the two never compete for the cores). The limit is where one thread stops beating the torch thread's team
// plus the round trip on a 2-core CPU (docs/onnx.md, "Batch-1 latency"), so the event loop is held for the
// call's own compute only, about 0.1 ms at most.
bool worthRunningHere(const Model& model, const ImageInput& input) {
  constexpr int64_t limit = 1000000;
  const auto [images, height, width] = input.imageShape();
  return model.device().is_cpu() && TorchThread::instance().idle() &&
         model.multiplyAdds(images, height, width) <= limit;
}

}  // namespace

Napi::Function ModelWrap::define(Napi::Env env) {
  return DefineClass(
      env, "NativeModel",
      {InstanceMethod<&ModelWrap::forward>("forward"), InstanceMethod<&ModelWrap::setTraining>("setTraining"),
       InstanceMethod<&ModelWrap::moveTo>("to"), InstanceMethod<&ModelWrap::loadWeights>("loadWeights"),
       InstanceMethod<&ModelWrap::saveWeights>("saveWeights"), InstanceMethod<&ModelWrap::dispose>("dispose"),
       InstanceMethod<&ModelWrap::parameterCount>("parameterCount"),
       InstanceMethod<&ModelWrap::copyStateDict>("stateDict"), InstanceAccessor<&ModelWrap::device>("device"),
       InstanceAccessor<&ModelWrap::precision>("precision"), InstanceAccessor<&ModelWrap::training>("training")});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& args) : Napi::ObjectWrap<ModelWrap>(args) {
  if (args.Length() != 1 || !args[0].IsExternal()) {
    throw makeError(args.Env(), "E_INVALID_ARGUMENT", "NativeModel is made by createModel(), not new");
  }
  handle_ = std::make_shared<ModelHandle>();
  handle_->model = *args[0].As<Napi::External<std::shared_ptr<Model>>>().Data();
  // V8 sees only this small object; told the size of the tensors behind it, its GC collects models
  // made in a loop before they fill the machine (43 MB per ResNet-18 otherwise invisible).
  int64_t bytes = 0;
  for (const auto& [name, tensor] : stateDict(handle_->model->module())) bytes += tensor.nbytes();
  memory_.report(args.Env(), bytes);
}

ModelWrap::~ModelWrap() { memory_.release(Env()); }

const std::shared_ptr<ModelHandle>& ModelWrap::live(Napi::Env env) const {
  if (!handle_) throw makeError(env, "E_RELEASED", "this model was disposed: make a new one to use it");
  return handle_;
}

// dispose() → undefined: the tensors go once no queued job holds them (a running step keeps its own).
Napi::Value ModelWrap::dispose(const Napi::CallbackInfo& args) {
  if (handle_) handle_->disposed = true;
  handle_.reset();
  memory_.release(args.Env());
  return args.Env().Undefined();
}

std::shared_ptr<ModelHandle> ModelWrap::unwrap(Napi::Env env, const Napi::Value& value, const std::string& what) {
  auto constructor = env.GetInstanceData<Constructors>()->model.Value();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor)) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + " must be a kdtorch Model");
  }
  return Unwrap(value.As<Napi::Object>())->live(env);
}

Napi::Value ModelWrap::forward(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  auto input = readImages(env, args[0], args[1], args[2], "forward");
  auto busy = acquireAll(env, {&live(env)->busy}, "this model");
  auto model = live(env)->model;
  auto work = [model, input] { return model->predict(input.on(model->device())); };
  if (worthRunningHere(*model, input)) {
    for (auto* flag : busy) flag->release();
    return PromiseJob<torch::Tensor>::runHere(env, work, tensorToJs);
  }
  return PromiseJob<torch::Tensor>::start(env, work, tensorToJs, busy, {args[0], args[2], Value()});
}

Napi::Value ModelWrap::setTraining(const Napi::CallbackInfo& args) {
  const bool on = args[0].ToBoolean();
  auto busy = acquireAll(args.Env(), {&live(args.Env())->busy}, "this model");
  auto model = live(args.Env())->model;
  return PromiseJob<Done>::start(args.Env(), [model, on] { return model->train(on), Done{}; }, undefinedResult, busy,
                                 {Value()});
}

Napi::Value ModelWrap::moveTo(const Napi::CallbackInfo& args) {
  const std::string device = args[0].ToString();
  auto busy = acquireAll(args.Env(), {&live(args.Env())->busy}, "this model");
  auto model = live(args.Env())->model;
  return PromiseJob<Done>::start(args.Env(), [model, device] { return model->to(device), Done{}; }, undefinedResult,
                                 busy, {Value()});
}

Napi::Value ModelWrap::loadWeights(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  const std::string path = args[0].ToString();
  LoadOptions options;
  if (args[1].IsObject()) {
    auto o = args[1].As<Napi::Object>();
    if (o.Has("strict") && !o.Get("strict").IsUndefined()) options.strict = o.Get("strict").ToBoolean();
    if (o.Has("skip") && o.Get("skip").IsArray()) {
      auto skip = o.Get("skip").As<Napi::Array>();
      for (uint32_t i = 0; i < skip.Length(); ++i) options.skip.push_back(skip.Get(i).ToString());
    }
  }
  auto busy = acquireAll(env, {&live(env)->busy}, "this model");
  auto model = live(env)->model;
  return PromiseJob<LoadReport>::start(
      env, [model, path, options] { return loadStateDict(model->module(), readWeightsFile(path), options, path); },
      [](Napi::Env env, LoadReport& report) {
        auto out = Napi::Object::New(env);
        out.Set("loaded", stringsToJs(env, report.loaded));
        out.Set("missing", stringsToJs(env, report.missing));
        out.Set("unexpected", stringsToJs(env, report.unexpected));
        out.Set("mismatched", stringsToJs(env, report.mismatched));
        return out;
      },
      busy, {Value()});
}

Napi::Value ModelWrap::saveWeights(const Napi::CallbackInfo& args) {
  const std::string path = args[0].ToString();
  // The caller's description of the model (classes, input, normalisation) as JSON, for loadModel().
  const std::string description = args[1].IsString() ? args[1].ToString().Utf8Value() : std::string();
  auto busy = acquireAll(args.Env(), {&live(args.Env())->busy}, "this model");
  auto model = live(args.Env())->model;
  return PromiseJob<Done>::start(args.Env(),
                                 [model, path, description] {
                                   Metadata metadata{{"format", "pt"}, {"architecture", model->spec().architecture}};
                                   if (!description.empty()) metadata["kdtorch"] = description;
                                   writeSafetensors(path, stateDict(model->module()), metadata);
                                   return Done{};
                                 },
                                 undefinedResult, busy, {Value()});
}

// stateDict() → Promise<{[name]: {data: Float32Array, shape}}>: fp32 copies of every tensor, in the
// state_dict's order, for exporters that write the network in another format (lib/onnx/).
Napi::Value ModelWrap::copyStateDict(const Napi::CallbackInfo& args) {
  auto busy = acquireAll(args.Env(), {&live(args.Env())->busy}, "this model");
  auto model = live(args.Env())->model;
  return PromiseJob<NamedTensors>::start(
      args.Env(),
      [model] {
        NamedTensors copies;
        for (const auto& [name, tensor] : stateDict(model->module())) {
          copies.emplace_back(name, tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone());
        }
        return copies;
      },
      [](Napi::Env env, NamedTensors& tensors) -> Napi::Value {
        auto out = Napi::Object::New(env);
        for (const auto& [name, tensor] : tensors) out.Set(name, tensorToJs(env, tensor));
        return out;
      },
      busy, {Value()});
}

Napi::Value ModelWrap::parameterCount(const Napi::CallbackInfo& args) {
  return Napi::Number::New(args.Env(), static_cast<double>(live(args.Env())->model->parameterCount()));
}

Napi::Value ModelWrap::device(const Napi::CallbackInfo& args) {
  return Napi::String::New(args.Env(), live(args.Env())->model->device().str());
}

Napi::Value ModelWrap::training(const Napi::CallbackInfo& args) {
  return Napi::Boolean::New(args.Env(), live(args.Env())->model->isTraining());
}

Napi::Value ModelWrap::precision(const Napi::CallbackInfo& args) {
  auto out = Napi::Object::New(args.Env());
  out.Set("autocast", live(args.Env())->model->autocastBf16() ? "bf16" : "none");
  out.Set("channelsLast", live(args.Env())->model->channelsLast());
  return out;
}

void registerModel(Napi::Env env, Napi::Object exports) {
  env.GetInstanceData<Constructors>()->model = Napi::Persistent(ModelWrap::define(env));
  exports.Set("createModel", Napi::Function::New(env, createModel, "createModel"));
  exports.Set("readSafetensorsMetadata", Napi::Function::New(env, readSafetensorsMetadata, "readSafetensorsMetadata"));
}

}  // namespace kdtorch::binding
