// libfcnkit_cuda.so's C entry points (cpp/cuda/abi.h): probe, weights, plans, runs.
//
// A run: its own non-blocking stream and its own arena (cudaMallocAsync from the device's pool,
// which keeps freed arenas cached for the next run), inputs copied in, every step launched, the
// outputs copied out, the arena freed, one synchronisation at the end. Runs of one plan on
// several threads at once share only read-only state (weights, blob, step list).
// Abort: checked before each launch; the host stays at most kWindow steps ahead of the GPU so
// that an abort takes effect within a few kernels rather than after the whole queue.
// Nothing here throws across the C boundary; every CUDA error becomes a code and a message.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "cuda/abi.h"
#include "cuda/common.cuh"
#include "cuda/kernels.h"

#define FCNKIT_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using fcn::Code;
using fcn::Status;
using fcn::cuda::cuda_status;

struct WeightSet {
  int device = 0;
  std::vector<void*> ptrs;
  std::vector<uint64_t> bytes;
  ~WeightSet() {
    if (cudaSetDevice(device) != cudaSuccess) return;
    for (void* p : ptrs)
      if (p) cudaFree(p);
  }
};

int32_t abi_code(Code c) {
  switch (c) {
    case Code::kOk: return FCNKIT_CUDA_OK;
    case Code::kOutOfMemory: return FCNKIT_CUDA_OUT_OF_MEMORY;
    case Code::kCudaUnavailable: return FCNKIT_CUDA_UNAVAILABLE;
    case Code::kAborted: return FCNKIT_CUDA_ABORTED;
    case Code::kTooLarge: return FCNKIT_CUDA_TOO_LARGE;
    case Code::kUnsupportedOp: return FCNKIT_CUDA_UNSUPPORTED;
    case Code::kInvalidArgument:
    case Code::kShapeMismatch:
    case Code::kBadModel: return FCNKIT_CUDA_INVALID_ARGUMENT;
    default: return FCNKIT_CUDA_ERROR;
  }
}

int32_t report(fcnkit_cuda_error* err, const Status& s, int32_t step) {
  const int32_t code = abi_code(s.code());
  if (err) {
    err->code = code;
    err->step = step;
    std::snprintf(err->message, sizeof(err->message), "%s", s.message().c_str());
  }
  return code;
}

// Clears a non-sticky error so that it does not surface at an unrelated later call.
void clear_error() { (void)cudaGetLastError(); }

}  // namespace

struct fcnkit_cuda_weights {
  std::shared_ptr<WeightSet> set;
};

struct fcnkit_cuda_plan {
  std::shared_ptr<WeightSet> weights;
  int device = 0;
  bool pools = false;  // stream-ordered allocation available
  uint64_t arena_bytes = 0;
  std::vector<fcnkit_cuda_value> values;
  std::vector<fcnkit_cuda_step> steps;
  void* blob = nullptr;
  std::vector<int32_t> input_values, output_values;
  ~fcnkit_cuda_plan() {
    if (blob && cudaSetDevice(device) == cudaSuccess) cudaFree(blob);
  }
};

namespace {

constexpr int kWindow = 8;

// FCNKIT_CUDA_PROFILE=1: each run times every step with CUDA events and prints one line per step
// to stderr, tab-separated: "fcnkit-cuda-profile", step, kernel, milliseconds, useful FLOPs, what.
// bench/gpu/ reads these to find the 3x3 convolutions' share of the GPU's peak.
bool profiling() {
  static const bool on = [] {
    const char* v = std::getenv("FCNKIT_CUDA_PROFILE");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void describe_step(const fcnkit_cuda_step& st, char* what, size_t size, double* flops) {
  *flops = 0;
  const fcnkit_cuda_params& p = st.params;
  switch (st.op) {
    case FCNKIT_CUDA_OP_CONV_GEMM: {
      const fcnkit_cuda_gemm_params& g = p.gemm;
      const char* prec = g.precision == FCNKIT_CUDA_TF32 ? "tf32" : g.precision == FCNKIT_CUDA_BF16 ? "bf16" : "fp32";
      if (g.deconv) {
        // Every input pixel meets every tap once.
        *flops = 2.0 * g.batch * g.in_h * g.in_w * g.in_c * g.n * (g.taps_h * g.deconv_sh) * (g.taps_w * g.deconv_sw);
        std::snprintf(what, size, "deconv-gemm %s k<=%lldx%lld s%lld %lldx%lldx%lldx%lld -> %lld", prec,
                      (long long)(g.taps_h * g.deconv_sh), (long long)(g.taps_w * g.deconv_sw), (long long)g.deconv_sh,
                      (long long)g.batch, (long long)g.in_c, (long long)g.in_h, (long long)g.in_w, (long long)g.out_c);
      } else {
        *flops = 2.0 * g.batch * g.out_h * g.out_w * g.n * g.groups * g.k;
        std::snprintf(what, size, "conv %lldx%lld s%lld %s %lldx%lldx%lldx%lld -> %lld", (long long)g.taps_h,
                      (long long)g.taps_w, (long long)g.stride_h, prec, (long long)g.batch, (long long)g.in_c,
                      (long long)g.in_h, (long long)g.in_w, (long long)g.out_c);
      }
      break;
    }
    case FCNKIT_CUDA_OP_CONV_DIRECT:
    case FCNKIT_CUDA_OP_DECONV_DIRECT:
      std::snprintf(what, size, "%s %lldx%lld %lldx%lldx%lldx%lld -> %lld", st.op == FCNKIT_CUDA_OP_CONV_DIRECT ? "conv-direct" : "deconv-direct",
                    (long long)p.conv.k_h, (long long)p.conv.k_w, (long long)p.conv.batch, (long long)p.conv.in_c,
                    (long long)p.conv.in_h, (long long)p.conv.in_w, (long long)p.conv.out_c);
      break;
    default: std::snprintf(what, size, "op %d", st.op);
  }
}

Status check_desc(const fcnkit_cuda_plan_desc& d, const WeightSet& w) {
  if (d.abi_version != FCNKIT_CUDA_ABI_VERSION)
    return fcn::error(Code::kInvalidArgument, "plan description of ABI ", d.abi_version, ", library speaks ",
                      FCNKIT_CUDA_ABI_VERSION);
  if (d.device != w.device)
    return fcn::error(Code::kInvalidArgument, "plan for device ", d.device, " but the weights are on device ", w.device);
  for (int32_t i = 0; i < d.n_values; ++i) {
    const fcnkit_cuda_value& v = d.values[i];
    bool ok;
    if (v.where == FCNKIT_CUDA_IN_ARENA) ok = v.offset <= d.arena_bytes && v.bytes <= d.arena_bytes - v.offset;
    else if (v.where == FCNKIT_CUDA_IN_BLOB) ok = v.offset <= d.blob_bytes && v.bytes <= d.blob_bytes - v.offset;
    else if (v.where == FCNKIT_CUDA_IN_WEIGHTS)
      ok = v.weight < 0 || (v.weight < static_cast<int32_t>(w.ptrs.size()) && v.offset <= w.bytes[v.weight] &&
                            v.bytes <= w.bytes[v.weight] - v.offset);
    else ok = false;
    if (!ok) return fcn::error(Code::kInvalidArgument, "plan value ", i, " lies outside its memory");
  }
  auto id_ok = [&](int32_t id, bool optional) { return (optional && id == -1) || (id >= 0 && id < d.n_values); };
  for (int32_t s = 0; s < d.n_steps; ++s) {
    const fcnkit_cuda_step& st = d.steps[s];
    bool ok = st.n_inputs >= 0 && st.n_inputs <= FCNKIT_CUDA_MAX_STEP_INPUTS && id_ok(st.output, false) &&
              d.values[st.output].where == FCNKIT_CUDA_IN_ARENA;
    for (int32_t k = 0; ok && k < st.n_inputs; ++k) ok = id_ok(st.inputs[k], k > 0);
    if (!ok) return fcn::error(Code::kInvalidArgument, "plan step ", s, " names a value that does not exist");
  }
  for (int32_t i = 0; i < d.n_inputs; ++i)
    if (!id_ok(d.input_values[i], false) || d.values[d.input_values[i]].where != FCNKIT_CUDA_IN_ARENA)
      return fcn::error(Code::kInvalidArgument, "plan input ", i, " is not in the arena");
  for (int32_t i = 0; i < d.n_outputs; ++i)
    if (!id_ok(d.output_values[i], false)) return fcn::error(Code::kInvalidArgument, "plan output ", i, " does not exist");
  return Status::OK();
}

Status run_step(const fcnkit_cuda_step& st, const std::vector<void*>& ptr, cudaStream_t s) {
  using namespace fcn::cuda;
  auto in = [&](int i) -> const float* {
    return i < st.n_inputs && st.inputs[i] >= 0 ? static_cast<const float*>(ptr[st.inputs[i]]) : nullptr;
  };
  float* y = static_cast<float*>(ptr[st.output]);
  const fcnkit_cuda_params& p = st.params;
  switch (st.op) {
    case FCNKIT_CUDA_OP_CONV_GEMM:
      return launch_gemm_conv(p.gemm, in(0), in(1), reinterpret_cast<const GatherEntry*>(in(2)), in(3), y, s);
    case FCNKIT_CUDA_OP_CONV_DIRECT: return launch_conv_direct(p.conv, in(0), in(1), in(2), y, s);
    case FCNKIT_CUDA_OP_DECONV_DIRECT: return launch_deconv_direct(p.conv, in(0), in(1), in(2), y, s);
    case FCNKIT_CUDA_OP_MAX_POOL:
    case FCNKIT_CUDA_OP_AVG_POOL: return launch_pool(st.op, p.pool, in(0), y, s);
    case FCNKIT_CUDA_OP_GLOBAL_AVG_POOL: return launch_global_avg_pool(p.pool, in(0), y, s);
    case FCNKIT_CUDA_OP_UNARY: return launch_unary(p.unary, in(0), y, s);
    case FCNKIT_CUDA_OP_BINARY: return launch_binary(p.binary, in(0), in(1), y, s);
    case FCNKIT_CUDA_OP_COPY:
      return launch_copy(p.copy, reinterpret_cast<const uint32_t*>(in(0)), reinterpret_cast<uint32_t*>(y), s);
    case FCNKIT_CUDA_OP_PAD: return launch_pad(p.pad, in(0), y, s);
    case FCNKIT_CUDA_OP_RESIZE:
      return launch_resize(p.resize, in(0), reinterpret_cast<const fcnkit_cuda_resize_tap*>(in(1)), y, s);
    case FCNKIT_CUDA_OP_SOFTMAX: return launch_softmax(p.axis, in(0), y, s);
    case FCNKIT_CUDA_OP_ARGMAX: return launch_argmax(p.axis, in(0), reinterpret_cast<int32_t*>(y), s);
    default: return fcn::error(Code::kUnsupportedOp, "unknown step kind ", st.op);
  }
}

// The device's pool keeps freed arenas for the next run instead of returning them at each
// synchronisation (set once per device).
void keep_pool_memory(int device) {
  static std::mutex mu;
  static std::vector<bool> done;
  std::lock_guard<std::mutex> lock(mu);
  if (device < 0) return;
  if (done.size() <= static_cast<size_t>(device)) done.resize(device + 1, false);
  if (done[device]) return;
  done[device] = true;
  cudaMemPool_t pool;
  if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
    uint64_t threshold = std::numeric_limits<uint64_t>::max();
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  }
  clear_error();
}

struct Arena {
  void* ptr = nullptr;
  bool async = false;
};

Status alloc_arena(const fcnkit_cuda_plan& p, cudaStream_t s, Arena* a) {
  if (p.arena_bytes == 0) return Status::OK();
  if (p.pools) {
    cudaError_t e = cudaMallocAsync(&a->ptr, p.arena_bytes, s);
    if (e == cudaErrorMemoryAllocation) {
      // Give back what the pool caches from earlier runs, then try once more.
      clear_error();
      cudaMemPool_t pool;
      if (cudaDeviceGetDefaultMemPool(&pool, p.device) == cudaSuccess) {
        cudaStreamSynchronize(s);
        cudaMemPoolTrimTo(pool, 0);
      }
      e = cudaMallocAsync(&a->ptr, p.arena_bytes, s);
    }
    if (e != cudaSuccess) {
      clear_error();
      a->ptr = nullptr;
      return fcn::error(e == cudaErrorMemoryAllocation ? Code::kOutOfMemory : Code::kCudaError,
                        "cannot allocate the run's device arena of ", p.arena_bytes, " bytes: ", cudaGetErrorName(e),
                        " (", cudaGetErrorString(e), ")");
    }
    a->async = true;
    return Status::OK();
  }
  cudaError_t e = cudaMalloc(&a->ptr, p.arena_bytes);
  if (e != cudaSuccess) {
    clear_error();
    a->ptr = nullptr;
    return fcn::error(e == cudaErrorMemoryAllocation ? Code::kOutOfMemory : Code::kCudaError,
                      "cannot allocate the run's device arena of ", p.arena_bytes, " bytes: ", cudaGetErrorName(e));
  }
  return Status::OK();
}

}  // namespace

FCNKIT_CUDA_EXPORT int32_t fcnkit_cuda_abi_version(void) { return FCNKIT_CUDA_ABI_VERSION; }

FCNKIT_CUDA_EXPORT void fcnkit_cuda_probe(fcnkit_cuda_probe_result* r) {
  if (!r) return;
  std::memset(r, 0, sizeof(*r));
  try {
    cudaRuntimeGetVersion(&r->runtime_version);
    cudaDriverGetVersion(&r->driver_version);
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      if (e == cudaErrorInsufficientDriver)
        r->status = r->driver_version == 0 ? FCNKIT_CUDA_PROBE_NO_DRIVER : FCNKIT_CUDA_PROBE_DRIVER_TOO_OLD;
      else if (e == cudaErrorNoDevice) r->status = FCNKIT_CUDA_PROBE_NO_DEVICE;
      else r->status = FCNKIT_CUDA_PROBE_ERROR;
      std::snprintf(r->message, sizeof(r->message), "%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
      clear_error();
      return;
    }
    if (n == 0) {
      r->status = FCNKIT_CUDA_PROBE_NO_DEVICE;
      std::snprintf(r->message, sizeof(r->message), "cudaGetDeviceCount found 0 devices");
      return;
    }
    r->device_count = n < FCNKIT_CUDA_MAX_DEVICES ? n : FCNKIT_CUDA_MAX_DEVICES;
    for (int i = 0; i < r->device_count; ++i) {
      cudaDeviceProp prop;
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
        clear_error();
        continue;
      }
      fcnkit_cuda_device& d = r->devices[i];
      std::snprintf(d.name, sizeof(d.name), "%s", prop.name);
      d.major = prop.major;
      d.minor = prop.minor;
      d.memory_bytes = prop.totalGlobalMem;
      d.multiprocessors = prop.multiProcessorCount;
    }
    r->status = FCNKIT_CUDA_PROBE_OK;
  } catch (...) {
    r->status = FCNKIT_CUDA_PROBE_ERROR;
    std::snprintf(r->message, sizeof(r->message), "unexpected failure while probing");
  }
}

FCNKIT_CUDA_EXPORT fcnkit_cuda_weights* fcnkit_cuda_weights_create(int32_t device, int32_t count, const void* const* data,
                                                                    const uint64_t* bytes, fcnkit_cuda_error* err) {
  try {
    Status s = cuda_status(cudaSetDevice(device), "cudaSetDevice");
    if (!s.ok()) {
      clear_error();
      report(err, s, -1);
      return nullptr;
    }
    auto set = std::make_shared<WeightSet>();
    set->device = device;
    set->ptrs.assign(static_cast<size_t>(count), nullptr);
    set->bytes.assign(bytes, bytes + count);
    for (int32_t i = 0; i < count; ++i) {
      if (bytes[i] == 0) continue;
      s = cuda_status(cudaMalloc(&set->ptrs[i], bytes[i]), "cudaMalloc (weights)");
      if (s.ok()) s = cuda_status(cudaMemcpy(set->ptrs[i], data[i], bytes[i], cudaMemcpyHostToDevice), "cudaMemcpy (weights)");
      if (!s.ok()) {
        clear_error();
        report(err, fcn::error(s.code(), "cannot upload weight buffer ", i, " (", bytes[i], " bytes): ", s.message()), -1);
        return nullptr;  // `set` frees what was allocated
      }
    }
    auto* w = new fcnkit_cuda_weights();
    w->set = std::move(set);
    return w;
  } catch (const std::bad_alloc&) {
    report(err, fcn::error(Code::kOutOfMemory, "out of host memory"), -1);
  } catch (...) {
    report(err, fcn::error(Code::kCudaError, "unexpected failure while uploading the weights"), -1);
  }
  return nullptr;
}

FCNKIT_CUDA_EXPORT void fcnkit_cuda_weights_destroy(fcnkit_cuda_weights* w) {
  try {
    delete w;
  } catch (...) {
  }
}

FCNKIT_CUDA_EXPORT fcnkit_cuda_plan* fcnkit_cuda_plan_create(fcnkit_cuda_weights* w, const fcnkit_cuda_plan_desc* d,
                                                              fcnkit_cuda_error* err) {
  try {
    if (!w || !d) {
      report(err, fcn::error(Code::kInvalidArgument, "no weights or no plan description"), -1);
      return nullptr;
    }
    Status s = check_desc(*d, *w->set);
    if (!s.ok()) {
      report(err, s, -1);
      return nullptr;
    }
    std::unique_ptr<fcnkit_cuda_plan> p(new fcnkit_cuda_plan());
    p->weights = w->set;
    p->device = d->device;
    s = cuda_status(cudaSetDevice(p->device), "cudaSetDevice");
    int pools = 0;
    if (s.ok()) s = cuda_status(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, p->device), "cudaDeviceGetAttribute");
    p->pools = pools != 0;
    if (s.ok() && p->pools) keep_pool_memory(p->device);
    if (s.ok() && d->blob_bytes) {
      s = cuda_status(cudaMalloc(&p->blob, d->blob_bytes), "cudaMalloc (plan tables)");
      if (s.ok()) s = cuda_status(cudaMemcpy(p->blob, d->blob, d->blob_bytes, cudaMemcpyHostToDevice), "cudaMemcpy (plan tables)");
    }
    if (!s.ok()) {
      clear_error();
      report(err, s, -1);
      return nullptr;
    }
    p->arena_bytes = d->arena_bytes;
    p->values.assign(d->values, d->values + d->n_values);
    p->steps.assign(d->steps, d->steps + d->n_steps);
    p->input_values.assign(d->input_values, d->input_values + d->n_inputs);
    p->output_values.assign(d->output_values, d->output_values + d->n_outputs);
    return p.release();
  } catch (const std::bad_alloc&) {
    report(err, fcn::error(Code::kOutOfMemory, "out of host memory"), -1);
  } catch (...) {
    report(err, fcn::error(Code::kCudaError, "unexpected failure while creating the plan"), -1);
  }
  return nullptr;
}

FCNKIT_CUDA_EXPORT void fcnkit_cuda_plan_destroy(fcnkit_cuda_plan* p) {
  try {
    delete p;
  } catch (...) {
  }
}

FCNKIT_CUDA_EXPORT int32_t fcnkit_cuda_plan_run(fcnkit_cuda_plan* p, const void* const* inputs, void* const* outputs,
                                                 fcnkit_cuda_abort_fn aborted, void* abort_ctx, fcnkit_cuda_error* err) {
  if (!p) return report(err, fcn::error(Code::kInvalidArgument, "no plan"), -1);
  cudaStream_t stream = nullptr;
  Arena arena;
  std::vector<cudaEvent_t> events;
  try {
    Status s = cuda_status(cudaSetDevice(p->device), "cudaSetDevice");
    if (s.ok()) s = cuda_status(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    if (!s.ok()) {
      clear_error();
      return report(err, s, -1);
    }
    s = alloc_arena(*p, stream, &arena);
    int32_t failed_step = -1;
    std::vector<void*> ptr(p->values.size(), nullptr);
    if (s.ok()) {
      char* base = static_cast<char*>(arena.ptr);
      char* blob = static_cast<char*>(p->blob);
      for (size_t i = 0; i < p->values.size(); ++i) {
        const fcnkit_cuda_value& v = p->values[i];
        if (v.where == FCNKIT_CUDA_IN_ARENA) ptr[i] = base ? base + v.offset : nullptr;
        else if (v.where == FCNKIT_CUDA_IN_BLOB) ptr[i] = blob ? blob + v.offset : nullptr;
        else if (v.weight >= 0 && p->weights->ptrs[v.weight]) ptr[i] = static_cast<char*>(p->weights->ptrs[v.weight]) + v.offset;
      }
      for (size_t i = 0; s.ok() && i < p->input_values.size(); ++i) {
        const fcnkit_cuda_value& v = p->values[p->input_values[i]];
        if (v.bytes)
          s = cuda_status(cudaMemcpyAsync(ptr[p->input_values[i]], inputs[i], v.bytes, cudaMemcpyHostToDevice, stream),
                          "copying an input to the device");
      }
      if (s.ok() && aborted) {
        events.assign(kWindow, nullptr);
        for (cudaEvent_t& e : events)
          if (s.ok()) s = cuda_status(cudaEventCreateWithFlags(&e, cudaEventDisableTiming | cudaEventBlockingSync), "cudaEventCreate");
      }
      std::vector<cudaEvent_t> marks;
      if (s.ok() && profiling()) {
        marks.assign(p->steps.size() + 1, nullptr);
        for (cudaEvent_t& e : marks)
          if (s.ok()) s = cuda_status(cudaEventCreate(&e), "cudaEventCreate");
        if (s.ok()) s = cuda_status(cudaEventRecord(marks[0], stream), "cudaEventRecord");
      }
      for (size_t i = 0; s.ok() && i < p->steps.size(); ++i) {
        if (aborted) {
          if (i >= static_cast<size_t>(kWindow))
            s = cuda_status(cudaEventSynchronize(events[i % kWindow]), "waiting for the GPU");
          if (s.ok() && aborted(abort_ctx)) s = fcn::error(Code::kAborted, "aborted");
        }
        if (s.ok()) s = run_step(p->steps[i], ptr, stream);
        if (s.ok() && aborted) s = cuda_status(cudaEventRecord(events[i % kWindow], stream), "cudaEventRecord");
        if (s.ok() && !marks.empty()) s = cuda_status(cudaEventRecord(marks[i + 1], stream), "cudaEventRecord");
        if (!s.ok()) failed_step = static_cast<int32_t>(i);
      }
      if (s.ok() && !marks.empty() && cudaStreamSynchronize(stream) == cudaSuccess) {
        for (size_t i = 0; i < p->steps.size(); ++i) {
          float ms = 0.f;
          cudaEventElapsedTime(&ms, marks[i], marks[i + 1]);
          char what[200];
          double flops;
          describe_step(p->steps[i], what, sizeof(what), &flops);
          std::fprintf(stderr, "fcnkit-cuda-profile\t%zu\t%d\t%.4f\t%.0f\t%s\n", i, p->steps[i].op, ms, flops, what);
        }
      }
      for (cudaEvent_t e : marks)
        if (e) cudaEventDestroy(e);
      for (size_t o = 0; s.ok() && o < p->output_values.size(); ++o) {
        const fcnkit_cuda_value& v = p->values[p->output_values[o]];
        if (v.bytes)
          s = cuda_status(cudaMemcpyAsync(outputs[o], ptr[p->output_values[o]], v.bytes, cudaMemcpyDeviceToHost, stream),
                          "copying an output to the host");
      }
    }
    if (arena.ptr) {
      if (arena.async) cudaFreeAsync(arena.ptr, stream);
      else {
        cudaStreamSynchronize(stream);
        cudaFree(arena.ptr);
      }
    }
    // Faults inside kernels surface here, without telling which kernel: name none.
    const Status sync = cuda_status(cudaStreamSynchronize(stream), "running the plan on the GPU");
    if (s.ok() && !sync.ok()) s = sync;
    for (cudaEvent_t e : events)
      if (e) cudaEventDestroy(e);
    cudaStreamDestroy(stream);
    if (!s.ok()) {
      clear_error();
      return report(err, s, failed_step);
    }
    return FCNKIT_CUDA_OK;
  } catch (const std::bad_alloc&) {
    if (stream) cudaStreamDestroy(stream);
    return report(err, fcn::error(Code::kOutOfMemory, "out of host memory"), -1);
  } catch (...) {
    if (stream) cudaStreamDestroy(stream);
    return report(err, fcn::error(Code::kCudaError, "unexpected failure during the run"), -1);
  }
}
