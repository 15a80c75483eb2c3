#include "kernels/kernels.h"

namespace fcn {

void f32_gemm__ref(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t l = 0; l < k; ++l) acc += double(a[i * lda + l]) * double(b[l * ldb + j]);
      c[i * ldc + j] = float(acc);
    }
}

}  // namespace fcn
