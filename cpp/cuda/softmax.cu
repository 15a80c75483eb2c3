// Softmax and argmax along one axis: one thread per (outer, inner) position, walking the axis
// with stride `inner` (NCHW over channels: neighbouring threads read neighbouring pixels). The
// arithmetic is cpp/ops/softmax.cc's and argmax.cc's: max, exp(x - max), times 1 / sum; argmax
// keeps the first of equal maxima and skips NaN unless it is at index 0 (onnxruntime's rule).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fcn {
namespace cuda {

namespace {

__global__ void softmax_kernel(const __grid_constant__ fcnkit_cuda_axis_params p, const float* __restrict__ x,
                               float* __restrict__ y) {
  const int64_t total = p.outer * p.inner;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = i / p.inner, j = i - o * p.inner;
    const float* xo = x + o * p.n * p.inner + j;
    float* yo = y + o * p.n * p.inner + j;
    float m = xo[0];
    for (int64_t k = 1; k < p.n; ++k) {
      const float v = xo[k * p.inner];
      m = v > m ? v : m;
    }
    float sum = 0.f;
    for (int64_t k = 0; k < p.n; ++k) {
      const float e = expf(xo[k * p.inner] - m);
      yo[k * p.inner] = e;
      sum += e;
    }
    const float inv = 1.f / sum;
    for (int64_t k = 0; k < p.n; ++k) yo[k * p.inner] *= inv;
  }
}

__global__ void argmax_kernel(const __grid_constant__ fcnkit_cuda_axis_params p, const float* __restrict__ x,
                              int32_t* __restrict__ y) {
  const int64_t total = p.outer * p.inner;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = i / p.inner, j = i - o * p.inner;
    const float* xo = x + o * p.n * p.inner + j;
    float best = xo[0];
    int32_t idx = 0;
    for (int64_t k = 1; k < p.n; ++k) {
      const float v = xo[k * p.inner];
      if (v > best) {
        best = v;
        idx = static_cast<int32_t>(k);
      }
    }
    y[i] = idx;
  }
}

}  // namespace

Status launch_softmax(const fcnkit_cuda_axis_params& p, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = p.outer * p.inner;
  if (total == 0 || p.n == 0) return Status::OK();
  softmax_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, x, y);
  return launch_status("softmax");
}

Status launch_argmax(const fcnkit_cuda_axis_params& p, const float* x, int32_t* y, cudaStream_t stream) {
  const int64_t total = p.outer * p.inner;
  if (total == 0 || p.n == 0) return Status::OK();
  argmax_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, x, y);
  return launch_status("argmax");
}

}  // namespace cuda
}  // namespace fcn
