// Matrix products for classifier heads (ONNX Gemm and MatMul).
//   gemm(a, b, c?; transA, transB, alpha, beta): y [M, N] = alpha * op(a) . op(b) + beta * c, with
//     op(a) [M, K], op(b) [K, N] and c broadcast to [M, N] (ONNX's unidirectional broadcasting).
//   matmul(a [..., M, K], b [..., K, N]) -> [..., M, N], batch dims broadcast (numpy matmul on
//     operands of rank >= 2; importers reshape 1-D operands).
//
// gemm computes y's transpose, y^T [N, M] = op(b)^T . op(a)^T, so that the usual head, a weight
// b [N, K] with transB = 1, is the packed A operand of the GEMM plan (packed once when constant)
// and the activations stream as its B operand. With few rows (M <= 4, batch-1 heads) the
// product is a set of dot products instead, which the plan's tiles would mostly waste.
#include <algorithm>
#include <cstring>

#include "kernels/bf16.h"
#include "ops/op.h"
#include "ops/precision.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int64_t kSmallM = 4;

size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

// Eight partial sums: a plain loop the compiler vectorises without reassociating a single sum.
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// dst [cols, rows] = src [rows, cols] transposed, in blocks for the cache.
void transpose2d(const float* src, int64_t rows, int64_t cols, float* dst) {
  constexpr int64_t B = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += B)
    for (int64_t c0 = 0; c0 < cols; c0 += B)
      for (int64_t r = r0; r < std::min(rows, r0 + B); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + B); ++c) dst[c * rows + r] = src[r * cols + c];
}

class GemmOp : public Op {
 public:
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  bool bf16 = false;  // precision 'bf16' (ops/precision.h): the planned product, not the M <= 4 dots

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 3));
    FCN_RETURN_IF_ERROR(expect_f32(who, "a", in[0]));
    FCN_RETURN_IF_ERROR(expect_f32(who, "b", in[1]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "a", in[0], 2));
    FCN_RETURN_IF_ERROR(expect_rank(who, "b", in[1], 2));
    const Shape& as = in[0].shape;
    const Shape& bs = in[1].shape;
    m_ = trans_a ? as[1] : as[0];
    k_ = trans_a ? as[0] : as[1];
    const int64_t kb = trans_b ? bs[1] : bs[0];
    n_ = trans_b ? bs[0] : bs[1];
    if (kb != k_)
      return error(Code::kShapeMismatch, who, ": op(a) is [", m_, ", ", k_, "] but op(b) is [", kb, ", ", n_,
                   "] (a ", shape_str(as), ", b ", shape_str(bs), ", transA ", trans_a, ", transB ", trans_b, ")");
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(as, who.c_str(), &count));
    FCN_RETURN_IF_ERROR(checked_numel(bs, who.c_str(), &count));
    TensorDesc y;
    y.shape = {m_, n_};
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, who.c_str(), &count));
    has_c_ = in.size() == 3;
    if (has_c_) {
      FCN_RETURN_IF_ERROR(expect_f32(who, "c", in[2]));
      const Shape& cs = in[2].shape;
      Shape cp(2, 1);
      if (cs.size() > 2)
        return error(Code::kShapeMismatch, who, ": c ", shape_str(cs), " does not broadcast to [", m_, ", ", n_, "]");
      std::copy(cs.begin(), cs.end(), cp.begin() + (2 - cs.size()));
      if ((cp[0] != 1 && cp[0] != m_) || (cp[1] != 1 && cp[1] != n_))
        return error(Code::kShapeMismatch, who, ": c ", shape_str(cs), " does not broadcast to [", m_, ", ", n_, "]");
      c_rs_ = cp[0] == 1 ? 0 : cp[1];
      c_cs_ = cp[1] == 1 ? 0 : 1;
    }
    small_ = m_ <= kSmallM;
    prepacked_ = false;
    if (!small_) {
      if (bf16) FCN_RETURN_IF_ERROR(check_bf16_supported(who));
      Status s = bf16 && bf16_worthwhile(k_) ? make_gemm_plan_bf16(isa_, n_, m_, k_, &plan_)
                                             : make_gemm_plan(isa_, n_, m_, k_, &plan_);
      if (!s.ok()) return error(s.code(), who, ": ", s.message());
      if (in[1].constant) {
        FCN_RETURN_IF_ERROR(reserve("packed weights", plan_->packed_a_floats() * sizeof(float)));
        if (!packed_.allocate(plan_->packed_a_floats() * sizeof(float)))
          return error(Code::kOutOfMemory, who, ": cannot allocate packed weights");
        const float* b = static_cast<const float*>(in[1].constant);
        if (trans_b) {
          plan_->pack_a(b, k_, packed_.f32());
        } else {
          std::vector<float> bt(static_cast<size_t>(n_ * k_));
          transpose2d(b, k_, n_, bt.data());
          plan_->pack_a(bt.data(), k_, packed_.f32());
        }
        prepacked_ = true;
      }
    }
    out->assign(1, y);
    return Status::OK();
  }

  size_t workspace_bytes(int max_threads) const override {
    if (small_) {
      // op(a) rows gathered when a is transposed.
      return trans_a ? align64(size_t(m_ * k_) * sizeof(float)) : 0;
    }
    size_t ws = align64(plan_->workspace_bytes(max_threads));
    if (!prepacked_) {
      ws += align64(plan_->packed_a_floats() * sizeof(float));
      if (!trans_b) ws += align64(size_t(n_ * k_) * sizeof(float));
    }
    if (!trans_a && m_ > 1) ws += align64(size_t(k_ * m_) * sizeof(float));
    if (m_ > 1) ws += align64(size_t(n_ * m_) * sizeof(float));
    return ws;
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const float* a = in[0].f32();
    const float* b = in[1].f32();
    const float* c = has_c_ ? in[2].f32() : nullptr;
    float* y = out[0].f32();
    char* ws = static_cast<char*>(workspace);
    if (small_) run_small(rc, a, b, y, reinterpret_cast<float*>(ws));
    else run_plan(rc, a, b, c, y, ws);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    // Epilogue (the plan path fuses the plain bias case and skips this).
    if (!fused_bias(c)) {
      const int64_t m = m_, n = n_;
      const float al = alpha, be = beta;
      for_chunks(rc, m, [&](int64_t i) {
        float* yr = y + i * n;
        if (al != 1.f) for (int64_t j = 0; j < n; ++j) yr[j] *= al;
        if (c && be != 0.f)
          for (int64_t j = 0; j < n; ++j) yr[j] += be * c[i * c_rs_ + j * c_cs_];
      });
    }
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  // Plain bias: c is [N] (or [1, N]), alpha = beta = 1, and the plan path, whose bias runs along
  // the rows of y^T.
  bool fused_bias(const float* c) const {
    return !small_ && c && alpha == 1.f && beta == 1.f && c_rs_ == 0 && c_cs_ == 1;
  }

  void run_small(const RunControl& rc, const float* a, const float* b, float* y, float* arows) const {
    const int64_t m = m_, n = n_, k = k_;
    if (trans_a) transpose2d(a, k, m, arows);  // a [K, M] -> rows of op(a)
    const float* ar = trans_a ? arows : a;
    constexpr int64_t kCols = 64;
    const int64_t chunks = (n + kCols - 1) / kCols;
    for_chunks(rc, chunks, [&](int64_t ch) {
      const int64_t j0 = ch * kCols, j1 = std::min(n, j0 + kCols);
      for (int64_t i = 0; i < m; ++i) {
        const float* x = ar + i * k;
        float* yr = y + i * n;
        if (trans_b) {
          for (int64_t j = j0; j < j1; ++j) yr[j] = dot(b + j * k, x, k);
        } else {
          for (int64_t j = j0; j < j1; ++j) yr[j] = 0.f;
          for (int64_t kk = 0; kk < k; ++kk) {
            const float xv = x[kk];
            const float* br = b + kk * n;
            for (int64_t j = j0; j < j1; ++j) yr[j] += xv * br[j];
          }
        }
      }
    });
  }

  void run_plan(const RunControl& rc, const float* a, const float* b, const float* c, float* y, char* ws) const {
    const int64_t m = m_, n = n_, k = k_;
    void* plan_ws = ws;
    size_t off = align64(plan_->workspace_bytes(rc.max_threads));
    const float* packed = packed_.f32();
    if (!prepacked_) {
      float* dst = reinterpret_cast<float*>(ws + off);
      off += align64(plan_->packed_a_floats() * sizeof(float));
      if (trans_b) {
        plan_->pack_a(b, k, dst);
      } else {
        float* bt = reinterpret_cast<float*>(ws + off);
        off += align64(size_t(n * k) * sizeof(float));
        transpose2d(b, k, n, bt);
        plan_->pack_a(bt, k, dst);
      }
      packed = dst;
    }
    // op(a)^T [K, M]: a itself when transA (or a single row), else a transposed copy.
    const float* at = a;
    if (!trans_a && m > 1) {
      float* t = reinterpret_cast<float*>(ws + off);
      off += align64(size_t(k * m) * sizeof(float));
      transpose2d(a, m, k, t);
      at = t;
    }
    const bool fuse = fused_bias(c);
    float* yt = reinterpret_cast<float*>(ws + off);
    plan_->run(packed, at, m, fuse ? c : nullptr, false, yt, m, plan_ws, rc);
    if (rc.aborted()) return;
    transpose2d(yt, n, m, y);
  }

  int64_t m_ = 0, n_ = 0, k_ = 0;
  bool has_c_ = false, small_ = true, prepacked_ = false;
  int64_t c_rs_ = 0, c_cs_ = 0;
  std::unique_ptr<GemmPlan> plan_;
  AlignedBuffer packed_;
};

class MatMulOp : public Op {
 public:
  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 2));
    FCN_RETURN_IF_ERROR(expect_f32(who, "a", in[0]));
    FCN_RETURN_IF_ERROR(expect_f32(who, "b", in[1]));
    const Shape& as = in[0].shape;
    const Shape& bs = in[1].shape;
    if (as.size() < 2 || bs.size() < 2 || as.size() > 8 || bs.size() > 8)
      return error(Code::kShapeMismatch, who, ": expected operands of rank 2 to 8 but received ", shape_str(as),
                   " and ", shape_str(bs));
    m_ = as[as.size() - 2];
    k_ = as[as.size() - 1];
    n_ = bs[bs.size() - 1];
    if (bs[bs.size() - 2] != k_)
      return error(Code::kShapeMismatch, who, ": a ", shape_str(as), " has ", k_, " columns but b ", shape_str(bs),
                   " has ", bs[bs.size() - 2], " rows");
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(as, who.c_str(), &count));
    FCN_RETURN_IF_ERROR(checked_numel(bs, who.c_str(), &count));
    const size_t ra = as.size() - 2, rb = bs.size() - 2, r = std::max(ra, rb);
    Shape batch(r), ap(r, 1), bp(r, 1);
    std::copy(as.begin(), as.begin() + ra, ap.begin() + (r - ra));
    std::copy(bs.begin(), bs.begin() + rb, bp.begin() + (r - rb));
    for (size_t i = 0; i < r; ++i) {
      if (ap[i] != bp[i] && ap[i] != 1 && bp[i] != 1)
        return error(Code::kShapeMismatch, who, ": batch dims of ", shape_str(as), " and ", shape_str(bs),
                     " cannot be broadcast");
      batch[i] = ap[i] == 1 ? bp[i] : ap[i];
    }
    // Per output batch index: the a and b matrices it reads.
    int64_t nb = 1;
    for (int64_t d : batch) nb *= d;
    a_index_.assign(static_cast<size_t>(nb), 0);
    b_index_.assign(static_cast<size_t>(nb), 0);
    for (int64_t t = 0; t < nb; ++t) {
      int64_t rem = t, ia = 0, ib = 0, sa = 1, sb = 1;
      for (size_t d = r; d-- > 0;) {
        const int64_t idx = rem % batch[d];
        rem /= batch[d];
        if (ap[d] != 1) ia += idx * sa;
        if (bp[d] != 1) ib += idx * sb;
        sa *= ap[d];
        sb *= bp[d];
      }
      a_index_[t] = ia;
      b_index_[t] = ib;
    }
    TensorDesc y;
    y.shape = batch;
    y.shape.push_back(m_);
    y.shape.push_back(n_);
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, who.c_str(), &count));
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const float* a = in[0].f32();
    const float* b = in[1].f32();
    float* y = out[0].f32();
    const int64_t m = m_, n = n_, k = k_;
    const int64_t rows = static_cast<int64_t>(a_index_.size()) * m;
    for_chunks(rc, rows, [&](int64_t r) {
      const int64_t t = r / m, i = r % m;
      const float* ar = a + (a_index_[t] * m + i) * k;
      const float* bm = b + b_index_[t] * k * n;
      float* yr = y + r * n;
      for (int64_t j = 0; j < n; ++j) yr[j] = 0.f;
      for (int64_t kk = 0; kk < k; ++kk) {
        const float av = ar[kk];
        const float* br = bm + kk * n;
        for (int64_t j = 0; j < n; ++j) yr[j] += av * br[j];
      }
    });
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t m_ = 0, n_ = 0, k_ = 0;
  std::vector<int64_t> a_index_, b_index_;
};

Status get_flag(const Attrs& a, const std::string& who, const char* name, bool* out) {
  int64_t v;
  FCN_RETURN_IF_ERROR(a.get_int(who, name, 0, &v));
  if (v != 0 && v != 1) return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be 0 or 1, got ", v);
  *out = v == 1;
  return Status::OK();
}

}  // namespace

Status make_gemm_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<GemmOp>();
  FCN_RETURN_IF_ERROR(get_flag(a, who, "transA", &op->trans_a));
  FCN_RETURN_IF_ERROR(get_flag(a, who, "transB", &op->trans_b));
  FCN_RETURN_IF_ERROR(parse_precision(a, who, &op->bf16));
  double al, be;
  FCN_RETURN_IF_ERROR(a.get_float(who, "alpha", 1.0, &al));
  FCN_RETURN_IF_ERROR(a.get_float(who, "beta", 1.0, &be));
  op->alpha = static_cast<float>(al);
  op->beta = static_cast<float>(be);
  *out = std::move(op);
  return Status::OK();
}

Status make_matmul_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  *out = std::make_unique<MatMulOp>();
  return Status::OK();
}

}  // namespace fcn
