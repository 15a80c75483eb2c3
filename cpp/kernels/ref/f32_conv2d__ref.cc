#include "kernels/kernels.h"

namespace fcn {

void f32_conv2d__ref(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                     float* y) {
  const int64_t icg = p.in_c / p.groups, ocg = p.out_c / p.groups;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oc = 0; oc < p.out_c; ++oc) {
      const int64_t g = oc / ocg;
      for (int64_t oh = 0; oh < p.out_h; ++oh)
        for (int64_t ow = 0; ow < p.out_w; ++ow) {
          double acc = bias ? bias[oc] : 0.0;
          for (int64_t ic = 0; ic < icg; ++ic)
            for (int64_t kh = 0; kh < p.k_h; ++kh) {
              const int64_t ih = oh * p.stride_h - p.pad_t + kh * p.dil_h;
              if (ih < 0 || ih >= p.in_h) continue;
              for (int64_t kw = 0; kw < p.k_w; ++kw) {
                const int64_t iw = ow * p.stride_w - p.pad_l + kw * p.dil_w;
                if (iw < 0 || iw >= p.in_w) continue;
                acc += double(x[((n * p.in_c + g * icg + ic) * p.in_h + ih) * p.in_w + iw]) *
                       double(w[((oc * icg + ic) * p.k_h + kh) * p.k_w + kw]);
              }
            }
          float v = float(acc);
          if (p.relu && v < 0.f) v = 0.f;
          y[((n * p.out_c + oc) * p.out_h + oh) * p.out_w + ow] = v;
        }
    }
}

}  // namespace fcn
