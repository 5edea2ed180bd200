// NativePixelStore: createPixelStore(model, {count, height, width, channels}) and put(first, pixels),
// argument conversion and torch-thread jobs over core PixelStore.
#include "exports.h"
#include "model_wrap.h"
#include "pixel_store_wrap.h"

namespace kdtorch::binding {
namespace {

int64_t positiveInt(Napi::Env env, const Napi::Object& spec, const char* key) {
  const double value = spec.Get(key).ToNumber().DoubleValue();
  if (!(value >= 1) || value != static_cast<double>(static_cast<int64_t>(value))) {
    throw makeError(env, "E_INVALID_ARGUMENT", std::string("pixel store ") + key + " must be a positive integer");
  }
  return static_cast<int64_t>(value);
}

// createPixelStore(model, spec) → Promise<NativePixelStore>: the rows live on the model's device.
Napi::Value createPixelStore(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  auto model = ModelWrap::unwrap(env, args[0], "createPixelStore model");
  if (!args[1].IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", "createPixelStore: spec must be an object");
  auto spec = args[1].As<Napi::Object>();
  const int64_t count = positiveInt(env, spec, "count"), height = positiveInt(env, spec, "height"),
                width = positiveInt(env, spec, "width"), channels = positiveInt(env, spec, "channels");
  return PromiseJob<std::shared_ptr<PixelStore>>::start(
      env, [=] { return std::make_shared<PixelStore>(count, height, width, channels, model->model->device()); },
      [](Napi::Env env, std::shared_ptr<PixelStore>& store) -> Napi::Value {
        return env.GetInstanceData<Constructors>()->pixelStore.New(
            {Napi::External<std::shared_ptr<PixelStore>>::New(env, &store)});
      },
      {}, {args[0]});
}

}  // namespace

Napi::Function PixelStoreWrap::define(Napi::Env env) {
  return DefineClass(env, "NativePixelStore",
                     {InstanceMethod<&PixelStoreWrap::put>("put"), InstanceMethod<&PixelStoreWrap::release>("release"),
                      InstanceAccessor<&PixelStoreWrap::byteLength>("byteLength")});
}

PixelStoreWrap::PixelStoreWrap(const Napi::CallbackInfo& args) : Napi::ObjectWrap<PixelStoreWrap>(args) {
  if (args.Length() != 1 || !args[0].IsExternal()) {
    throw makeError(args.Env(), "E_INVALID_ARGUMENT", "NativePixelStore is made by createPixelStore(), not new");
  }
  store_ = *args[0].As<Napi::External<std::shared_ptr<PixelStore>>>().Data();
}

std::shared_ptr<PixelStore> PixelStoreWrap::unwrapIf(Napi::Env env, const Napi::Value& value) {
  auto constructor = env.GetInstanceData<Constructors>()->pixelStore.Value();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor)) return nullptr;
  return Unwrap(value.As<Napi::Object>())->live(env);
}

const std::shared_ptr<PixelStore>& PixelStoreWrap::live(Napi::Env env) const {
  if (!store_) {
    throw makeError(env, "E_RELEASED",
                    "this PixelStore was released (its phase ended): fill a new one with PixelStore.fill()");
  }
  return store_;
}

// release() → undefined: the pixels go back to the device's memory once no queued job holds them.
Napi::Value PixelStoreWrap::release(const Napi::CallbackInfo& args) {
  store_.reset();
  return args.Env().Undefined();
}

// put(first, pixels: Uint8Array of whole H×W×C images) → Promise<void>
Napi::Value PixelStoreWrap::put(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  if (!args[1].IsTypedArray() || args[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw makeError(env, "E_INVALID_ARGUMENT", "pixel store put: pixels must be a Uint8Array");
  }
  auto pixels = args[1].As<Napi::Uint8Array>();
  const auto& rows = live(env)->pixels();
  const int64_t imageBytes = rows.size(1) * rows.size(2) * rows.size(3);
  if (pixels.ByteLength() % imageBytes != 0) {
    throw makeError(env, "E_SHAPE_MISMATCH",
                    "pixel store put: " + std::to_string(pixels.ByteLength()) + " bytes are not whole images of " +
                        std::to_string(imageBytes) + " bytes");
  }
  const int64_t first = args[0].ToNumber().Int64Value();
  const int64_t images = static_cast<int64_t>(pixels.ByteLength()) / imageBytes;
  const uint8_t* data = pixels.Data();
  auto store = live(env);
  return PromiseJob<Done>::start(env,
                                 [=] {
                                   store->put(first, data, images);
                                   return Done{};
                                 },
                                 undefinedResult, {}, {args[1]});
}

Napi::Value PixelStoreWrap::byteLength(const Napi::CallbackInfo& args) {
  return Napi::Number::New(args.Env(), static_cast<double>(live(args.Env())->pixels().nbytes()));
}

void registerPixelStore(Napi::Env env, Napi::Object exports) {
  env.GetInstanceData<Constructors>()->pixelStore = Napi::Persistent(PixelStoreWrap::define(env));
  exports.Set("createPixelStore", Napi::Function::New(env, createPixelStore, "createPixelStore"));
}

}  // namespace kdtorch::binding
