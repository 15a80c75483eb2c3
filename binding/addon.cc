// Init only: per-environment instance data, cleanup hook, and the exported functions.
#include <napi.h>

#include "binding/instance.h"
#include "core/cpu_features.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "kernels/fma_peak.h"

namespace fcnb {

void register_ops(Napi::Env env, Napi::Object exports);
void register_graph(Napi::Env env, Napi::Object exports);
void register_shared_model(Napi::Env env, Napi::Object exports);
void register_cuda_graph(Napi::Env env, Napi::Object exports);
Napi::Object cuda_backend_info(Napi::Env env);

namespace {

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", fcn::isa_name(fcn::active_isa()));
  if (!fcn::active_isa_note().empty()) o.Set("isaNote", fcn::active_isa_note());
  o.Set("bestIsa", fcn::isa_name(fcn::best_isa()));
  o.Set("threads", fcn::ThreadPool::global().num_threads());
  o.Set("physicalMemoryBytes", double(fcn::physical_memory_bytes()));
  o.Set("defaultMemoryBudgetBytes", double(fcn::default_memory_budget()));
  {
    // precision 'bf16' on the CPU: available, or why not (cpp/core/cpu_features.h).
    Napi::Object bf16 = Napi::Object::New(env);
    std::string why;
    const bool ok = fcn::bf16_supported(&why);
    bf16.Set("available", ok);
    if (!ok) bf16.Set("reason", why);
    bf16.Set("avx512Bf16", fcn::cpu_features().avx512_bf16);
    bf16.Set("amxBf16", fcn::cpu_features().amx_bf16);
    o.Set("bf16", bf16);
  }
  o.Set("cuda", cuda_backend_info(env));  // binding/cuda_graph.cc
  return o;
}

// Benchmarks' yardstick: single-thread FMA GFLOP/s of the active ISA, measured now.
Napi::Value MeasureFmaPeak(const Napi::CallbackInfo& info) {
  double seconds = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0.5;
  if (!(seconds > 0 && seconds <= 10)) seconds = 0.5;
  return Napi::Number::New(info.Env(), fcn::measure_fma_peak_gflops(fcn::active_isa(), seconds));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* instance = new Instance();
  env.SetInstanceData<Instance>(instance);
  instance->array_buffer = Napi::Persistent(env.Global().Get("ArrayBuffer").As<Napi::Function>());
  env.AddCleanupHook([runs = instance->runs] { runs->abort_all(); });
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo, "backendInfo"));
  exports.Set("measureFmaPeak", Napi::Function::New(env, MeasureFmaPeak, "measureFmaPeak"));
  register_ops(env, exports);
  register_graph(env, exports);
  register_shared_model(env, exports);
  register_cuda_graph(env, exports);
  return exports;
}

}  // namespace
}  // namespace fcnb

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return fcnb::Init(env, exports); }
NODE_API_MODULE(fcnkit, InitAddon)
