// Max / average pooling (windows already sized for ceil mode by the planner) and global average
// pooling. Same tap order and NaN rules as cpp/ops/pool2d.cc: a NaN in the window wins a max,
// padding never does; an average divides by the taps inside the input, or inside the explicit
// padding with countIncludePad (the ceil-mode overhang never counts).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fcn {
namespace cuda {

namespace {

template <bool kMax>
__global__ void pool_kernel(const __grid_constant__ fcnkit_cuda_pool_params p, const float* __restrict__ x,
                            float* __restrict__ y) {
  const int64_t total = p.planes * p.out_h * p.out_w;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ox = i % p.out_w;
    const int64_t r = i / p.out_w;
    const int64_t oy = r % p.out_h;
    const int64_t plane = r / p.out_h;
    const float* xp = x + plane * p.in_h * p.in_w;
    const int64_t sy = oy * p.stride_h - p.pad_t, sx = ox * p.stride_w - p.pad_l;
    int64_t hb, he, wb, we;
    tap_range(sy, p.k_h, p.dil_h, 0, p.in_h, &hb, &he);
    tap_range(sx, p.k_w, p.dil_w, 0, p.in_w, &wb, &we);
    float v;
    if (kMax) {
      v = -INFINITY;
      for (int64_t a = hb; a < he; ++a)
        for (int64_t b = wb; b < we; ++b) {
          const float t = xp[(sy + a * p.dil_h) * p.in_w + sx + b * p.dil_w];
          v = (t > v || t != t) ? t : v;
        }
    } else {
      float sum = 0.f;
      for (int64_t a = hb; a < he; ++a)
        for (int64_t b = wb; b < we; ++b) sum += xp[(sy + a * p.dil_h) * p.in_w + sx + b * p.dil_w];
      int64_t div;
      if (p.count_include_pad) {
        int64_t cb, ce, db, de;
        tap_range(sy, p.k_h, p.dil_h, -p.pad_t, p.in_h + p.pad_b, &cb, &ce);
        tap_range(sx, p.k_w, p.dil_w, -p.pad_l, p.in_w + p.pad_r, &db, &de);
        div = (ce - cb) * (de - db);
      } else {
        div = (he - hb) * (we - wb);
      }
      v = div > 0 ? sum / static_cast<float>(div) : 0.f;
    }
    y[i] = v;
  }
}

// One block per plane; partial sums in double.
__global__ void global_avg_kernel(int64_t planes, int64_t plane, const float* __restrict__ x, float* __restrict__ y) {
  __shared__ double part[kThreads];
  for (int64_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
    const float* xp = x + pl * plane;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < plane; j += blockDim.x) s += xp[j];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) y[pl] = static_cast<float>(part[0] / static_cast<double>(plane));
    __syncthreads();
  }
}

}  // namespace

Status launch_pool(int op, const fcnkit_cuda_pool_params& p, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = p.planes * p.out_h * p.out_w;
  if (total == 0) return Status::OK();
  if (op == FCNKIT_CUDA_OP_MAX_POOL) pool_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, x, y);
  else pool_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, x, y);
  return launch_status("pooling");
}

Status launch_global_avg_pool(const fcnkit_cuda_pool_params& p, const float* x, float* y, cudaStream_t stream) {
  const int64_t plane = p.in_h * p.in_w;
  if (p.planes == 0 || plane == 0) return Status::OK();
  const unsigned blocks = static_cast<unsigned>(p.planes < 65535 * 16 ? p.planes : 65535 * 16);
  global_avg_kernel<<<blocks, kThreads, 0, stream>>>(p.planes, plane, x, y);
  return launch_status("global average pooling");
}

}  // namespace cuda
}  // namespace fcn
