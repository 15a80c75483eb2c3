// The bfloat16 packed GEMM for AVX512-BF16, and the Conv2dPlan / GemmPlan over it.
//
// vdpbf16ps adds to each fp32 lane the two products of a bf16 pair: acc[j] += a0*b0[j] +
// a1*b1[j]. So both operands are packed in K pairs:
//   packed A  per K block [k0, k0+kc) (k0 even): ceil(M/MR) panels of [kp][MR][2] bfloat16 at
//             k0*Mpad + p*MR*kp*2 (in bfloat16 units), kp = ceil(kc/2); element (r, k) at
//             ((k/2)*MR + r)*2 + k%2. Rows past M and an odd K's last pair half are zero.
//             Rounded (to nearest even) and packed once: the weights.
//   packed B  per K block: NR-column panels of [kp][NR][2] bfloat16, the one of columns
//             [j, j+NR) at j*kp*2; each 32-bit lane a (k, k+1) pair of one column. Converted from
//             fp32 per call (vcvtne2ps2bf16 + a vpermw interleave): from the input rows (GEMM,
//             1x1 convolutions) or from an fp32 im2col panel staged in L1 (conv_impl.h's packer).
// The register tile is the fp32 one (14 rows x 32 columns, 28 zmm accumulators): one
// vdpbf16ps per accumulator per K pair, the A pair broadcast from memory. Bias and ReLU are
// applied in fp32 by the fp32 tile's epilogue (gemm_impl.h).
#define FCN_X86_ISA avx512bf16
#include "kernels/x86/avx512bf16/vec_avx512bf16.h"
#include "kernels/x86/conv_impl.h"
#include "kernels/x86/avx512bf16/bf16_kernels.h"
#include "kernels/bf16.h"

namespace fcn {
namespace avx512bf16 {
namespace {

using T = Vec;
constexpr int MR = T::MR, NR = T::L * T::NV;
// Columns per N chunk: KC x 256 bfloat16 of packed B = 512 KiB, half a Zen 4 core's L2.
constexpr int64_t kNcBf16 = 256;
// im2col rows staged in fp32 per conversion: 64 x NR floats = 8 KiB, in L1.
constexpr int64_t kStageRows = 64;

// K blocks whose starts are even (every block but the last has an even length).
KBlocks pair_blocks(int64_t k, int64_t kc_max) {
  KBlocks kb(k, kc_max);
  if (kb.count > 0) {
    kb.size = round_up(kb.size, 2);
    kb.count = ceil_div(k, kb.size);
  }
  return kb;
}

inline int64_t pairs(int64_t kc) { return (kc + 1) / 2; }

inline int64_t n_step_bf16(int64_t n) {
  return n > 0 ? round_up(ceil_div(n, ceil_div(n, kNcBf16)), NR) : NR;
}

// See the layout above. a: element (i, k) at a[i*lda + k].
void pack_a_pairs(const float* a, int64_t lda, int64_t m, const KBlocks& kb, uint16_t* dst) {
  const int64_t mpad = round_up(m, MR);
  for (int64_t b = 0; b < kb.count; ++b) {
    const int64_t k0 = kb.start(b), kc = kb.len(b), kp = pairs(kc);
    uint16_t* blk = dst + k0 * mpad;
    for (int64_t i = 0; i < m; i += MR) {
      const int64_t rows = min64(MR, m - i);
      uint16_t* d = blk + i * kp * 2;
      for (int64_t q = 0; q < kp; ++q)
        for (int r = 0; r < MR; ++r)
          for (int e = 0; e < 2; ++e) {
            const int64_t k = 2 * q + e;
            d[(q * MR + r) * 2 + e] = r < rows && k < kc ? bf16_bits(a[(i + r) * lda + k0 + k]) : 0;
          }
    }
  }
}

// 32 bfloat16 = 16 (lo[j], hi[j]) pairs, rounded to nearest even.
inline __m512i pair_lanes(__m512 lo, __m512 hi, __m512i interleave) {
  const __m512bh t = _mm512_cvtne2ps_pbh(hi, lo);  // words 0-15: lo, 16-31: hi
  return _mm512_permutexvar_epi16(interleave, reinterpret_cast<const __m512i&>(t));
}

inline __m512i interleave_index() {
  alignas(64) int16_t idx[32];
  for (int j = 0; j < 16; ++j) {
    idx[2 * j] = int16_t(j);
    idx[2 * j + 1] = int16_t(16 + j);
  }
  return _mm512_load_si512(idx);
}

inline __m512 load_lanes(const float* p, int lanes) {
  return lanes >= 16 ? _mm512_loadu_ps(p)
         : lanes > 0 ? _mm512_maskz_loadu_ps(T::mask(lanes), p)
                     : _mm512_setzero_ps();
}

// Rows [k0, k0+kc) x columns [n0, n0+nc) of a row-major fp32 B into NR-column bf16 pair panels
// (columns past nc and the odd row's partner are zero).
void pack_b_pairs_rows(const float* b, int64_t ldb, int64_t k0, int64_t kc, int64_t n0,
                       int64_t nc, uint16_t* dst) {
  const __m512i idx = interleave_index();
  const int64_t kp = pairs(kc);
  for (int64_t j = 0; j < nc; j += NR) {
    const int jn = int(min64(NR, nc - j));
    uint16_t* d = dst + j * kp * 2;
    const float* r0 = b + k0 * ldb + n0 + j;
    for (int64_t q = 0; q < kp; ++q, r0 += 2 * ldb, d += 2 * NR) {
      const bool odd = 2 * q + 1 >= kc;
      for (int v = 0; v < T::NV; ++v) {
        const int lanes = jn - v * 16;
        const __m512 lo = load_lanes(r0 + v * 16, lanes);
        const __m512 hi = odd ? _mm512_setzero_ps() : load_lanes(r0 + ldb + v * 16, lanes);
        _mm512_storeu_si512(d + v * 32, pair_lanes(lo, hi, idx));
      }
    }
  }
}

// One MRr x NR tile of C from an A panel [kp][MR][2] and a B panel [kp][NR][2].
template <int MRr>
void bf16_gemm_tile(int64_t kp, const uint16_t* __restrict a, const uint16_t* __restrict b,
                    float* __restrict c, int64_t ldc, int n_valid, const float* bias, int flags) {
  __m512 acc[MRr][T::NV];
  tile_begin<T, MRr>(acc, c, ldc, n_valid, bias, flags);
#pragma GCC unroll 2
  for (int64_t q = 0; q < kp; ++q) {
    const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 32);
#pragma GCC unroll 16
    for (int r = 0; r < MRr; ++r) {
      int32_t pair;
      __builtin_memcpy(&pair, a + 2 * r, 4);
      const __m512i ar = _mm512_set1_epi32(pair);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], reinterpret_cast<const __m512bh&>(ar),
                                   reinterpret_cast<const __m512bh&>(b0));
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], reinterpret_cast<const __m512bh&>(ar),
                                   reinterpret_cast<const __m512bh&>(b1));
    }
    a += 2 * MR;
    b += 2 * NR;
  }
  tile_end<T, MRr>(acc, c, ldc, n_valid, flags);
}

using Bf16TileFn = void (*)(int64_t, const uint16_t*, const uint16_t*, float*, int64_t, int,
                            const float*, int);

template <int R = MR>
Bf16TileFn bf16_tile_fn(int rows) {
  if constexpr (R == 1) {
    return &bf16_gemm_tile<1>;
  } else {
    return rows == R ? &bf16_gemm_tile<R> : bf16_tile_fn<R - 1>(rows);
  }
}

// C[m0:m1, n0:n1] = bias + A.B (relu) for one task, as gemm_impl.h's gemm_task.
template <class PackB>
void bf16_gemm_task(const KBlocks& kb, const uint16_t* a_packed, int64_t mpad, int64_t m0,
                    int64_t m1, int64_t n0, int64_t n1, const PackB& pack_b, float* c,
                    int64_t ldc, const float* bias, bool relu, uint16_t* bbuf,
                    const RunControl& rc) {
  const int64_t nc = n1 - n0;
  for (int64_t b = 0; b < kb.count; ++b) {
    if (rc.aborted()) return;
    const int64_t k0 = kb.start(b), kc = kb.len(b), kp = pairs(kc);
    pack_b(k0, kc, n0, nc, bbuf);
    const int flags = (b > 0 ? kAccumulate : 0) | (relu && b + 1 == kb.count ? kRelu : 0);
    const uint16_t* ablock = a_packed + k0 * mpad;
    for (int64_t i = m0; i < m1; i += MR) {
      const Bf16TileFn tile = bf16_tile_fn(int(min64(MR, m1 - i)));
      const uint16_t* ap = ablock + i * kp * 2;
      const float* bi = bias ? bias + i : nullptr;
      float* ci = c + i * ldc + n0;
      for (int64_t j = 0; j < nc; j += NR)
        tile(kp, ap, bbuf + j * kp * 2, ci + j, ldc, int(min64(NR, nc - j)), bi, flags);
    }
  }
}

class Bf16Conv2dPlan final : public Conv2dPlan {
 public:
  explicit Bf16Conv2dPlan(const Conv2dParams& p) : p_(p) {
    icg_ = p.in_c / p.groups;
    ocg_ = p.out_c / p.groups;
    kk_ = p.k_h * p.k_w;
    k_ = icg_ * kk_;
    kpad_ = round_up(k_, 2);
    npix_ = p.out_h * p.out_w;
    mpad_ = round_up(ocg_, MR);
    pointwise_ = kk_ == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_t == 0 &&
                 p.pad_l == 0 && p.pad_b == 0 && p.pad_r == 0;
    kb_ = pair_blocks(k_, T::KC);
    nstep_ = n_step_bf16(npix_);
    windowed_ = kk_ > kStageRows;  // the tap table then covers one staged chunk of K rows
    geom_ = {p.in_h, p.in_w, p.out_w, p.k_h, p.k_w, p.stride_h, p.stride_w,
             p.dil_h, p.dil_w, p.pad_t, p.pad_l};
  }

  size_t packed_weight_floats() const override { return size_t(p_.groups * mpad_ * kpad_ / 2); }
  void pack_weights(const float* w, float* packed) const override {
    uint16_t* dst = reinterpret_cast<uint16_t*>(packed);
    for (int64_t g = 0; g < p_.groups; ++g)
      pack_a_pairs(w + g * ocg_ * k_, k_, ocg_, kb_, dst + g * mpad_ * kpad_);
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
    const uint16_t* wpacked = reinterpret_cast<const uint16_t*>(packed);
    for_each_task(rc, grid.count(), [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t ni = t % grid.nch, mi = (t / grid.nch) % grid.mch,
                    o = t / (grid.nch * grid.mch);
      const int64_t img = o / p_.groups, g = o % p_.groups;
      const int64_t m0 = mi * grid.mstep, m1 = min64(ocg_, m0 + grid.mstep);
      const int64_t n0 = ni * grid.nstep, n1 = min64(npix_, n0 + grid.nstep);
      const float* xg = x + (img * p_.in_c + g * icg_) * in_plane;
      float* yg = y + (img * p_.out_c + g * ocg_) * npix_;
      const float* bg = bias ? bias + g * ocg_ : nullptr;
      char* slot_ws = ws + size_t(slot) * slot_bytes();
      uint16_t* bbuf = reinterpret_cast<uint16_t*>(slot_ws);
      const uint16_t* ag = wpacked + g * mpad_ * kpad_;
      if (pointwise_) {
        auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, uint16_t* dst) {
          pack_b_pairs_rows(xg, in_plane, k0, kc, pn0, nc, dst);
        };
        bf16_gemm_task(kb_, ag, mpad_, m0, m1, n0, n1, pack, yg, npix_, bg, p_.relu, bbuf, rc);
      } else {
        float* stage = reinterpret_cast<float*>(slot_ws + bbuf_bytes());
        ImTap* taps = reinterpret_cast<ImTap*>(slot_ws + bbuf_bytes() + stage_bytes());
        auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, uint16_t* dst) {
          const int64_t kp = pairs(kc);
          for (int64_t j = 0; j < nc; j += NR) {
            const int64_t jn = min64(NR, nc - j);
            uint16_t* d = dst + j * kp * 2;
            for (int64_t s = 0; s < kc; s += kStageRows) {
              const int64_t ks = min64(kStageRows, kc - s);
              pack_b_im2col<T>(geom_, xg, k0 + s, ks, pn0 + j, jn, stage, taps, windowed_);
              pack_b_pairs_rows(stage, NR, 0, ks, 0, NR, d + s * NR);
            }
          }
        };
        bf16_gemm_task(kb_, ag, mpad_, m0, m1, n0, n1, pack, yg, npix_, bg, p_.relu, bbuf, rc);
      }
    });
  }
  const char* name() const override { return T::kGemmName; }

 private:
  size_t bbuf_bytes() const { return round_up_bytes(size_t(round_up(kb_.size, 2) * nstep_) * 2); }
  size_t stage_bytes() const {
    return pointwise_ ? 0 : round_up_bytes(size_t(kStageRows * NR) * sizeof(float));
  }
  size_t taps_bytes() const {
    return pointwise_ ? 0 : round_up_bytes(size_t(NR * (windowed_ ? kStageRows : kk_)) * sizeof(ImTap));
  }
  size_t slot_bytes() const { return bbuf_bytes() + stage_bytes() + taps_bytes(); }

  Conv2dParams p_;
  int64_t icg_ = 0, ocg_ = 0, kk_ = 0, k_ = 0, kpad_ = 0, npix_ = 0, mpad_ = 0, nstep_ = 0;
  bool pointwise_ = false, windowed_ = false;
  KBlocks kb_;
  ConvGeom geom_{};
};

// Winograd F(2x2, 3x3) (conv_impl.h) with its 16 GEMMs in bf16: U = G g G^T computed in fp32
// by the fp32 plan, then rounded and packed in pairs; each task's V = B^T d B (fp32) converted to
// bf16 pair panels; the output transform, bias and ReLU in fp32. Where the fp32 plan would take
// Winograd, so does this one: it halves the products again, which im2col cannot match. Its
// rounding differs from the twin's (U and V are rounded, not w and x): kernel_test holds it to
// the bf16 level against the fp32 twin.
class Bf16WinogradPlan final : public WinogradConv2dPlanX86<T> {
  using Base = WinogradConv2dPlanX86<T>;

 public:
  explicit Bf16WinogradPlan(const Conv2dParams& p)
      : Base(p), kb16_(pair_blocks(p.in_c, T::KC)), icpad_(round_up(p.in_c, 2)) {}

  size_t packed_weight_floats() const override { return size_t(16 * this->mpad_ * icpad_ / 2); }
  void pack_weights(const float* w, float* packed) const override {
    const int64_t ic = this->ic_, oc = this->oc_, mpad = this->mpad_;
    std::vector<float> u32(Base::packed_weight_floats()), u(size_t(oc * ic));
    Base::pack_weights(w, u32.data());
    uint16_t* dst = reinterpret_cast<uint16_t*>(packed);
    for (int xi = 0; xi < 16; ++xi) {
      // Unpack position xi's U [oc][ic] from the fp32 A panels (gemm_impl.h's layout).
      const float* src = u32.data() + xi * mpad * ic;
      for (int64_t b = 0; b < this->kb_.count; ++b) {
        const int64_t k0 = this->kb_.start(b), kc = this->kb_.len(b);
        for (int64_t o = 0; o < oc; ++o)
          for (int64_t k = 0; k < kc; ++k)
            u[size_t(o * ic + k0 + k)] = src[k0 * mpad + (o / MR) * MR * kc + k * MR + o % MR];
      }
      pack_a_pairs(u.data(), ic, oc, kb16_, dst + xi * mpad * icpad_);
    }
  }
  size_t workspace_bytes(int max_threads) const override {
    return 64 + size_t(slots_for(max_threads)) * slot16_bytes();
  }

  void run(const float* x, const float* packed, const float* bias, float* y, void* workspace,
           const RunControl& rc) const override {
    const Conv2dParams& p = this->p_;
    const int64_t ic = this->ic_, oc = this->oc_, mpad = this->mpad_, tiles = this->tiles_;
    if (p.n <= 0 || tiles <= 0 || oc <= 0) return;
    const int64_t blocks = ceil_div(tiles, NR);
    char* ws = static_cast<char*>(align64(workspace));
    const uint16_t* u16 = reinterpret_cast<const uint16_t*>(packed);
    for_each_task(rc, p.n * blocks, [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t img = t / blocks, t0 = (t % blocks) * NR;
      const int nt = int(min64(NR, tiles - t0));
      char* s = ws + size_t(slot) * slot16_bytes();
      float* v = reinterpret_cast<float*>(s);
      float* m = v + 16 * ic * NR;
      float* rows = m + 16 * MR * NR;
      uint16_t* v16 = reinterpret_cast<uint16_t*>(s + Base::slot_bytes());
      this->input_transform(x + img * ic * p.in_h * p.in_w, t0, nt, v, rows);
      for (int xi = 0; xi < 16; ++xi)
        pack_b_pairs_rows(v + xi * ic * NR, NR, 0, ic, 0, NR, v16 + xi * icpad_ * NR);
      float* yi = y + img * oc * p.out_h * p.out_w;
      for (int64_t i = 0; i < oc; i += MR) {
        const int mr = int(min64(MR, oc - i));
        const Bf16TileFn tile = bf16_tile_fn(mr);
        for (int xi = 0; xi < 16; ++xi) {
          const uint16_t* u = u16 + xi * mpad * icpad_;
          const uint16_t* vx = v16 + xi * icpad_ * NR;
          for (int64_t b = 0; b < kb16_.count; ++b) {
            const int64_t k0 = kb16_.start(b), kp = pairs(kb16_.len(b));
            tile(kp, u + k0 * mpad + i * kp * 2, vx + k0 * NR, m + xi * MR * NR, NR, nt, nullptr,
                 b > 0 ? kAccumulate : 0);
          }
        }
        this->output_transform(m, i, mr, t0, nt, bias, yi, rows);
      }
    });
  }

 private:
  size_t slot16_bytes() const {
    return Base::slot_bytes() + round_up_bytes(size_t(16 * icpad_ * NR) * 2);
  }
  KBlocks kb16_;
  int64_t icpad_;
};

class Bf16GemmPlan final : public GemmPlan {
 public:
  Bf16GemmPlan(int64_t m, int64_t n, int64_t k)
      : m_(m), n_(n), k_(k), kpad_(round_up(k, 2)), mpad_(round_up(m, MR)),
        kb_(pair_blocks(k, T::KC)), nstep_(n_step_bf16(n)) {}

  size_t packed_a_floats() const override { return size_t(mpad_ * kpad_ / 2); }
  void pack_a(const float* a, int64_t lda, float* packed) const override {
    pack_a_pairs(a, lda, m_, kb_, reinterpret_cast<uint16_t*>(packed));
  }
  size_t workspace_bytes(int max_threads) const override {
    return 64 + size_t(slots_for(max_threads)) * slot_bytes();
  }
  void run(const float* packed_a, const float* b, int64_t ldb, const float* bias, bool relu,
           float* c, int64_t ldc, void* workspace, const RunControl& rc) const override {
    if (m_ <= 0 || n_ <= 0) return;
    const TaskGrid g = make_grid(1, m_, n_, nstep_, MR, threads_for(rc, ceil_div(n_, nstep_) * 4));
    char* ws = static_cast<char*>(align64(workspace));
    const uint16_t* ap = reinterpret_cast<const uint16_t*>(packed_a);
    for_each_task(rc, g.count(), [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t mi = t / g.nch, ni = t % g.nch;
      const int64_t m0 = mi * g.mstep, m1 = min64(m_, m0 + g.mstep);
      const int64_t n0 = ni * g.nstep, n1 = min64(n_, n0 + g.nstep);
      if (k_ == 0) {
        fill_bias_rows<T>(c, ldc, m0, m1, n0, n1, bias, relu);
        return;
      }
      uint16_t* bbuf = reinterpret_cast<uint16_t*>(ws + size_t(slot) * slot_bytes());
      auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, uint16_t* dst) {
        pack_b_pairs_rows(b, ldb, k0, kc, pn0, nc, dst);
      };
      bf16_gemm_task(kb_, ap, mpad_, m0, m1, n0, n1, pack, c, ldc, bias, relu, bbuf, rc);
    });
  }
  const char* name() const override { return T::kGemmName; }

 private:
  size_t slot_bytes() const { return round_up_bytes(size_t(round_up(kb_.size, 2) * nstep_) * 2); }
  int64_t m_, n_, k_, kpad_, mpad_;
  KBlocks kb_;
  int64_t nstep_;
};

}  // namespace

std::unique_ptr<Conv2dPlan> make_conv2d_plan(const Conv2dParams& p) {
  if (WinogradConv2dPlanX86<T>::suits(p, PlanLimits()) && winograd_enabled())
    return std::make_unique<Bf16WinogradPlan>(p);
  return std::make_unique<Bf16Conv2dPlan>(p);
}

std::unique_ptr<GemmPlan> make_gemm_plan(int64_t m, int64_t n, int64_t k) {
  return std::make_unique<Bf16GemmPlan>(m, n, k);
}

}  // namespace avx512bf16
}  // namespace fcn
