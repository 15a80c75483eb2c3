// Shared by the backend library's .cu files: CUDA errors as fcn::Status, launch sizes.
//   CUDA errors become CUDA_ERROR, except cudaErrorMemoryAllocation, which is OUT_OF_MEMORY
//   (the context survives it: the caller frees what it holds and the next run may succeed).
//   A kernel fault (illegal address, ...) poisons the context for the rest of the process: every
//   later call answers CUDA_ERROR, and the message says so.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace fcn {
namespace cuda {

inline Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::OK();
  const Code code = e == cudaErrorMemoryAllocation ? Code::kOutOfMemory : Code::kCudaError;
  return error(code, what, ": ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

// The checked call's own text names it in the message.
#define FCN_CUDA_CHECK(call) FCN_RETURN_IF_ERROR(::fcn::cuda::cuda_status((call), #call))

// After a launch: configuration errors surface here; faults inside the kernel surface at the
// next synchronising call.
inline Status launch_status(const char* kernel) { return cuda_status(cudaGetLastError(), kernel); }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items (kernels loop, so the grid may be smaller than n).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > (int64_t(1) << 20)) b = int64_t(1) << 20;
  return static_cast<unsigned>(b);
}

}  // namespace cuda
}  // namespace fcn
