// GemmPlan for AVX-512: gemm_impl.h over vec_avx512.h.
#define FCN_X86_ISA avx512
#include "kernels/x86/avx512/vec_avx512.h"
#include "kernels/x86/gemm_impl.h"
#include "kernels/x86/x86_kernels.h"

namespace fcn {
namespace avx512 {

std::unique_ptr<GemmPlan> make_gemm_plan(int64_t m, int64_t n, int64_t k) {
  return std::make_unique<GemmPlanX86<Vec>>(m, n, k);
}

}  // namespace avx512
}  // namespace fcn
