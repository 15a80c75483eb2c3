// Index arithmetic of the device steps, shared by the CUDA kernels (cpp/cuda/*.cu) and the CPU
// emulator (cpp/cuda/emulate.cc), so that the emulator's comparison with the CPU ops checks the
// lowering and these formulas, and the kernels differ from it only in how they tile the work.
#pragma once
#include <math.h>
#include <stdint.h>

#include "cuda/abi.h"

#ifdef __CUDACC__
#define FCN_HD __host__ __device__ __forceinline__
#else
#define FCN_HD inline
#endif

namespace fcn {
namespace cuda {

// One entry of a CONV_GEMM gather table: k -> (input offset from the row's origin, tap offsets).
// Entries k >= K carry dy = kInvalidTap, which no bounds check lets through.
struct GatherEntry {
  int64_t delta;
  int32_t dy, dx;
};
constexpr int32_t kInvalidTap = -(1 << 30);

// Where the GEMM rows of one phase come from and go to.
struct PhaseGeometry {
  int64_t grid_h, grid_w;      // rows = batch * grid_h * grid_w
  int64_t stride_h, stride_w;  // input step per grid step
  int64_t pad_t, pad_l;        // input origin = grid * stride - pad
  int64_t y0, x0, ystep, xstep;  // output pixel = y0 + gy * ystep
};

FCN_HD int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

FCN_HD PhaseGeometry phase_geometry(const fcnkit_cuda_gemm_params& p, int64_t py, int64_t px) {
  PhaseGeometry g;
  if (!p.deconv) {
    g.grid_h = p.out_h;
    g.grid_w = p.out_w;
    g.stride_h = p.stride_h;
    g.stride_w = p.stride_w;
    g.pad_t = p.pad_t;
    g.pad_l = p.pad_l;
    g.y0 = g.x0 = 0;
    g.ystep = g.xstep = 1;
    return g;
  }
  // Output row y = py + q * sh takes kernel rows ky = r + j * sh with r = (py + pt) mod sh, from
  // input row (y + pt - ky) / sh = q + floor((py + pt) / sh) - j. The prepared weight stores tap
  // j at position taps_h - 1 - j, so in GEMM terms the input row is
  // q - (taps_h - 1 - floor((py + pt) / sh)) + position: a stride-1 convolution with that pad.
  g.grid_h = p.out_h > py ? (p.out_h - py + p.deconv_sh - 1) / p.deconv_sh : 0;
  g.grid_w = p.out_w > px ? (p.out_w - px + p.deconv_sw - 1) / p.deconv_sw : 0;
  g.stride_h = g.stride_w = 1;
  g.pad_t = p.taps_h - 1 - floor_div(py + p.deconv_pt, p.deconv_sh);
  g.pad_l = p.taps_w - 1 - floor_div(px + p.deconv_pl, p.deconv_sw);
  g.y0 = py;
  g.x0 = px;
  g.ystep = p.deconv_sh;
  g.xstep = p.deconv_sw;
  return g;
}

// A GEMM row's input origin and output offset (without the channel terms).
struct RowInfo {
  int64_t in_base;   // offset of (b, channel 0 of the group, iy0, ix0) in x, may lie outside
  int64_t out_base;  // offset of (b, channel 0, y, x) in y
  int64_t iy0, ix0;
};

FCN_HD RowInfo row_info(const fcnkit_cuda_gemm_params& p, const PhaseGeometry& g, int64_t group, int64_t m) {
  const int64_t per_image = g.grid_h * g.grid_w;
  const int64_t b = m / per_image;
  const int64_t r = m - b * per_image;
  const int64_t gy = r / g.grid_w;
  const int64_t gx = r - gy * g.grid_w;
  RowInfo ri;
  ri.iy0 = gy * g.stride_h - g.pad_t;
  ri.ix0 = gx * g.stride_w - g.pad_l;
  const int64_t cg = p.in_c / p.groups;
  ri.in_base = ((b * p.in_c + group * cg) * p.in_h + ri.iy0) * p.in_w + ri.ix0;
  const int64_t y = g.y0 + gy * g.ystep, x = g.x0 + gx * g.xstep;
  ri.out_base = ((b * p.out_c + group * p.n) * p.out_h + y) * p.out_w + x;
  return ri;
}

// Whether A[m][k] is inside the image (else 0).
FCN_HD bool tap_inside(const RowInfo& ri, const GatherEntry& e, int64_t in_h, int64_t in_w) {
  const int64_t iy = ri.iy0 + e.dy, ix = ri.ix0 + e.dx;
  return iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
}

// ---- pad -----------------------------------------------------------------------------------

// The input index output index o reads along one axis, or -1 for the constant value
// (cpp/ops/pad.cc's PadAxis::source).
FCN_HD int64_t pad_source(const fcnkit_cuda_pad_axis& a, int64_t o, int32_t mode) {
  const int64_t i = o - a.before;
  if (i >= 0 && i < a.keep) return a.crop + i;
  if (mode == FCNKIT_CUDA_PAD_CONSTANT) return -1;
  if (mode == FCNKIT_CUDA_PAD_EDGE) return a.crop + (i < 0 ? 0 : a.keep - 1);
  return a.crop + (i < 0 ? -i : 2 * (a.keep - 1) - i);
}

// ---- pooling -------------------------------------------------------------------------------

FCN_HD int64_t ceil_div_pos(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Taps [begin, end) of a window starting at `start` (tap i at start + i*dil) that land in [lo, hi)
// (cpp/ops/pool2d.cc's tap_ranges).
FCN_HD void tap_range(int64_t start, int64_t k, int64_t dil, int64_t lo, int64_t hi, int64_t* begin, int64_t* end) {
  int64_t b = start >= lo ? 0 : ceil_div_pos(lo - start, dil);
  int64_t e = start >= hi ? 0 : ceil_div_pos(hi - start, dil);
  if (e > k) e = k;
  if (b > k) b = k;
  if (e < b) e = b;
  *begin = b;
  *end = e;
}

// ---- unary / binary ------------------------------------------------------------------------

// cpp/ops/activation.cc and unary_ext.cc: comparisons written so that NaN falls through and stays.
FCN_HD float unary_apply(int32_t kind, float x, float alpha, float beta) {
  switch (kind) {
    case FCNKIT_CUDA_RELU: return x < 0.f ? 0.f : x;
    case FCNKIT_CUDA_LEAKY_RELU: return x < 0.f ? alpha * x : x;
    case FCNKIT_CUDA_SIGMOID: return 1.f / (1.f + expf(-x));
    case FCNKIT_CUDA_HARD_SIGMOID: {
      float v = alpha * x + beta;
      v = v < 0.f ? 0.f : v;
      return v > 1.f ? 1.f : v;
    }
    case FCNKIT_CUDA_HARD_SWISH: {
      float v = x * (1.f / 6.f) + 0.5f;
      v = v < 0.f ? 0.f : v;
      return x * (v > 1.f ? 1.f : v);
    }
    case FCNKIT_CUDA_TANH: return tanhf(x);
    default: {  // FCNKIT_CUDA_CLIP: alpha = min, beta = max
      float v = x < alpha ? alpha : x;
      return v > beta ? beta : v;
    }
  }
}

FCN_HD float binary_apply(int32_t kind, float a, float b) {
  switch (kind) {
    case FCNKIT_CUDA_ADD: return a + b;
    case FCNKIT_CUDA_MUL: return a * b;
    case FCNKIT_CUDA_SUB: return a - b;
    case FCNKIT_CUDA_DIV: return a / b;
    case FCNKIT_CUDA_PRELU: return a < 0.f ? b * a : a;
    default: return (b > a || b != b) ? b : a;  // FCNKIT_CUDA_MAX
  }
}

// Offsets into a and b of output element i (dims innermost last).
FCN_HD void broadcast_offsets(const fcnkit_cuda_binary_params& p, int64_t i, int64_t* oa, int64_t* ob) {
  int64_t a = 0, b = 0;
  for (int d = p.rank - 1; d >= 0; --d) {
    const int64_t n = p.dims[d];
    const int64_t q = i / n;
    const int64_t idx = i - q * n;
    a += idx * p.a_strides[d];
    b += idx * p.b_strides[d];
    i = q;
  }
  *oa = a;
  *ob = b;
}

FCN_HD void copy_offsets(const fcnkit_cuda_copy_params& p, int64_t i, int64_t* src, int64_t* dst) {
  int64_t s = p.src_offset, t = p.dst_offset;
  for (int d = p.rank - 1; d >= 0; --d) {
    const int64_t n = p.dims[d];
    const int64_t q = i / n;
    const int64_t idx = i - q * n;
    s += idx * p.src_strides[d];
    t += idx * p.dst_strides[d];
    i = q;
  }
  *src = s;
  *dst = t;
}

}  // namespace cuda
}  // namespace fcn
