// Vector traits for the AVX2+FMA kernels: what gemm_impl.h, conv_impl.h and
// conv_transpose_impl.h need from an ISA. Included only by translation units built with
// -mavx2 -mfma (cpp/kernels/x86/avx2/).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fcn {
namespace avx2 {

struct Vec {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int L = 8;
  // 6x16 tile: 12 ymm accumulators + 2 B vectors + 1 broadcast of the 16 registers; per k step
  // 8 loads feed 12 FMAs, inside Zen 4's 3 loads and 2 FMAs per cycle, and 12 independent
  // chains cover the 4-cycle FMA latency at 2 per cycle. 4x24 measured the same within noise.
  static constexpr int MR = 6;
  static constexpr int NV = 2;
  // K block of the packed GEMM: KC 128..512 measured within 3% of each other on Zen 4, and
  // 1024 no better within this machine's noise.
  static constexpr int64_t KC = 256;
  static constexpr const char* kGemmName = "f32_gemm_6x16__avx2";
  static constexpr const char* kDirectName = "f32_conv2d_direct_6x16__avx2";
  static constexpr const char* kWinogradName = "f32_conv2d_winograd_6x16__avx2";
  static constexpr const char* kDwName = "f32_dwconv2d_1x8__avx2";

  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  // max(0, v) with 0 as the first operand: maxps returns its second operand when either is
  // NaN, so a NaN survives ReLU as it does in the reference (v < 0 is false for NaN).
  static V relu(V v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }

  // Lanes [lo, hi) on, 0 <= lo <= hi <= L.
  static Mask mask(int lo, int hi) {
    alignas(32) static const int32_t ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const __m256i i = _mm256_load_si256(reinterpret_cast<const __m256i*>(ramp));
    const __m256i ge_lo = _mm256_cmpgt_epi32(i, _mm256_set1_epi32(lo - 1));
    const __m256i lt_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), i);
    return _mm256_and_si256(ge_lo, lt_hi);
  }
  static Mask mask(int n) { return mask(0, n); }
  // Masked-off lanes are neither read (no fault past a buffer's end) nor written.
  static V maskz_loadu(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void mask_storeu(float* p, Mask m, V v) { _mm256_maskstore_ps(p, m, v); }

  // A 4-lane vector, for scatters whose runs are at most 4 floats (conv_transpose k2, k4):
  // a full-width read-add-write per run there costs more than the run's own work.
  using V4 = __m128;
  static V4 loadu4(const float* p) { return _mm_loadu_ps(p); }
  static void storeu4(float* p, V4 v) { _mm_storeu_ps(p, v); }
  static V4 add4(V4 a, V4 b) { return _mm_add_ps(a, b); }
  // Lanes [0, n) of p, 0 <= n <= 4; the others 0 and never read.
  static V4 maskz_loadu4(const float* p, int n) {
    const __m128i m = _mm_cmpgt_epi32(_mm_set1_epi32(n), _mm_setr_epi32(0, 1, 2, 3));
    return _mm_maskload_ps(p, m);
  }
};

}  // namespace avx2
}  // namespace fcn
