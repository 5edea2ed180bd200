// augmentPixels(): the training augmentation of a batch, with the parameters each image drew — for
// the torchvision parity test, for the data bench, and for anyone who wants to look at the views.
#include <napi.h>

#include "../core/image_batch.h"
#include "convert.h"
#include "exports.h"

namespace kdtorch::binding {
namespace {

Napi::Object viewObject(Napi::Env env, const ViewParams& view) {
  const auto array = [&](const auto& values) {
    auto out = Napi::Array::New(env, values.size());
    for (size_t i = 0; i < values.size(); ++i) out.Set(i, Napi::Number::New(env, static_cast<double>(values[i])));
    return out;
  };
  auto o = Napi::Object::New(env);
  o.Set("crop", array(view.crop));
  o.Set("angle", view.angle);
  o.Set("translate", array(std::array<double, 2>{view.translateX, view.translateY}));
  o.Set("scale", view.scale);
  o.Set("shear", array(std::array<double, 2>{view.shearX, view.shearY}));
  o.Set("rotation", view.rotation);
  o.Set("brightness", view.brightness);
  o.Set("contrast", view.contrast);
  o.Set("saturation", view.saturation);
  o.Set("colorOrder", array(view.colorOrder));
  o.Set("erase", array(view.erase));
  return o;
}

// augmentPixels(pixels: Uint8Array, shape [N, H, W, C], { flip, mean, std, augment })
//   → { images: Float32Array (N×C×H×W, pixel units 0..255, before normalising), views: ViewParams[] }.
// Runs on the calling thread, on the CPU: for looking at views, not for training.
Napi::Value augmentPixelsBinding(const Napi::CallbackInfo& args) {
  auto env = args.Env();
  auto input = readImages(env, args[0], args[1], args[2], "augmentPixels");
  if (!input.pixels || input.store || !input.augment) {
    throw makeError(env, "E_INVALID_ARGUMENT", "augmentPixels: give uint8 pixels with { flip, mean, std, augment }");
  }
  try {
    auto [images, views] = augmentedPixels(input.data, input.flip, input.norm, *input.augment);
    auto out = Napi::Float32Array::New(env, images.numel());
    std::memcpy(out.Data(), images.contiguous().data_ptr<float>(), images.numel() * sizeof(float));
    auto list = Napi::Array::New(env, views.size());
    for (size_t i = 0; i < views.size(); ++i) list.Set(i, viewObject(env, views[i]));
    auto result = Napi::Object::New(env);
    result.Set("images", out);
    result.Set("views", list);
    return result;
  } catch (const std::invalid_argument& error) {
    throw makeError(env, "E_INVALID_ARGUMENT", std::string("augmentPixels: ") + error.what());
  }
}

}  // namespace

void registerAugment(Napi::Env env, Napi::Object exports) {
  exports.Set("augmentPixels", Napi::Function::New(env, augmentPixelsBinding, "augmentPixels"));
}

}  // namespace kdtorch::binding
