// Resize with the taps the host computed exactly as cpp/ops/resize.cc does (coordinate modes,
// float32 rounding, nearest ties), so the GPU picks the same pixels and weights; the weighted sum
// is written as the CPU writes it.
#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fcn {
namespace cuda {

namespace {

__global__ void resize_kernel(const __grid_constant__ fcnkit_cuda_resize_params p, const float* __restrict__ x,
                              const fcnkit_cuda_resize_tap* __restrict__ taps, float* __restrict__ y) {
  const int64_t total = p.planes * p.out_h * p.out_w;
  const fcnkit_cuda_resize_tap* tx = taps + p.out_h;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % p.out_w;
    const int64_t r0 = i / p.out_w;
    const int64_t r = r0 % p.out_h;
    const int64_t plane = r0 / p.out_h;
    const fcnkit_cuda_resize_tap ty = taps[r];
    const fcnkit_cuda_resize_tap u = tx[c];
    const float* a = x + (plane * p.in_h + ty.i0) * p.in_w;
    if (p.nearest) {
      y[i] = a[u.i0];
      continue;
    }
    const float* b = x + (plane * p.in_h + ty.i1) * p.in_w;
    // __fmul_rn / __fadd_rn: no contraction into FMAs, the same roundings as the CPU.
    const float ra = __fadd_rn(__fmul_rn(u.w0, a[u.i0]), __fmul_rn(u.w1, a[u.i1]));
    const float rb = __fadd_rn(__fmul_rn(u.w0, b[u.i0]), __fmul_rn(u.w1, b[u.i1]));
    y[i] = __fadd_rn(__fmul_rn(ty.w0, ra), __fmul_rn(ty.w1, rb));
  }
}

__global__ void copy_plane_kernel(int64_t n, const float* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) y[i] = x[i];
}

}  // namespace

Status launch_resize(const fcnkit_cuda_resize_params& p, const float* x, const fcnkit_cuda_resize_tap* taps, float* y,
                     cudaStream_t stream) {
  const int64_t total = p.planes * p.out_h * p.out_w;
  if (total == 0) return Status::OK();
  if (p.copy) copy_plane_kernel<<<grid_for(total), kThreads, 0, stream>>>(total, x, y);
  else resize_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, x, taps, y);
  return launch_status("resize");
}

}  // namespace cuda
}  // namespace fcn
