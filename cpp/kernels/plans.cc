// TEMPORARY (lead): reference-only plans so the addon links; the kernels engineer replaces
// this file with the real factories that dispatch to cpp/kernels/x86/.
#include <cstring>

#include "kernels/kernels.h"

namespace fcn {
namespace {
class RefConv2d : public Conv2dPlan {
 public:
  explicit RefConv2d(const Conv2dParams& p) : p_(p) {}
  size_t packed_weight_floats() const override { return size_t(p_.out_c * (p_.in_c / p_.groups) * p_.k_h * p_.k_w); }
  void pack_weights(const float* w, float* packed) const override { std::memcpy(packed, w, packed_weight_floats() * 4); }
  size_t workspace_bytes(int) const override { return 0; }
  void run(const float* x, const float* packed, const float* bias, float* y, void*, const RunControl&) const override {
    f32_conv2d__ref(p_, x, packed, bias, y);
  }
  const char* name() const override { return "f32_conv2d__ref"; }
 private:
  Conv2dParams p_;
};
class RefConvT : public ConvTranspose2dPlan {
 public:
  explicit RefConvT(const ConvTranspose2dParams& p) : p_(p) {}
  size_t packed_weight_floats() const override { return size_t(p_.in_c * (p_.out_c / p_.groups) * p_.k_h * p_.k_w); }
  void pack_weights(const float* w, float* packed) const override { std::memcpy(packed, w, packed_weight_floats() * 4); }
  size_t workspace_bytes(int) const override { return 0; }
  void run(const float* x, const float* packed, const float* bias, float* y, void*, const RunControl&) const override {
    f32_conv_transpose2d__ref(p_, x, packed, bias, y);
  }
  const char* name() const override { return "f32_conv_transpose2d__ref"; }
 private:
  ConvTranspose2dParams p_;
};
}  // namespace
std::unique_ptr<Conv2dPlan> make_conv2d_plan(Isa, const Conv2dParams& p) { return std::make_unique<RefConv2d>(p); }
std::unique_ptr<ConvTranspose2dPlan> make_conv_transpose2d_plan(Isa, const ConvTranspose2dParams& p) {
  return std::make_unique<RefConvT>(p);
}
std::unique_ptr<GemmPlan> make_gemm_plan(Isa, int64_t, int64_t, int64_t) { return nullptr; }
}  // namespace fcn
