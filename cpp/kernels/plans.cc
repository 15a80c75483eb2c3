// The plan factories: pick the ISA (never one this CPU cannot run), check the parameters, and
// hand out either an x86 plan (cpp/kernels/x86/) or a reference plan that runs the twin.
// Built with baseline flags: nothing here may use AVX.
#include <algorithm>
#include <cstring>
#include <functional>
#include <new>
#include <vector>

#include "core/tensor.h"
#include "kernels/kernels.h"
#include "kernels/x86/x86_kernels.h"

namespace fcn {
namespace {

// The requested ISA, or the next one down that this CPU and OS can run.
Isa usable_isa(Isa want) {
  if (want == Isa::kAvx512 && !isa_supported(Isa::kAvx512)) want = Isa::kAvx2;
  if (want == Isa::kAvx2 && !isa_supported(Isa::kAvx2)) want = Isa::kRef;
  return want;
}

bool fits(std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (d < 0 || !checked_mul(n, d, &n) || n > kMaxElements) return false;
  return true;
}

// Every size and offset a plan computes stays far inside int64 when each spatial extent,
// padding and dilated kernel reach is at most kMaxElements (and no tensor has more elements).
bool bounded(std::initializer_list<int64_t> v) {
  for (int64_t x : v)
    if (x < 0 || x > kMaxElements) return false;
  return true;
}

Status dims_error(const char* op, std::initializer_list<int64_t> in, std::initializer_list<int64_t> out) {
  std::vector<int64_t> a(in), b(out);
  return error(Code::kTooLarge, op, ": input ", shape_str(a), " -> output ", shape_str(b),
               " passes the core's limit of 2^32 elements per tensor or per axis");
}

// The plans trust these, so they read and write only inside the tensors they describe.
Status check(const Conv2dParams& p) {
  if (p.n < 0 || p.in_c < 1 || p.out_c < 1 || p.groups < 1 || p.in_c % p.groups || p.out_c % p.groups)
    return error(Code::kInvalidArgument, "conv2d: channels ", p.in_c, " -> ", p.out_c, " with groups ", p.groups,
                 " (both must be positive multiples of groups)");
  if (p.pad_t < 0 || p.pad_l < 0 || p.pad_b < 0 || p.pad_r < 0)
    return error(Code::kInvalidArgument, "conv2d: padding must not be negative");
  if (!bounded({p.in_h, p.in_w, p.pad_t, p.pad_l, p.pad_b, p.pad_r, p.k_h, p.k_w}))
    return error(Code::kTooLarge, "conv2d: input ", p.in_h, "x", p.in_w, ", kernel ", p.k_h, "x", p.k_w,
                 " or padding past 2^32");
  int64_t oh = 0, ow = 0;
  FCN_RETURN_IF_ERROR(conv_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, &oh));
  FCN_RETURN_IF_ERROR(conv_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, &ow));
  if (oh != p.out_h || ow != p.out_w)
    return error(Code::kInvalidArgument, "conv2d: output ", p.out_h, "x", p.out_w, " should be ", oh, "x", ow);
  if (!fits({p.n, p.in_c, p.in_h, p.in_w}) || !fits({p.n, p.out_c, p.out_h, p.out_w}) ||
      !fits({p.out_c, p.in_c / p.groups, p.k_h, p.k_w}) || !bounded({(p.k_h - 1) * p.dil_h, (p.k_w - 1) * p.dil_w}))
    return dims_error("conv2d", {p.n, p.in_c, p.in_h, p.in_w}, {p.n, p.out_c, p.out_h, p.out_w});
  return Status::OK();
}

Status check(const ConvTranspose2dParams& p) {
  if (p.n < 0 || p.in_c < 1 || p.out_c < 1 || p.groups < 1 || p.in_c % p.groups || p.out_c % p.groups)
    return error(Code::kInvalidArgument, "convTranspose2d: channels ", p.in_c, " -> ", p.out_c, " with groups ",
                 p.groups, " (both must be positive multiples of groups)");
  if (p.pad_t < 0 || p.pad_l < 0 || p.pad_b < 0 || p.pad_r < 0)
    return error(Code::kInvalidArgument, "convTranspose2d: padding must not be negative");
  if (p.in_h < 1 || p.in_w < 1)
    return error(Code::kInvalidArgument, "convTranspose2d: input ", p.in_h, "x", p.in_w, " is empty");
  int64_t oh = 0, ow = 0;
  FCN_RETURN_IF_ERROR(conv_transpose_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, p.out_pad_h, &oh));
  FCN_RETURN_IF_ERROR(conv_transpose_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, p.out_pad_w, &ow));
  if (oh != p.out_h || ow != p.out_w)
    return error(Code::kInvalidArgument, "convTranspose2d: output ", p.out_h, "x", p.out_w, " should be ", oh, "x", ow);
  // The x86 plan keeps per-column window offsets in int32.
  if (!fits({p.n, p.in_c, p.in_h, p.in_w}) || !fits({p.n, p.out_c, p.out_h, p.out_w}) ||
      !fits({p.in_c, p.out_c / p.groups, p.k_h, p.k_w}) || !bounded({p.pad_t, p.pad_l, p.pad_b, p.pad_r}) ||
      p.k_h * p.dil_h >= (1 << 30) || p.k_w * p.dil_w >= (1 << 30))
    return dims_error("convTranspose2d", {p.n, p.in_c, p.in_h, p.in_w}, {p.n, p.out_c, p.out_h, p.out_w});
  return Status::OK();
}

// Runs a factory, turning an allocation failure of the plan's tables into OUT_OF_MEMORY.
template <class P, class Make>
Status guarded(const char* op, std::unique_ptr<P>* out, const Make& make) {
  try {
    *out = make();
  } catch (const std::bad_alloc&) {
    return error(Code::kOutOfMemory, op, ": cannot allocate the plan's tables");
  }
  if (!*out) return error(Code::kOutOfMemory, op, ": no plan");
  return Status::OK();
}

// ---- reference plans: the twins behind the plan interface, parallel over (image, group) ----

void for_each(const RunControl& rc, int64_t n, const std::function<void(int64_t)>& fn) {
  auto body = [&](int64_t i, int) {
    if (!rc.aborted()) fn(i);
  };
  if (rc.pool) rc.pool->parallel_for(n, rc.max_threads, body);
  else
    for (int64_t i = 0; i < n; ++i) body(i, 0);
}

class RefConv2dPlan final : public Conv2dPlan {
 public:
  explicit RefConv2dPlan(const Conv2dParams& p) : p_(p) {}
  size_t packed_weight_floats() const override {
    return size_t(p_.out_c * (p_.in_c / p_.groups) * p_.k_h * p_.k_w);
  }
  void pack_weights(const float* w, float* packed) const override {
    std::memcpy(packed, w, packed_weight_floats() * sizeof(float));
  }
  size_t workspace_bytes(int) const override { return 0; }
  void run(const float* x, const float* packed, const float* bias, float* y, void*,
           const RunControl& rc) const override {
    const int64_t icg = p_.in_c / p_.groups, ocg = p_.out_c / p_.groups;
    Conv2dParams q = p_;
    q.n = 1;
    q.in_c = icg;
    q.out_c = ocg;
    q.groups = 1;
    const int64_t in_plane = p_.in_h * p_.in_w, out_plane = p_.out_h * p_.out_w;
    for_each(rc, p_.n * p_.groups, [&](int64_t i) {
      const int64_t img = i / p_.groups, g = i % p_.groups;
      f32_conv2d__ref(q, x + (img * p_.in_c + g * icg) * in_plane,
                      packed + g * ocg * icg * p_.k_h * p_.k_w, bias ? bias + g * ocg : nullptr,
                      y + (img * p_.out_c + g * ocg) * out_plane);
    });
  }
  const char* name() const override { return "f32_conv2d__ref"; }

 private:
  Conv2dParams p_;
};

class RefConvTranspose2dPlan final : public ConvTranspose2dPlan {
 public:
  explicit RefConvTranspose2dPlan(const ConvTranspose2dParams& p) : p_(p) {}
  size_t packed_weight_floats() const override {
    return size_t(p_.in_c * (p_.out_c / p_.groups) * p_.k_h * p_.k_w);
  }
  void pack_weights(const float* w, float* packed) const override {
    std::memcpy(packed, w, packed_weight_floats() * sizeof(float));
  }
  size_t workspace_bytes(int) const override { return 0; }
  void run(const float* x, const float* packed, const float* bias, float* y, void*,
           const RunControl& rc) const override {
    const int64_t icg = p_.in_c / p_.groups, ocg = p_.out_c / p_.groups;
    ConvTranspose2dParams q = p_;
    q.n = 1;
    q.in_c = icg;
    q.out_c = ocg;
    q.groups = 1;
    const int64_t in_plane = p_.in_h * p_.in_w, out_plane = p_.out_h * p_.out_w;
    for_each(rc, p_.n * p_.groups, [&](int64_t i) {
      const int64_t img = i / p_.groups, g = i % p_.groups;
      f32_conv_transpose2d__ref(q, x + (img * p_.in_c + g * icg) * in_plane,
                                packed + g * icg * ocg * p_.k_h * p_.k_w,
                                bias ? bias + g * ocg : nullptr,
                                y + (img * p_.out_c + g * ocg) * out_plane);
    });
  }
  const char* name() const override { return "f32_conv_transpose2d__ref"; }

 private:
  ConvTranspose2dParams p_;
};

class RefGemmPlan final : public GemmPlan {
 public:
  RefGemmPlan(int64_t m, int64_t n, int64_t k) : m_(m), n_(n), k_(k) {}
  size_t packed_a_floats() const override { return size_t(m_ * k_); }
  void pack_a(const float* a, int64_t lda, float* packed) const override {
    for (int64_t i = 0; i < m_; ++i)
      if (k_ > 0) std::memcpy(packed + i * k_, a + i * lda, size_t(k_) * sizeof(float));
  }
  size_t workspace_bytes(int) const override { return 0; }
  void run(const float* packed_a, const float* b, int64_t ldb, const float* bias, bool relu,
           float* c, int64_t ldc, void*, const RunControl& rc) const override {
    constexpr int64_t kRows = 16;
    for_each(rc, (m_ + kRows - 1) / kRows, [&](int64_t chunk) {
      const int64_t i0 = chunk * kRows, rows = std::min(kRows, m_ - i0);
      f32_gemm__ref(rows, n_, k_, packed_a + i0 * k_, k_, b, ldb, c + i0 * ldc, ldc);
      for (int64_t i = i0; i < i0 + rows; ++i)
        for (int64_t j = 0; j < n_; ++j) {
          float v = c[i * ldc + j] + (bias ? bias[i] : 0.f);
          c[i * ldc + j] = relu && v < 0.f ? 0.f : v;
        }
    });
  }
  const char* name() const override { return "f32_gemm__ref"; }

 private:
  int64_t m_, n_, k_;
};

}  // namespace

bool winograd_applies(const Conv2dParams& p) {
  return p.groups == 1 && p.k_h == 3 && p.k_w == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 &&
         p.dil_w == 1 && p.out_h > 0 && p.out_w > 0;
}

Status make_conv2d_plan(Isa isa, const Conv2dParams& p, std::unique_ptr<Conv2dPlan>* out, ConvAlgo algo,
                        const PlanLimits& limits) {
  out->reset();
  FCN_RETURN_IF_ERROR(check(p));
  const Isa use = usable_isa(isa);
  if (algo == ConvAlgo::kWinograd && (use == Isa::kRef || !winograd_applies(p)))
    return error(Code::kUnsupportedOp, "conv2d: no Winograd plan for this convolution on ", isa_name(use));
  return guarded("conv2d", out, [&]() -> std::unique_ptr<Conv2dPlan> {
    switch (use) {
      case Isa::kAvx512: return avx512::make_conv2d_plan(p, algo, limits);
      case Isa::kAvx2: return avx2::make_conv2d_plan(p, algo, limits);
      case Isa::kRef: break;
    }
    return std::make_unique<RefConv2dPlan>(p);
  });
}

Status make_conv_transpose2d_plan(Isa isa, const ConvTranspose2dParams& p,
                                  std::unique_ptr<ConvTranspose2dPlan>* out) {
  out->reset();
  FCN_RETURN_IF_ERROR(check(p));
  return guarded("convTranspose2d", out, [&]() -> std::unique_ptr<ConvTranspose2dPlan> {
    switch (usable_isa(isa)) {
      case Isa::kAvx512: return avx512::make_conv_transpose2d_plan(p);
      case Isa::kAvx2: return avx2::make_conv_transpose2d_plan(p);
      case Isa::kRef: break;
    }
    return std::make_unique<RefConvTranspose2dPlan>(p);
  });
}

Status make_gemm_plan(Isa isa, int64_t m, int64_t n, int64_t k, std::unique_ptr<GemmPlan>* out) {
  out->reset();
  if (m < 0 || n < 0 || k < 0) return error(Code::kInvalidArgument, "gemm: negative size ", m, "x", n, "x", k);
  if (!fits({m, k}) || !fits({m, n}) || !fits({k, n}))
    return error(Code::kTooLarge, "gemm: ", m, "x", k, " times ", k, "x", n, " passes 2^32 elements per matrix");
  return guarded("gemm", out, [&]() -> std::unique_ptr<GemmPlan> {
    switch (usable_isa(isa)) {
      case Isa::kAvx512: return avx512::make_gemm_plan(m, n, k);
      case Isa::kAvx2: return avx2::make_gemm_plan(m, n, k);
      case Isa::kRef: break;
    }
    return std::make_unique<RefGemmPlan>(m, n, k);
  });
}

}  // namespace fcn
