// ConvTranspose2d for every x86 ISA, over gemm_impl.h's microkernel.
//
// Per image and group the products form a GEMM whose rows are input pixels and whose columns
// are (oc, ky, kx): P[pixel][(oc*kh + ky)*kw + kx] = sum_ic x[ic][pixel] * w[ic][oc][ky][kx].
// The weight tensor [in_c, out_c/g, kh, kw] is exactly that GEMM's row-major B, packed once; A is
// the input transposed, packed once per run (its size is the input's). Each finished block of P
// is scatter-added into y, where a column's kx run lands on consecutive output pixels: with
// dil_w 1, a vector of P inside one kx run is one contiguous read-add-write of y (kernels at
// least a vector wide), and a kernel narrower than a vector adds each whole (oc, ky) run as one
// short vector (scatter_add_short: k2s2, k4s2); the rest goes lane by lane. P never exists
// beyond one MC x NC block per thread, so k64 s32 needs no more workspace than k2 s2.
//
// Threads own whole output channels, so no two ever add into the same pixel, and the cut into
// tasks does not depend on the thread count, so results are identical for any thread count.
#pragma once

#include "kernels/x86/gemm_impl.h"

namespace fcn {
namespace FCN_X86_ISA {

// The vector for short runs of a scatter: T's 4-lane one, or its full width.
template <class T, bool kNarrow>
struct RunVec {
  static constexpr int W = 4;
  using V = typename T::V4;
  static V loadu(const float* p) { return T::loadu4(p); }
  static void storeu(float* p, V v) { T::storeu4(p, v); }
  static V add(V a, V b) { return T::add4(a, b); }
  static V maskz_loadu(const float* p, int n) { return T::maskz_loadu4(p, n); }
};
template <class T>
struct RunVec<T, false> {
  static constexpr int W = T::L;
  using V = typename T::V;
  static V loadu(const float* p) { return T::loadu(p); }
  static void storeu(float* p, V v) { T::storeu(p, v); }
  static V add(V a, V b) { return T::add(a, b); }
  static V maskz_loadu(const float* p, int n) { return T::maskz_loadu(p, T::mask(n)); }
};

template <class T>
class ConvTranspose2dPlanX86 final : public ConvTranspose2dPlan {
 public:
  static constexpr int L = T::L, MR = T::MR, NR = T::L * T::NV;

  explicit ConvTranspose2dPlanX86(const ConvTranspose2dParams& p) : p_(p) {
    icg_ = p.in_c / p.groups;
    ocg_ = p.out_c / p.groups;
    kk_ = p.k_h * p.k_w;
    hw_in_ = p.in_h * p.in_w;
    hw_out_ = p.out_h * p.out_w;
    ncols_ = ocg_ * kk_;
    npad_ = round_up(ncols_, NR);
    mpad_ = round_up(hw_in_, MR);
    kb_ = KBlocks(icg_, T::KC);
    // Column block: kNc/2 columns, so that at KC 256 the KC x NC block of packed weights stays
    // in L2.
    nc_ = min64(round_up(kNc / 2, NR), npad_);
    // Output channels per task: about 256 columns, and a whole number of NR panels unless one
    // task takes the whole group, so that a task's first column starts a packed panel.
    const int64_t align = NR / gcd(kk_, NR);
    oct_ = min64(ocg_, round_up(max64(1, 256 / kk_), align));
    // Large GEMMs get at least four tasks per group where the channels allow: with batch 1 and
    // one group, U-Net's 128 -> 64 up-convolution (k2 s2: 256 columns, 2.5 GFLOP at 196x196)
    // would be one task and leave every other thread idle. (Small ones keep one task: each task
    // reads all of A.)
    if (double(hw_in_) * double(icg_) * double(ncols_) > double(int64_t(1) << 26))
      oct_ = min64(oct_, max64(align, round_up(ceil_div(ocg_, 4), align)));
    // Pixel block: as many input rows as keep the band of output rows they touch (a task's
    // channels, stride_h rows per input row plus the kernel's reach) near 256 KiB of L2, and at
    // most 128 pixels so that the block of P (MC x NC) stays near L1.
    const int64_t row_bytes = oct_ * p.out_w * int64_t(sizeof(float));
    const int64_t band_rows = max64(1, (int64_t(256) << 10) / max64(1, row_bytes));
    const int64_t in_rows = max64(1, (band_rows - (p.k_h - 1) * p.dil_h) / p.stride_h);
    const int64_t mc_want = max64(MR, min64(128, in_rows * p.in_w));
    mc_ = round_up(ceil_div(hw_in_, max64(1, ceil_div(hw_in_, mc_want))), MR);
    tasks_per_group_ = ceil_div(ocg_, oct_);

    // Per column: where its contribution lands relative to the pixel's window origin.
    col_off_.reset(new int64_t[size_t(ncols_)]);
    col_dy_.reset(new int32_t[size_t(ncols_)]);
    col_dx_.reset(new int32_t[size_t(ncols_)]);
    col_run_.reset(new uint8_t[size_t(ceil_div(ncols_, L))]);
    for (int64_t j = 0; j < ncols_; ++j) {
      const int64_t oc = j / kk_, ky = (j / p.k_w) % p.k_h, kx = j % p.k_w;
      col_dy_[j] = int32_t(ky * p.dil_h);
      col_dx_[j] = int32_t(kx * p.dil_w);
      col_off_[j] = oc * hw_out_ + ky * p.dil_h * p.out_w + kx * p.dil_w;
    }
    // A vector of columns is one contiguous run of y when its L columns share (oc, ky) and
    // step kx by one output pixel.
    for (int64_t v = 0; v * L < ncols_; ++v) {
      const int64_t j = v * L;
      col_run_[v] = p.dil_w == 1 && j + L <= ncols_ && (j % p.k_w) + L <= p.k_w;
    }
  }

  size_t packed_weight_floats() const override { return size_t(p_.groups * icg_ * npad_); }
  void pack_weights(const float* w, float* packed) const override {
    for (int64_t g = 0; g < p_.groups; ++g) {
      const float* wg = w + g * icg_ * ncols_;
      float* dg = packed + g * icg_ * npad_;
      for (int64_t b = 0; b < kb_.count; ++b) {
        const int64_t k0 = kb_.start(b);
        pack_b_rows<T>(wg, ncols_, k0, kb_.len(b), 0, ncols_, dg + k0 * npad_);
      }
    }
  }
  size_t workspace_bytes(int max_threads) const override {
    return 64 + a_bytes() + size_t(slots_for(max_threads)) * slot_bytes();
  }

  void run(const float* x, const float* packed, const float* bias, float* y, void* workspace,
           const RunControl& rc) const override {
    if (p_.n <= 0 || hw_out_ <= 0 || ocg_ <= 0) return;
    char* ws = static_cast<char*>(align64(workspace));
    float* apack = reinterpret_cast<float*>(ws);
    char* slots = ws + a_bytes();
    const int64_t outer = p_.n * p_.groups;
    const int64_t a_floats = icg_ * mpad_;

    // The input, transposed into MR-pixel panels, for every image and group; in chunks of
    // panels, so that one large image packs on every thread.
    const int64_t panels = ceil_div(hw_in_, MR);
    const int64_t per_chunk = icg_ * hw_in_ >= (int64_t(1) << 20) ? max64(1, ceil_div(panels, 8)) : panels;
    const int64_t chunks = ceil_div(panels, per_chunk);
    for_each_task(rc, outer * chunks, [&](int64_t t, int) {
      if (rc.aborted()) return;
      const int64_t o = t / chunks, p0 = (t % chunks) * per_chunk;
      const int64_t img = o / p_.groups, g = o % p_.groups;
      pack_a_panels(x + (img * p_.in_c + g * icg_) * hw_in_, 1, hw_in_, hw_in_, MR, kb_,
                    apack + o * a_floats, false, p0, min64(panels, p0 + per_chunk));
    });
    if (rc.aborted()) return;

    for_each_task(rc, outer * tasks_per_group_, [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t o = t / tasks_per_group_, task = t % tasks_per_group_;
      const int64_t img = o / p_.groups, g = o % p_.groups;
      const int64_t oc0 = task * oct_, oc1 = min64(ocg_, oc0 + oct_);
      float* yg = y + (img * p_.out_c + g * ocg_) * hw_out_;
      const float* bg = bias ? bias + g * ocg_ : nullptr;
      const float* ag = apack + o * a_floats;
      const float* wg = packed + g * icg_ * npad_;
      float* cbuf = reinterpret_cast<float*>(slots + size_t(slot) * slot_bytes());
      const int64_t c0 = oc0 * kk_, c1 = oc1 * kk_;
      // Pixel blocks go in input-row order, so the output rows they touch move down the image
      // as a band: rows get their bias just before their first contribution and their ReLU
      // once no later pixel can reach them, and the band stays in L2 between those passes.
      int64_t filled = 0, final_rows = 0;
      for (int64_t ib = 0; ib < hw_in_ && icg_ > 0; ib += mc_) {
        const int64_t mb = min64(mc_, hw_in_ - ib);
        const int64_t last_ih = (ib + mb - 1) / p_.in_w;
        const int64_t reach = min64(p_.out_h, last_ih * p_.stride_h - p_.pad_t +
                                                  (p_.k_h - 1) * p_.dil_h + 1);
        if (reach > filled) {
          fill_rows(yg, oc0, oc1, filled, reach, bg);
          filled = reach;
        }
        for (int64_t jc = c0; jc < c1; jc += nc_) {
          const int64_t jn = min64(nc_, c1 - jc);
          for (int64_t b = 0; b < kb_.count; ++b) {
            if (rc.aborted()) return;
            const int64_t k0 = kb_.start(b), kc = kb_.len(b);
            const float* ablock = ag + k0 * mpad_;
            const float* wblock = wg + k0 * npad_;
            const int flags = b > 0 ? kAccumulate : 0;
            for (int64_t i = ib; i < ib + mb; i += MR) {
              const TileFn tile = tile_fn<T>(int(min64(MR, ib + mb - i)));
              const float* ap = ablock + i * kc;
              float* ci = cbuf + (i - ib) * nc_;
              for (int64_t j = 0; j < jn; j += NR)
                tile(kc, ap, wblock + (jc + j) * kc, ci + j, nc_, int(min64(NR, jn - j)), nullptr,
                     flags);
            }
          }
          scatter_add(cbuf, ib, mb, jc, jn, yg);
        }
        if (p_.relu && ib + mb < hw_in_) {
          const int64_t next_ih = (ib + mb) / p_.in_w;
          // Capped at `filled`: with stride > kernel some rows lie between every pixel's
          // reach and get their bias only later.
          const int64_t done = max64(0, min64(filled, next_ih * p_.stride_h - p_.pad_t));
          if (done > final_rows) {
            relu_rows(yg, oc0, oc1, final_rows, done);
            final_rows = done;
          }
        }
      }
      // Rows no pixel reaches (output padding, wide padding) hold the bias alone.
      if (filled < p_.out_h) fill_rows(yg, oc0, oc1, filled, p_.out_h, bg);
      if (p_.relu) relu_rows(yg, oc0, oc1, final_rows, p_.out_h);
    });
  }
  const char* name() const override { return T::kGemmName; }

 private:
  static int64_t gcd(int64_t a, int64_t b) {
    while (b) {
      const int64_t t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
  size_t a_bytes() const {
    return round_up_bytes(size_t(p_.n * p_.groups * icg_ * mpad_) * sizeof(float));
  }
  size_t slot_bytes() const { return round_up_bytes(size_t(mc_ * nc_) * sizeof(float)); }

  // Output rows [r0, r1) of channels [oc0, oc1) = their bias.
  void fill_rows(float* yg, int64_t oc0, int64_t oc1, int64_t r0, int64_t r1,
                 const float* bg) const {
    for (int64_t oc = oc0; oc < oc1; ++oc) {
      const typename T::V v = T::set1(bg ? bg[oc] : 0.f);
      float* d = yg + oc * hw_out_ + r0 * p_.out_w;
      const int64_t n = (r1 - r0) * p_.out_w;
      int64_t i = 0;
      for (; i + L <= n; i += L) T::storeu(d + i, v);
      if (i < n) T::mask_storeu(d + i, T::mask(int(n - i)), v);
    }
  }
  void relu_rows(float* yg, int64_t oc0, int64_t oc1, int64_t r0, int64_t r1) const {
    for (int64_t oc = oc0; oc < oc1; ++oc) {
      float* d = yg + oc * hw_out_ + r0 * p_.out_w;
      const int64_t n = (r1 - r0) * p_.out_w;
      int64_t i = 0;
      for (; i + L <= n; i += L) T::storeu(d + i, T::relu(T::loadu(d + i)));
      if (i < n) {
        const typename T::Mask m = T::mask(int(n - i));
        T::mask_storeu(d + i, m, T::relu(T::maskz_loadu(d + i, m)));
      }
    }
  }

  // y += the block P[ib : ib+mb, jc : jc+jn] (cbuf, leading dimension nc_).
  void scatter_add(const float* cbuf, int64_t ib, int64_t mb, int64_t jc, int64_t jn,
                   float* yg) const {
    if (p_.k_w < L && p_.dil_w == 1) {
      scatter_add_short(cbuf, ib, mb, jc, jn, yg);
      return;
    }
    const int64_t oh_n = p_.out_h, ow_n = p_.out_w;
    for (int64_t r = 0; r < mb; ++r) {
      const int64_t pix = ib + r, ih = pix / p_.in_w, iw = pix - ih * p_.in_w;
      const int64_t oh0 = ih * p_.stride_h - p_.pad_t, ow0 = iw * p_.stride_w - p_.pad_l;
      const int64_t base = oh0 * ow_n + ow0;
      const float* crow = cbuf + r * nc_;
      for (int64_t j = 0; j < jn; j += L) {
        const int64_t col = jc + j;
        if (j + L <= jn && col_run_[col / L]) {
          const int64_t oh = oh0 + col_dy_[col], ow = ow0 + col_dx_[col];
          if (oh >= 0 && oh < oh_n && ow >= 0 && ow + L <= ow_n) {
            float* q = yg + (base + col_off_[col]);
            T::storeu(q, T::add(T::loadu(q), T::loadu(crow + j)));
            continue;
          }
        }
        const int64_t cend = min64(col + L, jc + jn);
        for (int64_t c = col; c < cend; ++c) {
          const int64_t oh = oh0 + col_dy_[c], ow = ow0 + col_dx_[c];
          if (oh >= 0 && oh < oh_n && ow >= 0 && ow < ow_n) yg[base + col_off_[c]] += crow[c - jc];
        }
      }
    }
  }

  // scatter_add for kernels narrower than a vector with dil_w 1 (k2s2, k4s2): a column group
  // (oc, ky, kx = 0..kw) of one pixel lands on kw consecutive pixels of one output row, so it
  // is one vector read-add-write, where lane by lane it was 3/4 of a k4s2 21-channel run. The
  // vector is the narrowest that holds kw lanes (RunVec). Where the pixel's window lies inside
  // the output and the whole vector from its left edge stays inside the row, the vector is
  // stored whole, its lanes past kw adding zeros (masked stores are slow on AMD's AVX2);
  // elsewhere masks also drop the columns outside the block and the pixels outside the row.
  void scatter_add_short(const float* cbuf, int64_t ib, int64_t mb, int64_t jc, int64_t jn,
                         float* yg) const {
    if (p_.k_w <= 4) scatter_add_runs<RunVec<T, true>>(cbuf, ib, mb, jc, jn, yg);
    else scatter_add_runs<RunVec<T, false>>(cbuf, ib, mb, jc, jn, yg);
  }
  // Not inlined into run(): in there GCC spills the loop's pointers.
  template <class RV>
  __attribute__((noinline)) void scatter_add_runs(const float* cbuf, int64_t ib, int64_t mb,
                                                  int64_t jc, int64_t jn, float* yg) const {
    const int64_t kw = p_.k_w, oh_n = p_.out_h, ow_n = p_.out_w;
    const int64_t g0 = jc / kw * kw, gend = jc + jn;  // the groups touching the block
    const int64_t g_whole = ceil_div(jc, kw) * kw;     // the first one wholly inside it
    for (int64_t r = 0; r < mb; ++r) {
      const int64_t pix = ib + r, ih = pix / p_.in_w, iw = pix - ih * p_.in_w;
      const int64_t oh0 = ih * p_.stride_h - p_.pad_t, ow0 = iw * p_.stride_w - p_.pad_l;
      const int64_t base = oh0 * ow_n + ow0;
      const float* crow = cbuf + r * nc_;
      // Lanes (kx) inside the output row.
      const int64_t x_lo = max64(0, -ow0), x_hi = min64(kw, ow_n - ow0);
      if (x_lo >= x_hi) continue;
      const bool whole = oh0 >= 0 && oh0 + (p_.k_h - 1) * p_.dil_h < oh_n && ow0 >= 0 &&
                         ow0 + RV::W <= ow_n;
      int64_t gc = g0;
      if (whole) {
        for (; gc < g_whole; gc += kw) masked_group(crow, jc, jn, gc, oh0, x_lo, x_hi, base, yg);
        // Local pointers: the loop is a handful of instructions a vector, and GCC otherwise
        // reloads the members on every pass.
        float* const yb = yg + base;
        const int64_t* off = col_off_.get() + gc;
        const float* src = crow + (gc - jc);
        const int n = int(kw);
        for (; gc + kw <= gend; gc += kw, off += kw, src += kw) {
          float* q = yb + *off;
          RV::storeu(q, RV::add(RV::loadu(q), RV::maskz_loadu(src, n)));
        }
      }
      for (; gc < gend; gc += kw) masked_group(crow, jc, jn, gc, oh0, x_lo, x_hi, base, yg);
    }
  }
  // y += columns [gc, gc+kw) of one pixel's row of P (crow holds columns [jc, jc+jn)), only
  // the lanes inside the block and inside the output row [x_lo, x_hi).
  void masked_group(const float* crow, int64_t jc, int64_t jn, int64_t gc, int64_t oh0,
                    int64_t x_lo, int64_t x_hi, int64_t base, float* yg) const {
    const int64_t oh = oh0 + col_dy_[gc];
    if (oh < 0 || oh >= p_.out_h) return;
    const int64_t lo = max64(x_lo, jc - gc), hi = min64(x_hi, jc + jn - gc);
    if (lo >= hi) return;
    const typename T::Mask m = T::mask(int(lo), int(hi));
    float* q = const_cast<float*>(offset_ptr(yg, base + col_off_[gc]));
    const typename T::V add = T::maskz_loadu(offset_ptr(crow, gc - jc), m);
    T::mask_storeu(q, m, T::add(T::maskz_loadu(q, m), add));
  }

  ConvTranspose2dParams p_;
  int64_t icg_ = 0, ocg_ = 0, kk_ = 0, hw_in_ = 0, hw_out_ = 0, ncols_ = 0, npad_ = 0, mpad_ = 0;
  int64_t mc_ = 0, nc_ = 0, oct_ = 1, tasks_per_group_ = 1;
  KBlocks kb_;
  // Raw arrays, not std::vector: see gemm_impl.h on sharing code between ISAs.
  std::unique_ptr<int64_t[]> col_off_;
  std::unique_ptr<int32_t[]> col_dy_, col_dx_;
  std::unique_ptr<uint8_t[]> col_run_;
};

template <class T>
std::unique_ptr<ConvTranspose2dPlan> make_conv_transpose2d_plan_t(const ConvTranspose2dParams& p) {
  return std::make_unique<ConvTranspose2dPlanX86<T>>(p);
}

}  // namespace FCN_X86_ISA
}  // namespace fcn
