// sub, div and prelu with numpy broadcasting, up to 8 dims (ONNX Sub, Div, PRelu).
//   sub(a, b) = a - b, div(a, b) = a / b (IEEE: x / 0 is +-inf or NaN);
//   prelu(x, slope) = x < 0 ? slope * x : x, slope broadcast to x's shape (ONNX's
//   unidirectional broadcasting: the output always has x's shape).
#include <algorithm>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int kMaxRank = 8;
constexpr int64_t kChunkElems = int64_t(1) << 16;

enum class BinaryExtKind { kSub, kDiv, kPrelu };

struct Sub {
  float operator()(float a, float b) const { return a - b; }
};
struct Div {
  float operator()(float a, float b) const { return a / b; }
};
struct Prelu {
  float operator()(float x, float s) const { return x < 0.f ? s * x : x; }
};

class BinaryExtOp : public Op {
 public:
  BinaryExtKind kind = BinaryExtKind::kSub;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 2));
    const char* an = kind == BinaryExtKind::kPrelu ? "input" : "a";
    const char* bn = kind == BinaryExtKind::kPrelu ? "slope" : "b";
    FCN_RETURN_IF_ERROR(expect_f32(who, an, in[0]));
    FCN_RETURN_IF_ERROR(expect_f32(who, bn, in[1]));
    const Shape& as = in[0].shape;
    const Shape& bs = in[1].shape;
    if (as.size() > kMaxRank || bs.size() > kMaxRank)
      return error(Code::kInvalidArgument, who, ": shapes ", shape_str(as), " and ", shape_str(bs),
                   " exceed the maximum rank of ", kMaxRank);
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(as, who.c_str(), &count));
    FCN_RETURN_IF_ERROR(checked_numel(bs, who.c_str(), &count));
    const size_t r = std::max(as.size(), bs.size());
    Shape ys(r), ap(r, 1), bp(r, 1);
    std::copy(as.begin(), as.end(), ap.begin() + (r - as.size()));
    std::copy(bs.begin(), bs.end(), bp.begin() + (r - bs.size()));
    for (size_t i = 0; i < r; ++i) {
      if (ap[i] != bp[i] && ap[i] != 1 && bp[i] != 1)
        return error(Code::kShapeMismatch, who, ": shapes ", shape_str(as), " and ", shape_str(bs),
                     " cannot be broadcast");
      ys[i] = ap[i] == 1 ? bp[i] : ap[i];
    }
    if (kind == BinaryExtKind::kPrelu && ys != as)
      return error(Code::kShapeMismatch, who, ": slope ", shape_str(bs), " must broadcast to the input's shape ",
                   shape_str(as));
    FCN_RETURN_IF_ERROR(checked_numel(ys, who.c_str(), &count));
    rank_ = static_cast<int>(r);
    total_ = count;
    for (int i = 0; i < rank_; ++i) dims_[i] = ys[i];
    // Element strides, 0 on broadcast dims.
    int64_t ea = 1, eb = 1;
    for (int i = rank_ - 1; i >= 0; --i) {
      sa_[i] = ap[i] == 1 ? 0 : ea;
      sb_[i] = bp[i] == 1 ? 0 : eb;
      ea *= ap[i];
      eb *= bp[i];
    }
    same_ = ap == bp;
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
    switch (kind) {
      case BinaryExtKind::kSub: compute(rc, Sub{}, a, b, y); break;
      case BinaryExtKind::kDiv: compute(rc, Div{}, a, b, y); break;
      case BinaryExtKind::kPrelu: compute(rc, Prelu{}, a, b, y); break;
    }
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  template <typename F>
  void compute(const RunControl& rc, F f, const float* a, const float* b, float* y) const {
    if (total_ == 0) return;
    if (same_) {
      for_chunks(rc, (total_ + kChunkElems - 1) / kChunkElems, [&](int64_t c) {
        const int64_t begin = c * kChunkElems, end = std::min(total_, begin + kChunkElems);
        for (int64_t i = begin; i < end; ++i) y[i] = f(a[i], b[i]);
      });
      return;
    }
    // Rows of the innermost dim, each located by its multi-index.
    const int64_t inner = rank_ > 0 ? dims_[rank_ - 1] : 1;
    const int64_t ia = rank_ > 0 ? sa_[rank_ - 1] : 0, ib = rank_ > 0 ? sb_[rank_ - 1] : 0;
    const int64_t rows = total_ / inner;
    const int64_t per = std::max<int64_t>(1, kChunkElems / inner);
    for_chunks(rc, (rows + per - 1) / per, [&](int64_t c) {
      const int64_t r1 = std::min(rows, (c + 1) * per);
      for (int64_t r = c * per; r < r1; ++r) {
        int64_t rem = r, oa = 0, ob = 0;
        for (int d = rank_ - 2; d >= 0; --d) {
          const int64_t idx = rem % dims_[d];
          rem /= dims_[d];
          oa += idx * sa_[d];
          ob += idx * sb_[d];
        }
        float* yr = y + r * inner;
        const float* ar = a + oa;
        const float* br = b + ob;
        if (ia && ib) for (int64_t i = 0; i < inner; ++i) yr[i] = f(ar[i], br[i]);
        else if (ia) for (int64_t i = 0; i < inner; ++i) yr[i] = f(ar[i], br[0]);
        else if (ib) for (int64_t i = 0; i < inner; ++i) yr[i] = f(ar[0], br[i]);
        else for (int64_t i = 0; i < inner; ++i) yr[i] = f(ar[0], br[0]);
      }
    });
  }

  int rank_ = 0;
  int64_t total_ = 0;
  int64_t dims_[kMaxRank] = {0};
  int64_t sa_[kMaxRank] = {0}, sb_[kMaxRank] = {0};
  bool same_ = false;
};

Status make_binary_ext(BinaryExtKind kind, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<BinaryExtOp>();
  op->kind = kind;
  *out = std::move(op);
  return Status::OK();
}

}  // namespace

Status make_sub_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary_ext(BinaryExtKind::kSub, out);
}

Status make_div_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary_ext(BinaryExtKind::kDiv, out);
}

Status make_prelu_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_binary_ext(BinaryExtKind::kPrelu, out);
}

}  // namespace fcn
