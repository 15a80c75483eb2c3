#include <vector>

#include "kernels/kernels.h"

namespace fcn {

// Scatter form: every input pixel adds its weighted kernel into the output window it covers.
void f32_conv_transpose2d__ref(const ConvTranspose2dParams& p, const float* x, const float* w,
                               const float* bias, float* y) {
  const int64_t icg = p.in_c / p.groups, ocg = p.out_c / p.groups;
  const int64_t plane = p.out_h * p.out_w;
  std::vector<double> acc(plane);
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oc = 0; oc < p.out_c; ++oc) {
      const int64_t g = oc / ocg, ocl = oc % ocg;
      for (auto& a : acc) a = bias ? bias[oc] : 0.0;
      for (int64_t icl = 0; icl < icg; ++icl) {
        const int64_t ic = g * icg + icl;
        const float* xp = x + (n * p.in_c + ic) * p.in_h * p.in_w;
        const float* wp = w + (ic * ocg + ocl) * p.k_h * p.k_w;
        for (int64_t ih = 0; ih < p.in_h; ++ih)
          for (int64_t iw = 0; iw < p.in_w; ++iw) {
            const double xv = xp[ih * p.in_w + iw];
            for (int64_t kh = 0; kh < p.k_h; ++kh) {
              const int64_t oh = ih * p.stride_h - p.pad_t + kh * p.dil_h;
              if (oh < 0 || oh >= p.out_h) continue;
              for (int64_t kw = 0; kw < p.k_w; ++kw) {
                const int64_t ow = iw * p.stride_w - p.pad_l + kw * p.dil_w;
                if (ow < 0 || ow >= p.out_w) continue;
                acc[oh * p.out_w + ow] += xv * double(wp[kh * p.k_w + kw]);
              }
            }
          }
      }
      float* yp = y + (n * p.out_c + oc) * plane;
      for (int64_t i = 0; i < plane; ++i) {
        float v = float(acc[i]);
        yp[i] = (p.relu && v < 0.f) ? 0.f : v;
      }
    }
}

}  // namespace fcn
