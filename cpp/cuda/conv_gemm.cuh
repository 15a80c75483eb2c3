// Implicit-GEMM convolution (no im2col in memory): C[m][n] = sum_k A[m][k] * B[k][n] with
//   m = output pixel (batch folded in), n = output channel, k = (input channel, tap),
// A gathered from the input tensor through the plan's gather table while it is copied to shared
// memory, B the prepared weight [k_pad][n_pad]. Transposed convolutions run as one such GEMM per
// output phase (cpp/cuda/step_math.h: phase_geometry); blockIdx.z = group * phases + phase.
//
// Block tile 128 (m) x BN (n) x 32 (k), 2*BN threads, 3-stage cp.async pipeline:
//   shared A[k][m] (m contiguous: neighbouring threads copy neighbouring pixels) and B[k][n].
// Math, by precision:
//   'fp32'  each thread an 8x8 register tile of FFMAs (exact fp32, as the CPU path);
//   'tf32'  warps of 64x32, mma.sync.m16n8k8 TF32 (operands rounded with cvt.rna.tf32.f32);
//   'bf16'  warps of 64x32, mma.sync.m16n8k16 BF16 (operands rounded to nearest even while the
//           fragments are built; the tensors stay fp32 in memory).
// Row padding of the shared tiles (8 floats for fp32/tf32, 4 for bf16) makes the fragment reads
// of a warp hit 32 distinct banks: lane (g = lane/4, t = lane%4) reads row k0+t (bf16: 2t) and
// column c0+g, i.e. bank (8t + g) mod 32 with a row stride of 8 mod 32 (bf16: 4*2t + g).
// Epilogue: bias, ReLU, scattered back to NCHW (out_base per row, out_h*out_w per channel).
// 1x1 stride-1 convolutions over planes of a multiple of 4 pixels copy A in 16-byte pieces.
#pragma once
#include <cuda_bf16.h>

#include <atomic>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fcn {
namespace cuda {

// Each precision is compiled in a file of its own (conv_gemm_<precision>.cu), so that a build
// with two cores compiles them side by side.
namespace gemm {

constexpr int kBM = 128;
constexpr int kBK = 32;
constexpr int kStages = 3;

enum class Math { kFfma, kTf32, kBf16 };

template <Math M>
struct Tile {
  static constexpr int kPad = M == Math::kBf16 ? 4 : 8;
};

template <Math M, int BN>
struct Config {
  static constexpr int kThreads = 2 * BN;
  static constexpr int kLda = kBM + Tile<M>::kPad;
  static constexpr int kLdb = BN + Tile<M>::kPad;
  static constexpr int kStageFloats = kBK * kLda + kBK * kLdb;
  static constexpr size_t kSmemBytes = size_t(kStages) * kStageFloats * sizeof(float);
};

struct GemmArgs {
  fcnkit_cuda_gemm_params p;
  const float* x;
  const float* w;
  const GatherEntry* table;
  const float* bias;
  float* y;
  int fast_1x1;
};

__device__ __forceinline__ unsigned smem_addr(const void* ptr) {
  return static_cast<unsigned>(__cvta_generic_to_shared(ptr));
}

// cp.async with zero fill: src-size 0 reads nothing and writes zeros.
__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ uint32_t to_tf32(float f) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(f));
  return r;
}

// Two bf16 in one register: `lo` (the lower k index) in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ GatherEntry load_entry(const GatherEntry* t) {
  const int4 v = __ldg(reinterpret_cast<const int4*>(t));
  GatherEntry e;
  e.delta = static_cast<int64_t>(static_cast<uint64_t>(static_cast<uint32_t>(v.x)) |
                                 (static_cast<uint64_t>(static_cast<uint32_t>(v.y)) << 32));
  e.dy = v.z;
  e.dx = v.w;
  return e;
}

template <Math M, int BN>
__global__ void __launch_bounds__(2 * BN) gemm_conv_kernel(const __grid_constant__ GemmArgs args) {
  using C = Config<M, BN>;
  constexpr int NT = C::kThreads;
  constexpr int LDA = C::kLda, LDB = C::kLdb;
  extern __shared__ __align__(16) float smem[];

  const fcnkit_cuda_gemm_params& p = args.p;
  const int64_t phases = p.phases_h * p.phases_w;
  const int64_t group = blockIdx.z / phases;
  const int64_t phase = blockIdx.z - group * phases;
  const int64_t py = phase / p.phases_w, px = phase - py * p.phases_w;
  const PhaseGeometry geo = phase_geometry(p, py, px);
  const int64_t rows = p.batch * geo.grid_h * geo.grid_w;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kBM;
  if (m0 >= rows) return;  // a smaller phase than the largest
  const int n0 = blockIdx.y * BN;
  const float* wg = args.w + (phase * p.groups + group) * p.k_pad * p.n_pad;
  const float* x = args.x;
  const int tid = threadIdx.x;
  const int ktiles = static_cast<int>(p.k_pad / kBK);

  // ---- A loader: each thread owns fixed rows (m) and walks k rows -------------------------
  constexpr int A_TM = NT < kBM ? NT : kBM;  // threads along m
  constexpr int A_MPER = kBM / A_TM;
  constexpr int A_KSTEP = NT / A_TM;
  constexpr int A_KPER = kBK / A_KSTEP;
  const int a_m = tid % A_TM, a_k = tid / A_TM;
  int64_t a_base[A_MPER], a_iy[A_MPER], a_ix[A_MPER];
  bool a_ok[A_MPER];
#pragma unroll
  for (int j = 0; j < A_MPER; ++j) {
    const int64_t m = m0 + a_m + j * A_TM;
    a_ok[j] = m < rows;
    const RowInfo ri = row_info(p, geo, group, a_ok[j] ? m : m0);
    a_base[j] = ri.in_base;
    a_iy[j] = ri.iy0;
    a_ix[j] = ri.ix0;
  }
  // 1x1 fast path: a thread copies 4 neighbouring pixels of one channel at a time.
  const int f_m = (tid % 32) * 4, f_k = tid / 32;
  int64_t f_base = 0;
  bool f_ok = false;
  if (args.fast_1x1) {
    const int64_t m = m0 + f_m;
    f_ok = m < rows;
    f_base = row_info(p, geo, group, f_ok ? m : m0).in_base;
  }

  auto load_tile = [&](int stage, int kt) {
    float* As = smem + stage * C::kStageFloats;
    float* Bs = As + kBK * LDA;
    const int64_t k0 = static_cast<int64_t>(kt) * kBK;
    if (args.fast_1x1) {
#pragma unroll
      for (int i = 0; i < (kBK * kBM / 4) / NT; ++i) {
        const int kl = f_k + i * (NT / 32);
        const int64_t k = k0 + kl;
        const bool ok = f_ok && k < p.k;
        const float* src = ok ? x + f_base + load_entry(args.table + k).delta : x;
        cp_async16(As + kl * LDA + f_m, src, ok);
      }
    } else {
#pragma unroll 4
      for (int i = 0; i < A_KPER; ++i) {
        const int kl = a_k + i * A_KSTEP;
        const GatherEntry e = load_entry(args.table + k0 + kl);
#pragma unroll
        for (int j = 0; j < A_MPER; ++j) {
          const int64_t iy = a_iy[j] + e.dy, ix = a_ix[j] + e.dx;
          const bool ok = a_ok[j] && iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
          cp_async4(As + kl * LDA + a_m + j * A_TM, ok ? x + a_base[j] + e.delta : x, ok);
        }
      }
    }
    // B: 16-byte pieces of the prepared weight rows; columns past n_pad read as zeros.
#pragma unroll
    for (int i = 0; i < (kBK * BN / 4) / NT; ++i) {
      const int c = tid + i * NT;
      const int kl = c / (BN / 4), nc = (c % (BN / 4)) * 4;
      const bool ok = n0 + nc < p.n_pad;
      cp_async16(Bs + kl * LDB + nc, ok ? wg + (k0 + kl) * p.n_pad + n0 + nc : wg, ok);
    }
  };

  // ---- accumulators ---------------------------------------------------------------------
  constexpr bool kMma = M != Math::kFfma;
  const int warp = tid / 32, lane = tid % 32, gq = lane >> 2, tq = lane & 3;
  const int wm = (warp % 2) * 64, wn = (warp / 2) * 32;
  const int tm = tid % 16, tn = tid / 16;  // FFMA: 8x8 per thread
  float acc[kMma ? 4 : 8][kMma ? 4 : 8][kMma ? 4 : 1];
#pragma unroll
  for (int i = 0; i < (kMma ? 4 : 8); ++i)
#pragma unroll
    for (int j = 0; j < (kMma ? 4 : 8); ++j)
#pragma unroll
      for (int r = 0; r < (kMma ? 4 : 1); ++r) acc[i][j][r] = 0.f;

  auto compute = [&](int stage) {
    const float* As = smem + stage * C::kStageFloats;
    const float* Bs = As + kBK * LDA;
    if constexpr (M == Math::kFfma) {
#pragma unroll 8
      for (int k = 0; k < kBK; ++k) {
        const float4 a0 = *reinterpret_cast<const float4*>(As + k * LDA + tm * 4);
        const float4 a1 = *reinterpret_cast<const float4*>(As + k * LDA + 64 + tm * 4);
        const float4 b0 = *reinterpret_cast<const float4*>(Bs + k * LDB + tn * 4);
        const float4 b1 = *reinterpret_cast<const float4*>(Bs + k * LDB + BN / 2 + tn * 4);
        const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j][0] = fmaf(a[i], b[j], acc[i][j][0]);
      }
    } else if constexpr (M == Math::kTf32) {
#pragma unroll
      for (int kk = 0; kk < kBK; kk += 8) {
        uint32_t a[4][4], b[4][2];
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
          const int r = wm + mt * 16 + gq;
          a[mt][0] = to_tf32(As[(kk + tq) * LDA + r]);
          a[mt][1] = to_tf32(As[(kk + tq) * LDA + r + 8]);
          a[mt][2] = to_tf32(As[(kk + tq + 4) * LDA + r]);
          a[mt][3] = to_tf32(As[(kk + tq + 4) * LDA + r + 8]);
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          const int c = wn + nt * 8 + gq;
          b[nt][0] = to_tf32(Bs[(kk + tq) * LDB + c]);
          b[nt][1] = to_tf32(Bs[(kk + tq + 4) * LDB + c]);
        }
#pragma unroll
        for (int mt = 0; mt < 4; ++mt)
#pragma unroll
          for (int nt = 0; nt < 4; ++nt) mma_tf32(acc[mt][nt], a[mt], b[nt]);
      }
    } else {
#pragma unroll
      for (int kk = 0; kk < kBK; kk += 16) {
        uint32_t a[4][4], b[4][2];
        const int k0 = kk + 2 * tq;
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
          const int r = wm + mt * 16 + gq;
          a[mt][0] = pack_bf16(As[k0 * LDA + r], As[(k0 + 1) * LDA + r]);
          a[mt][1] = pack_bf16(As[k0 * LDA + r + 8], As[(k0 + 1) * LDA + r + 8]);
          a[mt][2] = pack_bf16(As[(k0 + 8) * LDA + r], As[(k0 + 9) * LDA + r]);
          a[mt][3] = pack_bf16(As[(k0 + 8) * LDA + r + 8], As[(k0 + 9) * LDA + r + 8]);
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          const int c = wn + nt * 8 + gq;
          b[nt][0] = pack_bf16(Bs[k0 * LDB + c], Bs[(k0 + 1) * LDB + c]);
          b[nt][1] = pack_bf16(Bs[(k0 + 8) * LDB + c], Bs[(k0 + 9) * LDB + c]);
        }
#pragma unroll
        for (int mt = 0; mt < 4; ++mt)
#pragma unroll
          for (int nt = 0; nt < 4; ++nt) mma_bf16(acc[mt][nt], a[mt], b[nt]);
      }
    }
  };

  // ---- pipeline ---------------------------------------------------------------------------
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) load_tile(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // tile kt has landed for everyone; stage (kt-1) % kStages is free again
    const int next = kt + kStages - 1;
    if (next < ktiles) load_tile(next % kStages, next);
    cp_async_commit();
    compute(kt % kStages);
  }
  cp_async_wait<0>();

  // ---- epilogue ---------------------------------------------------------------------------
  const int64_t plane = p.out_h * p.out_w;
  auto store = [&](int row, int col, float v) {
    const int64_t m = m0 + row;
    const int64_t n = n0 + col;
    if (m >= rows || n >= p.n) return;
    const RowInfo ri = row_info(p, geo, group, m);
    if (args.bias) v += args.bias[group * p.n + n];
    if (p.relu) v = v < 0.f ? 0.f : v;
    args.y[ri.out_base + n * plane] = v;
  };
  if constexpr (kMma) {
#pragma unroll
    for (int mt = 0; mt < 4; ++mt)
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int r = 0; r < 4; ++r) store(wm + mt * 16 + gq + (r >= 2 ? 8 : 0), wn + nt * 8 + 2 * tq + (r & 1), acc[mt][nt][r]);
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j)
        store((i < 4 ? 0 : 64) + tm * 4 + (i & 3), (j < 4 ? 0 : BN / 2) + tn * 4 + (j & 3), acc[i][j][0]);
  }
}

// Raises the kernel's dynamic shared memory limit once per device.
template <Math M, int BN>
Status prepare_kernel(int device) {
  static std::atomic<uint64_t> done{0};
  const uint64_t bit = device < 64 ? (uint64_t(1) << device) : 0;
  if (bit && (done.load() & bit)) return Status::OK();
  FCN_CUDA_CHECK(cudaFuncSetAttribute(gemm_conv_kernel<M, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(Config<M, BN>::kSmemBytes)));
  done.fetch_or(bit);
  return Status::OK();
}

template <Math M, int BN>
Status launch(const GemmArgs& args, int device, cudaStream_t stream) {
  FCN_RETURN_IF_ERROR((prepare_kernel<M, BN>(device)));
  const fcnkit_cuda_gemm_params& p = args.p;
  const int64_t gx = (p.max_rows + kBM - 1) / kBM;
  const int64_t gy = (p.n + BN - 1) / BN;
  const int64_t gz = p.groups * p.phases_h * p.phases_w;
  if (gx > 0x7fffffff || gy > 65535 || gz > 65535)
    return error(Code::kTooLarge, "convolution of ", p.max_rows, " pixels x ", p.n, " channels x ", gz,
                 " groups/phases exceeds the CUDA grid");
  dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(gz));
  gemm_conv_kernel<M, BN><<<grid, Config<M, BN>::kThreads, Config<M, BN>::kSmemBytes, stream>>>(args);
  return launch_status("implicit-GEMM convolution");
}

template <Math M>
Status launch_math(const GemmArgs& args, int device, size_t smem_optin, cudaStream_t stream) {
  const int64_t n = args.p.n;
  if (n <= 32) return launch<M, 32>(args, device, stream);
  if (n <= 64 || smem_optin < Config<M, 128>::kSmemBytes) return launch<M, 64>(args, device, stream);
  return launch<M, 128>(args, device, stream);
}

}  // namespace gemm

// conv_gemm_fp32.cu, conv_gemm_tf32.cu, conv_gemm_bf16.cu
Status launch_gemm_fp32(const gemm::GemmArgs& args, int device, size_t smem_optin, cudaStream_t stream);
Status launch_gemm_tf32(const gemm::GemmArgs& args, int device, size_t smem_optin, cudaStream_t stream);
Status launch_gemm_bf16(const gemm::GemmArgs& args, int device, size_t smem_optin, cudaStream_t stream);

}  // namespace cuda
}  // namespace fcn
