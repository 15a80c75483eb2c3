// CudaGraph and CudaPlan: a GraphSpec on the GPU (cpp/cuda/lower.h), plus backendInfo().cuda.
//   new CudaGraph(spec, { precision?, deviceIndex?, emulate? })
//                       CUDA_UNAVAILABLE (with backendInfo().cuda.reason) where there is no usable
//                       GPU; else validates the spec as Graph does, prepares the convolution
//                       weights and uploads every weight once. `emulate: true` runs the same
//                       device steps on the CPU (cpp/cuda/emulate.cc), for tests.
//   graph.plan(shapes) / planAsync(shapes)
//                       the device plan for these input shapes (arena laid out as the CPU's).
//   plan.run(inputs, ticket?) -> Promise   one run in an AsyncWorker: its own arena and stream, so
//                       runs may overlap; host copies only for the inputs and the outputs.
//   plan.abort(ticket?) stops that run (every run of the plan without a ticket): ABORTED.
//   plan.runSync(inputs)
// The constants' typed arrays are read during the constructor only: the device keeps its copy.
#include <napi.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "binding/convert.h"
#include "binding/instance.h"
#include "binding/run_worker.h"
#include "binding/spec.h"
#include "core/memory.h"
#include "cuda/backend.h"
#include "cuda/lower.h"

namespace fcnb {

namespace {

using fcn::Code;

const napi_type_tag kCudaPlanSeedTag = {0x6663'6e6b'6974'0003ULL, 0x6375'6461'706c'616eULL};

struct CudaClasses {
  Napi::FunctionReference plan;
};

// A plan and the abort flags of its runs in flight, by ticket.
struct CudaPlanState {
  std::unique_ptr<fcn::cuda::CudaPlan> plan;
  std::mutex mu;
  std::map<double, std::vector<AbortFlag>> runs;
};

// The same reading of a GraphSpec as binding/graph.cc's (constant data referenced, not copied:
// valid while the caller's handles are, i.e. during the constructor).
fcn::GraphDesc parse_spec(Napi::Env env, Napi::Value arg) {
  return parse_graph_spec(env, arg, [](const std::string& name, JsTensor& t) {
    return fcn::GraphConstantDesc{name, t.view.dtype, t.view.shape, t.view.data};
  });
}

fcn::Status plan_safe(const fcn::cuda::CudaModel& model, const std::vector<fcn::Shape>& shapes,
                      std::unique_ptr<fcn::cuda::CudaPlan>* out) {
  try {
    return model.plan(shapes, out);
  } catch (const std::bad_alloc&) {
    return fcn::error(Code::kOutOfMemory, "cannot plan the graph for device 'cuda': out of memory");
  } catch (const std::exception& e) {
    return fcn::error(Code::kInvalidArgument, "cannot plan the graph for device 'cuda': ", e.what());
  }
}

Napi::Object new_plan(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<CudaPlanState> state) {
  auto seed = Napi::External<std::shared_ptr<CudaPlanState>>::New(env, &state);
  seed.TypeTag(&kCudaPlanSeedTag);
  return ctor.New({seed});
}

const char* kernel_name(int op) {
  switch (op) {
    case FCNKIT_CUDA_OP_CONV_GEMM: return "conv-implicit-gemm";
    case FCNKIT_CUDA_OP_CONV_DIRECT: return "conv-direct";
    case FCNKIT_CUDA_OP_DECONV_DIRECT: return "deconv-direct";
    case FCNKIT_CUDA_OP_MAX_POOL: return "max-pool";
    case FCNKIT_CUDA_OP_AVG_POOL: return "avg-pool";
    case FCNKIT_CUDA_OP_GLOBAL_AVG_POOL: return "global-avg-pool";
    case FCNKIT_CUDA_OP_UNARY: return "unary";
    case FCNKIT_CUDA_OP_BINARY: return "binary";
    case FCNKIT_CUDA_OP_COPY: return "copy";
    case FCNKIT_CUDA_OP_PAD: return "pad";
    case FCNKIT_CUDA_OP_RESIZE: return "resize";
    case FCNKIT_CUDA_OP_SOFTMAX: return "softmax";
    case FCNKIT_CUDA_OP_ARGMAX: return "argmax";
    default: return "unknown";
  }
}

// ---- runs ------------------------------------------------------------------------------------

struct CudaRunCall : RunIO {
  std::shared_ptr<CudaPlanState> plan;
  double ticket = -1;
};

fcn::Status execute(CudaRunCall& call, const std::atomic<bool>* abort) {
  try {
    return call.plan->plan->run(call.in_views, call.out_views, abort);
  } catch (const std::bad_alloc&) {
    return fcn::error(Code::kOutOfMemory, "run: out of memory");
  } catch (const std::exception& e) {
    return fcn::error(Code::kCudaError, "run: ", e.what());
  }
}

class CudaRunWorker : public PromiseWorker {
 public:
  CudaRunWorker(Napi::Env env, std::unique_ptr<CudaRunCall> call)
      : PromiseWorker(env, "fcnkit:cuda-run"), call_(std::move(call)) {
    std::lock_guard<std::mutex> lock(call_->plan->mu);
    call_->plan->runs[call_->ticket].push_back(abort_flag());
  }

 private:
  fcn::Status compute(const std::atomic<bool>* abort) override { return execute(*call_, abort); }
  void unhook() override {
    std::lock_guard<std::mutex> lock(call_->plan->mu);
    auto it = call_->plan->runs.find(call_->ticket);
    if (it == call_->plan->runs.end()) return;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), abort_flag()), v.end());
    if (v.empty()) call_->plan->runs.erase(it);
  }
  Napi::Value result(Napi::Env) override { return call_->outputs.Value(); }
  std::unique_ptr<CudaRunCall> call_;
};

class CudaPlanWrap : public Napi::ObjectWrap<CudaPlanWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "CudaPlan",
                       {InstanceAccessor<&CudaPlanWrap::InputNames>("inputNames"),
                        InstanceAccessor<&CudaPlanWrap::OutputNames>("outputNames"),
                        InstanceAccessor<&CudaPlanWrap::InputShapes>("inputShapes"),
                        InstanceAccessor<&CudaPlanWrap::OutputShapes>("outputShapes"),
                        InstanceAccessor<&CudaPlanWrap::ArenaBytes>("arenaBytes"),
                        InstanceAccessor<&CudaPlanWrap::Steps>("steps"),
                        InstanceAccessor<&CudaPlanWrap::Disposed>("disposed"),
                        InstanceMethod<&CudaPlanWrap::Run>("run"),
                        InstanceMethod<&CudaPlanWrap::RunSync>("runSync"),
                        InstanceMethod<&CudaPlanWrap::Abort>("abort"),
                        InstanceMethod<&CudaPlanWrap::Dispose>("dispose")});
  }

  explicit CudaPlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaPlanWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsExternal() ||
        !info[0].As<Napi::External<std::shared_ptr<CudaPlanState>>>().CheckTypeTag(&kCudaPlanSeedTag))
      throw make_error(env, Code::kInvalidArgument, "CudaPlan objects are made by CudaGraph.plan() or planAsync()");
    state_ = *info[0].As<Napi::External<std::shared_ptr<CudaPlanState>>>().Data();
    const fcn::cuda::CudaPlan& p = *state_->plan;
    input_names_ = p.input_names();
    output_names_ = p.output_names();
    input_shapes_ = p.input_shapes();
    output_shapes_ = p.output_shapes();
    arena_ = p.arena_bytes();
  }

 private:
  const std::shared_ptr<CudaPlanState>& live(Napi::Env env) const {
    if (!state_) throw make_error(env, Code::kInvalidArgument, "plan was disposed");
    return state_;
  }

  // Async runs copy their inputs (Hold::kCopy: see convert.h), runSync reads them in place.
  std::unique_ptr<CudaRunCall> prepare(const Napi::CallbackInfo& info, Hold hold) {
    Napi::Env env = info.Env();
    auto call = std::make_unique<CudaRunCall>();
    call->plan = live(env);
    const fcn::cuda::CudaPlan& p = *call->plan->plan;
    prepare_run_io(env, info[0],
                   PlanSignature{input_names_, p.input_shapes(), p.input_dtypes(), output_names_, p.output_shapes(),
                                 p.output_dtypes()},
                   hold, fcn::default_memory_budget(), call.get());
    return call;
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_ptr<CudaRunCall> call = prepare(info, Hold::kCopy);
    if (!info[1].IsUndefined() && !info[1].IsNull()) {
      if (!info[1].IsNumber()) throw bad_arg(env, "run ticket", "a number", info[1]);
      call->ticket = info[1].As<Napi::Number>().DoubleValue();
    }
    auto* worker = new CudaRunWorker(env, std::move(call));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  Napi::Value RunSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_ptr<CudaRunCall> call = prepare(info, Hold::kView);
    throw_if_error(env, execute(*call, nullptr));
    return call->outputs.Value();
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    if (!state_) return info.Env().Undefined();
    const bool all = info[0].IsUndefined() || info[0].IsNull();
    const double ticket = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    std::lock_guard<std::mutex> lock(state_->mu);
    for (auto& kv : state_->runs)
      if (all || kv.first == ticket)
        for (const AbortFlag& f : kv.second) f->store(true);
    return info.Env().Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    state_.reset();
    return info.Env().Undefined();
  }

  Napi::Value Steps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const fcn::cuda::CudaPlan& p = *live(env)->plan;
    Napi::Array arr = Napi::Array::New(env, p.step_count());
    for (size_t i = 0; i < p.step_count(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("node", p.step_label(i));
      o.Set("kernel", kernel_name(p.step_op(i)));
      arr.Set(static_cast<uint32_t>(i), o);
    }
    return arr;
  }

  Napi::Value InputNames(const Napi::CallbackInfo& info) { return strings_to_js(info.Env(), input_names_); }
  Napi::Value OutputNames(const Napi::CallbackInfo& info) { return strings_to_js(info.Env(), output_names_); }
  Napi::Value InputShapes(const Napi::CallbackInfo& info) { return shapes_to_js(info.Env(), input_shapes_); }
  Napi::Value OutputShapes(const Napi::CallbackInfo& info) { return shapes_to_js(info.Env(), output_shapes_); }
  Napi::Value ArenaBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(arena_)); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

  std::shared_ptr<CudaPlanState> state_;
  std::vector<std::string> input_names_, output_names_;
  std::vector<fcn::Shape> input_shapes_, output_shapes_;
  uint64_t arena_ = 0;
};

// ---- graphs ----------------------------------------------------------------------------------

class CudaPlanWorker : public Napi::AsyncWorker {
 public:
  CudaPlanWorker(Napi::Env env, std::shared_ptr<const fcn::cuda::CudaModel> model, std::vector<fcn::Shape> shapes,
                 Napi::FunctionReference& ctor)
      : Napi::AsyncWorker(env, "fcnkit:cuda-plan"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(std::move(model)),
        shapes_(std::move(shapes)),
        ctor_(Napi::Persistent(ctor.Value())) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { status_ = plan_safe(*model_, shapes_, &plan_); }
  void OnOK() override { finish(); }
  void OnError(const Napi::Error&) override { finish(); }

 private:
  void finish() {
    try {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      if (!status_.ok()) {
        deferred_.Reject(make_error(env, status_).Value());
        return;
      }
      auto state = std::make_shared<CudaPlanState>();
      state->plan = std::move(plan_);
      deferred_.Resolve(new_plan(env, ctor_, std::move(state)));
    } catch (const Napi::Error& e) {
      try {
        deferred_.Reject(e.Value());
      } catch (...) {
      }
    } catch (...) {
    }
  }
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<const fcn::cuda::CudaModel> model_;
  std::vector<fcn::Shape> shapes_;
  Napi::FunctionReference ctor_;
  std::unique_ptr<fcn::cuda::CudaPlan> plan_;
  fcn::Status status_;
};

class CudaGraphWrap : public Napi::ObjectWrap<CudaGraphWrap> {
 public:
  static Napi::Function define(Napi::Env env, CudaClasses* classes) {
    return DefineClass(env, "CudaGraph",
                       {InstanceMethod<&CudaGraphWrap::MakePlan>("plan"),
                        InstanceMethod<&CudaGraphWrap::PlanAsync>("planAsync"),
                        InstanceMethod<&CudaGraphWrap::Dispose>("dispose"),
                        InstanceAccessor<&CudaGraphWrap::Disposed>("disposed"),
                        InstanceAccessor<&CudaGraphWrap::Precision>("precision"),
                        InstanceAccessor<&CudaGraphWrap::Backend>("backend"),
                        InstanceAccessor<&CudaGraphWrap::DeviceIndex>("deviceIndex"),
                        InstanceAccessor<&CudaGraphWrap::WeightBytes>("weightBytes"),
                        StaticMethod<&CudaGraphWrap::SupportedOpTypes>("supportedOpTypes")},
                       classes);
  }

  explicit CudaGraphWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<CudaGraphWrap>(info), classes_(static_cast<CudaClasses*>(info.Data())) {
    Napi::Env env = info.Env();
    fcn::cuda::Precision precision = fcn::cuda::Precision::kFp32;
    bool emulate = false;
    int device = 0;
    if (!info[1].IsUndefined() && !info[1].IsNull()) {
      Napi::Object o = get_object(env, info[1], "CudaGraph options");
      Napi::Value p = o.Get("precision");
      if (!p.IsUndefined() &&
          !(p.IsString() && fcn::cuda::parse_precision(p.As<Napi::String>().Utf8Value(), &precision)))
        throw bad_arg(env, "precision", "'fp32', 'tf32' or 'bf16'", p);
      Napi::Value e = o.Get("emulate");
      if (!e.IsUndefined()) {
        if (!e.IsBoolean()) throw bad_arg(env, "emulate", "a boolean", e);
        emulate = e.As<Napi::Boolean>().Value();
      }
      Napi::Value d = o.Get("deviceIndex");
      if (!d.IsUndefined()) {
        const double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
        if (!d.IsNumber() || !(x >= 0) || x != static_cast<double>(static_cast<int>(x)))
          throw bad_arg(env, "deviceIndex", "a non-negative integer", d);
        device = static_cast<int>(x);
      }
    }
    const fcn::cuda::Api* api = fcn::cuda::emulator_api();
    if (!emulate) {
      throw_if_error(env, fcn::cuda::require_cuda());
      const fcn::cuda::Availability& a = fcn::cuda::availability();
      if (static_cast<size_t>(device) >= a.devices.size())
        throw make_error(env, Code::kInvalidArgument,
                         "deviceIndex " + std::to_string(device) + " but there are " +
                             std::to_string(a.devices.size()) + " CUDA device(s)");
      if (a.devices[device].major < fcn::cuda::kMinComputeMajor)
        throw make_error(env, Code::kCudaUnavailable,
                         "device 'cuda': GPU " + std::to_string(device) + " (" + a.devices[device].name +
                             ") has compute capability " + std::to_string(a.devices[device].major) + "." +
                             std::to_string(a.devices[device].minor) + "; fcnkit's kernels need 8.0 or newer");
      api = fcn::cuda::cuda_api();
    }
    fcn::GraphDesc desc = parse_spec(env, info[0]);
    std::shared_ptr<fcn::cuda::CudaModel> model;
    fcn::Status s;
    try {
      s = fcn::cuda::CudaModel::create(api, desc, precision, device, &model);
    } catch (const std::bad_alloc&) {
      s = fcn::error(Code::kOutOfMemory, "cannot prepare the graph for device 'cuda': out of memory");
    }
    throw_if_error(env, s);
    model_ = std::move(model);
    emulated_ = emulate;
  }

 private:
  const std::shared_ptr<fcn::cuda::CudaModel>& live(Napi::Env env) const {
    if (!model_) throw make_error(env, Code::kInvalidArgument, "graph was disposed");
    return model_;
  }

  Napi::Value MakePlan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<fcn::cuda::CudaModel> m = live(env);
    std::vector<fcn::Shape> shapes = parse_shapes(env, info[0]);
    auto state = std::make_shared<CudaPlanState>();
    throw_if_error(env, plan_safe(*m, shapes, &state->plan));
    return new_plan(env, classes_->plan, std::move(state));
  }

  Napi::Value PlanAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<fcn::cuda::CudaModel> m = live(env);
    std::vector<fcn::Shape> shapes = parse_shapes(env, info[0]);
    auto* worker = new CudaPlanWorker(env, m, std::move(shapes), classes_->plan);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // Plans already made keep the weights until they are disposed or collected.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }
  Napi::Value Precision(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), fcn::cuda::precision_name(live(info.Env())->precision()));
  }
  Napi::Value Backend(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), emulated_ ? "emulator" : "cuda");
  }
  Napi::Value DeviceIndex(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->device());
  }
  Napi::Value WeightBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(live(info.Env())->weight_bytes()));
  }
  static Napi::Value SupportedOpTypes(const Napi::CallbackInfo& info) {
    return strings_to_js(info.Env(), fcn::cuda::supported_op_types());
  }

  CudaClasses* classes_;
  std::shared_ptr<fcn::cuda::CudaModel> model_;
  bool emulated_ = false;
};

}  // namespace

// backendInfo().cuda
Napi::Object cuda_backend_info(Napi::Env env) {
  const fcn::cuda::Availability& a = fcn::cuda::availability();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", a.compiled);
  o.Set("available", a.available);
  if (!a.available) o.Set("reason", a.reason);
  if (!a.detail.empty()) o.Set("detail", a.detail);
  if (a.driver_version) o.Set("driverCudaVersion", std::to_string(a.driver_version / 1000) + "." + std::to_string((a.driver_version % 1000) / 10));
  if (a.runtime_version) o.Set("runtimeCudaVersion", std::to_string(a.runtime_version / 1000) + "." + std::to_string((a.runtime_version % 1000) / 10));
  if (!a.devices.empty()) {
    Napi::Array devices = Napi::Array::New(env, a.devices.size());
    for (size_t i = 0; i < a.devices.size(); ++i) {
      const fcn::cuda::DeviceInfo& d = a.devices[i];
      Napi::Object dev = Napi::Object::New(env);
      dev.Set("name", d.name);
      dev.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
      dev.Set("memoryBytes", Napi::Number::New(env, static_cast<double>(d.memory_bytes)));
      dev.Set("multiprocessors", d.multiprocessors);
      devices.Set(static_cast<uint32_t>(i), dev);
    }
    o.Set("devices", devices);
  }
  return o;
}

void register_cuda_graph(Napi::Env env, Napi::Object exports) {
  auto* classes = new CudaClasses();
  env.AddCleanupHook([classes] { delete classes; });
  classes->plan = Napi::Persistent(CudaPlanWrap::define(env));
  exports.Set("CudaGraph", CudaGraphWrap::define(env, classes));
}

}  // namespace fcnb
