// ConvTranspose2dPlan for AVX2+FMA: conv_transpose_impl.h over vec_avx2.h.
#define FCN_X86_ISA avx2
#include "kernels/x86/avx2/vec_avx2.h"
#include "kernels/x86/conv_transpose_impl.h"
#include "kernels/x86/x86_kernels.h"

namespace fcn {
namespace avx2 {

std::unique_ptr<ConvTranspose2dPlan> make_conv_transpose2d_plan(const ConvTranspose2dParams& p) {
  return make_conv_transpose2d_plan_t<Vec>(p);
}

}  // namespace avx2
}  // namespace fcn
