// The JS face of core::Model: one object per network, calls queued on the thread pool.
#include "../core/model.h"

#include <cstring>
#include <memory>

#include "async.h"
#include "exports.h"

namespace kdtorch::binding {
namespace {

struct Logits {
  torch::Tensor values;
};

int64_t optionalInt(const Napi::Object& spec, const char* key, int64_t fallback) {
  return spec.Has(key) && !spec.Get(key).IsUndefined() ? spec.Get(key).As<Napi::Number>().Int64Value() : fallback;
}

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "NativeModel",
        {InstanceMethod<&ModelWrap::forward>("forward"), InstanceMethod<&ModelWrap::parameterCount>("parameterCount"),
         InstanceAccessor<&ModelWrap::device>("device")});
  }

  explicit ModelWrap(const Napi::CallbackInfo& args) : Napi::ObjectWrap<ModelWrap>(args) {
    if (args.Length() != 1 || !args[0].IsExternal()) {
      throw makeError(args.Env(), "E_INVALID_ARGUMENT", "NativeModel is made by createModel(), not new");
    }
    model_ = *args[0].As<Napi::External<std::shared_ptr<Model>>>().Data();
  }

 private:
  Napi::Value forward(const Napi::CallbackInfo& args) {
    Napi::Env env = args.Env();
    if (!args[0].IsTypedArray() || args[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw makeError(env, "E_INVALID_ARGUMENT", "forward: data must be a Float32Array");
    }
    auto data = args[0].As<Napi::Float32Array>();
    auto shapeArray = args[1].As<Napi::Array>();
    std::vector<int64_t> shape;
    int64_t elements = 1;
    for (uint32_t i = 0; i < shapeArray.Length(); ++i) {
      shape.push_back(shapeArray.Get(i).As<Napi::Number>().Int64Value());
      elements *= shape.back();
    }
    if (elements != static_cast<int64_t>(data.ElementLength())) {
      throw makeError(env, "E_SHAPE_MISMATCH",
                      "forward: shape " + c10::str(c10::IntArrayRef(shape)) + " holds " + std::to_string(elements) +
                          " values but data has " + std::to_string(data.ElementLength()));
    }
    busy_.acquire(env, "this model");
    float* values = data.Data();
    auto model = model_;
    return PromiseWorker<Logits>::start(
        env,
        [model, values, shape] {
          // from_blob reads the JS buffer in place; keepAlive below holds it until the work ends.
          return Logits{model->forward(torch::from_blob(values, shape, torch::kFloat32))};
        },
        [](Napi::Env env, Logits& logits) {
          const auto& t = logits.values;
          auto out = Napi::Float32Array::New(env, t.numel());
          std::memcpy(out.Data(), t.data_ptr<float>(), t.numel() * sizeof(float));
          auto shape = Napi::Array::New(env, t.dim());
          for (int64_t i = 0; i < t.dim(); ++i) shape.Set(i, static_cast<double>(t.size(i)));
          auto result = Napi::Object::New(env);
          result.Set("data", out);
          result.Set("shape", shape);
          return result;
        },
        &busy_, {data, Value()});
  }

  Napi::Value parameterCount(const Napi::CallbackInfo& args) {
    return Napi::Number::New(args.Env(), static_cast<double>(model_->parameterCount()));
  }

  Napi::Value device(const Napi::CallbackInfo& args) { return Napi::String::New(args.Env(), model_->device().str()); }

  std::shared_ptr<Model> model_;
  BusyFlag busy_;
};

struct Constructors {
  Napi::FunctionReference model;
};

Napi::Value createModel(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  if (!args[0].IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", "createModel: spec must be an object");
  auto spec = args[0].As<Napi::Object>();
  ModelSpec modelSpec;
  modelSpec.architecture = spec.Get("architecture").As<Napi::String>();
  modelSpec.numClasses = optionalInt(spec, "numClasses", modelSpec.numClasses);
  modelSpec.inputSize = optionalInt(spec, "inputSize", modelSpec.inputSize);
  modelSpec.inChannels = optionalInt(spec, "inChannels", modelSpec.inChannels);
  modelSpec.width = optionalInt(spec, "width", modelSpec.width);
  if (spec.Has("device")) modelSpec.device = spec.Get("device").As<Napi::String>();
  return PromiseWorker<std::shared_ptr<Model>>::start(
      env, [modelSpec] { return std::make_shared<Model>(modelSpec); },
      [](Napi::Env env, std::shared_ptr<Model>& model) -> Napi::Value {
        auto* constructors = env.GetInstanceData<Constructors>();
        return constructors->model.New({Napi::External<std::shared_ptr<Model>>::New(env, &model)});
      });
}

}  // namespace

void registerModel(Napi::Env env, Napi::Object exports) {
  auto* constructors = new Constructors{Napi::Persistent(ModelWrap::define(env))};
  env.SetInstanceData(constructors);
  exports.Set("createModel", Napi::Function::New(env, createModel, "createModel"));
}

}  // namespace kdtorch::binding
