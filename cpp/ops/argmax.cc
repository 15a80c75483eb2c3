// argmax: int32 index of the largest value along one axis (ONNX ArgMax, select_last_index = 0),
// any rank; keepDims keeps the reduced axis with size 1.
//
// Ties pick the first index. NaN follows onnxruntime's CPU kernel, which keeps the running
// maximum with `x > best`: a NaN never wins a comparison, so it is skipped, except that a NaN
// at index 0 is never displaced and the result is 0.
#include <algorithm>

#include "ops/op.h"

namespace fcn {

namespace {

constexpr int64_t kBlock = 256;

class ArgmaxOp : public Op {
 public:
  int64_t axis = 1;
  bool keep_dims = false;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    const Shape& xs = in[0].shape;
    AxisSplit sp;
    FCN_RETURN_IF_ERROR(split_axis(who, "argmax", xs, axis, &sp));
    const int64_t ax = sp.axis;
    outer_ = sp.outer;
    n_ = sp.n;
    inner_ = sp.inner;
    if (n_ < 1)
      return error(Code::kInvalidArgument, who, ": cannot take argmax over axis ", ax, " of size 0 in input ",
                   shape_str(xs));
    if (n_ > INT32_MAX)
      return error(Code::kTooLarge, who, ": axis ", ax, " of input ", shape_str(xs), " is too long for int32 indices");
    TensorDesc y;
    y.dtype = DType::kI32;
    y.shape = xs;
    if (keep_dims) y.shape[ax] = 1;
    else y.shape.erase(y.shape.begin() + ax);
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    if (outer_ == 0 || inner_ == 0) return Status::OK();
    const float* x = in[0].f32();
    int32_t* y = out[0].i32();
    const int64_t n = n_, inner = inner_;
    if (inner == 1) {
      const int64_t rows = outer_;
      const int threads = rc.pool->threads_for(rows, rc.max_threads);
      const int64_t per = std::max<int64_t>({1, rows / (int64_t(threads) * 8), 4096 / n});
      const int64_t items = (rows + per - 1) / per;
      rc.pool->parallel_for(items, rc.max_threads, [&](int64_t item, int) {
        if (rc.aborted()) return;
        const int64_t end = std::min(rows, (item + 1) * per);
        for (int64_t r = item * per; r < end; ++r) {
          const float* xr = x + r * n;
          float best = xr[0];
          int64_t idx = 0;
          for (int64_t k = 1; k < n; ++k) {
            if (xr[k] > best) {
              best = xr[k];
              idx = k;
            }
          }
          y[r] = static_cast<int32_t>(idx);
        }
      });
    } else {
      const int64_t blocks = (inner + kBlock - 1) / kBlock;
      rc.pool->parallel_for(outer_ * blocks, rc.max_threads, [&](int64_t item, int) {
        if (rc.aborted()) return;
        const int64_t o = item / blocks;
        const int64_t j0 = (item % blocks) * kBlock;
        const int64_t len = std::min(kBlock, inner - j0);
        const float* xo = x + o * n * inner + j0;
        int32_t* yo = y + o * inner + j0;
        float best[kBlock];
        for (int64_t j = 0; j < len; ++j) {
          best[j] = xo[j];
          yo[j] = 0;
        }
        for (int64_t k = 1; k < n; ++k) {
          const float* xk = xo + k * inner;
          const int32_t kk = static_cast<int32_t>(k);
          for (int64_t j = 0; j < len; ++j) {
            const bool take = xk[j] > best[j];
            best[j] = take ? xk[j] : best[j];
            yo[j] = take ? kk : yo[j];
          }
        }
      });
    }
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t outer_ = 0, n_ = 0, inner_ = 0;
};

}  // namespace

Status make_argmax_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<ArgmaxOp>();
  FCN_RETURN_IF_ERROR(a.get_int(who, "axis", 1, &op->axis));
  int64_t keep;
  FCN_RETURN_IF_ERROR(a.get_int(who, "keepDims", 0, &keep));
  if (keep != 0 && keep != 1)
    return error(Code::kInvalidArgument, who, ": keepDims must be a boolean, got ", keep);
  op->keep_dims = keep != 0;
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
