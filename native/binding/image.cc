// decodeJpeg(): native JPEG decoding on libuv's pool (not the torch thread: decoding needs no
// libtorch, and many decodes run at once while a training step holds the torch thread).
#include <napi.h>

#include "../core/jpeg_image.h"
#include "async.h"
#include "exports.h"

namespace kdtorch::binding {
namespace {

class DecodeJpegWorker : public Napi::AsyncWorker {
 public:
  DecodeJpegWorker(Napi::Env env, Napi::Uint8Array bytes, const JpegTarget& target)
      : Napi::AsyncWorker(env, "kdtorch.decodeJpeg"),
        deferred_(Napi::Promise::Deferred::New(env)),
        bytes_(Napi::Persistent(bytes)),
        data_(bytes.Data()),
        size_(bytes.ByteLength()),
        target_(target) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      pixels_ = decodeJpeg(data_, size_, target_, declined_);
    } catch (const ImageTooLargeError& error) {
      tooLarge_ = error.what();
    }
  }

  // Declined files resolve to null: the caller decodes them with sharp instead.
  void OnOK() override {
    auto env = Env();
    if (!tooLarge_.empty()) return deferred_.Reject(makeError(env, "E_IMAGE_TOO_LARGE", tooLarge_).Value());
    if (!pixels_) return deferred_.Resolve(env.Null());
    auto buffer = Napi::Buffer<uint8_t>::Copy(env, pixels_->data(), pixels_->size());
    deferred_.Resolve(buffer);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Uint8Array> bytes_;  // keeps the input alive while the pool reads it
  const uint8_t* data_;
  size_t size_;
  JpegTarget target_;
  std::optional<std::vector<uint8_t>> pixels_;
  std::string declined_;
  std::string tooLarge_;
};

// decodeJpeg(bytes: Uint8Array, height, width, channels, shrinkOnLoad, maxPixels) → Promise<Buffer | null>
Napi::Value decodeJpegBinding(const Napi::CallbackInfo& args) {
  auto env = args.Env();
  if (!args[0].IsTypedArray() || args[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "decodeJpeg: bytes must be a Uint8Array");
  }
  JpegTarget target;
  target.height = args[1].As<Napi::Number>().Int32Value();
  target.width = args[2].As<Napi::Number>().Int32Value();
  target.channels = args[3].As<Napi::Number>().Int32Value();
  target.shrinkOnLoad = args[4].ToBoolean();
  const double maxPixels = args[5].IsNumber() ? args[5].As<Napi::Number>().DoubleValue() : 0;
  target.maxPixels = maxPixels > 0 ? static_cast<uint64_t>(maxPixels) : 0;
  if (target.height < 1 || target.width < 1 || (target.channels != 1 && target.channels != 3)) {
    throw Napi::RangeError::New(env, "decodeJpeg: height and width must be positive, channels 1 or 3");
  }
  auto* worker = new DecodeJpegWorker(env, args[0].As<Napi::Uint8Array>(), target);
  auto promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

void registerImage(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeJpeg", Napi::Function::New(env, decodeJpegBinding, "decodeJpeg"));
}

}  // namespace kdtorch::binding
