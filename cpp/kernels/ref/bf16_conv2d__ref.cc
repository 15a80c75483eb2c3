// The bf16 twins: the same rounding as the AVX512-BF16 kernels (operands to bfloat16, round to
// nearest even, denormals as zero), then the fp32 twins' naive loops; only the order of the
// fp32 sums differs from the optimised plans.
#include <cstring>
#include <vector>

#include "kernels/bf16.h"

namespace fcn {

uint16_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
    return uint16_t((u >> 16) | 0x0040u);                     // NaN: quiet, sign kept
  if ((u & 0x7f800000u) == 0) return uint16_t((u >> 16) & 0x8000u);  // zero or denormal: +-0
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float bf16_round(float x) { return bf16_to_f32(bf16_bits(x)); }

namespace {
std::vector<float> rounded(const float* s, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = bf16_round(s[i]);
  return v;
}
}  // namespace

void bf16_conv2d__ref(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) {
  const std::vector<float> xr = rounded(x, size_t(p.n * p.in_c * p.in_h * p.in_w));
  const std::vector<float> wr = rounded(w, size_t(p.out_c * (p.in_c / p.groups) * p.k_h * p.k_w));
  f32_conv2d__ref(p, xr.data(), wr.data(), bias, y);
}

void bf16_gemm__ref(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc) {
  std::vector<float> ar(size_t(m * k)), br(size_t(k * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) ar[size_t(i * k + j)] = bf16_round(a[i * lda + j]);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) br[size_t(i * n + j)] = bf16_round(b[i * ldb + j]);
  f32_gemm__ref(m, n, k, ar.data(), k, br.data(), n, c, ldc);
}

}  // namespace fcn
