// Conv2d for every x86 ISA, over gemm_impl.h's register tile: per image and group,
// y[oc][pixel] = W[oc][ic*kh*kw] . col[ic*kh*kw][pixel], the weights packed once as GEMM A
// panels. Three ways to feed the column matrix B:
//   - pointwise (1x1, stride 1, no padding): B is the input itself, packed like a GEMM's B;
//   - direct (stride_w 1, output rows that tile well): no column matrix at all; the tile reads
//     B straight from a zero-padded copy of the input rows (see f32_conv_tile);
//   - im2col (the rest: stride_w > 1, narrow outputs): the im2col done inside the B packing, a
//     KC x NC block at a time, never the whole matrix.
// And a direct vectorised kernel for depthwise convolutions, where a GEMM would have one row.
#pragma once

#include <cstdlib>
#include <vector>

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
// NR-column panels: the column matrix never exists beyond one KC x NC block per thread, however
// large the image or the kernel. A panel's pixels are cut into runs that share an output row;
// for each run and kernel tap the padding is resolved once into `taps` (NR * kh * kw entries of
// scratch), so the loop over input channels is table lookups and vector copies. `windowed`
// (kernels with more taps than a K block has rows): the table holds only the block's kc taps,
// entry i for row k0 + i, so it stays NR * KC entries whatever the kernel's size.
template <class T>
void pack_b_im2col(const ConvGeom& g, const float* x, int64_t k0, int64_t kc, int64_t n0,
                   int64_t nc, float* dst, ImTap* taps, bool windowed) {
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
    const int64_t ntaps = windowed ? kc : kk;
    for (int64_t e = 0, t = windowed ? k0 % kk : 0; e < ntaps; ++e, t = t + 1 == kk ? 0 : t + 1) {
      const int64_t ky = t / g.kw, kx = t - ky * g.kw;
      for (int s = 0; s < nruns; ++s) {
        const Run& run = runs[s];
        const int64_t ih = run.ih0 + ky * g.dh, iw = run.iw0 + kx * g.dw;
        ImTap& tap = taps[e * nruns + s];
        tap.row = ih * g.w;
        tap.iw = iw;
        if (ih < 0 || ih >= g.h) tap.kind = ImTap::kPadding;
        else if (g.sw == 1 && iw >= 0 && iw + run.len <= g.w) tap.kind = ImTap::kInside;
        else tap.kind = ImTap::kPartial;
      }
    }
    float* d = dst + j0 * kc;
    int64_t ic = k0 / kk, t = k0 - ic * kk;
    // The table entry of row k: t, or k itself when windowed.
    int64_t e = windowed ? 0 : t;
    if (nruns == 1 && jn == NR) {
      // The common case (an output row at least NR wide): one run filling the panel.
      for (int64_t k = 0; k < kc; ++k, d += NR) {
        const ImTap& tap = taps[e];
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
        e = windowed ? e + 1 : t;
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k, d += NR) {
      const float* plane = x + ic * hw;
      const ImTap* tk = taps + e * nruns;
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
      e = windowed ? e + 1 : t;
    }
  }
}

// ---- direct (stride_w 1) ---------------------------------------------------------------------
//
// With stride_w 1, the column-matrix row of tap (ic, ky, kx) over a run of pixels of one output
// row is a run of one input row shifted by kx*dil_w. So a task copies, once per K block, the
// input rows its band of output rows reads into a zero-padded buffer ("band": per channel,
// in_rows rows of wp floats; input column iw at iw + pad_l, zeros around), and the tile loads
// its B vectors from there at a fixed offset per tap. Every input element is copied about once
// (plus the halo rows) where im2col would write kh*kw copies of it: for 3x3 with few channels
// that packing cost a quarter of the run. The band's rows are wide enough that every lane of
// a row's last, partial tile reads inside the row, so the tile needs no masks until its store.

// Where the tile reads B: channel ch, tap t at b + ch*cstride + tap_off[t].
struct BandTaps {
  const int64_t* tap_off;  // per tap: ky*dil_h*wp + kx*dil_w
  int64_t taps;            // kh*kw
  int64_t cstride;         // floats between channels of the band
};

// One MRr x NR tile of output channels x pixels [ow, ow+NR) of one output row, over nch input
// channels: A is the panel [nch*taps][MR], b points at the band's column ow of the output row's
// first input row. KK > 0 fixes the tap count at compile time (3x3 unrolls fully).
template <class T, int MRr, int KK>
void f32_conv_tile(int64_t nch, const BandTaps& bt, const float* __restrict a,
                   const float* __restrict b, float* __restrict c, int64_t ldc, int n_valid,
                   const float* bias, int flags) {
  constexpr int MR = T::MR;
  typename T::V acc[MRr][T::NV];
  tile_begin<T, MRr>(acc, c, ldc, n_valid, bias, flags);
  const int64_t* off = bt.tap_off;
  for (int64_t ch = 0; ch < nch; ++ch, b += bt.cstride) {
    if constexpr (KK > 0) {
#pragma GCC unroll 16
      for (int t = 0; t < KK; ++t) tile_step<T, MRr>(acc, a + t * MR, b + off[t]);
      a += KK * MR;
    } else {
      for (int64_t t = 0; t < bt.taps; ++t, a += MR) tile_step<T, MRr>(acc, a, b + off[t]);
    }
  }
  tile_end<T, MRr>(acc, c, ldc, n_valid, flags);
}

using ConvTileFn = void (*)(int64_t, const BandTaps&, const float*, const float*, float*, int64_t,
                            int, const float*, int);

// The direct tile for `rows` (1..MR) rows.
template <class T, int KK, int R = T::MR>
ConvTileFn conv_tile_fn(int rows) {
  if constexpr (R == 1) {
    return &f32_conv_tile<T, 1, KK>;
  } else {
    return rows == R ? &f32_conv_tile<T, R, KK> : conv_tile_fn<T, KK, R - 1>(rows);
  }
}

template <class T>
class Conv2dPlanX86 final : public Conv2dPlan {
 public:
  static constexpr int MR = T::MR, NR = T::L * T::NV;

  Conv2dPlanX86(const Conv2dParams& p, const PlanLimits& limits) : p_(p) {
    icg_ = p.in_c / p.groups;
    ocg_ = p.out_c / p.groups;
    kk_ = p.k_h * p.k_w;
    k_ = icg_ * kk_;
    npix_ = p.out_h * p.out_w;
    mpad_ = round_up(ocg_, MR);
    // A 1x1 stride-1 unpadded convolution's column matrix is its input, row for row.
    const bool pointwise = kk_ == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_t == 0 &&
                           p.pad_l == 0 && p.pad_b == 0 && p.pad_r == 0;
    // Direct when stride_w is 1 and output rows cut into NR-pixel tiles with little wasted on
    // the last, partial tile of each row (a tile spans one output row): at most 1/16, or 1/8
    // with at most 128 output channels, where im2col's packing weighs more against the GEMM
    // (U-Net's 64-channel layers at 388 and 390 wide: 160 GFLOP/s im2col, 185 direct).
    const int64_t ow_tiles = round_up(p.out_w, NR);
    const int64_t waste_div = ocg_ <= 128 ? 8 : 16;
    mode_ = pointwise ? kPointwise
            : p.stride_w == 1 && npix_ > 0 && kk_ <= kDirectKc &&
                      ow_tiles * waste_div <= p.out_w * (waste_div + 1)
                ? kDirect
                : kIm2col;
    // The direct path's band holds whole input rows of at least one channel: past the scratch
    // bound (rows millions of pixels wide, dilations of thousands) the im2col path, whose
    // blocks are KC x NC whatever the image, takes over. Below it the band takes as many
    // channels as fit kDirectBandBytes (at least one).
    const double band_limit = double(min64(kDirectBandBytes, int64_t(limits.scratch_bytes)));
    if (mode_ == kDirect) {
      const int64_t rows = max64(1, min64(p.out_h, kDirectPixels / p.out_w));
      const double one_channel = (double(rows - 1) * double(p.stride_h) + double(p.k_h - 1) * double(p.dil_h) + 1) *
                                 (double(ow_tiles) + double(p.k_w - 1) * double(p.dil_w)) * sizeof(float);
      if (one_channel > double(limits.scratch_bytes)) mode_ = kIm2col;
    }
    if (mode_ == kDirect) {
      rows_ = max64(1, min64(p.out_h, kDirectPixels / p.out_w));
      nstep_ = rows_;
      wp_ = ow_tiles + (p.k_w - 1) * p.dil_w;
      const int64_t in_rows = (rows_ - 1) * p.stride_h + (p.k_h - 1) * p.dil_h + 1;
      cstride_ = in_rows * wp_;
      // K blocks of whole channels, as few as the band allows: one block means each C tile is
      // stored once, with no reload per block.
      const int64_t band_ch = max64(1, int64_t(band_limit) / (cstride_ * int64_t(sizeof(float))));
      kb_ = KBlocks(k_, min64(kDirectKc / kk_, band_ch) * kk_, kk_);
      tap_off_.reset(new int64_t[size_t(kk_)]);
      for (int64_t ky = 0; ky < p.k_h; ++ky)
        for (int64_t kx = 0; kx < p.k_w; ++kx)
          tap_off_[ky * p.k_w + kx] = ky * p.dil_h * wp_ + kx * p.dil_w;
    } else {
      // K blocks short enough that one panel's column block fits half the scratch bound, and
      // im2col's tap table: all kk taps, or past KC taps (or half the scratch bound) the taps
      // of one K block at a time, in K blocks no longer than the table.
      int64_t kc_max = min64(T::KC, max64(1, int64_t(limits.scratch_bytes / 2 / (NR * sizeof(float)))));
      if (mode_ == kIm2col) {
        const int64_t tap_cap = max64(1, int64_t(limits.scratch_bytes / 2 / (NR * sizeof(ImTap))));
        windowed_ = kk_ > kc_max || kk_ > tap_cap;
        if (windowed_) kc_max = min64(kc_max, tap_cap);
      }
      kb_ = KBlocks(k_, kc_max);
      // Column blocks: at most kNc, and narrower (never under one panel) past the scratch bound.
      nstep_ = npix_ > 0 ? n_step(npix_, NR) : NR;
      const int64_t cap = int64_t(limits.scratch_bytes / 2 / sizeof(float)) / max64(1, kb_.size);
      if (nstep_ > cap) nstep_ = max64(NR, cap / NR * NR);
    }
    geom_ = {p.in_h, p.in_w, p.out_w, p.k_h, p.k_w, p.stride_h, p.stride_w,
             p.dil_h, p.dil_w, p.pad_t, p.pad_l};
  }

  size_t packed_weight_floats() const override { return size_t(p_.groups * mpad_ * k_); }
  void pack_weights(const float* w, float* packed) const override {
    for (int64_t g = 0; g < p_.groups; ++g)
      pack_a_panels(w + g * ocg_ * k_, k_, 1, ocg_, MR, kb_, packed + g * mpad_ * k_,
                    mode_ == kDirect);
  }
  size_t workspace_bytes(int max_threads) const override {
    return 64 + size_t(slots_for(max_threads)) * slot_bytes();
  }

  void run(const float* x, const float* packed, const float* bias, float* y, void* workspace,
           const RunControl& rc) const override {
    if (npix_ <= 0 || ocg_ <= 0 || p_.n <= 0) return;
    const int64_t outer = p_.n * p_.groups;
    // The N cut: pixels for the GEMM paths, output rows for the direct one.
    const int64_t n = mode_ == kDirect ? p_.out_h : npix_;
    const TaskGrid grid = make_grid(outer, ocg_, n, nstep_, MR,
                                    threads_for(rc, outer * ceil_div(n, nstep_) * 4));
    char* ws = static_cast<char*>(align64(workspace));
    const int64_t in_plane = p_.in_h * p_.in_w;
    for_each_task(rc, grid.count(), [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t ni = t % grid.nch, mi = (t / grid.nch) % grid.mch, o = t / (grid.nch * grid.mch);
      const int64_t img = o / p_.groups, g = o % p_.groups;
      const int64_t m0 = mi * grid.mstep, m1 = min64(ocg_, m0 + grid.mstep);
      const int64_t n0 = ni * grid.nstep, n1 = min64(n, n0 + grid.nstep);
      const float* xg = x + (img * p_.in_c + g * icg_) * in_plane;
      float* yg = y + (img * p_.out_c + g * ocg_) * npix_;
      const float* bg = bias ? bias + g * ocg_ : nullptr;
      if (k_ == 0) {
        const int64_t px = mode_ == kDirect ? p_.out_w : 1;  // pixels per unit of the N cut
        fill_bias_rows<T>(yg, npix_, m0, m1, n0 * px, n1 * px, bg, p_.relu);
        return;
      }
      char* slot_ws = ws + size_t(slot) * slot_bytes();
      float* buf = reinterpret_cast<float*>(slot_ws);
      const float* ag = packed + g * mpad_ * k_;
      if (mode_ == kDirect) {
        direct_task(xg, ag, m0, m1, n0, n1, yg, bg, buf, rc);
      } else if (mode_ == kPointwise) {
        auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, float* dst) {
          pack_b_rows<T>(xg, in_plane, k0, kc, pn0, nc, dst);
        };
        gemm_task<T>(kb_, ag, mpad_, m0, m1, n0, n1, pack, yg, npix_, bg, p_.relu, buf, rc);
      } else {
        auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, float* dst) {
          pack_b_im2col<T>(geom_, xg, k0, kc, pn0, nc, dst,
                           reinterpret_cast<ImTap*>(slot_ws + bbuf_bytes()), windowed_);
        };
        gemm_task<T>(kb_, ag, mpad_, m0, m1, n0, n1, pack, yg, npix_, bg, p_.relu, buf, rc);
      }
    });
  }
  const char* name() const override { return mode_ == kDirect ? T::kDirectName : T::kGemmName; }

 private:
  enum Mode { kPointwise, kIm2col, kDirect };
  // Direct blocking. A task covers about kDirectPixels output pixels (whole rows). Its K block
  // is whole channels, at most kDirectKc taps of them (the A panel, 14 x 2304 floats, streams
  // from L2), and at most kDirectBandBytes of band (read by every A panel, so kept in L2).
  // Measured on Zen 4 (3x3, 64..512 channels): one K block of up to 2304 beat blocks of 256
  // by 5-10%; the C tile, loaded and stored once per block, is what the larger blocks save.
  static constexpr int64_t kDirectPixels = 512;
  static constexpr int64_t kDirectKc = 2304;
  static constexpr int64_t kDirectBandBytes = int64_t(768) << 10;

  // Band rows [0, rows) of channels [c0, c0+nch) = input rows ih0 + r, zero-padded (see above).
  void fill_band(const float* xg, int64_t c0, int64_t nch, int64_t ih0, int64_t rows,
                 float* band) const {
    const int64_t w = p_.in_w, pl = p_.pad_l;
    for (int64_t ch = 0; ch < nch; ++ch) {
      const float* plane = xg + (c0 + ch) * p_.in_h * w;
      for (int64_t r = 0; r < rows; ++r) {
        float* d = band + ch * cstride_ + r * wp_;
        const int64_t ih = ih0 + r;
        if (ih < 0 || ih >= p_.in_h) {
          zero_floats<T>(d, wp_);
          continue;
        }
        zero_floats<T>(d, pl);
        copy_floats<T>(d + pl, plane + ih * w, w);
        zero_floats<T>(d + pl + w, wp_ - pl - w);
      }
    }
  }

  // Output channels [m0, m1) x output rows [oh0, oh1) of one image and group, direct.
  void direct_task(const float* xg, const float* ag, int64_t m0, int64_t m1, int64_t oh0,
                   int64_t oh1, float* yg, const float* bg, float* band,
                   const RunControl& rc) const {
    const int64_t ow = p_.out_w, sh = p_.stride_h;
    const int64_t rows = (oh1 - oh0 - 1) * sh + (p_.k_h - 1) * p_.dil_h + 1;
    const BandTaps bt{tap_off_.get(), kk_, cstride_};
    const bool k3x3 = p_.k_h == 3 && p_.k_w == 3;
    const Panels panels(ocg_, MR, true);
    for (int64_t b = 0; b < kb_.count; ++b) {
      if (rc.aborted()) return;
      const int64_t k0 = kb_.start(b), kc = kb_.len(b), c0 = k0 / kk_, nch = kc / kk_;
      fill_band(xg, c0, nch, oh0 * sh - p_.pad_t, rows, band);
      const int flags = (b > 0 ? kAccumulate : 0) | (p_.relu && b + 1 == kb_.count ? kRelu : 0);
      const float* ablock = ag + k0 * mpad_;
      // [m0, m1) is whole panels: m0 and the chunk size are multiples of MR.
      for (int64_t pi = m0 / MR; pi < ceil_div(m1, MR); ++pi) {
        const int64_t i = panels.start(pi);
        const int mr = panels.rows(pi);
        const ConvTileFn tile = k3x3 ? conv_tile_fn<T, 9>(mr) : conv_tile_fn<T, 0>(mr);
        const float* ap = ablock + pi * MR * kc;
        const float* bi = bg ? bg + i : nullptr;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const float* brow = band + (oh - oh0) * sh * wp_;
          float* crow = yg + i * npix_ + oh * ow;
          for (int64_t j = 0; j < ow; j += NR)
            tile(nch, bt, ap, brow + j, crow + j, npix_, int(min64(NR, ow - j)), bi, flags);
        }
      }
    }
  }

  size_t bbuf_bytes() const {
    if (mode_ == kDirect) return round_up_bytes(size_t(kb_.size / kk_ * cstride_) * sizeof(float));
    return round_up_bytes(size_t(kb_.size * nstep_) * sizeof(float));
  }
  size_t taps_bytes() const {
    if (mode_ != kIm2col) return 0;
    return round_up_bytes(size_t(NR * (windowed_ ? kb_.size : kk_)) * sizeof(ImTap));
  }
  size_t slot_bytes() const { return bbuf_bytes() + taps_bytes(); }
  Conv2dParams p_;
  int64_t icg_ = 0, ocg_ = 0, kk_ = 0, k_ = 0, npix_ = 0, mpad_ = 0, nstep_ = 0;
  KBlocks kb_;
  Mode mode_ = kIm2col;
  bool windowed_ = false;  // im2col: a tap table per K block (see pack_b_im2col)
  ConvGeom geom_{};
  // Direct: output rows per task, the band's row width and channel stride, and each tap's
  // offset in the band (raw array: see gemm_impl.h on sharing code between ISAs).
  int64_t rows_ = 1, wp_ = 0, cstride_ = 0;
  std::unique_ptr<int64_t[]> tap_off_;
};

// FCNKIT_WINOGRAD=0 turns the Winograd path off (to compare, or if its rounding matters).
inline bool winograd_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("FCNKIT_WINOGRAD");
    return !(v && v[0] == '0' && v[1] == 0);
  }();
  return on;
}

// ---- Winograd F(2x2, 3x3) ------------------------------------------------------------------
//
// 3x3 stride-1 convolutions with many channels: each 2x2 block of output ("tile") comes from a
// 4x4 block of input through Y = A^T [ (G g G^T) (.) (B^T d B) ] A, so a tile costs 16
// multiply-adds per (input, output) channel pair instead of 36. Per task (one image, NR tiles):
//   1. the input transform V = B^T d B of every channel and tile, written as 16 GEMM B panels
//      [channels][NR] (d is zero outside the image: the padding);
//   2. per MR output channels, the 16 GEMMs M_xi = U_xi . V_xi on the usual register tile, with
//      U_xi = (G g G^T)_xi packed once per plan like any conv's A panels;
//   3. the output transform Y = A^T M A, plus bias and ReLU, stored to the tile's 2x2 pixels.
// The transforms go by segments of a tile row: contiguous row arithmetic and stride-2 reads that
// the compiler vectorises. Measured on FCN-8s at 500x500 (2 threads, Zen 4), against the direct
// path: 64 -> 64 at 698x698 141 vs 184 ms, 128 -> 128 at 349x349 107 vs 168 ms, 256 -> 256 at
// 175x175 90 vs 179 ms, 512 -> 512 at 88x88 98 vs 186 ms. From 64 channels each side, then.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
template <class T>
class WinogradConv2dPlanX86 : public Conv2dPlan {  // (bf16_gemm_14x32__avx512bf16.cc derives its bf16 variant)
 public:
  static constexpr int MR = T::MR, NR = T::L * T::NV;

  explicit WinogradConv2dPlanX86(const Conv2dParams& p) : p_(p) {
    ic_ = p.in_c;
    oc_ = p.out_c;
    mpad_ = round_up(oc_, MR);
    th_ = ceil_div(p.out_h, 2);
    tw_ = ceil_div(p.out_w, 2);
    tiles_ = th_ * tw_;
    kb_ = KBlocks(ic_, T::KC);
  }

  // Its packed weights are 16/9 of the direct path's, a cost paid once per layer while the
  // saving grows with the image: small maps (the bottom of a U-Net, FCN's conv5 at 44x44; 1024
  // channels there are most of a U-Net's weights) stay direct.
  static constexpr int64_t kMinPixels = 64 * 64;

  // Where Winograd can run, and where it also pays.
  static bool applies(const Conv2dParams& p) { return winograd_applies(p); }
  // Its scratch per thread is 16 transformed input channels' panels: past the bound (tens of
  // thousands of channels) the direct or im2col path, with blocked K, runs instead.
  static bool suits(const Conv2dParams& p, const PlanLimits& limits) {
    return applies(p) && p.in_c >= 64 && p.out_c >= 64 && p.out_h * p.out_w >= kMinPixels &&
           double(16 * p.in_c * NR + 16 * MR * NR) * sizeof(float) <= double(limits.scratch_bytes);
  }

  size_t packed_weight_floats() const override { return size_t(16 * mpad_ * ic_); }
  void pack_weights(const float* w, float* packed) const override {
    // U_xi [oc][ic] for the 16 positions xi, then each packed as A panels.
    std::vector<float> u(size_t(16 * oc_ * ic_));
    for (int64_t o = 0; o < oc_; ++o) {
      for (int64_t c = 0; c < ic_; ++c) {
        const float* g = w + (o * ic_ + c) * 9;
        float t[4][3];  // G g
        for (int j = 0; j < 3; ++j) {
          const float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
          t[0][j] = g0;
          t[1][j] = 0.5f * (g0 + g1 + g2);
          t[2][j] = 0.5f * (g0 - g1 + g2);
          t[3][j] = g2;
        }
        for (int i = 0; i < 4; ++i) {  // (G g) G^T
          const float a = t[i][0], b = t[i][1], d = t[i][2];
          const float r[4] = {a, 0.5f * (a + b + d), 0.5f * (a - b + d), d};
          for (int j = 0; j < 4; ++j) u[size_t(((i * 4 + j) * oc_ + o) * ic_ + c)] = r[j];
        }
      }
    }
    for (int xi = 0; xi < 16; ++xi)
      pack_a_panels(u.data() + size_t(xi) * oc_ * ic_, ic_, 1, oc_, MR, kb_, packed + xi * mpad_ * ic_);
  }
  size_t workspace_bytes(int max_threads) const override {
    return 64 + size_t(slots_for(max_threads)) * slot_bytes();
  }

  void run(const float* x, const float* packed, const float* bias, float* y, void* workspace,
           const RunControl& rc) const override {
    if (p_.n <= 0 || tiles_ <= 0 || oc_ <= 0) return;
    const int64_t blocks = ceil_div(tiles_, NR);
    char* ws = static_cast<char*>(align64(workspace));
    for_each_task(rc, p_.n * blocks, [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t img = t / blocks, t0 = (t % blocks) * NR;
      const int nt = int(min64(NR, tiles_ - t0));
      float* v = reinterpret_cast<float*>(ws + size_t(slot) * slot_bytes());
      float* m = v + 16 * ic_ * NR;
      float* rows = m + 16 * MR * NR;
      input_transform(x + img * ic_ * p_.in_h * p_.in_w, t0, nt, v, rows);
      float* yi = y + img * oc_ * p_.out_h * p_.out_w;
      for (int64_t i = 0; i < oc_; i += MR) {
        const int mr = int(min64(MR, oc_ - i));
        const TileFn tile = tile_fn<T>(mr);
        for (int xi = 0; xi < 16; ++xi) {
          const float* u = packed + xi * mpad_ * ic_;
          const float* vx = v + xi * ic_ * NR;
          for (int64_t b = 0; b < kb_.count; ++b) {
            const int64_t k0 = kb_.start(b), kc = kb_.len(b);
            tile(kc, u + k0 * mpad_ + i * kc, vx + k0 * NR, m + xi * MR * NR, NR, nt, nullptr,
                 b > 0 ? kAccumulate : 0);
          }
        }
        output_transform(m, i, mr, t0, nt, bias, yi, rows);
      }
    });
  }
  const char* name() const override { return T::kWinogradName; }

 protected:
  // Scratch rows of a tile-row segment: 4 input rows + 4 transformed ones, 2*NR + 2 wide.
  static constexpr int kRowW = 2 * NR + 2;
  size_t slot_bytes() const {
    return round_up_bytes(size_t(16 * ic_ * NR + 16 * MR * NR + 8 * kRowW) * sizeof(float));
  }

  // v[xi][c][j] = (B^T d B)[xi] of channel c and tile t0 + j (j < nt; the rest zero). The tiles
  // go by segments of one tile row: the vertical half of the transform is then contiguous row
  // arithmetic, the horizontal half reads the rows at stride 2 (both vectorised by the compiler).
  void input_transform(const float* x, int64_t t0, int nt, float* v, float* rows) const {
    const int64_t h = p_.in_h, w = p_.in_w, plane = h * w, vstride = ic_ * NR;
    float* r4 = rows;             // 4 input rows of the segment, zero-padded
    float* e4 = rows + 4 * kRowW;  // B^T applied down the columns
    for (int j0 = 0; j0 < nt;) {
      const int64_t tile = t0 + j0, ty = tile / tw_, tx0 = tile % tw_;
      const int n = int(min64(nt - j0, tw_ - tx0));  // tiles in this row segment
      const int width = 2 * n + 2;
      const int64_t iy0 = ty * 2 - p_.pad_t, ix0 = tx0 * 2 - p_.pad_l;
      const int64_t lo = max64(0, -ix0), hi = min64(width, w - ix0);  // columns inside the image
      for (int64_t c = 0; c < ic_; ++c) {
        const float* xc = x + c * plane;
        for (int r = 0; r < 4; ++r) {
          float* d = r4 + r * kRowW;
          const int64_t iy = iy0 + r;
          if (iy < 0 || iy >= h || lo >= hi) {
            for (int q = 0; q < width; ++q) d[q] = 0.f;
            continue;
          }
          for (int64_t q = 0; q < lo; ++q) d[q] = 0.f;
          const float* row = xc + iy * w;
          for (int64_t q = lo; q < hi; ++q) d[q] = row[ix0 + q];
          for (int64_t q = hi; q < width; ++q) d[q] = 0.f;
        }
        const float *d0 = r4, *d1 = r4 + kRowW, *d2 = r4 + 2 * kRowW, *d3 = r4 + 3 * kRowW;
        float *e0 = e4, *e1 = e4 + kRowW, *e2 = e4 + 2 * kRowW, *e3 = e4 + 3 * kRowW;
        for (int q = 0; q < width; ++q) {
          e0[q] = d0[q] - d2[q];
          e1[q] = d1[q] + d2[q];
          e2[q] = d2[q] - d1[q];
          e3[q] = d1[q] - d3[q];
        }
        for (int r = 0; r < 4; ++r) {
          const float* e = e4 + r * kRowW;
          float* o0 = v + (r * 4) * vstride + c * NR + j0;
          float* o1 = o0 + vstride;
          float* o2 = o1 + vstride;
          float* o3 = o2 + vstride;
          for (int j = 0; j < n; ++j) {
            const float a = e[2 * j], b = e[2 * j + 1], cc = e[2 * j + 2], dd = e[2 * j + 3];
            o0[j] = a - cc;
            o1[j] = b + cc;
            o2[j] = cc - b;
            o3[j] = b - dd;
          }
        }
      }
      j0 += n;
    }
    if (nt < NR) {
      for (int xi = 0; xi < 16; ++xi)
        for (int64_t c = 0; c < ic_; ++c) zero_floats<T>(v + xi * vstride + c * NR + nt, NR - nt);
    }
  }

  // Output channels [o0, o0 + mr) of tiles [t0, t0 + nt) from m[xi][row][j]: A^T M A, plus bias
  // and ReLU, by tile-row segments as the input transform.
  void output_transform(const float* m, int64_t o0, int mr, int64_t t0, int nt, const float* bias,
                        float* y, float* rows) const {
    const int64_t oh = p_.out_h, ow = p_.out_w, plane = oh * ow;
    float* s4 = rows;  // A^T applied down the columns: 2 rows of 4 values per tile, [k][j]
    float* out = rows + 8 * NR;  // one output row pair of the segment, 2*NR wide each
    for (int r = 0; r < mr; ++r) {
      const float b = bias ? bias[o0 + r] : 0.f;
      float* yo = y + (o0 + r) * plane;
      const float* q = m + r * NR;  // q[xi * MR * NR + j]
      for (int j0 = 0; j0 < nt;) {
        const int64_t tile = t0 + j0, ty = tile / tw_, tx0 = tile % tw_;
        const int n = int(min64(nt - j0, tw_ - tx0));
        for (int col = 0; col < 4; ++col) {
          const float* q0 = q + (0 * 4 + col) * MR * NR + j0;
          const float* q1 = q + (1 * 4 + col) * MR * NR + j0;
          const float* q2 = q + (2 * 4 + col) * MR * NR + j0;
          const float* q3 = q + (3 * 4 + col) * MR * NR + j0;
          float* sa = s4 + col * NR;
          float* sb = s4 + (4 + col) * NR;
          for (int j = 0; j < n; ++j) {
            sa[j] = q0[j] + q1[j] + q2[j];
            sb[j] = q1[j] - q2[j] - q3[j];
          }
        }
        const int64_t y0 = ty * 2, x0 = tx0 * 2;
        const int64_t cols = min64(2 * n, ow - x0);
        for (int a = 0; a < 2; ++a) {
          if (y0 + a >= oh) break;
          const float* s0 = s4 + (a * 4 + 0) * NR;
          const float* s1 = s4 + (a * 4 + 1) * NR;
          const float* s2 = s4 + (a * 4 + 2) * NR;
          const float* s3 = s4 + (a * 4 + 3) * NR;
          for (int j = 0; j < n; ++j) {
            out[2 * j] = s0[j] + s1[j] + s2[j] + b;
            out[2 * j + 1] = s1[j] - s2[j] - s3[j] + b;
          }
          if (p_.relu) {
            for (int64_t e = 0; e < cols; ++e) out[e] = out[e] < 0.f ? 0.f : out[e];  // NaN stays
          }
          float* dst = yo + (y0 + a) * ow + x0;
          for (int64_t e = 0; e < cols; ++e) dst[e] = out[e];
        }
        j0 += n;
      }
    }
  }

  Conv2dParams p_;
  int64_t ic_ = 0, oc_ = 0, mpad_ = 0, th_ = 0, tw_ = 0, tiles_ = 0;
  KBlocks kb_;
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

// The plan for p: depthwise direct where it applies, the packed GEMM otherwise. kWinograd: the
// caller (plans.cc) has checked winograd_applies(p).
template <class T>
std::unique_ptr<Conv2dPlan> make_conv2d_plan_t(const Conv2dParams& p, ConvAlgo algo, const PlanLimits& limits) {
  if (algo == ConvAlgo::kWinograd) return std::make_unique<WinogradConv2dPlanX86<T>>(p);
  if (p.groups == p.in_c && p.groups == p.out_c && p.stride_w == 1)
    return std::make_unique<DwConv2dPlanX86<T>>(p);
  if (WinogradConv2dPlanX86<T>::suits(p, limits) && winograd_enabled())
    return std::make_unique<WinogradConv2dPlanX86<T>>(p);
  return std::make_unique<Conv2dPlanX86<T>>(p, limits);
}

}  // namespace FCN_X86_ISA
}  // namespace fcn
