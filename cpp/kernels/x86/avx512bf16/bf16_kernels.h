// The AVX512-BF16 plan factories (bf16_gemm_14x32__avx512bf16.cc, built with -mavx512bf16).
// Called only from plans_bf16.cc, and only after bf16_supported() said yes.
#pragma once
#include <cstdint>
#include <memory>

#include "kernels/kernels.h"

namespace fcn {
namespace avx512bf16 {
std::unique_ptr<Conv2dPlan> make_conv2d_plan(const Conv2dParams& p);
std::unique_ptr<GemmPlan> make_gemm_plan(int64_t m, int64_t n, int64_t k);
}  // namespace avx512bf16
}  // namespace fcn
