// The `precision` attribute of the ops that can compute in bfloat16 (conv2d, gemm):
// 'fp32' (default) or 'bf16' (kernels/bf16.h). The graph layer sets it on those nodes when a
// model is compiled with precision 'bf16'; single ops take it as any attribute.
#pragma once
#include <string>

#include "ops/op.h"

namespace fcn {

// *bf16 from the attribute; INVALID_ARGUMENT for another value.
Status parse_precision(const Attrs& a, const std::string& who, bool* bf16);

// OK where this CPU runs the bf16 kernels; INVALID_ARGUMENT naming the missing CPU feature.
Status check_bf16_supported(const std::string& who);

}  // namespace fcn
