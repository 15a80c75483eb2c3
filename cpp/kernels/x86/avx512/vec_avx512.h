// Vector traits for the AVX-512 (F/BW/DQ/VL) kernels: what gemm_impl.h, conv_impl.h and
// conv_transpose_impl.h need from an ISA. Included only by translation units built with
// -mavx512f ... (cpp/kernels/x86/avx512/).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fcn {
namespace avx512 {

struct Vec {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int L = 16;
  // 14x32 tile: 28 zmm accumulators + 2 B vectors + 1 broadcast of the 32 registers, the most
  // FMAs per load that fit. Zen 4 runs a zmm FMA as two 256-bit halves, so peak flops equal
  // AVX2's; 12x32 and 8x48 measured the same within noise, and 8x48 lost on the 1x1 layer.
  static constexpr int MR = 14;
  static constexpr int NV = 2;
  // K block of the packed GEMM: on Zen 4, 1024 against 256 took 8% off the 1x1 4096->4096 and
  // 7x7 512->4096 layers and 5% off a 3x3 stride-2 one, and was level on the rest (the A
  // micro-panel, 14 x 1024 floats, streams from L2 as well as it sat in L1).
  static constexpr int64_t KC = 1024;
  static constexpr const char* kGemmName = "f32_gemm_14x32__avx512";
  static constexpr const char* kDirectName = "f32_conv2d_direct_14x32__avx512";
  static constexpr const char* kWinogradName = "f32_conv2d_winograd_14x32__avx512";
  static constexpr const char* kDwName = "f32_dwconv2d_1x16__avx512";

  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  // max(0, v) with 0 as the first operand: vmaxps returns its second operand when either is
  // NaN, so a NaN survives ReLU as it does in the reference (v < 0 is false for NaN).
  // (The zero-masked form because GCC 12's plain _mm512_max_ps trips -Wuninitialized.)
  static V relu(V v) { return _mm512_maskz_max_ps(Mask(0xffff), _mm512_setzero_ps(), v); }

  // Lanes [lo, hi) on, 0 <= lo <= hi <= L.
  static Mask mask(int lo, int hi) {
    return static_cast<Mask>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  }
  static Mask mask(int n) { return mask(0, n); }
  // Masked-off lanes are neither read (no fault past a buffer's end) nor written.
  static V maskz_loadu(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void mask_storeu(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }

  // A 4-lane vector, for scatters whose runs are at most 4 floats (conv_transpose k2, k4):
  // a full-width read-add-write per run there costs more than the run's own work.
  using V4 = __m128;
  static V4 loadu4(const float* p) { return _mm_loadu_ps(p); }
  static void storeu4(float* p, V4 v) { _mm_storeu_ps(p, v); }
  static V4 add4(V4 a, V4 b) { return _mm_add_ps(a, b); }
  // Lanes [0, n) of p, 0 <= n <= 4; the others 0 and never read.
  static V4 maskz_loadu4(const float* p, int n) {
    return _mm_maskz_loadu_ps(static_cast<__mmask8>((1u << n) - 1u), p);
  }
};

}  // namespace avx512
}  // namespace fcn
