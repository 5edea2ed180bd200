// Conversions between JS values and tensors, shared by the binding files.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/image_batch.h"
#include "../core/model.h"
#include "async.h"
#include "pixel_store_wrap.h"

namespace kdtorch::binding {

// A model shared by the JS objects that use it (Model, Trainer, Evaluator), with the flag that
// keeps their calls from overlapping.
struct ModelHandle {
  std::shared_ptr<Model> model;
  BusyFlag busy;
  bool disposed = false;  // set by dispose(): trainers and evaluations of the model refuse to run after it
};

struct Done {};
inline Napi::Value undefinedResult(Napi::Env env, Done&) { return env.Undefined(); }

inline std::vector<int64_t> readShape(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) throw makeError(env, "E_INVALID_ARGUMENT", what + ": shape must be an array of integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const double d = array.Get(i).ToNumber().DoubleValue();
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw makeError(env, "E_INVALID_ARGUMENT", what + ": shape entries must be non-negative integers");
    }
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

// A tensor over a JS Float32Array's memory (no copy): the caller keeps the array alive until the work ends.
inline torch::Tensor viewFloat32(Napi::Env env, const Napi::Value& data, const Napi::Value& shapeValue,
                                 const std::string& what) {
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + ": data must be a Float32Array");
  }
  auto array = data.As<Napi::Float32Array>();
  const auto shape = readShape(env, shapeValue, what);
  int64_t elements = 1;
  for (auto size : shape) elements *= size;
  if (elements != static_cast<int64_t>(array.ElementLength())) {
    throw makeError(env, "E_SHAPE_MISMATCH",
                    what + ": shape " + c10::str(c10::IntArrayRef(shape)) + " holds " + std::to_string(elements) +
                        " values but data has " + std::to_string(array.ElementLength()));
  }
  return torch::from_blob(array.Data(), shape, torch::kFloat32);
}

// A batch of images as JS hands it over: normalised float32 NCHW, or uint8 NHWC pixels with a flip
// flag per image and the normalisation to apply (turned into the float input on the model's device),
// the pixels given either in a buffer or as rows of a PixelStore.
struct ImageInput {
  torch::Tensor data;  // float NCHW or uint8 NHWC; empty when the pixels are store rows
  std::shared_ptr<PixelStore> store;
  torch::Tensor rows;  // int32 row per image, with `store`
  torch::Tensor flip;
  PixelNormalization norm;
  std::optional<Augmentation> augment;
  bool pixels = false;

  // {images, height, width} of the input the model will see, without converting it; zeros for a tensor
  // that is not 4-D (the model's own check names that error).
  std::array<int64_t, 3> imageShape() const {
    if (store) return {rows.size(0), store->pixels().size(1), store->pixels().size(2)};
    if (pixels) return {data.size(0), data.size(1), data.size(2)};
    if (data.dim() != 4) return {0, 0, 0};
    return {data.size(0), data.size(2), data.size(3)};
  }

  torch::Tensor on(const c10::Device& device) const {
    if (!pixels) return data;
    return pixelsToInput(store ? store->gather(rows) : data, flip, norm, device, augment ? &*augment : nullptr);
  }
};

inline std::vector<double> readNumbers(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) throw makeError(env, "E_INVALID_ARGUMENT", what + " must be an array of numbers");
  auto array = value.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(array.Get(i).ToNumber().DoubleValue());
  return out;
}

inline double readNumber(Napi::Env env, const Napi::Object& o, const char* key, const std::string& what) {
  auto value = o.Get(key);
  if (!value.IsNumber() || !std::isfinite(value.As<Napi::Number>().DoubleValue())) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + "." + key + " must be a finite number");
  }
  return value.As<Napi::Number>().DoubleValue();
}

inline Range readRange(Napi::Env env, const Napi::Object& o, const char* key, const std::string& what) {
  const auto values = readNumbers(env, o.Get(key), what + "." + key);
  if (values.size() != 2 || !(values[0] <= values[1])) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + "." + key + " must be [low, high] with low <= high");
  }
  return {values[0], values[1]};
}

// { spec: AugmentSpec as lib/data/augment.ts writes it, seeds: Uint32Array (one per image) }. The
// spec's values were validated with the config (lib/config/schema.ts); here only their form is.
inline Augmentation readAugmentation(Napi::Env env, const Napi::Value& value, int64_t images, const std::string& what) {
  if (!value.IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", what + ": augment must be { spec, seeds }");
  auto o = value.As<Napi::Object>();
  auto seeds = o.Get("seeds");
  if (!seeds.IsTypedArray() || seeds.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      static_cast<int64_t>(seeds.As<Napi::Uint32Array>().ElementLength()) != images) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + ": augment.seeds must be a Uint32Array with one seed per image");
  }
  Augmentation augment;
  auto seedArray = seeds.As<Napi::Uint32Array>();
  augment.seeds.assign(seedArray.Data(), seedArray.Data() + seedArray.ElementLength());
  if (!o.Get("spec").IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", what + ": augment.spec must be an object");
  auto spec = o.Get("spec").As<Napi::Object>();
  const auto part = [&](const char* key) -> std::optional<Napi::Object> {
    auto v = spec.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    if (!v.IsObject())
      throw makeError(env, "E_INVALID_ARGUMENT", what + ": augment.spec." + key + " must be an object");
    return v.As<Napi::Object>();
  };
  const auto where = what + ": augment.spec.";
  if (auto crop = part("resizedCrop")) {
    augment.spec.resizedCrop = {readRange(env, *crop, "scale", where + "resizedCrop"),
                                readRange(env, *crop, "ratio", where + "resizedCrop")};
  }
  if (auto affine = part("affine")) {
    const auto translate = readNumbers(env, affine->Get("translate"), where + "affine.translate");
    if (translate.size() != 2) throw makeError(env, "E_INVALID_ARGUMENT", where + "affine.translate must be [x, y]");
    augment.spec.affine = {readNumber(env, *affine, "degrees", where + "affine"),
                           translate[0],
                           translate[1],
                           readRange(env, *affine, "scale", where + "affine"),
                           readRange(env, *affine, "shearX", where + "affine"),
                           readRange(env, *affine, "shearY", where + "affine")};
  }
  if (auto rotation = part("rotation"))
    augment.spec.rotation = readNumber(env, *rotation, "degrees", where + "rotation");
  if (auto jitter = part("colorJitter")) {
    augment.spec.colorJitter = {readNumber(env, *jitter, "brightness", where + "colorJitter"),
                                readNumber(env, *jitter, "contrast", where + "colorJitter"),
                                readNumber(env, *jitter, "saturation", where + "colorJitter")};
  }
  if (auto erasing = part("erasing")) {
    augment.spec.erasing = {readNumber(env, *erasing, "p", where + "erasing"),
                            readRange(env, *erasing, "scale", where + "erasing"),
                            readRange(env, *erasing, "ratio", where + "erasing")};
  }
  augment.spec.bilinear = spec.Get("interpolation").ToString().Utf8Value() != "nearest";
  return augment;
}

// (images: Float32Array | Uint8Array | NativePixelStore, shape,
//  pixels?: { flip: Uint8Array, mean: number[], std: number[], rows?: Int32Array (with a store),
//             augment?: { spec, seeds: Uint32Array } })
inline ImageInput readImages(Napi::Env env, const Napi::Value& images, const Napi::Value& shape,
                             const Napi::Value& pixelOptions, const std::string& what) {
  ImageInput input;
  input.store = PixelStoreWrap::unwrapIf(env, images);
  const bool uint8 = images.IsTypedArray() && images.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
  if (!input.store && !uint8) {
    input.data = viewFloat32(env, images, shape, what);
    return input;
  }
  const auto dims = readShape(env, shape, what);
  if (!pixelOptions.IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", what + ": pixels need { flip, mean, std }");
  auto o = pixelOptions.As<Napi::Object>();
  if (input.store) {
    const auto& stored = input.store->pixels();
    if (dims.size() != 4 || dims[1] != stored.size(1) || dims[2] != stored.size(2) || dims[3] != stored.size(3)) {
      throw makeError(env, "E_SHAPE_MISMATCH",
                      what + ": shape " + c10::str(c10::IntArrayRef(dims)) + " does not fit the pixel store's " +
                          c10::str(stored.sizes().slice(1)) + " images");
    }
    auto rows = o.Get("rows");
    if (!rows.IsTypedArray() || rows.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        static_cast<int64_t>(rows.As<Napi::Int32Array>().ElementLength()) != dims[0]) {
      throw makeError(env, "E_INVALID_ARGUMENT", what + ": rows must be an Int32Array with one store row per image");
    }
    auto rowArray = rows.As<Napi::Int32Array>();
    input.rows = torch::from_blob(rowArray.Data(), {dims[0]}, torch::kInt32);
  } else {
    auto array = images.As<Napi::Uint8Array>();
    int64_t elements = 1;
    for (auto d : dims) elements *= d;
    if (dims.size() != 4 || elements != static_cast<int64_t>(array.ElementLength())) {
      throw makeError(env, "E_SHAPE_MISMATCH", what + ": pixels need shape [N, H, W, C] matching their length");
    }
    input.data = torch::from_blob(array.Data(), dims, torch::kUInt8);
  }
  auto flip = o.Get("flip");
  if (!flip.IsTypedArray() || flip.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + ": flip must be a Uint8Array with one flag per image");
  }
  auto flags = flip.As<Napi::Uint8Array>();
  input.pixels = true;
  input.flip = torch::from_blob(flags.Data(), {static_cast<int64_t>(flags.ElementLength())}, torch::kUInt8);
  input.norm.mean = readNumbers(env, o.Get("mean"), what + ": mean");
  input.norm.std = readNumbers(env, o.Get("std"), what + ": std");
  if (!o.Get("augment").IsUndefined()) input.augment = readAugmentation(env, o.Get("augment"), dims[0], what);
  return input;
}

inline torch::Tensor viewLabels(Napi::Env env, const Napi::Value& data, const std::string& what) {
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw makeError(env, "E_INVALID_ARGUMENT", what + ": labels must be an Int32Array");
  }
  auto array = data.As<Napi::Int32Array>();
  return torch::from_blob(array.Data(), {static_cast<int64_t>(array.ElementLength())}, torch::kInt32);
}

// {data: Float32Array, shape} from a float tensor on the CPU (copied into JS memory).
inline Napi::Object tensorToJs(Napi::Env env, const torch::Tensor& tensor) {
  const auto t = tensor.to(torch::kCPU, torch::kFloat32).contiguous();
  auto out = Napi::Float32Array::New(env, t.numel());
  if (t.numel() > 0) std::memcpy(out.Data(), t.data_ptr<float>(), t.numel() * sizeof(float));
  auto shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) shape.Set(i, static_cast<double>(t.size(i)));
  auto result = Napi::Object::New(env);
  result.Set("data", out);
  result.Set("shape", shape);
  return result;
}

inline Napi::Array stringsToJs(Napi::Env env, const std::vector<std::string>& items) {
  auto out = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); ++i) out.Set(i, items[i]);
  return out;
}

}  // namespace kdtorch::binding
