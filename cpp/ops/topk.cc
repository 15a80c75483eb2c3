// topk: the k largest values along the last axis, sorted decreasing, and their int32 indices
// (ONNX TopK with largest = 1, sorted = 1): equal values keep index order; NaN ranks below all
// numbers. k larger than the axis is cut to the axis (torchvision's RPN asks min(k, n)).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/op.h"

namespace fcn {

namespace {

class TopkOp : public Op {
 public:
  int64_t k = 1;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    if (in[0].shape.empty()) return error(Code::kShapeMismatch, who, ": expected an input of rank >= 1");
    n_ = in[0].shape.back();
    if (n_ > INT32_MAX) return error(Code::kTooLarge, who, ": axis of ", n_, " is too long for int32 indices");
    kk_ = std::min(k, n_);
    Shape s = in[0].shape;
    s.back() = kk_;
    out->assign(2, TensorDesc{DType::kF32, s, nullptr});
    (*out)[1].dtype = DType::kI32;
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void*) const override {
    if (n_ == 0 || kk_ == 0) return Status::OK();
    const int64_t rows = in[0].numel() / n_;
    rc.pool->parallel_for(rows, rc.max_threads, [&](int64_t r, int) {
      if (rc.aborted()) return;
      const float* x = in[0].f32() + r * n_;
      std::vector<int32_t> idx(static_cast<size_t>(n_));
      std::iota(idx.begin(), idx.end(), 0);
      auto before = [x](int32_t a, int32_t b) {
        const bool na = std::isnan(x[a]), nb = std::isnan(x[b]);
        if (na || nb) return !na && nb ? true : (na && nb ? a < b : false);
        return x[a] > x[b] || (x[a] == x[b] && a < b);
      };
      std::partial_sort(idx.begin(), idx.begin() + kk_, idx.end(), before);
      float* v = out[0].f32() + r * kk_;
      int32_t* o = out[1].i32() + r * kk_;
      for (int64_t i = 0; i < kk_; ++i) {
        o[i] = idx[i];
        v[i] = x[idx[i]];
      }
    });
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t n_ = 0, kk_ = 0;
};

}  // namespace

Status make_topk_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<TopkOp>();
  FCN_RETURN_IF_ERROR(a.get_int(who, "k", 1, &op->k));
  if (op->k < 0) return error(Code::kInvalidArgument, who, ": k must be >= 0, got ", op->k);
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
