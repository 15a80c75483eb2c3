// bfloat16 convolutions and GEMMs on the CPU (precision 'bf16'): the weights are rounded to
// bfloat16 once, when packed; the activations when they are packed as the GEMM's B operand;
// products are summed in fp32, and bias and ReLU are applied in fp32. The plans have the fp32
// plans' interface (kernels.h): packed_weight_floats() counts floats of storage, which hold
// two bfloat16 each, so a bf16 plan's packed weights take half the memory.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "kernels/kernels.h"

namespace fcn {

// Round to nearest even, as vcvtne2ps2bf16 does: denormal inputs count as zero, NaN stays a
// (quiet) NaN. The result as bfloat16 bits, and as the float it stands for.
uint16_t bf16_bits(float x);
float bf16_round(float x);
inline float bf16_to_f32(uint16_t b) {
  union {
    uint32_t u;
    float f;
  } v{uint32_t(b) << 16};
  return v.f;
}

// ---- reference twins: both operands rounded by bf16_round, then fp32 sums in naive loops ------
void bf16_conv2d__ref(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y);
void bf16_gemm__ref(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc);

// ---- plans -------------------------------------------------------------------------------
// Isa::kAvx512 runs the AVX512-BF16 kernels (only call it where bf16_supported() says yes; a
// CPU without them gets the twin), Isa::kRef the twins. The fp32 factories' checks and errors
// (kernels.h); never null on OK.
Status make_conv2d_plan_bf16(Isa isa, const Conv2dParams& p, std::unique_ptr<Conv2dPlan>* out);
Status make_gemm_plan_bf16(Isa isa, int64_t m, int64_t n, int64_t k, std::unique_ptr<GemmPlan>* out);

// The ops' policy (precision 'bf16' on a model): a layer whose reduction K (in_c/groups * kh *
// kw, or a Gemm's K) is under kBf16MinK stays fp32. Such layers are cheap (the C tile's loads and
// stores and the packing weigh as much as the products), and they are where rounding hurts:
// the image-input layer (K = 27) alone moved 1.5% of the selfie model's mask on a photo
// (coffee.png), against 0.14% for every layer from K = 128 up (README, precision).
// Depthwise convolutions stay fp32 too (a reduction over kh*kw taps only).
constexpr int64_t kBf16MinK = 128;
bool bf16_worthwhile(int64_t k);
bool bf16_conv_applies(const Conv2dParams& p);

}  // namespace fcn
