#include "cuda/backend.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace fcn {
namespace cuda {

namespace {

constexpr const char* kLibraryName = "libfcnkit_cuda.so";

std::string dl_error() {
  const char* e = dlerror();
  return e ? std::string(e) : std::string("unknown error");
}

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The directory of the binary this code is linked into (the addon), from dladdr.
std::string own_directory() {
  Dl_info info;
  std::memset(&info, 0, sizeof(info));
  if (!dladdr(reinterpret_cast<void*>(&own_directory), &info) || !info.dli_fname) return std::string();
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string version_str(int v) {
  if (v <= 0) return "none";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

struct Loaded {
  Availability info;
  Api api{};
  bool have_api = false;
};

void load(Loaded* out) {
  Availability& a = out->info;
  const char* env_off = std::getenv("FCNKIT_DISABLE_CUDA");
  const char* env_lib = std::getenv("FCNKIT_CUDA_LIBRARY");
  std::string dir = own_directory();
  a.library = env_lib && *env_lib ? std::string(env_lib) : (dir.empty() ? std::string(kLibraryName) : dir + "/" + kLibraryName);
  a.compiled = file_exists(a.library);
  if (!a.compiled) {
    a.reason = "this build has no CUDA backend";
    a.detail = a.library + " not found (nvcc was not found when the addon was built, or FCNKIT_CUDA=OFF)";
    return;
  }
  if (env_off && *env_off && std::strcmp(env_off, "0") != 0) {
    a.reason = "disabled by FCNKIT_DISABLE_CUDA";
    return;
  }
  // The driver first: without it the runtime inside the library can only say "insufficient
  // driver", which would read as "too old".
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) {
    a.reason = "no NVIDIA driver (libcuda.so.1 not found)";
    a.detail = dl_error();
    return;
  }
  // Kept open: the runtime loads it again anyway.
  void* lib = dlopen(a.library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    a.reason = "cannot load the CUDA backend library";
    a.detail = dl_error();
    return;
  }
  auto sym = [&](const char* name) -> void* { return dlsym(lib, name); };
  auto abi = reinterpret_cast<fcnkit_cuda_abi_version_fn>(sym(FCNKIT_CUDA_SYMBOL_ABI_VERSION));
  auto probe = reinterpret_cast<fcnkit_cuda_probe_fn>(sym(FCNKIT_CUDA_SYMBOL_PROBE));
  Api api;
  api.name = "cuda";
  api.weights_create = reinterpret_cast<fcnkit_cuda_weights_create_fn>(sym(FCNKIT_CUDA_SYMBOL_WEIGHTS_CREATE));
  api.weights_destroy = reinterpret_cast<fcnkit_cuda_weights_destroy_fn>(sym(FCNKIT_CUDA_SYMBOL_WEIGHTS_DESTROY));
  api.plan_create = reinterpret_cast<fcnkit_cuda_plan_create_fn>(sym(FCNKIT_CUDA_SYMBOL_PLAN_CREATE));
  api.plan_run = reinterpret_cast<fcnkit_cuda_plan_run_fn>(sym(FCNKIT_CUDA_SYMBOL_PLAN_RUN));
  api.plan_destroy = reinterpret_cast<fcnkit_cuda_plan_destroy_fn>(sym(FCNKIT_CUDA_SYMBOL_PLAN_DESTROY));
  if (!abi || !probe || !api.weights_create || !api.weights_destroy || !api.plan_create || !api.plan_run ||
      !api.plan_destroy) {
    a.reason = "the CUDA backend library does not match this addon";
    a.detail = a.library + " lacks the fcnkit_cuda_* entry points";
    return;
  }
  int version = abi();
  if (version != FCNKIT_CUDA_ABI_VERSION) {
    a.reason = "the CUDA backend library does not match this addon";
    a.detail = a.library + " speaks ABI " + std::to_string(version) + ", the addon " +
               std::to_string(FCNKIT_CUDA_ABI_VERSION) + ": rebuild (npm run build) or reinstall fcnkit";
    return;
  }
  fcnkit_cuda_probe_result r;
  std::memset(&r, 0, sizeof(r));
  probe(&r);
  r.message[sizeof(r.message) - 1] = '\0';
  a.driver_version = r.driver_version;
  a.runtime_version = r.runtime_version;
  for (int i = 0; i < r.device_count && i < FCNKIT_CUDA_MAX_DEVICES; ++i) {
    const fcnkit_cuda_device& d = r.devices[i];
    DeviceInfo di;
    di.name.assign(d.name, strnlen(d.name, sizeof(d.name)));
    di.major = d.major;
    di.minor = d.minor;
    di.memory_bytes = d.memory_bytes;
    di.multiprocessors = d.multiprocessors;
    a.devices.push_back(di);
  }
  const std::string versions =
      "driver supports CUDA " + version_str(r.driver_version) + ", runtime is CUDA " + version_str(r.runtime_version);
  switch (r.status) {
    case FCNKIT_CUDA_PROBE_OK: break;
    case FCNKIT_CUDA_PROBE_NO_DRIVER:
      a.reason = "no NVIDIA driver (libcuda.so.1 not found)";
      a.detail = r.message;
      return;
    case FCNKIT_CUDA_PROBE_DRIVER_TOO_OLD:
      a.reason = "driver too old for the CUDA 13 runtime";
      a.detail = versions + " (CUDA 13 needs driver 580 or newer): " + r.message;
      return;
    case FCNKIT_CUDA_PROBE_NO_DEVICE:
      a.reason = "no CUDA device";
      a.detail = r.message;
      return;
    default:
      a.reason = "CUDA initialisation failed";
      a.detail = std::string(r.message) + " (" + versions + ")";
      return;
  }
  if (a.devices.empty()) {
    a.reason = "no CUDA device";
    return;
  }
  bool usable = false;
  for (const DeviceInfo& d : a.devices) usable = usable || d.major >= kMinComputeMajor;
  if (!usable) {
    a.reason = "no CUDA device of compute capability 8.0 or newer";
    a.detail = "found " + a.devices[0].name + " (" + std::to_string(a.devices[0].major) + "." +
               std::to_string(a.devices[0].minor) + "); fcnkit's kernels need Ampere (sm_80) or newer";
    return;
  }
  a.available = true;
  out->api = api;
  out->have_api = true;
}

Loaded& loaded() {
  static Loaded* l = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    l = new Loaded();  // never freed: the library stays loaded for the process's life
    try {
      load(l);
    } catch (...) {
      l->info.available = false;
      l->have_api = false;
      if (l->info.reason.empty()) l->info.reason = "CUDA initialisation failed";
    }
  });
  return *l;
}

}  // namespace

const Availability& availability() { return loaded().info; }

const Api* cuda_api() {
  Loaded& l = loaded();
  return l.have_api ? &l.api : nullptr;
}

Status require_cuda() {
  const Availability& a = availability();
  if (a.available) return Status::OK();
  return error(Code::kCudaUnavailable, "device 'cuda' is unavailable: ", a.reason,
               a.detail.empty() ? std::string() : " (" + a.detail + ")", "; use device 'cpu'");
}

}  // namespace cuda
}  // namespace fcn
