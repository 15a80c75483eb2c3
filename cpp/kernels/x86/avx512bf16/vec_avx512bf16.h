// Vector traits for the AVX512-BF16 kernels: AVX-512's (avx512/vec_avx512.h) under this ISA's
// own namespace, so that the fp32 helpers of gemm_impl.h / conv_impl.h this TU instantiates
// (tile epilogue, im2col packing) get symbols of their own, built with these flags.
// Included only by translation units built with -mavx512bf16 (cpp/kernels/x86/avx512bf16/).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fcn {
namespace avx512bf16 {

struct Vec {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int L = 16;
  // 14x32 tile: 28 zmm accumulators + 2 B vectors + 1 broadcast, as the fp32 tile.
  static constexpr int MR = 14;
  static constexpr int NV = 2;
  static constexpr int64_t KC = 1024;
  static constexpr const char* kGemmName = "bf16_gemm_14x32__avx512bf16";
  static constexpr const char* kDirectName = "bf16_conv2d_direct_14x32__avx512bf16";
  static constexpr const char* kWinogradName = "bf16_conv2d_winograd_14x32__avx512bf16";
  static constexpr const char* kDwName = "f32_dwconv2d_1x16__avx512bf16";

  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V relu(V v) { return _mm512_maskz_max_ps(Mask(0xffff), _mm512_setzero_ps(), v); }
  static Mask mask(int lo, int hi) {
    return static_cast<Mask>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  }
  static Mask mask(int n) { return mask(0, n); }
  static V maskz_loadu(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void mask_storeu(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  using V4 = __m128;
  static V4 loadu4(const float* p) { return _mm_loadu_ps(p); }
  static void storeu4(float* p, V4 v) { _mm_storeu_ps(p, v); }
  static V4 add4(V4 a, V4 b) { return _mm_add_ps(a, b); }
  static V4 maskz_loadu4(const float* p, int n) {
    return _mm_maskz_loadu_ps(static_cast<__mmask8>((1u << n) - 1u), p);
  }
};

}  // namespace avx512bf16
}  // namespace fcn
