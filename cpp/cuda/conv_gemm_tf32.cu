// The implicit-GEMM convolution for precision 'tf32' (conv_gemm.cuh).
#include "cuda/conv_gemm.cuh"

namespace fcn {
namespace cuda {

Status launch_gemm_tf32(const gemm::GemmArgs& args, int device, size_t smem_optin, cudaStream_t stream) {
  return gemm::launch_math<gemm::Math::kTf32>(args, device, smem_optin, stream);
}

}  // namespace cuda
}  // namespace fcn
