// Elementwise steps: activations, broadcast binaries, strided copies (crop, slice, transpose,
// reshape, the pieces of a concat) and pad. Index arithmetic: cpp/cuda/step_math.h.
#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fcn {
namespace cuda {

namespace {

#define FCN_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void unary_kernel(const __grid_constant__ fcnkit_cuda_unary_params p, const float* __restrict__ x,
                             float* __restrict__ y) {
  FCN_GRID_STRIDE(i, p.count) y[i] = unary_apply(p.kind, x[i], p.alpha, p.beta);
}

// a and b may alias y (max over several inputs accumulates in place): no __restrict__.
__global__ void binary_kernel(const __grid_constant__ fcnkit_cuda_binary_params p, const float* a, const float* b,
                              float* y) {
  if (p.rank == 1 && p.a_strides[0] == 1 && p.b_strides[0] == 1) {
    FCN_GRID_STRIDE(i, p.count) y[i] = binary_apply(p.kind, a[i], b[i]);
    return;
  }
  FCN_GRID_STRIDE(i, p.count) {
    int64_t oa, ob;
    broadcast_offsets(p, i, &oa, &ob);
    y[i] = binary_apply(p.kind, a[oa], b[ob]);
  }
}

__global__ void copy_kernel(const __grid_constant__ fcnkit_cuda_copy_params p, const uint32_t* __restrict__ x,
                            uint32_t* __restrict__ y) {
  if (p.rank == 1 && p.src_strides[0] == 1 && p.dst_strides[0] == 1) {
    FCN_GRID_STRIDE(i, p.count) y[p.dst_offset + i] = x[p.src_offset + i];
    return;
  }
  FCN_GRID_STRIDE(i, p.count) {
    int64_t s, d;
    copy_offsets(p, i, &s, &d);
    y[d] = x[s];
  }
}

__global__ void pad_kernel(const __grid_constant__ fcnkit_cuda_pad_params p, const float* __restrict__ x,
                           float* __restrict__ y) {
  const int64_t total = p.planes * p.h.out * p.w.out;
  FCN_GRID_STRIDE(i, total) {
    const int64_t c = i % p.w.out;
    const int64_t r0 = i / p.w.out;
    const int64_t r = r0 % p.h.out;
    const int64_t plane = r0 / p.h.out;
    const int64_t sr = pad_source(p.h, r, p.mode), sc = pad_source(p.w, c, p.mode);
    y[i] = sr < 0 || sc < 0 ? p.value : x[(plane * p.h.in + sr) * p.w.in + sc];
  }
}

}  // namespace

Status launch_unary(const fcnkit_cuda_unary_params& p, const float* x, float* y, cudaStream_t stream) {
  if (p.count == 0) return Status::OK();
  unary_kernel<<<grid_for(p.count), kThreads, 0, stream>>>(p, x, y);
  return launch_status("activation");
}

Status launch_binary(const fcnkit_cuda_binary_params& p, const float* a, const float* b, float* y, cudaStream_t stream) {
  if (p.count == 0) return Status::OK();
  binary_kernel<<<grid_for(p.count), kThreads, 0, stream>>>(p, a, b, y);
  return launch_status("elementwise binary op");
}

Status launch_copy(const fcnkit_cuda_copy_params& p, const uint32_t* x, uint32_t* y, cudaStream_t stream) {
  if (p.count == 0) return Status::OK();
  copy_kernel<<<grid_for(p.count), kThreads, 0, stream>>>(p, x, y);
  return launch_status("strided copy");
}

Status launch_pad(const fcnkit_cuda_pad_params& p, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = p.planes * p.h.out * p.w.out;
  if (total == 0) return Status::OK();
  pad_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, x, y);
  return launch_status("pad");
}

}  // namespace cuda
}  // namespace fcn
