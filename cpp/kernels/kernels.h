// The kernel layer's public face: reference twins (plain loops, cpp/kernels/ref/) and the
// optimised plans that pick an ISA's microkernels (cpp/kernels/x86/). Ops use the plans;
// tests compare every plan against the twin.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/cpu_features.h"
#include "core/shape.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace fcn {

// ---- reference twins -------------------------------------------------------------------
// y[n, oc, oh, ow] = bias[oc] + sum x[n, ic, ...] * w[oc, ic/g, kh, kw]; relu when p.relu.
void f32_conv2d__ref(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                     float* y);
// w: [in_c, out_c / groups, k_h, k_w].
void f32_conv_transpose2d__ref(const ConvTranspose2dParams& p, const float* x, const float* w,
                               const float* bias, float* y);
// C[M, N] = A[M, K] * B[K, N] (row-major, leading dimensions given), beta 0.
void f32_gemm__ref(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float* c, int64_t ldc);

// Where a run should stop early (model cancellation, environment teardown).
struct RunControl {
  ThreadPool* pool = nullptr;
  int max_threads = 0;  // <= 0: the whole pool
  const std::atomic<bool>* abort = nullptr;
  bool aborted() const { return abort && abort->load(std::memory_order_relaxed); }
};

// ---- optimised plans ---------------------------------------------------------------------
// A plan is built once for fixed parameters; weights are packed once into a float buffer of
// packed_weight_floats() (64-byte aligned by the caller); run() may be called concurrently
// from several threads with distinct workspaces of workspace_bytes(). With Isa::kRef a plan
// runs the reference twin, so every ISA goes through the same interface.
class Conv2dPlan {
 public:
  virtual ~Conv2dPlan() = default;
  virtual size_t packed_weight_floats() const = 0;
  virtual void pack_weights(const float* w, float* packed) const = 0;
  virtual size_t workspace_bytes(int max_threads) const = 0;
  // Output y must not alias x.
  virtual void run(const float* x, const float* packed, const float* bias, float* y,
                   void* workspace, const RunControl& rc) const = 0;
  virtual const char* name() const = 0;  // the microkernel used, e.g. "f32_gemm_14x32__avx512"
};

class ConvTranspose2dPlan {
 public:
  virtual ~ConvTranspose2dPlan() = default;
  virtual size_t packed_weight_floats() const = 0;
  virtual void pack_weights(const float* w, float* packed) const = 0;
  virtual size_t workspace_bytes(int max_threads) const = 0;
  virtual void run(const float* x, const float* packed, const float* bias, float* y,
                   void* workspace, const RunControl& rc) const = 0;
  virtual const char* name() const = 0;
};

// What a plan may use beyond its tensors and packed weights: scratch per thread. A convolution
// whose direct band, tap table or column block would pass it is cut finer (output columns, K
// blocks, im2col instead of the direct band), never refused; ordinary shapes stay far below it.
constexpr size_t kDefaultScratchBytes = size_t(64) << 20;
struct PlanLimits {
  size_t scratch_bytes = kDefaultScratchBytes;
};

// The Winograd F(2x2, 3x3) plan's domain: 3x3, stride 1, dilation 1, one group.
bool winograd_applies(const Conv2dParams& p);

// The factories check the parameters (INVALID_ARGUMENT naming the field, TOO_LARGE past the
// core's sizes, OUT_OF_MEMORY when the plan's tables cannot be had) and never hand out null.
// kAuto: the best plan for p. kWinograd: the Winograd plan wherever winograd_applies(p),
// whatever the sizes; UNSUPPORTED_OP where it does not, and with Isa::kRef (for tests of that
// path on small shapes).
enum class ConvAlgo { kAuto, kWinograd };
Status make_conv2d_plan(Isa isa, const Conv2dParams& p, std::unique_ptr<Conv2dPlan>* out,
                        ConvAlgo algo = ConvAlgo::kAuto, const PlanLimits& limits = PlanLimits());
Status make_conv_transpose2d_plan(Isa isa, const ConvTranspose2dParams& p,
                                  std::unique_ptr<ConvTranspose2dPlan>* out);

// Single-precision GEMM with a packed A (weights): C[M, N] = A[M, K] * B[K, N] + bias[m], relu.
// Used by ops such as MatMul/Gemm heads; conv plans use the same microkernels.
class GemmPlan {
 public:
  virtual ~GemmPlan() = default;
  virtual size_t packed_a_floats() const = 0;
  virtual void pack_a(const float* a, int64_t lda, float* packed) const = 0;
  virtual size_t workspace_bytes(int max_threads) const = 0;
  virtual void run(const float* packed_a, const float* b, int64_t ldb, const float* bias,
                   bool relu, float* c, int64_t ldc, void* workspace, const RunControl& rc) const = 0;
  virtual const char* name() const = 0;
};
Status make_gemm_plan(Isa isa, int64_t m, int64_t n, int64_t k, std::unique_ptr<GemmPlan>* out);

}  // namespace fcn
