// Direct convolutions: one thread per output element, fp32 FMAs in a fixed order.
//   conv:   depthwise and other grouped convolutions with one input channel per group, and any
//           convolution whose weights are not constants of the graph;
//   deconv: the gather form of the transposed convolution (each output pixel sums the input
//           pixels and taps that reach it), for dilation > 1 and the other cases the phase GEMM
//           does not take.
#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fcn {
namespace cuda {

namespace {

__global__ void conv_direct_kernel(const __grid_constant__ fcnkit_cuda_conv_params p, const float* __restrict__ x,
                                   const float* __restrict__ w, const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t total = p.batch * p.out_c * p.out_h * p.out_w;
  const int64_t cg = p.in_c / p.groups, og = p.out_c / p.groups;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ox = i % p.out_w;
    int64_t r = i / p.out_w;
    const int64_t oy = r % p.out_h;
    r /= p.out_h;
    const int64_t o = r % p.out_c;
    const int64_t b = r / p.out_c;
    const int64_t g = o / og;
    const float* xb = x + (b * p.in_c + g * cg) * p.in_h * p.in_w;
    const float* wo = w + o * cg * p.k_h * p.k_w;
    float acc = 0.f;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t kr = 0; kr < p.k_h; ++kr) {
        const int64_t iy = oy * p.stride_h - p.pad_t + kr * p.dil_h;
        if (iy < 0 || iy >= p.in_h) continue;
        for (int64_t ks = 0; ks < p.k_w; ++ks) {
          const int64_t ix = ox * p.stride_w - p.pad_l + ks * p.dil_w;
          if (ix < 0 || ix >= p.in_w) continue;
          acc = fmaf(xb[(c * p.in_h + iy) * p.in_w + ix], __ldg(wo + (c * p.k_h + kr) * p.k_w + ks), acc);
        }
      }
    float v = acc + (bias ? bias[o] : 0.f);
    if (p.relu) v = v < 0.f ? 0.f : v;
    y[i] = v;
  }
}

__global__ void deconv_direct_kernel(const __grid_constant__ fcnkit_cuda_conv_params p, const float* __restrict__ x,
                                     const float* __restrict__ w, const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t total = p.batch * p.out_c * p.out_h * p.out_w;
  const int64_t cg = p.in_c / p.groups, og = p.out_c / p.groups;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ox = i % p.out_w;
    int64_t r = i / p.out_w;
    const int64_t oy = r % p.out_h;
    r /= p.out_h;
    const int64_t o = r % p.out_c;
    const int64_t b = r / p.out_c;
    const int64_t g = o / og, oo = o - g * og;
    float acc = 0.f;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      const float* xc = x + (b * p.in_c + c) * p.in_h * p.in_w;
      const float* wc = w + (c * og + oo) * p.k_h * p.k_w;
      for (int64_t kr = 0; kr < p.k_h; ++kr) {
        const int64_t ty = oy + p.pad_t - kr * p.dil_h;
        if (ty < 0 || ty % p.stride_h != 0 || ty / p.stride_h >= p.in_h) continue;
        const int64_t iy = ty / p.stride_h;
        for (int64_t ks = 0; ks < p.k_w; ++ks) {
          const int64_t tx = ox + p.pad_l - ks * p.dil_w;
          if (tx < 0 || tx % p.stride_w != 0 || tx / p.stride_w >= p.in_w) continue;
          acc = fmaf(xc[iy * p.in_w + tx / p.stride_w], __ldg(wc + kr * p.k_w + ks), acc);
        }
      }
    }
    float v = acc + (bias ? bias[o] : 0.f);
    if (p.relu) v = v < 0.f ? 0.f : v;
    y[i] = v;
  }
}

}  // namespace

Status launch_conv_direct(const fcnkit_cuda_conv_params& p, const float* x, const float* w, const float* bias, float* y,
                          cudaStream_t stream) {
  const int64_t total = p.batch * p.out_c * p.out_h * p.out_w;
  if (total == 0) return Status::OK();
  conv_direct_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, x, w, bias, y);
  return launch_status("direct convolution");
}

Status launch_deconv_direct(const fcnkit_cuda_conv_params& p, const float* x, const float* w, const float* bias,
                            float* y, cudaStream_t stream) {
  const int64_t total = p.batch * p.out_c * p.out_h * p.out_w;
  if (total == 0) return Status::OK();
  deconv_direct_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, x, w, bias, y);
  return launch_status("direct transposed convolution");
}

}  // namespace cuda
}  // namespace fcn
