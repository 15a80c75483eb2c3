// One native computation off the JS thread that settles a promise: the common part of running an
// op (ops.cc), a plan (graph.cc), a shared model (shared_model.cc) and a CUDA plan (cuda_graph.cc).
// It registers an abort flag with the environment's RunRegistry, so an environment that exits
// mid-run stops the computation at its next check; reports `bytes` of native memory to V8 while
// it runs; and settles the promise without letting an exception escape during environment
// teardown (N-API calls fail then, nobody is left to tell, and an escaping exception would end
// the process).
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "binding/errors.h"
#include "binding/instance.h"
#include "core/status.h"

namespace fcnb {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  PromiseWorker(Napi::Env env, const char* name, int64_t bytes = 0)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), bytes_(bytes) {
    runs_ = Instance::get(env)->runs;
    abort_ = runs_->register_run();
    if (bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, bytes_);
  }

  // Off the JS thread; `abort` turns true when the run should stop.
  virtual fcn::Status compute(const std::atomic<bool>* abort) = 0;
  // On the JS thread after compute, before the promise settles: unhook tokens or tickets.
  virtual void unhook() {}
  // On the JS thread when compute succeeded: the resolved value (may throw a Napi::Error, which
  // rejects the promise).
  virtual Napi::Value result(Napi::Env env) = 0;

  // This run's flag (for tokens and tickets that abort it).
  const AbortFlag& abort_flag() const { return abort_; }

 private:
  void Execute() override { status_ = compute(abort_.get()); }
  void OnOK() override { finish(); }
  void OnError(const Napi::Error&) override { finish(); }

  void finish() {
    unhook();
    runs_->unregister_run(abort_);
    try {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      if (bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, -bytes_);
      if (status_.ok()) deferred_.Resolve(result(env));
      else deferred_.Reject(make_error(env, status_).Value());
    } catch (const Napi::Error& e) {
      try {
        deferred_.Reject(e.Value());
      } catch (...) {
      }
    } catch (...) {
    }
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<RunRegistry> runs_;
  AbortFlag abort_;
  fcn::Status status_;
  int64_t bytes_ = 0;
};

}  // namespace fcnb
