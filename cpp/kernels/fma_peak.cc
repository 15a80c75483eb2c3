#include "kernels/fma_peak.h"

#include <chrono>

namespace fcn {
namespace avx2 { float f32_fma_peak(int64_t iterations); }
namespace avx512 { float f32_fma_peak(int64_t iterations); }

double measure_fma_peak_gflops(Isa isa, double seconds) {
  if (isa == Isa::kRef || !isa_supported(isa)) isa = best_isa();
  if (isa == Isa::kRef) return 0.0;
  const int lanes = isa == Isa::kAvx512 ? 16 : 8;
  volatile float sink = 0.f;
  double best = 0.0;
  const int64_t iters = 2000000;
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  do {
    auto t0 = std::chrono::steady_clock::now();
    sink = sink + (isa == Isa::kAvx512 ? avx512::f32_fma_peak(iters) : avx2::f32_fma_peak(iters));
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gflops = double(iters) * 12 * lanes * 2 / dt / 1e9;
    if (gflops > best) best = gflops;
  } while (std::chrono::steady_clock::now() < until);
  return best;
}

}  // namespace fcn
