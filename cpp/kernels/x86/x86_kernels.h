// The x86 plan factories, one set per ISA namespace; each is defined in that ISA's own
// translation units (avx2/, avx512/), which alone are built with its flags. Called only from
// plans.cc, and only after isa_supported() said yes and the parameters were validated; they
// never return null (allocation failure throws std::bad_alloc, which plans.cc turns into a Status).
#pragma once
#include <cstdint>
#include <memory>

#include "kernels/kernels.h"

namespace fcn {

namespace avx2 {
std::unique_ptr<Conv2dPlan> make_conv2d_plan(const Conv2dParams& p, ConvAlgo algo, const PlanLimits& limits);
std::unique_ptr<ConvTranspose2dPlan> make_conv_transpose2d_plan(const ConvTranspose2dParams& p);
std::unique_ptr<GemmPlan> make_gemm_plan(int64_t m, int64_t n, int64_t k);
}  // namespace avx2

namespace avx512 {
std::unique_ptr<Conv2dPlan> make_conv2d_plan(const Conv2dParams& p, ConvAlgo algo, const PlanLimits& limits);
std::unique_ptr<ConvTranspose2dPlan> make_conv_transpose2d_plan(const ConvTranspose2dParams& p);
std::unique_ptr<GemmPlan> make_gemm_plan(int64_t m, int64_t n, int64_t k);
}  // namespace avx512

}  // namespace fcn
