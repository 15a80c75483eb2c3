// Conv2dPlan for AVX-512: conv_impl.h over vec_avx512.h.
#define FCN_X86_ISA avx512
#include "kernels/x86/avx512/vec_avx512.h"
#include "kernels/x86/conv_impl.h"
#include "kernels/x86/x86_kernels.h"

namespace fcn {
namespace avx512 {

std::unique_ptr<Conv2dPlan> make_conv2d_plan(const Conv2dParams& p, ConvAlgo algo, const PlanLimits& limits) {
  return make_conv2d_plan_t<Vec>(p, algo, limits);
}

}  // namespace avx512
}  // namespace fcn
