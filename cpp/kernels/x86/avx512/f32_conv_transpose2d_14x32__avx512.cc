// ConvTranspose2dPlan for AVX-512: conv_transpose_impl.h over vec_avx512.h.
#define FCN_X86_ISA avx512
#include "kernels/x86/avx512/vec_avx512.h"
#include "kernels/x86/conv_transpose_impl.h"
#include "kernels/x86/x86_kernels.h"

namespace fcn {
namespace avx512 {

std::unique_ptr<ConvTranspose2dPlan> make_conv_transpose2d_plan(const ConvTranspose2dParams& p) {
  return make_conv_transpose2d_plan_t<Vec>(p);
}

}  // namespace avx512
}  // namespace fcn
