// The packed, register-tiled SGEMM shared by every x86 ISA: the microkernel, the packers,
// the cache-blocked driver and GemmPlan. Written once over a vector-traits struct T
// (avx2/vec_avx2.h, avx512/vec_avx512.h) and compiled once per ISA.
//
// The including translation unit defines FCN_X86_ISA to its ISA's namespace name. Everything
// here lives in fcn::FCN_X86_ISA, so even a non-template helper gets one symbol per ISA and the
// linker can never fold an AVX-512 copy into the AVX2 path (or an AVX2 copy into baseline code).
// For the same reason this code avoids std containers and algorithms, whose instantiations
// would be shared between translation units built with different flags.
//
// Layouts (MR, NR = T::MR, T::L * T::NV):
//   packed A  per K block [k0, k0+kc): ceil(M/MR) panels of [kc][MR] at offset k0*Mpad + i*kc
//             for the panel of rows [i, i+MR); rows past M are zero. Packed once (weights).
//   packed B  per K block: panels of [kc][NR], the one of columns [j, j+NR) at j*kc; columns
//             past N are zero. Built per call from the input.
#pragma once

#ifndef FCN_X86_ISA
#error "define FCN_X86_ISA to the ISA namespace (avx2, avx512) before including gemm_impl.h"
#endif

#include <cstdint>
#include <cstring>
#include <memory>

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace fcn {
namespace FCN_X86_ISA {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
inline size_t round_up_bytes(size_t n) { return (n + 63) & ~size_t(63); }
inline void* align64(void* p) {
  return reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}
// p + off for an offset that may point outside the buffer; only masked-off lanes are ever
// addressed there, and integer arithmetic keeps the pointer maths defined.
inline const float* offset_ptr(const float* p, int64_t off) {
  return reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(p) +
                                        static_cast<uintptr_t>(off * int64_t(sizeof(float))));
}

// K block: T::KC (per ISA, see the traits). A C tile is loaded and stored once per K block, and
// for a large M (the 1x1 4096 and 7x7 512 FCN layers) C does not stay in L2 between blocks, so
// fewer, longer blocks win as long as the A micro-panel (MR x KC) streams well from L2.
// N block: at KC 256, KC x NC floats of packed B = 512 KiB, half the 1 MiB L2 of a Zen 4 core.
constexpr int64_t kNc = 512;

// [0, k) cut into `count` blocks of `size` (the last one shorter): balanced, so that no block is
// a sliver, and fixed per plan, so the summation order never depends on the thread count.
struct KBlocks {
  int64_t k = 0, count = 0, size = 0;
  KBlocks() = default;
  KBlocks(int64_t k_, int64_t kc_max) : k(k_) {
    count = k > 0 ? ceil_div(k, kc_max) : 0;
    size = count > 0 ? ceil_div(k, count) : 0;
  }
  // Blocks of whole `unit`s of K (k a multiple of unit): a direct convolution's K block holds
  // whole input channels (unit = kh*kw taps).
  KBlocks(int64_t k_, int64_t kc_max, int64_t unit) : KBlocks(k_ / unit, max64(1, kc_max / unit)) {
    k = k_;
    size *= unit;
  }
  int64_t start(int64_t b) const { return b * size; }
  int64_t len(int64_t b) const { return min64(size, k - b * size); }
};

// Which rows of A each of the ceil(m / mr) panels holds. Packed: panel p holds rows
// [p*mr, p*mr + mr), the last one short. Balanced: the same panels with their rows spread evenly
// (a 128-row M at mr 14 becomes 8 panels of 13 rows and 2 of 12, not 9 of 14 and one of 2 whose
// tile is mostly overhead). Either way panel p sits at p*mr*kc in its K block.
struct Panels {
  int64_t m = 0, count = 0;
  int mr = 1;
  bool balanced = false;
  Panels(int64_t m_, int mr_, bool balanced_)
      : m(m_), count(ceil_div(m_, mr_)), mr(mr_), balanced(balanced_) {}
  int64_t start(int64_t p) const { return balanced ? p * m / count : min64(m, p * mr); }
  int rows(int64_t p) const { return int(start(p + 1) - start(p)); }
};

// ---- threading -----------------------------------------------------------------------------

// Slots a run may use: what workspace_bytes(max_threads) provided for.
inline int slots_for(int max_threads) {
  return max_threads > 0 ? max_threads : ThreadPool::global().num_threads();
}
// Threads a run will use for n tasks (no pool: the caller's thread alone).
inline int threads_for(const RunControl& rc, int64_t n) {
  return rc.pool ? rc.pool->threads_for(n, slots_for(rc.max_threads)) : 1;
}
template <class Fn>
void for_each_task(const RunControl& rc, int64_t n, const Fn& fn) {
  if (!rc.pool || threads_for(rc, n) <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  rc.pool->parallel_for(n, slots_for(rc.max_threads), fn);
}

// ---- microkernel ---------------------------------------------------------------------------

enum TileFlags : int {
  kAccumulate = 1,  // C += A.B (a later K block); otherwise C = bias + A.B
  kRelu = 2,        // the last K block: clamp at 0 before the store
};

// The register tile's three phases, shared by every microkernel over it (the GEMM tile below,
// conv_impl.h's direct convolution tile): start the accumulators, add one rank-1 update per k,
// finish. Register tile: acc[r][v] holds row r, columns [v*L, v*L+L). Only the first n_valid
// columns of C are read or written, with masked vectors, so a tail never touches memory past
// the caller's row.
#define FCN_TILE_INLINE inline __attribute__((always_inline))

template <class T, int MRr>
FCN_TILE_INLINE void tile_begin(typename T::V (&acc)[MRr][T::NV], const float* c, int64_t ldc,
                                int n_valid, const float* bias, int flags) {
  constexpr int L = T::L, NV = T::NV;
  if (flags & kAccumulate) {
#pragma GCC unroll 16
    for (int r = 0; r < MRr; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const int lanes = n_valid - v * L;
        const float* p = c + r * ldc + v * L;
        acc[r][v] = lanes >= L ? T::loadu(p)
                    : lanes > 0 ? T::maskz_loadu(p, T::mask(lanes))
                                : T::zero();
      }
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < MRr; ++r) {
      const typename T::V init = bias ? T::set1(bias[r]) : T::zero();
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = init;
    }
  }
}

// acc += a[0, MRr) (outer) b[0, NR).
template <class T, int MRr>
FCN_TILE_INLINE void tile_step(typename T::V (&acc)[MRr][T::NV], const float* __restrict a,
                               const float* __restrict b) {
  constexpr int L = T::L, NV = T::NV;
  typename T::V bv[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) bv[v] = T::loadu(b + v * L);
#pragma GCC unroll 16
  for (int r = 0; r < MRr; ++r) {
    const typename T::V ar = T::set1(a[r]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = T::fmadd(ar, bv[v], acc[r][v]);
  }
}

template <class T, int MRr>
FCN_TILE_INLINE void tile_end(typename T::V (&acc)[MRr][T::NV], float* c, int64_t ldc,
                              int n_valid, int flags) {
  constexpr int L = T::L, NV = T::NV, NR = L * NV;
  if (flags & kRelu) {
#pragma GCC unroll 16
    for (int r = 0; r < MRr; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = T::relu(acc[r][v]);
  }
  if (n_valid >= NR) {
#pragma GCC unroll 16
    for (int r = 0; r < MRr; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) T::storeu(c + r * ldc + v * L, acc[r][v]);
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < MRr; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const int lanes = n_valid - v * L;
        float* p = c + r * ldc + v * L;
        if (lanes >= L) T::storeu(p, acc[r][v]);
        else if (lanes > 0) T::mask_storeu(p, T::mask(lanes), acc[r][v]);
      }
  }
}

// One MRr x NR tile of C from an A panel [kc][MR] and a B panel [kc][NR]. MRr <= MR rows are
// computed (M tails cost what they compute).
template <class T, int MRr>
void f32_gemm_tile(int64_t kc, const float* __restrict a, const float* __restrict b,
                   float* __restrict c, int64_t ldc, int n_valid, const float* bias, int flags) {
  constexpr int MR = T::MR, NR = T::L * T::NV;
  typename T::V acc[MRr][T::NV];
  tile_begin<T, MRr>(acc, c, ldc, n_valid, bias, flags);
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    tile_step<T, MRr>(acc, a, b);
    a += MR;
    b += NR;
  }
  tile_end<T, MRr>(acc, c, ldc, n_valid, flags);
}

using TileFn = void (*)(int64_t, const float*, const float*, float*, int64_t, int, const float*,
                        int);

// The tile for `rows` (1..MR) rows.
template <class T, int R = T::MR>
TileFn tile_fn(int rows) {
  if constexpr (R == 1) {
    return &f32_gemm_tile<T, 1>;
  } else {
    return rows == R ? &f32_gemm_tile<T, R> : tile_fn<T, R - 1>(rows);
  }
}

// ---- packing -------------------------------------------------------------------------------

// d[0, n) = 0.
template <class T>
inline void zero_floats(float* d, int64_t n) {
  constexpr int L = T::L;
  int64_t i = 0;
  for (; i + L <= n; i += L) T::storeu(d + i, T::zero());
  if (i < n) T::mask_storeu(d + i, T::mask(int(n - i)), T::zero());
}

// d[0, n) = s[0, n).
template <class T>
inline void copy_floats(float* d, const float* s, int64_t n) {
  constexpr int L = T::L;
  int64_t i = 0;
  for (; i + L <= n; i += L) T::storeu(d + i, T::loadu(s + i));
  if (i < n) {
    const typename T::Mask m = T::mask(int(n - i));
    T::mask_storeu(d + i, m, T::maskz_loadu(s + i, m));
  }
}

// Packs A (element (i, k) at a[i*rs + k*cs]) into MR-row panels per K block; see the layout at
// the top and Panels. Weights use (rs, cs) = (lda, 1); a transposed input, (1, ld).
inline void pack_a_panels(const float* a, int64_t rs, int64_t cs, int64_t m, int mr,
                          const KBlocks& kb, float* dst, bool balanced = false, int64_t p0 = 0,
                          int64_t p1 = -1) {
  const int64_t mpad = round_up(m, mr);
  const Panels panels(m, mr, balanced);
  if (p1 < 0 || p1 > panels.count) p1 = panels.count;
  for (int64_t b = 0; b < kb.count; ++b) {
    const int64_t k0 = kb.start(b), kc = kb.len(b);
    float* blk = dst + k0 * mpad;
    for (int64_t p = p0; p < p1; ++p) {
      float* d = blk + p * mr * kc;
      const int64_t i = panels.start(p);
      const int rows = panels.rows(p);
      for (int64_t k = 0; k < kc; ++k, d += mr) {
        const float* s = a + i * rs + (k0 + k) * cs;
        int r = 0;
        for (; r < rows; ++r) d[r] = s[r * rs];
        for (; r < mr; ++r) d[r] = 0.f;
      }
    }
  }
}

// Packs rows [k0, k0+kc) x columns [n0, n0+nc) of a row-major B (leading dimension ldb) into
// NR-column panels: the GEMM operand, and a 1x1 stride-1 unpadded convolution's input as is.
template <class T>
void pack_b_rows(const float* b, int64_t ldb, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                 float* dst) {
  constexpr int L = T::L, NV = T::NV, NR = L * NV;
  for (int64_t j = 0; j < nc; j += NR) {
    const int64_t jn = min64(NR, nc - j);
    float* d = dst + j * kc;
    const float* s = b + k0 * ldb + n0 + j;
    if (jn == NR) {
      for (int64_t k = 0; k < kc; ++k, d += NR, s += ldb) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) T::storeu(d + v * L, T::loadu(s + v * L));
      }
    } else {
      for (int64_t k = 0; k < kc; ++k, d += NR, s += ldb) {
        copy_floats<T>(d, s, jn);
        zero_floats<T>(d + jn, NR - jn);
      }
    }
  }
}

// ---- driver --------------------------------------------------------------------------------

// How a run's work is cut: `outer` independent problems (image x group), each cut into mch
// row chunks of mstep rows (a multiple of MR) and nch column chunks of nstep columns. Only the
// row cut depends on the thread count, and it never changes an element's summation order.
struct TaskGrid {
  int64_t outer = 0, mch = 0, nch = 0, mstep = 0, nstep = 0;
  int64_t count() const { return outer * mch * nch; }
};

inline TaskGrid make_grid(int64_t outer, int64_t m, int64_t n, int64_t nstep, int mr,
                          int threads) {
  TaskGrid g;
  g.outer = outer;
  g.nstep = nstep;
  g.nch = ceil_div(n, nstep);
  const int64_t panels = ceil_div(m, mr);
  int64_t mch = 1;
  // A few tasks per thread even out uneven chunks; splitting rows costs one more B packing
  // per chunk, so a single thread never splits.
  const int64_t want = 3 * int64_t(threads), have = outer * g.nch;
  if (threads > 1 && have < want) mch = min64(panels, ceil_div(want, have));
  g.mstep = ceil_div(panels, mch) * mr;
  g.mch = ceil_div(m, g.mstep);
  return g;
}

// Columns per N chunk: at most kNc, balanced, a multiple of NR.
inline int64_t n_step(int64_t n, int nr) {
  return round_up(ceil_div(n, ceil_div(n, kNc)), nr);
}

// C[m0:m1, n0:n1] = bias + A.B (relu) for one task: for each K block, pack B's block into
// bbuf, then sweep A's panels (each held in L1) across B's panels (streamed from L2).
// pack_b(k0, kc, n0, nc, dst) fills the B block.
template <class T, class PackB>
void gemm_task(const KBlocks& kb, const float* a_packed, int64_t mpad, int64_t m0, int64_t m1,
               int64_t n0, int64_t n1, const PackB& pack_b, float* c, int64_t ldc,
               const float* bias, bool relu, float* bbuf, const RunControl& rc) {
  constexpr int MR = T::MR, NR = T::L * T::NV;
  const int64_t nc = n1 - n0;
  for (int64_t b = 0; b < kb.count; ++b) {
    if (rc.aborted()) return;
    const int64_t k0 = kb.start(b), kc = kb.len(b);
    pack_b(k0, kc, n0, nc, bbuf);
    const int flags = (b > 0 ? kAccumulate : 0) | (relu && b + 1 == kb.count ? kRelu : 0);
    const float* ablock = a_packed + k0 * mpad;
    for (int64_t i = m0; i < m1; i += MR) {
      const TileFn tile = tile_fn<T>(int(min64(MR, m1 - i)));
      const float* ap = ablock + i * kc;
      const float* bi = bias ? bias + i : nullptr;
      float* ci = c + i * ldc + n0;
      for (int64_t j = 0; j < nc; j += NR)
        tile(kc, ap, bbuf + j * kc, ci + j, ldc, int(min64(NR, nc - j)), bi, flags);
    }
  }
}

// C[m0:m1, n0:n1] = bias (relu): the K == 0 degenerate product.
template <class T>
void fill_bias_rows(float* c, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                    const float* bias, bool relu) {
  constexpr int L = T::L;
  for (int64_t i = m0; i < m1; ++i) {
    float v = bias ? bias[i] : 0.f;
    if (relu && v < 0.f) v = 0.f;
    float* row = c + i * ldc;
    int64_t j = n0;
    for (; j + L <= n1; j += L) T::storeu(row + j, T::set1(v));
    if (j < n1) T::mask_storeu(row + j, T::mask(int(n1 - j)), T::set1(v));
  }
}

// ---- GemmPlan ------------------------------------------------------------------------------

template <class T>
class GemmPlanX86 final : public GemmPlan {
 public:
  static constexpr int MR = T::MR, NR = T::L * T::NV;

  GemmPlanX86(int64_t m, int64_t n, int64_t k)
      : m_(m), n_(n), k_(k), mpad_(round_up(m, MR)), kb_(k, T::KC),
        nstep_(n > 0 ? n_step(n, NR) : NR) {}

  size_t packed_a_floats() const override { return size_t(mpad_ * k_); }
  void pack_a(const float* a, int64_t lda, float* packed) const override {
    pack_a_panels(a, lda, 1, m_, MR, kb_, packed);
  }
  size_t workspace_bytes(int max_threads) const override {
    return 64 + size_t(slots_for(max_threads)) * slot_bytes();
  }
  void run(const float* packed_a, const float* b, int64_t ldb, const float* bias, bool relu,
           float* c, int64_t ldc, void* workspace, const RunControl& rc) const override {
    if (m_ <= 0 || n_ <= 0) return;
    const TaskGrid g = make_grid(1, m_, n_, nstep_, MR, threads_for(rc, ceil_div(n_, nstep_) * 4));
    char* ws = static_cast<char*>(align64(workspace));
    for_each_task(rc, g.count(), [&](int64_t t, int slot) {
      if (rc.aborted()) return;
      const int64_t mi = t / g.nch, ni = t % g.nch;
      const int64_t m0 = mi * g.mstep, m1 = min64(m_, m0 + g.mstep);
      const int64_t n0 = ni * g.nstep, n1 = min64(n_, n0 + g.nstep);
      if (k_ == 0) {
        fill_bias_rows<T>(c, ldc, m0, m1, n0, n1, bias, relu);
        return;
      }
      float* bbuf = reinterpret_cast<float*>(ws + size_t(slot) * slot_bytes());
      auto pack = [&](int64_t k0, int64_t kc, int64_t pn0, int64_t nc, float* dst) {
        pack_b_rows<T>(b, ldb, k0, kc, pn0, nc, dst);
      };
      gemm_task<T>(kb_, packed_a, mpad_, m0, m1, n0, n1, pack, c, ldc, bias, relu, bbuf, rc);
    });
  }
  const char* name() const override { return T::kGemmName; }

 private:
  size_t slot_bytes() const { return round_up_bytes(size_t(kb_.size * nstep_) * sizeof(float)); }
  int64_t m_, n_, k_, mpad_;
  KBlocks kb_;
  int64_t nstep_;
};

}  // namespace FCN_X86_ISA
}  // namespace fcn
