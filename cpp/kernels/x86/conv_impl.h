// Conv2d for every x86 ISA, over gemm_impl.h's microkernel: per image and group,
// y[oc][pixel] = W[oc][ic*kh*kw] . col[ic*kh*kw][pixel], with the im2col done inside the B
// packing (a KC x NC block at a time, never the whole matrix), and a direct vectorised kernel
// for depthwise convolutions, where a GEMM would have one row.
#pragma once

#include "kernels/x86/gemm_impl.h"

namespace fcn {
namespace FCN_X86_ISA {

// What the im2col packer needs of one convolution.
struct ConvGeom {
  int64_t h, w, ow, kh, kw, sh, sw, dh, dw, pt, pl;
};

// d[t] = row[iw0 + t*sw] for t in [0, len), 0 where the column falls in the padding.
template <class T>
inline void copy_row_padded(float* d, const float* row, int64_t iw0, int64_t sw, int64_t w,
                            int64_t len) {
  constexpr int L = T::L;
  if (sw == 1) {
    // Masked loads: lanes outside [0, w) are never read and come back as zeros.
    for (int64_t t = 0; t < len; t += L) {
      const int n = int(min64(L, len - t));
      const int lo = int(max64(0, min64(n, -iw0 - t)));
      const int hi = int(max64(lo, min64(n, w - iw0 - t)));
      const typename T::V v =
          lo < hi ? T::maskz_loadu(offset_ptr(row, iw0 + t), T::mask(lo, hi)) : T::zero();
      if (n == L) T::storeu(d + t, v);
      else T::mask_storeu(d + t, T::mask(n), v);
    }
    return;
  }
  // Columns [lo, hi) are inside the row.
  const int64_t lo = iw0 >= 0 ? 0 : min64(len, ceil_div(-iw0, sw));
  const int64_t hi = iw0 >= w ? 0 : max64(lo, min64(len, (w - 1 - iw0) / sw + 1));
  zero_floats<T>(d, lo);
  for (int64_t t = lo; t < hi; ++t) d[t] = row[iw0 + t * sw];
  zero_floats<T>(d + hi, len - hi);
}

// Where one kernel tap reads for one run of output pixels (see pack_b_im2col).
struct ImTap {
  enum Kind : int32_t { kPadding = 0, kInside = 1, kPartial = 2 };
  int64_t row;  // offset of the input row in the channel plane
  int64_t iw;   // input column of the run's first pixel
  int32_t kind;  // kPadding: the row is padding; kInside: a contiguous read inside the row;
                 // kPartial: partly padding, or strided
};

// Implicit im2col: packs rows [k0, k0+kc) (k = (ic*kh + ky)*kw + kx) x output pixels
// [n0, n0+nc) of the column matrix straight from the NCHW image x (this group's channels) into
// NR-column panels. A panel's pixels are cut into runs that share an output row; for each run
// and kernel tap the padding is resolved once into `taps` (NR * kh * kw entries of scratch), so
// the loop over input channels is table lookups and vector copies.
template <class T>
void pack_b_im2col(const ConvGeom& g, const float* x, int64_t k0, int64_t kc, int64_t n0,
                   int64_t nc, float* dst, ImTap* taps) {
  constexpr int L = T::L, NV = T::NV, NR = L * NV;
  struct Run {
    int64_t j, len, ih0, iw0;
  };
  const int64_t kk = g.kh * g.kw, hw = g.h * g.w;
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t jn = min64(NR, nc - j0);
    Run runs[NR];
    int nruns = 0;
    {
      const int64_t p = n0 + j0;
      int64_t oh = p / g.ow, ow = p - oh * g.ow;
      for (int64_t j = 0; j < jn; ++oh, ow = 0) {
        const int64_t len = min64(jn - j, g.ow - ow);
        runs[nruns++] = {j, len, oh * g.sh - g.pt, ow * g.sw - g.pl};
        j += len;
      }
    }
    for (int64_t t = 0; t < kk; ++t) {
      const int64_t ky = t / g.kw, kx = t - ky * g.kw;
      for (int s = 0; s < nruns; ++s) {
        const Run& run = runs[s];
        const int64_t ih = run.ih0 + ky * g.dh, iw = run.iw0 + kx * g.dw;
        ImTap& tap = taps[t * nruns + s];
        tap.row = ih * g.w;
        tap.iw = iw;
        if (ih < 0 || ih >= g.h) tap.kind = ImTap::kPadding;
        else if (g.sw == 1 && iw >= 0 && iw + run.len <= g.w) tap.kind = ImTap::kInside;
        else tap.kind = ImTap::kPartial;
      }
    }
    float* d = dst + j0 * kc;
    int64_t ic = k0 / kk, t = k0 - ic * kk;
    if (nruns == 1 && jn == NR) {
      // The common case (an output row at least NR wide): one run filling the panel.
      for (int64_t k = 0; k < kc; ++k, d += NR) {
        const ImTap& tap = taps[t];
        const float* plane = x + ic * hw;
        if (tap.kind == ImTap::kInside) {
          const float* src = plane + tap.row + tap.iw;
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) T::storeu(d + v * L, T::loadu(src + v * L));
        } else if (tap.kind == ImTap::kPadding) {
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) T::storeu(d + v * L, T::zero());
        } else {
          copy_row_padded<T>(d, plane + tap.row, tap.iw, g.sw, g.w, NR);
        }
        if (++t == kk) {
          t = 0;
          ++ic;
        }
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k, d += NR) {
      const float* plane = x + ic * hw;
      const ImTap* tk = taps + t * nruns;
      for (int s = 0; s < nruns; ++s) {
        const Run& run = runs[s];
        const ImTap& tap = tk[s];
        if (tap.kind == ImTap::kInside)
          copy_floats<T>(d + run.j, plane + tap.row + tap.iw, run.len);
        else if (tap.kind == ImTap::kPadding)
          zero_floats<T>(d + run.j, run.len);
        else
          copy_row_padded<T>(d + run.j, plane + tap.row, tap.iw, g.sw, g.w, run.len);
      }
      if (jn < NR) zero_floats<T>(d + jn, NR - jn);
      if (++t == kk) {
        t = 0;
        ++ic;
      }
    }
  }
}

template <class T>
class Conv2dPlanX86 final : public Conv2dPlan {
 public:
  static constexpr int MR = T::MR, NR = T::L * T::NV;

  explicit Conv2dPlanX86(const Conv2dParams& p) : p_(p) {
    icg_ = p.in_c / p.groups;
    ocg_ = p.out_c / p.groups;
    k_ = icg_ * p.k_h * p.k_w;
    npix_ = p.out_h * p.out_w;
    mpad_ = round_up(ocg_, MR);
    kb_ = KBlocks(k_, kKc);
    nstep_ = npix_ > 0 ? n_step(npix_, NR) : NR;
    // A 1x1 stride-1 unpadded convolution's column matrix is its input, row for row.
    pointwise_ = p.k_h == 1 && p.k_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_t == 0 &&
                 p.pad_l == 0 && p.pad_b == 0 && p.pad_r == 0;
    geom_ = {p.in_h, p.in_w, p.out_w, p.k_h, p.k_w, p.stride_h, p.stride_w,
             p.dil_h, p.dil_w, p.pad_t, p.pad_l};
  }

  size_t packed_weight_floats() const override { return size_t(p_.groups * mpad_ * k_); }
  void pack_weights(const float* w, float* packed) const override {
    for (int64_t g = 0; g < p_.groups; ++g)
      pack_a_panels(w + g * ocg_ * k_, k_, 1, ocg_, MR, kb_, packed + g * mpad_ * k_);
  }
  size_t workspace_bytes(int max_threads) const override {
    return 64 + size_t(slots_for(max_threads)) * slot_bytes();
  }

  void run(const float* x, const float* packed, const float* bias, float* y, void* workspace,
           const RunControl& rc) const override {
    if (npix_ <= 0 || ocg_ <= 0 || p_.n <= 0) return;
    const int64_t outer = p_.n * p_.groups;
    const TaskGrid grid = make_grid(outer, ocg_, npix_, nstep_, MR,
                                    threads_for(rc, outer * ceil_div(npix_, nstep_) * 4));
    char* ws = static_cast<char*>(align64(workspace));
    const int64_t in_plane = p_.in_h * p_.in_w;
    for_each_task(rc, grid.count(), [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t ni = t % grid.nch, mi = (t / grid.nch) % grid.mch, o = t / (grid.nch * grid.mch);
      const int64_t img = o / p_.groups, g = o % p_.groups;
      const int64_t m0 = mi * grid.mstep, m1 = min64(ocg_, m0 + grid.mstep);
      const int64_t n0 = ni * grid.nstep, n1 = min64(npix_, n0 + grid.nstep);
      const float* xg = x + (img * p_.in_c + g * icg_) * in_plane;
      float* yg = y + (img * p_.out_c + g * ocg_) * npix_;
      const float* bg = bias ? bias + g * ocg_ : nullptr;
      if (k_ == 0) {
        fill_bias_rows<T>(yg, npix_, m0, m1, n0, n1, bg, p_.relu);
        return;
      }
      char* slot_ws = ws + size_t(slot) * slot_bytes();
      float* bbuf = reinterpret_cast<float*>(slot_ws);
      const float* ag = packed + g * mpad_ * k_;
      if (pointwise_) {
        auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, float* dst) {
          pack_b_rows<T>(xg, in_plane, k0, kc, pn0, nc, dst);
        };
        gemm_task<T>(kb_, ag, mpad_, m0, m1, n0, n1, pack, yg, npix_, bg, p_.relu, bbuf, rc);
      } else {
        auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, float* dst) {
          pack_b_im2col<T>(geom_, xg, k0, kc, pn0, nc, dst,
                           reinterpret_cast<ImTap*>(slot_ws + bbuf_bytes()));
        };
        gemm_task<T>(kb_, ag, mpad_, m0, m1, n0, n1, pack, yg, npix_, bg, p_.relu, bbuf, rc);
      }
    });
  }
  const char* name() const override { return T::kGemmName; }

 private:
  size_t bbuf_bytes() const { return round_up_bytes(size_t(kb_.size * nstep_) * sizeof(float)); }
  size_t taps_bytes() const {
    return pointwise_ ? 0 : round_up_bytes(size_t(NR * p_.k_h * p_.k_w) * sizeof(ImTap));
  }
  size_t slot_bytes() const { return bbuf_bytes() + taps_bytes(); }
  Conv2dParams p_;
  int64_t icg_ = 0, ocg_ = 0, k_ = 0, npix_ = 0, mpad_ = 0, nstep_ = 0;
  KBlocks kb_;
  bool pointwise_ = false;
  ConvGeom geom_{};
};

// ---- depthwise -----------------------------------------------------------------------------

// One output row segment [ow, ow+cnt) of one channel, cnt <= L, for stride_w 1. KH/KW > 0 fix
// the kernel size at compile time (3x3 unrolls fully); 0 reads it from p.
template <class T, int KH, int KW>
inline typename T::V dw_vector(const Conv2dParams& p, const float* xc, const float* wc,
                               typename T::V acc, int64_t oh, int64_t ow, int cnt) {
  constexpr int L = T::L;
  const int64_t kh = KH > 0 ? KH : p.k_h, kw = KW > 0 ? KW : p.k_w;
  const int64_t iw0 = ow - p.pad_l;
  const bool interior = cnt == L && iw0 >= 0 && iw0 + L - 1 + (kw - 1) * p.dil_w < p.in_w;
#pragma GCC unroll 8
  for (int64_t ky = 0; ky < kh; ++ky) {
    const int64_t ih = oh * p.stride_h - p.pad_t + ky * p.dil_h;
    if (ih < 0 || ih >= p.in_h) continue;
    const float* row = xc + ih * p.in_w;
    if (interior) {
#pragma GCC unroll 8
      for (int64_t kx = 0; kx < kw; ++kx)
        acc = T::fmadd(T::set1(wc[ky * kw + kx]), T::loadu(row + iw0 + kx * p.dil_w), acc);
    } else {
      for (int64_t kx = 0; kx < kw; ++kx) {
        // Lanes [lo, hi) read inside the row; the rest are padding and never touched.
        const int64_t o = iw0 + kx * p.dil_w;
        const int64_t lo = max64(0, -o), hi = min64(cnt, p.in_w - o);
        if (lo >= hi) continue;
        const typename T::V xv = T::maskz_loadu(offset_ptr(row, o), T::mask(int(lo), int(hi)));
        acc = T::fmadd(T::set1(wc[ky * kw + kx]), xv, acc);
      }
    }
  }
  return acc;
}

// Output rows [oh0, oh1) of channel plane c of one image.
template <class T, int KH, int KW>
void dw_rows(const Conv2dParams& p, const float* xc, const float* wc, float bias, float* yc,
             int64_t oh0, int64_t oh1) {
  constexpr int L = T::L;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    float* yrow = yc + oh * p.out_w;
    for (int64_t ow = 0; ow < p.out_w; ow += L) {
      const int cnt = int(min64(L, p.out_w - ow));
      typename T::V acc = dw_vector<T, KH, KW>(p, xc, wc, T::set1(bias), oh, ow, cnt);
      if (p.relu) acc = T::relu(acc);
      if (cnt == L) T::storeu(yrow + ow, acc);
      else T::mask_storeu(yrow + ow, T::mask(cnt), acc);
    }
  }
}

// groups == in_c == out_c, stride_w 1: vectorised along the output row, no packing.
template <class T>
class DwConv2dPlanX86 final : public Conv2dPlan {
 public:
  explicit DwConv2dPlanX86(const Conv2dParams& p) : p_(p) {
    // About 4K outputs per task: enough to amortise a task, small enough to balance threads.
    rows_per_task_ = max64(1, min64(p.out_h, 4096 / max64(1, p.out_w)));
  }
  size_t packed_weight_floats() const override { return size_t(p_.out_c * p_.k_h * p_.k_w); }
  void pack_weights(const float* w, float* packed) const override {
    std::memcpy(packed, w, packed_weight_floats() * sizeof(float));
  }
  size_t workspace_bytes(int) const override { return 0; }
  void run(const float* x, const float* packed, const float* bias, float* y, void*,
           const RunControl& rc) const override {
    if (p_.out_h <= 0 || p_.out_w <= 0) return;
    const int64_t chunks = ceil_div(p_.out_h, rows_per_task_);
    const bool k3 = p_.k_h == 3 && p_.k_w == 3;
    for_each_task(rc, p_.n * p_.out_c * chunks, [&](int64_t t, int) {
      if (rc.aborted()) return;
      const int64_t plane = t / chunks, chunk = t % chunks, c = plane % p_.out_c;
      const float* xc = x + plane * p_.in_h * p_.in_w;
      const float* wc = packed + c * p_.k_h * p_.k_w;
      float* yc = y + plane * p_.out_h * p_.out_w;
      const float b = bias ? bias[c] : 0.f;
      const int64_t oh0 = chunk * rows_per_task_, oh1 = min64(p_.out_h, oh0 + rows_per_task_);
      if (k3) dw_rows<T, 3, 3>(p_, xc, wc, b, yc, oh0, oh1);
      else dw_rows<T, 0, 0>(p_, xc, wc, b, yc, oh0, oh1);
    });
  }
  const char* name() const override { return T::kDwName; }

 private:
  Conv2dParams p_;
  int64_t rows_per_task_ = 1;
};

// The plan for p: depthwise direct where it applies, the packed GEMM otherwise.
template <class T>
std::unique_ptr<Conv2dPlan> make_conv2d_plan_t(const Conv2dParams& p) {
  if (p.groups == p.in_c && p.groups == p.out_c && p.stride_w == 1)
    return std::make_unique<DwConv2dPlanX86<T>>(p);
  return std::make_unique<Conv2dPlanX86<T>>(p);
}

}  // namespace FCN_X86_ISA
}  // namespace fcn
