// add, mul, sub, div and prelu with numpy broadcasting: a [...], b [...] -> y [broadcast shape],
// up to 8 dims (ONNX Add, Mul, Sub, Div, PRelu).
//   div(a, b) = a / b (IEEE: x / 0 is +-inf or NaN);
//   prelu(x, slope) = x < 0 ? slope * x : x, slope broadcast to x's shape (ONNX's
//   unidirectional broadcasting: the output always has x's shape).
#include <algorithm>
#include <cstring>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int kMaxRank = 8;
constexpr int64_t kChunkElems = int64_t(1) << 16;

enum class BinaryKind { kAdd, kMul, kSub, kDiv, kPrelu };

struct Add {
  float operator()(float a, float b) const { return a + b; }
};
struct Mul {
  float operator()(float a, float b) const { return a * b; }
};
struct Sub {
  float operator()(float a, float b) const { return a - b; }
};
struct Div {
  float operator()(float a, float b) const { return a / b; }
};
struct Prelu {
  float operator()(float x, float s) const { return x < 0.f ? s * x : x; }
};

// y[0, n) = a op b, where an operand with step 0 is one value repeated.
template <typename F, int SA, int SB>
void row(F f, const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i * SA], b[i * SB]);
}

template <typename F>
void row_any(F f, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  if (sa && sb) row<F, 1, 1>(f, a, b, y, n);
  else if (sa) row<F, 1, 0>(f, a, b, y, n);
  else if (sb) row<F, 0, 1>(f, a, b, y, n);
  else row<F, 0, 0>(f, a, b, y, n);
}

class BinaryOp : public Op {
 public:
  BinaryKind kind = BinaryKind::kAdd;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 2));
    const bool prelu = kind == BinaryKind::kPrelu;
    FCN_RETURN_IF_ERROR(expect_f32(who, prelu ? "input" : "a", in[0]));
    FCN_RETURN_IF_ERROR(expect_f32(who, prelu ? "slope" : "b", in[1]));
    const Shape& as = in[0].shape;
    const Shape& bs = in[1].shape;
    if (as.size() > kMaxRank || bs.size() > kMaxRank)
      return error(Code::kInvalidArgument, who, ": shapes ", shape_str(as), " and ", shape_str(bs),
                   " exceed the maximum rank of ", kMaxRank);
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(as, who.c_str(), &count));
    FCN_RETURN_IF_ERROR(checked_numel(bs, who.c_str(), &count));
    size_t r = std::max(as.size(), bs.size());
    Shape ys(r), ap(r, 1), bp(r, 1);
    std::copy(as.begin(), as.end(), ap.begin() + (r - as.size()));
    std::copy(bs.begin(), bs.end(), bp.begin() + (r - bs.size()));
    for (size_t i = 0; i < r; ++i) {
      if (ap[i] != bp[i] && ap[i] != 1 && bp[i] != 1)
        return error(Code::kShapeMismatch, who, ": shapes ", shape_str(as), " and ", shape_str(bs),
                     " cannot be broadcast");
      ys[i] = ap[i] == 1 ? bp[i] : ap[i];
    }
    if (prelu && ys != as)
      return error(Code::kShapeMismatch, who, ": slope ", shape_str(bs), " must broadcast to the input's shape ",
                   shape_str(as));
    FCN_RETURN_IF_ERROR(checked_numel(ys, who.c_str(), &count));
    plan(ap, bp, ys);
    TensorDesc y;
    y.shape = ys;
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const float* a = in[0].f32();
    const float* b = in[1].f32();
    float* y = out[0].f32();
    bool ok = true;
    switch (kind) {
      case BinaryKind::kAdd: ok = compute(rc, Add{}, a, b, y); break;
      case BinaryKind::kMul: ok = compute(rc, Mul{}, a, b, y); break;
      case BinaryKind::kSub: ok = compute(rc, Sub{}, a, b, y); break;
      case BinaryKind::kDiv: ok = compute(rc, Div{}, a, b, y); break;
      case BinaryKind::kPrelu: ok = compute(rc, Prelu{}, a, b, y); break;
    }
    if (!ok) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  // Shapes reduced to the fewest dims: a run of dims where each operand is either dense or
  // broadcast throughout collapses into one. Strides are 0 on broadcast dims.
  void plan(const Shape& ap, const Shape& bp, const Shape& ys) {
    dims_.clear();
    sa_.clear();
    sb_.clear();
    total_ = numel(ys);
    for (size_t i = 0; i < ys.size(); ++i) {
      if (ys[i] == 1) continue;
      bool a_b = ap[i] == 1, b_b = bp[i] == 1;
      if (!dims_.empty() && a_b == prev_a_ && b_b == prev_b_) {
        dims_.back() *= ys[i];
      } else {
        dims_.push_back(ys[i]);
        sa_.push_back(a_b ? 0 : 1);
        sb_.push_back(b_b ? 0 : 1);
        prev_a_ = a_b;
        prev_b_ = b_b;
      }
    }
    if (dims_.empty()) {
      dims_ = {1};
      sa_ = {1};
      sb_ = {1};
    }
    // Element strides from innermost out (0 stays 0 for broadcast dims).
    int64_t ea = 1, eb = 1;
    for (size_t i = dims_.size(); i-- > 0;) {
      bool a_dense = sa_[i] != 0, b_dense = sb_[i] != 0;
      sa_[i] = a_dense ? ea : 0;
      sb_[i] = b_dense ? eb : 0;
      if (a_dense) ea *= dims_[i];
      if (b_dense) eb *= dims_[i];
    }
    // Per-channel fast path: [N, C, H, W] op [C, 1, 1] (either side) collapses to
    // dims [outer?, C, HW] with the small operand dense only on C.
    per_channel_ = false;
    size_t d = dims_.size();
    if (d >= 2 && dims_[d - 1] > 1) {
      bool a_small = sa_[d - 1] == 0 && sa_[d - 2] == 1 && sb_[d - 1] == 1 && sb_[d - 2] == dims_[d - 1];
      bool b_small = sb_[d - 1] == 0 && sb_[d - 2] == 1 && sa_[d - 1] == 1 && sa_[d - 2] == dims_[d - 1];
      bool outer_ok = d == 2 || (d == 3 && (a_small ? sa_[0] == 0 : sb_[0] == 0));
      if ((a_small || b_small) && outer_ok) {
        per_channel_ = true;
        small_is_a_ = a_small;
        channels_ = dims_[d - 2];
        plane_ = dims_[d - 1];
      }
    }
  }

  template <typename F>
  bool compute(const RunControl& rc, F f, const float* a, const float* b, float* y) const {
    if (total_ == 0) return !rc.aborted();
    size_t d = dims_.size();
    if (d == 1) {
      // Equal shapes (or a scalar on one side): one flat loop.
      int64_t n = dims_[0];
      int64_t sa = sa_[0], sb = sb_[0];
      return for_chunks(rc, (n + kChunkElems - 1) / kChunkElems, [&](int64_t c) {
        int64_t begin = c * kChunkElems, len = std::min(n, begin + kChunkElems) - begin;
        row_any(f, a + begin * sa, sa, b + begin * sb, sb, y + begin, len);
      });
    }
    if (per_channel_) {
      int64_t planes = total_ / plane_, plane = plane_, channels = channels_;
      int64_t per = std::max<int64_t>(1, kChunkElems / plane);
      const float* big = small_is_a_ ? b : a;
      const float* small = small_is_a_ ? a : b;
      return for_chunks(rc, (planes + per - 1) / per, [&](int64_t c) {
        int64_t end = std::min(planes, (c + 1) * per);
        for (int64_t p = c * per; p < end; ++p) {
          const float* src = big + p * plane;
          float* dst = y + p * plane;
          float s = small[p % channels];
          if (small_is_a_) row<F, 0, 1>(f, &s, src, dst, plane);
          else row<F, 1, 0>(f, src, &s, dst, plane);
        }
      });
    }
    // General case: rows of the innermost dim, walked with a multi-index.
    int64_t inner = dims_[d - 1];
    int64_t rows = total_ / inner;
    int64_t per = std::max<int64_t>(1, kChunkElems / inner);
    return for_chunks(rc, (rows + per - 1) / per, [&](int64_t c) {
      int64_t r0 = c * per, r1 = std::min(rows, r0 + per);
      int64_t idx[kMaxRank] = {0};
      int64_t rem = r0, oa = 0, ob = 0;
      for (size_t i = d - 1; i-- > 0;) {
        idx[i] = rem % dims_[i];
        rem /= dims_[i];
        oa += idx[i] * sa_[i];
        ob += idx[i] * sb_[i];
      }
      for (int64_t r = r0; r < r1; ++r) {
        row_any(f, a + oa, sa_[d - 1], b + ob, sb_[d - 1], y + r * inner, inner);
        for (size_t i = d - 1; i-- > 0;) {
          oa += sa_[i];
          ob += sb_[i];
          if (++idx[i] < dims_[i]) break;
          oa -= sa_[i] * dims_[i];
          ob -= sb_[i] * dims_[i];
          idx[i] = 0;
        }
      }
    });
  }

  Shape dims_;
  std::vector<int64_t> sa_, sb_;
  int64_t total_ = 0;
  bool prev_a_ = false, prev_b_ = false;
  bool per_channel_ = false, small_is_a_ = false;
  int64_t channels_ = 1, plane_ = 1;
};

Status make_binary(BinaryKind kind, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<BinaryOp>();
  op->kind = kind;
  *out = std::move(op);
  return Status::OK();
}

}  // namespace

Status make_add_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary(BinaryKind::kAdd, out);
}

Status make_mul_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary(BinaryKind::kMul, out);
}

Status make_sub_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary(BinaryKind::kSub, out);
}

Status make_div_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary(BinaryKind::kDiv, out);
}

Status make_prelu_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary(BinaryKind::kPrelu, out);
}

}  // namespace fcn
