// Dispatch of the implicit-GEMM convolution by precision; the kernel is in conv_gemm.cuh.
#include "cuda/conv_gemm.cuh"

namespace fcn {
namespace cuda {

Status launch_gemm_conv(const fcnkit_cuda_gemm_params& p, const float* x, const float* w, const GatherEntry* table,
                        const float* bias, float* y, cudaStream_t stream) {
  if (p.max_rows == 0 || p.n == 0) return Status::OK();
  int device = 0;
  FCN_CUDA_CHECK(cudaGetDevice(&device));
  int optin = 0;
  FCN_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  gemm::GemmArgs args;
  args.p = p;
  args.x = x;
  args.w = w;
  args.table = table;
  args.bias = bias;
  args.y = y;
  // 1x1, stride 1, no padding, one phase, planes of a multiple of 4 pixels (16-byte rows).
  args.fast_1x1 = !p.deconv && p.taps_h == 1 && p.taps_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_t == 0 &&
                  p.pad_l == 0 && p.out_h == p.in_h && p.out_w == p.in_w && (p.in_h * p.in_w) % 4 == 0 &&
                  (reinterpret_cast<uintptr_t>(x) % 16) == 0;
  const size_t smem = static_cast<size_t>(optin);
  switch (p.precision) {
    case FCNKIT_CUDA_TF32: return launch_gemm_tf32(args, device, smem, stream);
    case FCNKIT_CUDA_BF16: return launch_gemm_bf16(args, device, smem, stream);
    default: return launch_gemm_fp32(args, device, smem, stream);
  }
}

}  // namespace cuda
}  // namespace fcn
