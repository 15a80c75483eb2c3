// A dependency-free FMA stream: the machine's single-core FMA peak, for benchmarks' "share of
// peak". 12 independent accumulators cover FMA latency times the number of FMA pipes.
#include <immintrin.h>

#include <cstdint>

namespace fcn::avx2 {

float f32_fma_peak(int64_t iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * float(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  return _mm256_cvtss_f32(s);
}

}  // namespace fcn::avx2
