// runOp / runOpSync(type, inputs, attrs, threads?, memoryBudgetBytes?): one core op on JS
// tensors. The async form computes in an AsyncWorker whose Execute() touches only plain C++
// state (the "baton"), on copies of the inputs (convert.h). Outputs and workspace together are
// checked against the budget (TOO_LARGE) before anything is allocated.
#include <napi.h>

#include "binding/convert.h"
#include "binding/instance.h"
#include "binding/run_worker.h"
#include "core/memory.h"
#include "core/thread_pool.h"

namespace fcnb {

namespace {

struct OpCall {
  std::unique_ptr<fcn::Op> op;
  std::vector<JsTensor> inputs;
  std::vector<fcn::Tensor> in_views, out_views;
  Napi::Reference<Napi::Array> outputs;  // [{ data, shape }]
  size_t workspace = 0;
  int threads = 1;
};

// Parses (type, inputs, attrs, threads, budget) and allocates outputs; throws on bad arguments.
std::unique_ptr<OpCall> prepare(const Napi::CallbackInfo& info, Hold hold) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw make_error(env, fcn::Code::kInvalidArgument, "Expected an op type string");
  std::string type = info[0].As<Napi::String>().Utf8Value();
  if (!info[1].IsArray()) throw make_error(env, fcn::Code::kInvalidArgument, type + ": expected an array of input tensors");
  auto call = std::make_unique<OpCall>();
  fcn::Attrs attrs = to_attrs(env, info[2], type);
  call->threads = to_threads(env, info[3]);
  const size_t budget = to_memory_budget(env, info[4]);
  throw_if_error(env, fcn::make_op(type, attrs, "", fcn::active_isa(), &call->op));
  call->op->set_memory_budget(budget);
  const std::string& who = call->op->label();

  Napi::Array arr = info[1].As<Napi::Array>();
  call->inputs.resize(arr.Length());
  std::vector<fcn::TensorDesc> descs;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr[i];
    if (v.IsUndefined() || v.IsNull()) {
      throw make_error(env, fcn::Code::kInvalidArgument, who + ": input " + std::to_string(i) + " is missing");
    }
    to_tensor(env, v, who + " input " + std::to_string(i), hold, &call->inputs[i]);
    call->in_views.push_back(call->inputs[i].view);
    descs.push_back(fcn::TensorDesc{call->inputs[i].view.dtype, call->inputs[i].view.shape, nullptr});
  }
  std::vector<fcn::TensorDesc> outs;
  throw_if_error(env, call->op->setup(descs, &outs));
  call->workspace = call->op->workspace_bytes(call->threads);
  double need = double(call->workspace) + double(call->op->setup_bytes());
  for (const fcn::TensorDesc& d : outs) need += double(fcn::numel(d.shape)) * double(fcn::dtype_size(d.dtype));
  if (need > double(budget))
    throw make_error(env, fcn::Code::kTooLarge,
                     who + ": outputs and workspace need " + fcn::bytes_str(size_t(need)) + ", past the memory budget of " +
                         fcn::bytes_str(budget) + " (use smaller inputs, or raise memoryBudgetBytes)");

  Napi::Array js_outs = Napi::Array::New(env, outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    void* data = nullptr;
    Napi::TypedArray ta = new_typed_array(env, outs[i], who, budget, &data);
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", ta);
    o.Set("shape", shape_to_js(env, outs[i].shape));
    js_outs.Set(static_cast<uint32_t>(i), o);
    call->out_views.push_back(fcn::Tensor{outs[i].dtype, outs[i].shape, data});
  }
  call->outputs = Napi::Persistent(js_outs);
  return call;
}

fcn::Status execute(OpCall& call, const std::atomic<bool>* abort) {
  fcn::AlignedBuffer ws;
  if (!ws.allocate(call.workspace))
    return fcn::error(fcn::Code::kOutOfMemory, call.op->label(), ": cannot allocate ", call.workspace,
                      " bytes of workspace");
  fcn::RunControl rc;
  rc.pool = &fcn::ThreadPool::global();
  rc.max_threads = call.threads;
  rc.abort = abort;
  try {
    return call.op->run(rc, call.in_views, call.out_views, ws.data());
  } catch (const std::bad_alloc&) {
    return fcn::error(fcn::Code::kOutOfMemory, call.op->label(), ": out of memory");
  } catch (const std::exception& e) {
    return fcn::error(fcn::Code::kInvalidArgument, call.op->label(), ": ", e.what());
  }
}

Napi::Value RunOpSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::unique_ptr<OpCall> call = prepare(info, Hold::kView);
  throw_if_error(env, execute(*call, nullptr));
  return call->outputs.Value();
}

class OpWorker : public PromiseWorker {
 public:
  OpWorker(Napi::Env env, std::unique_ptr<OpCall> call)
      : PromiseWorker(env, "fcnkit:op", static_cast<int64_t>(call->workspace)), call_(std::move(call)) {}

 private:
  fcn::Status compute(const std::atomic<bool>* abort) override { return execute(*call_, abort); }
  Napi::Value result(Napi::Env) override { return call_->outputs.Value(); }
  std::unique_ptr<OpCall> call_;
};

Napi::Value RunOp(const Napi::CallbackInfo& info) {
  std::unique_ptr<OpCall> call = prepare(info, Hold::kCopy);
  auto* worker = new OpWorker(info.Env(), std::move(call));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

Napi::Value OpTypes(const Napi::CallbackInfo& info) {
  auto types = fcn::op_types();
  Napi::Array arr = Napi::Array::New(info.Env(), types.size());
  for (size_t i = 0; i < types.size(); ++i) arr.Set(static_cast<uint32_t>(i), types[i]);
  return arr;
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("runOp", Napi::Function::New(env, RunOp, "runOp"));
  exports.Set("runOpSync", Napi::Function::New(env, RunOpSync, "runOpSync"));
  exports.Set("opTypes", Napi::Function::New(env, OpTypes, "opTypes"));
}

}  // namespace fcnb
