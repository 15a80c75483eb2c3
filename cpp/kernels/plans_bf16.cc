// The bf16 plan factories (kernels/bf16.h): the AVX512-BF16 plans where the CPU has them, the
// bf16 twins behind the plan interface otherwise (tests, and Isa::kRef). Baseline flags: nothing
// here may use AVX.
#include <algorithm>
#include <cstring>

#include "kernels/bf16.h"
#include "kernels/x86/avx512bf16/bf16_kernels.h"

namespace fcn {
namespace {

void* align64(void* p) {
  return reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

bool fast_bf16(Isa isa) { return isa == Isa::kAvx512 && cpu_features().avx512_bf16; }

// The twin behind Conv2dPlan: weights rounded when packed (kept as floats), the input rounded
// into the workspace, then f32_conv2d__ref per image and group.
class RefBf16Conv2dPlan final : public Conv2dPlan {
 public:
  explicit RefBf16Conv2dPlan(const Conv2dParams& p) : p_(p) {}
  size_t packed_weight_floats() const override {
    return size_t(p_.out_c * (p_.in_c / p_.groups) * p_.k_h * p_.k_w);
  }
  void pack_weights(const float* w, float* packed) const override {
    for (size_t i = 0, n = packed_weight_floats(); i < n; ++i) packed[i] = bf16_round(w[i]);
  }
  size_t workspace_bytes(int) const override { return 64 + in_floats() * sizeof(float); }
  void run(const float* x, const float* packed, const float* bias, float* y, void* workspace,
           const RunControl& rc) const override {
    float* xr = static_cast<float*>(align64(workspace));
    for (size_t i = 0, n = in_floats(); i < n; ++i) xr[i] = bf16_round(x[i]);
    const int64_t icg = p_.in_c / p_.groups, ocg = p_.out_c / p_.groups;
    Conv2dParams q = p_;
    q.n = 1;
    q.in_c = icg;
    q.out_c = ocg;
    q.groups = 1;
    const int64_t in_plane = p_.in_h * p_.in_w, out_plane = p_.out_h * p_.out_w;
    auto body = [&](int64_t i, int) {
      if (rc.aborted()) return;
      const int64_t img = i / p_.groups, g = i % p_.groups;
      f32_conv2d__ref(q, xr + (img * p_.in_c + g * icg) * in_plane,
                      packed + g * ocg * icg * p_.k_h * p_.k_w, bias ? bias + g * ocg : nullptr,
                      y + (img * p_.out_c + g * ocg) * out_plane);
    };
    if (rc.pool) rc.pool->parallel_for(p_.n * p_.groups, rc.max_threads, body);
    else
      for (int64_t i = 0; i < p_.n * p_.groups; ++i) body(i, 0);
  }
  const char* name() const override { return "bf16_conv2d__ref"; }

 private:
  size_t in_floats() const { return size_t(p_.n * p_.in_c * p_.in_h * p_.in_w); }
  Conv2dParams p_;
};

class RefBf16GemmPlan final : public GemmPlan {
 public:
  RefBf16GemmPlan(int64_t m, int64_t n, int64_t k) : m_(m), n_(n), k_(k) {}
  size_t packed_a_floats() const override { return size_t(m_ * k_); }
  void pack_a(const float* a, int64_t lda, float* packed) const override {
    for (int64_t i = 0; i < m_; ++i)
      for (int64_t j = 0; j < k_; ++j) packed[i * k_ + j] = bf16_round(a[i * lda + j]);
  }
  size_t workspace_bytes(int) const override { return 64 + size_t(k_ * n_) * sizeof(float); }
  void run(const float* packed_a, const float* b, int64_t ldb, const float* bias, bool relu,
           float* c, int64_t ldc, void* workspace, const RunControl& rc) const override {
    float* br = static_cast<float*>(align64(workspace));
    for (int64_t i = 0; i < k_; ++i)
      for (int64_t j = 0; j < n_; ++j) br[i * n_ + j] = bf16_round(b[i * ldb + j]);
    if (rc.aborted()) return;
    f32_gemm__ref(m_, n_, k_, packed_a, k_, br, n_, c, ldc);
    for (int64_t i = 0; i < m_; ++i)
      for (int64_t j = 0; j < n_; ++j) {
        const float v = c[i * ldc + j] + (bias ? bias[i] : 0.f);
        c[i * ldc + j] = relu && v < 0.f ? 0.f : v;
      }
  }
  const char* name() const override { return "bf16_gemm__ref"; }

 private:
  int64_t m_, n_, k_;
};

}  // namespace

bool bf16_worthwhile(int64_t k) { return k >= kBf16MinK; }

bool bf16_conv_applies(const Conv2dParams& p) {
  const bool depthwise = p.groups == p.in_c && p.groups == p.out_c;
  return !depthwise && p.groups > 0 && bf16_worthwhile(p.in_c / p.groups * p.k_h * p.k_w);
}

Status make_conv2d_plan_bf16(Isa isa, const Conv2dParams& p, std::unique_ptr<Conv2dPlan>* out) {
  // The fp32 factory's checks (INVALID_ARGUMENT, TOO_LARGE) on p.
  std::unique_ptr<Conv2dPlan> check;
  FCN_RETURN_IF_ERROR(make_conv2d_plan(Isa::kRef, p, &check));
  if (fast_bf16(isa)) *out = avx512bf16::make_conv2d_plan(p);
  else *out = std::make_unique<RefBf16Conv2dPlan>(p);
  return Status::OK();
}

Status make_gemm_plan_bf16(Isa isa, int64_t m, int64_t n, int64_t k, std::unique_ptr<GemmPlan>* out) {
  std::unique_ptr<GemmPlan> check;
  FCN_RETURN_IF_ERROR(make_gemm_plan(Isa::kRef, m, n, k, &check));
  if (fast_bf16(isa)) *out = avx512bf16::make_gemm_plan(m, n, k);
  else *out = std::make_unique<RefBf16GemmPlan>(m, n, k);
  return Status::OK();
}

}  // namespace fcn
