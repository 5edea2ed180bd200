// NativeTrainer and NativeEvaluator: argument conversion and workers over core::Trainer and core::Evaluator.
#include "../core/trainer.h"

#include "../core/evaluator.h"
#include "../core/safetensors.h"
#include "../core/weights.h"
#include "exports.h"
#include "model_wrap.h"
#include "process_group_wrap.h"

namespace kdtorch::binding {
namespace {

double numberOr(const Napi::Object& o, const char* key, double fallback) {
  return o.Has(key) && !o.Get(key).IsUndefined() ? o.Get(key).ToNumber().DoubleValue() : fallback;
}

std::string stringOr(const Napi::Object& o, const char* key, const std::string& fallback) {
  return o.Has(key) && !o.Get(key).IsUndefined() ? o.Get(key).ToString().Utf8Value() : fallback;
}

// The loss has no native defaults: every preset states mode, alpha and temperature (lib/config/presets.ts).
double requiredNumber(Napi::Env env, const Napi::Object& o, const char* key) {
  if (!o.Has(key) || !o.Get(key).IsNumber()) {
    throw makeError(env, "E_INVALID_ARGUMENT", std::string("loss.") + key + " must be given as a number");
  }
  return o.Get(key).As<Napi::Number>().DoubleValue();
}

DistillLossOptions readLossSpec(Napi::Env env, const Napi::Object& l) {
  DistillLossOptions loss;
  const std::string mode = stringOr(l, "mode", "");
  if (mode != "hinton" && mode != "article") {
    throw makeError(env, "E_INVALID_ARGUMENT", "loss.mode must be 'hinton' or 'article', got '" + mode + "'");
  }
  loss.mode = mode == "article" ? KdMode::Article : KdMode::Hinton;
  loss.alpha = requiredNumber(env, l, "alpha");
  loss.temperature = requiredNumber(env, l, "temperature");
  loss.labelSmoothing = numberOr(l, "labelSmoothing", loss.labelSmoothing);
  if (l.Has("classWeights") && l.Get("classWeights").IsArray()) {
    auto weights = l.Get("classWeights").As<Napi::Array>();
    std::vector<double> values;
    for (uint32_t i = 0; i < weights.Length(); ++i) values.push_back(weights.Get(i).ToNumber().DoubleValue());
    loss.classWeights = torch::tensor(values, torch::kFloat64);
  }
  return loss;
}

TrainerSpec readTrainerSpec(Napi::Env env, const Napi::Object& spec) {
  TrainerSpec out;
  out.freeze = stringOr(spec, "freeze", out.freeze);
  out.stepGraphs = stringOr(spec, "stepGraphs", out.stepGraphs);
  out.syncBatchNorm = spec.Has("syncBatchNorm") && spec.Get("syncBatchNorm").ToBoolean();
  if (spec.Has("optimizer") && spec.Get("optimizer").IsObject()) {
    auto o = spec.Get("optimizer").As<Napi::Object>();
    out.optimizer.name = stringOr(o, "name", out.optimizer.name);
    out.optimizer.lr = numberOr(o, "lr", out.optimizer.lr);
    out.optimizer.momentum = numberOr(o, "momentum", out.optimizer.momentum);
    out.optimizer.nesterov = o.Has("nesterov") && o.Get("nesterov").ToBoolean();
    out.optimizer.weightDecay = numberOr(o, "weightDecay", out.optimizer.weightDecay);
    out.optimizer.beta1 = numberOr(o, "beta1", out.optimizer.beta1);
    out.optimizer.beta2 = numberOr(o, "beta2", out.optimizer.beta2);
    out.optimizer.eps = numberOr(o, "eps", out.optimizer.eps);
  }
  if (!spec.Has("loss") || !spec.Get("loss").IsObject()) {
    throw makeError(env, "E_INVALID_ARGUMENT", "trainer spec.loss must be an object");
  }
  out.loss = readLossSpec(env, spec.Get("loss").As<Napi::Object>());
  const auto group = spec.Get("processGroup");
  if (!group.IsUndefined() && !group.IsNull())
    out.group = ProcessGroupWrap::unwrap(env, group, "trainer spec.processGroup");
  return out;
}

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeTrainer",
                       {InstanceMethod<&TrainerWrap::teacherStep>("teacherStep"),
                        InstanceMethod<&TrainerWrap::studentStep>("studentStep"),
                        InstanceMethod<&TrainerWrap::distillStep>("distillStep"),
                        InstanceMethod<&TrainerWrap::takeMetrics>("takeMetrics"),
                        InstanceMethod<&TrainerWrap::syncFromRankZero>("syncFromRankZero"),
                        InstanceMethod<&TrainerWrap::saveCheckpoint>("saveCheckpoint"),
                        InstanceMethod<&TrainerWrap::loadCheckpoint>("loadCheckpoint"),
                        InstanceMethod<&TrainerWrap::dispose>("dispose")});
  }

  explicit TrainerWrap(const Napi::CallbackInfo& args) : Napi::ObjectWrap<TrainerWrap>(args) {
    Napi::Env env = args.Env();
    model_ = ModelWrap::unwrap(env, args[0], "trainer model");
    if (!args[1].IsNull() && !args[1].IsUndefined()) teacher_ = ModelWrap::unwrap(env, args[1], "trainer teacher");
    if (!args[2].IsObject()) throw makeError(env, "E_INVALID_ARGUMENT", "trainer spec must be an object");
    const TrainerSpec spec = readTrainerSpec(env, args[2].As<Napi::Object>());
    // Building the optimizer sets requires_grad on the model: hold it so no running call sees that change.
    auto held = acquireAll(env, flags(), "this trainer's model");
    try {
      trainer_ = std::make_shared<Trainer>(model_->model, teacher_ ? teacher_->model : nullptr, spec);
    } catch (const std::invalid_argument& error) {
      for (auto* flag : held) flag->release();
      throw makeError(env, "E_INVALID_ARGUMENT", error.what());
    } catch (...) {
      for (auto* flag : held) flag->release();
      throw;
    }
    for (auto* flag : held) flag->release();
    // The optimizer's state (momentum, Adam's moments) is made here, as large as the trained parameters.
    int64_t bytes = 0;
    for (const auto& [name, tensor] : trainer_->optimizerState()) bytes += tensor.nbytes();
    memory_.report(env, bytes);
  }
  ~TrainerWrap() override { memory_.release(Env()); }

 private:
  using StepFn = std::function<void(Trainer&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;

  // Each step: (images, shape, labels: Int32Array, lr: number, pixels?, teacherLogits?: Float32Array)
  // → Promise<void>; see readImages. Only distillStep takes teacherLogits, laid out (N, classes).
  Napi::Value step(const Napi::CallbackInfo& args, StepFn fn, const char* name) {
    Napi::Env env = args.Env();
    auto images = readImages(env, args[0], args[1], args[4], name);
    auto labels = viewLabels(env, args[2], name);
    const double lr = args[3].ToNumber().DoubleValue();
    torch::Tensor teacherLogits;
    if (args.Length() > 5 && args[5].IsTypedArray()) {
      auto logits = args[5].As<Napi::TypedArray>();
      if (logits.TypedArrayType() != napi_float32_array) {
        throw makeError(env, "E_INVALID_ARGUMENT", std::string(name) + ": teacherLogits must be a Float32Array");
      }
      const auto n = static_cast<int64_t>(labels.size(0));
      const auto count = static_cast<int64_t>(logits.ElementLength());
      if (n == 0 || count % n != 0) {
        throw makeError(env, "E_SHAPE_MISMATCH",
                        std::string(name) + ": teacherLogits must hold one row per image (" + std::to_string(n) +
                            "), got " + std::to_string(count) + " values");
      }
      // A copy: the step runs later, on the libtorch thread, and the buffer belongs to JS.
      auto typed = args[5].As<Napi::Float32Array>();
      teacherLogits = torch::from_blob(typed.Data(), {n, count / n}, torch::kFloat32).clone();
    }
    auto trainer = live(env);
    auto busy = acquireAll(env, flags(), "this trainer's model");
    return PromiseJob<Done>::start(env,
                                   [trainer, images, labels, teacherLogits, lr, fn] {
                                     trainer->setLearningRate(lr);
                                     fn(*trainer, images.on(trainer->model().device()), labels, teacherLogits);
                                     return Done{};
                                   },
                                   undefinedResult, busy, {args[0], args[2], args[4], Value()});
  }
  Napi::Value teacherStep(const Napi::CallbackInfo& args) {
    return step(
        args,
        [](Trainer& t, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor&) { t.teacherStep(x, y); },
        "teacherStep");
  }
  Napi::Value studentStep(const Napi::CallbackInfo& args) {
    return step(
        args,
        [](Trainer& t, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor&) { t.studentStep(x, y); },
        "studentStep");
  }
  Napi::Value distillStep(const Napi::CallbackInfo& args) {
    return step(
        args,
        [](Trainer& t, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& logits) {
          t.distillStep(x, y, logits);
        },
        "distillStep");
  }

  Napi::Value takeMetrics(const Napi::CallbackInfo& args) {
    auto trainer = live(args.Env());
    auto busy = acquireAll(args.Env(), flags(), "this trainer's model");
    return PromiseJob<Metrics>::start(
        args.Env(), [trainer] { return trainer->takeMetrics(); },
        [](Napi::Env env, Metrics& m) {
          auto out = Napi::Object::New(env);
          out.Set("lossSum", m.lossSum);
          out.Set("ceSum", m.ceSum);
          out.Set("kdSum", m.kdSum);
          out.Set("correct", static_cast<double>(m.correct));
          out.Set("count", static_cast<double>(m.count));
          return out;
        },
        busy, {Value()});
  }

  Napi::Value syncFromRankZero(const Napi::CallbackInfo& args) {
    auto trainer = live(args.Env());
    auto busy = acquireAll(args.Env(), flags(), "this trainer's model");
    return PromiseJob<bool>::start(
        args.Env(),
        [trainer] {
          trainer->syncFromRankZero();
          return true;
        },
        [](Napi::Env env, bool&) { return env.Undefined(); }, busy, {Value()});
  }

  // One safetensors file: the model's state_dict under "model.", the optimizer's under "optimizer.",
  // and the caller's JSON (epoch, step, schedule, config) as metadata. Written atomically.
  Napi::Value saveCheckpoint(const Napi::CallbackInfo& args) {
    const std::string path = args[0].ToString();
    const std::string metadata = args[1].ToString();
    auto trainer = live(args.Env());
    auto busy = acquireAll(args.Env(), flags(), "this trainer's model");
    return PromiseJob<Done>::start(args.Env(),
                                   [trainer, path, metadata] {
                                     NamedTensors tensors;
                                     for (auto& [name, t] : stateDict(trainer->model().module()))
                                       tensors.emplace_back("model." + name, t);
                                     for (auto& [name, t] : trainer->optimizerState())
                                       tensors.emplace_back("optimizer." + name, t);
                                     writeSafetensors(path, tensors, {{"format", "pt"}, {"kdtorch", metadata}});
                                     return Done{};
                                   },
                                   undefinedResult, busy, {Value()});
  }

  // Restores model and optimizer from saveCheckpoint's file; resolves with its metadata JSON.
  Napi::Value loadCheckpoint(const Napi::CallbackInfo& args) {
    const std::string path = args[0].ToString();
    auto trainer = live(args.Env());
    auto busy = acquireAll(args.Env(), flags(), "this trainer's model");
    return PromiseJob<std::string>::start(
        args.Env(),
        [trainer, path] {
          auto file = readSafetensors(path);
          NamedTensors model, optimizer;
          for (auto& [name, t] : file.tensors) {
            if (name.rfind("model.", 0) == 0) model.emplace_back(name.substr(6), t);
            if (name.rfind("optimizer.", 0) == 0) optimizer.emplace_back(name.substr(10), t);
          }
          loadStateDict(trainer->model().module(), model, LoadOptions{}, path);
          trainer->loadOptimizerState(optimizer);
          return file.metadata.count("kdtorch") ? file.metadata.at("kdtorch") : std::string("{}");
        },
        [](Napi::Env env, std::string& metadata) { return Napi::String::New(env, metadata); }, busy, {Value()});
  }

  // dispose() → undefined: the optimizer state goes (once no queued step holds it), the models stay.
  Napi::Value dispose(const Napi::CallbackInfo& args) {
    trainer_.reset();
    model_.reset();
    teacher_.reset();
    memory_.release(args.Env());
    return args.Env().Undefined();
  }

  const std::shared_ptr<Trainer>& live(Napi::Env env) const {
    if (!trainer_) throw makeError(env, "E_RELEASED", "this trainer was disposed: make a new one to use it");
    if (model_->disposed || (teacher_ && teacher_->disposed)) {
      throw makeError(env, "E_RELEASED", "this trainer's model or teacher was disposed: make new ones to train");
    }
    return trainer_;
  }

  std::vector<BusyFlag*> flags() {
    std::vector<BusyFlag*> out{&model_->busy};
    if (teacher_ && teacher_ != model_) out.push_back(&teacher_->busy);
    return out;
  }

  std::shared_ptr<ModelHandle> model_, teacher_;
  std::shared_ptr<Trainer> trainer_;
  ExternalMemory memory_;
};

class EvaluatorWrap : public Napi::ObjectWrap<EvaluatorWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeEvaluator",
                       {InstanceMethod<&EvaluatorWrap::add>("add"), InstanceMethod<&EvaluatorWrap::read>("read"),
                        InstanceMethod<&EvaluatorWrap::dispose>("dispose")});
  }

  explicit EvaluatorWrap(const Napi::CallbackInfo& args) : Napi::ObjectWrap<EvaluatorWrap>(args) {
    model_ = ModelWrap::unwrap(args.Env(), args[0], "evaluator model");
    evaluator_ = std::make_shared<Evaluator>(model_->model);
  }

 private:
  Napi::Value add(const Napi::CallbackInfo& args) {
    Napi::Env env = args.Env();
    auto images = readImages(env, args[0], args[1], args[3], "evaluate");
    auto labels = viewLabels(env, args[2], "evaluate");
    auto evaluator = live(env);
    auto busy = acquireAll(env, {&model_->busy}, "this evaluator's model");
    auto device = model_->model->device();
    return PromiseJob<Done>::start(
        env, [evaluator, images, labels, device] { return evaluator->add(images.on(device), labels), Done{}; },
        undefinedResult, busy, {args[0], args[2], args[3], Value()});
  }

  Napi::Value read(const Napi::CallbackInfo& args) {
    auto evaluator = live(args.Env());
    auto busy = acquireAll(args.Env(), {&model_->busy}, "this evaluator's model");
    return PromiseJob<EvaluationResult>::start(
        args.Env(), [evaluator] { return evaluator->read(); },
        [](Napi::Env env, EvaluationResult& r) {
          auto out = Napi::Object::New(env);
          out.Set("lossSum", r.lossSum);
          out.Set("correct", static_cast<double>(r.correct));
          out.Set("count", static_cast<double>(r.count));
          const int64_t c = r.confusion.size(0);
          auto confusion = Napi::Array::New(env, c);
          const auto* counts = r.confusion.data_ptr<int64_t>();
          for (int64_t i = 0; i < c; ++i) {
            auto row = Napi::Array::New(env, c);
            for (int64_t j = 0; j < c; ++j) row.Set(j, static_cast<double>(counts[i * c + j]));
            confusion.Set(i, row);
          }
          out.Set("confusion", confusion);
          out.Set("probabilities", tensorToJs(env, r.probabilities));
          return out;
        },
        busy, {Value()});
  }

  // dispose() → undefined: the sums and probabilities go (once no queued batch holds them).
  Napi::Value dispose(const Napi::CallbackInfo& args) {
    evaluator_.reset();
    model_.reset();
    return args.Env().Undefined();
  }

  const std::shared_ptr<Evaluator>& live(Napi::Env env) const {
    if (!evaluator_) throw makeError(env, "E_RELEASED", "this evaluation was disposed: make a new one to use it");
    if (model_->disposed) throw makeError(env, "E_RELEASED", "this evaluation's model was disposed");
    return evaluator_;
  }

  std::shared_ptr<ModelHandle> model_;
  std::shared_ptr<Evaluator> evaluator_;
};

struct LossWithGradient {
  double total = 0, ce = 0, kd = 0;
  torch::Tensor grad;
};

torch::Tensor viewFloat64(Napi::Env env, const Napi::Value& data, const std::vector<int64_t>& shape, const char* what) {
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw makeError(env, "E_INVALID_ARGUMENT", std::string(what) + " must be a Float64Array");
  }
  auto array = data.As<Napi::Float64Array>();
  if (static_cast<int64_t>(array.ElementLength()) != shape[0] * shape[1]) {
    throw makeError(env, "E_SHAPE_MISMATCH", std::string(what) + " does not hold shape[0] * shape[1] values");
  }
  return torch::from_blob(array.Data(), shape, torch::kFloat64);
}

// distillationLoss(student: Float64Array, teacher: Float64Array, shape: [N, C], labels: Int32Array, loss)
// → { total, ce, kd, grad: Float64Array }: the fused loss and its gradient in float64 on the CPU,
// for checking it against autograd of the textbook formula.
Napi::Value distillationLoss(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  const auto shape = readShape(env, args[2], "distillationLoss");
  if (shape.size() != 2) throw makeError(env, "E_INVALID_ARGUMENT", "distillationLoss: shape must be [N, C]");
  auto student = viewFloat64(env, args[0], shape, "student logits");
  auto teacher = viewFloat64(env, args[1], shape, "teacher logits");
  auto labels = viewLabels(env, args[3], "distillationLoss");
  const auto loss = readLossSpec(env, args[4].As<Napi::Object>());
  return PromiseJob<LossWithGradient>::start(
      env,
      [student, teacher, labels, loss] {
        auto s = student.clone().requires_grad_(true);
        const auto parts = distillLoss(s, teacher, labels.to(torch::kInt64), loss);
        parts.total.backward();
        return LossWithGradient{parts.total.item<double>(), parts.ce.item<double>(), parts.kd.item<double>(),
                                s.grad().contiguous()};
      },
      [](Napi::Env env, LossWithGradient& r) {
        auto out = Napi::Object::New(env);
        out.Set("total", r.total);
        out.Set("ce", r.ce);
        out.Set("kd", r.kd);
        auto grad = Napi::Float64Array::New(env, r.grad.numel());
        std::memcpy(grad.Data(), r.grad.data_ptr<double>(), r.grad.numel() * sizeof(double));
        out.Set("grad", grad);
        return out;
      },
      {}, {args[0], args[1], args[3]});
}

}  // namespace

void registerTrainer(Napi::Env env, Napi::Object exports) {
  auto* constructors = env.GetInstanceData<Constructors>();
  constructors->trainer = Napi::Persistent(TrainerWrap::define(env));
  constructors->evaluator = Napi::Persistent(EvaluatorWrap::define(env));
  exports.Set("NativeTrainer", constructors->trainer.Value());
  exports.Set("NativeEvaluator", constructors->evaluator.Value());
  exports.Set("distillationLoss", Napi::Function::New(env, distillationLoss, "distillationLoss"));
}

}  // namespace kdtorch::binding
