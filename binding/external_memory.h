// Native bytes a JS object keeps alive, reported to V8 (AdjustExternalMemory) so that its GC
// weighs them when deciding to collect; taken back once, on dispose() or finalization.
#pragma once
#include <napi.h>

#include <cstdint>

namespace fcnb {

class ExternalMemory {
 public:
  ExternalMemory() = default;
  ExternalMemory(const ExternalMemory&) = delete;
  ExternalMemory& operator=(const ExternalMemory&) = delete;
  ~ExternalMemory() { release(); }

  void report(Napi::Env env, int64_t bytes) {
    if (bytes <= 0) return;
    env_ = env;
    bytes_ += bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  }
  void release() {
    if (!bytes_) return;
    try {
      Napi::MemoryManagement::AdjustExternalMemory(Napi::Env(env_), -bytes_);
    } catch (...) {
    }
    bytes_ = 0;
  }

 private:
  napi_env env_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace fcnb
