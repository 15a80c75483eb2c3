// GemmPlan for AVX2+FMA: gemm_impl.h over vec_avx2.h.
#define FCN_X86_ISA avx2
#include "kernels/x86/avx2/vec_avx2.h"
#include "kernels/x86/gemm_impl.h"
#include "kernels/x86/x86_kernels.h"

namespace fcn {
namespace avx2 {

std::unique_ptr<GemmPlan> make_gemm_plan(int64_t m, int64_t n, int64_t k) {
  return std::make_unique<GemmPlanX86<Vec>>(m, n, k);
}

}  // namespace avx2
}  // namespace fcn
