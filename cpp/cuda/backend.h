// Finding and loading the CUDA backend library (host code, part of the core; no CUDA headers).
//
// The addon never links against CUDA: on first use it looks for libfcnkit_cuda.so beside its own
// binary (dladdr), checks that an NVIDIA driver is there (libcuda.so.1), dlopen()s the library,
// checks its ABI version and asks it for the devices. Whatever fails becomes `reason`:
//   'this build has no CUDA backend'             no libfcnkit_cuda.so beside the addon
//   'no NVIDIA driver (libcuda.so.1 not found)'  the driver's library cannot be loaded
//   'driver too old for the CUDA 13 runtime'     cudaErrorInsufficientDriver with a driver present
//   'no CUDA device'                             cudaErrorNoDevice, or no device at all
// and a few rarer ones (the library fails to load or is of another ABI version, no device of
// compute capability 8.0+, FCNKIT_DISABLE_CUDA=1 in the environment). `detail` says more (dlerror, versions).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "cuda/abi.h"

namespace fcn {
namespace cuda {

// The backend's table of functions: the library's, or the CPU emulator's (same semantics).
struct Api {
  const char* name;  // "cuda" | "emulator"
  fcnkit_cuda_weights_create_fn weights_create;
  fcnkit_cuda_weights_destroy_fn weights_destroy;
  fcnkit_cuda_plan_create_fn plan_create;
  fcnkit_cuda_plan_run_fn plan_run;
  fcnkit_cuda_plan_destroy_fn plan_destroy;
};

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  uint64_t memory_bytes = 0;
  int multiprocessors = 0;
};

struct Availability {
  bool compiled = false;   // this build has the library (it exists beside the addon)
  bool available = false;  // and it loaded and found a usable GPU
  std::string reason;      // why not, when !available
  std::string detail;      // more about it (dlerror text, driver and runtime versions)
  std::string library;     // the library's path
  int driver_version = 0;  // 13000 = CUDA 13.0; 0 when unknown
  int runtime_version = 0;
  std::vector<DeviceInfo> devices;  // every device the driver lists
};

// Probed once per process, on first call (thread-safe); never throws, never aborts.
const Availability& availability();

// The library's functions when availability().available, else null.
const Api* cuda_api();

// The CPU emulator of the device steps (always there).
const Api* emulator_api();

// OK when CUDA is available; else CUDA_UNAVAILABLE "device 'cuda' is unavailable: <reason> ...".
Status require_cuda();

// The compute capability the kernels are built for (sm_80 machine code and newer).
constexpr int kMinComputeMajor = 8;

}  // namespace cuda
}  // namespace fcn
