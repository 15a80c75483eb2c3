// The backend library's kernel launchers, one per step kind (cpp/cuda/abi.h says what each
// computes; cpp/cuda/emulate.cc is the plain-loop statement of the same). Each enqueues on
// `stream` and returns launch errors only.
#pragma once
#include <cuda_runtime.h>

#include "core/status.h"
#include "cuda/abi.h"
#include "cuda/step_math.h"

namespace fcn {
namespace cuda {

// Implicit GEMM (conv_gemm.cu): FFMA for 'fp32', mma.sync m16n8k8 TF32 / m16n8k16 BF16 otherwise.
Status launch_gemm_conv(const fcnkit_cuda_gemm_params& p, const float* x, const float* w, const GatherEntry* table,
                        const float* bias, float* y, cudaStream_t stream);

// conv_direct.cu
Status launch_conv_direct(const fcnkit_cuda_conv_params& p, const float* x, const float* w, const float* bias, float* y,
                          cudaStream_t stream);
Status launch_deconv_direct(const fcnkit_cuda_conv_params& p, const float* x, const float* w, const float* bias,
                            float* y, cudaStream_t stream);

// pool.cu
Status launch_pool(int op, const fcnkit_cuda_pool_params& p, const float* x, float* y, cudaStream_t stream);
Status launch_global_avg_pool(const fcnkit_cuda_pool_params& p, const float* x, float* y, cudaStream_t stream);

// elementwise.cu
Status launch_unary(const fcnkit_cuda_unary_params& p, const float* x, float* y, cudaStream_t stream);
Status launch_binary(const fcnkit_cuda_binary_params& p, const float* a, const float* b, float* y, cudaStream_t stream);
Status launch_copy(const fcnkit_cuda_copy_params& p, const uint32_t* x, uint32_t* y, cudaStream_t stream);
Status launch_pad(const fcnkit_cuda_pad_params& p, const float* x, float* y, cudaStream_t stream);

// resize.cu
Status launch_resize(const fcnkit_cuda_resize_params& p, const float* x, const fcnkit_cuda_resize_tap* taps, float* y,
                     cudaStream_t stream);

// softmax.cu
Status launch_softmax(const fcnkit_cuda_axis_params& p, const float* x, float* y, cudaStream_t stream);
Status launch_argmax(const fcnkit_cuda_axis_params& p, const float* x, int32_t* y, cudaStream_t stream);

}  // namespace cuda
}  // namespace fcn
