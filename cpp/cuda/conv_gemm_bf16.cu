// The implicit-GEMM convolution for precision 'bf16' (conv_gemm.cuh).
#include "cuda/conv_gemm.cuh"

namespace fcn {
namespace cuda {

Status launch_gemm_bf16(const gemm::GemmArgs& args, int device, size_t smem_optin, cudaStream_t stream) {
  return gemm::launch_math<gemm::Math::kBf16>(args, device, smem_optin, stream);
}

}  // namespace cuda
}  // namespace fcn
