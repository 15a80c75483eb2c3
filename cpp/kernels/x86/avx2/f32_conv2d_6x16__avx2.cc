// Conv2dPlan for AVX2+FMA: conv_impl.h over vec_avx2.h.
#define FCN_X86_ISA avx2
#include "kernels/x86/avx2/vec_avx2.h"
#include "kernels/x86/conv_impl.h"
#include "kernels/x86/x86_kernels.h"

namespace fcn {
namespace avx2 {

std::unique_ptr<Conv2dPlan> make_conv2d_plan(const Conv2dParams& p, ConvAlgo algo, const PlanLimits& limits) {
  return make_conv2d_plan_t<Vec>(p, algo, limits);
}

}  // namespace avx2
}  // namespace fcn
