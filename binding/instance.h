// Per-environment state (main thread, each worker_thread, each Electron renderer has its own).
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

namespace fcnb {

using AbortFlag = std::shared_ptr<std::atomic<bool>>;

// Runs in flight register their abort flag, so an environment that exits mid-run stops them
  // at the next chunk boundary instead of computing into memory nobody will read.
class RunRegistry {
 public:
  AbortFlag register_run() {
    auto flag = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) flag->store(true);
    runs_.insert(flag);
    return flag;
  }
  void unregister_run(const AbortFlag& flag) {
    std::lock_guard<std::mutex> lock(mu_);
    runs_.erase(flag);
  }
  void abort_all() {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    for (auto& f : runs_) f->store(true);
  }

 private:
  std::mutex mu_;
  std::set<AbortFlag> runs_;
  bool closing_ = false;
};

// Workers hold the registry by shared_ptr: the environment (and this Instance) may be gone
// before a worker's last callback runs.
struct Instance {
  static Instance* get(Napi::Env env) { return env.GetInstanceData<Instance>(); }
  std::shared_ptr<RunRegistry> runs = std::make_shared<RunRegistry>();
  // The environment's ArrayBuffer constructor as it was at load (binding/convert.cc allocates
  // outputs with it; a later replacement of globalThis.ArrayBuffer does not matter).
  Napi::FunctionReference array_buffer;
};

}  // namespace fcnb
