// softmax: y = exp(x - max) / sum(exp(x - max)) along one axis (ONNX Softmax, opset 13), any rank.
// A NaN anywhere along the axis makes that whole slice NaN (it reaches the sum).
#include <algorithm>
#include <cmath>

#include "ops/op.h"

namespace fcn {

namespace {

// Inner positions handled together when the axis is not the last one: the max and sum
// vectors live on the stack and the loops over them vectorise.
constexpr int64_t kBlock = 256;

class SoftmaxOp : public Op {
 public:
  int64_t axis = 1;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    const Shape& xs = in[0].shape;
    AxisSplit sp;
    FCN_RETURN_IF_ERROR(split_axis(who, "softmax", xs, axis, &sp));
    outer_ = sp.outer;
    n_ = sp.n;
    inner_ = sp.inner;
    TensorDesc y;
    y.shape = xs;
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    if (outer_ == 0 || inner_ == 0 || n_ == 0) return Status::OK();
    const float* x = in[0].f32();
    float* y = out[0].f32();
    const int64_t n = n_, inner = inner_;
    if (inner == 1) {
      // Contiguous rows: items are runs of whole rows.
      const int64_t rows = outer_;
      const int threads = rc.pool->threads_for(rows, rc.max_threads);
      const int64_t per = std::max<int64_t>({1, rows / (int64_t(threads) * 8), 4096 / n});
      const int64_t items = (rows + per - 1) / per;
      rc.pool->parallel_for(items, rc.max_threads, [&](int64_t item, int) {
        if (rc.aborted()) return;
        const int64_t end = std::min(rows, (item + 1) * per);
        for (int64_t r = item * per; r < end; ++r) softmax_row(x + r * n, y + r * n, n);
      });
    } else {
      // Axis with stride `inner`: items are blocks of inner positions of one outer index.
      const int64_t blocks = (inner + kBlock - 1) / kBlock;
      rc.pool->parallel_for(outer_ * blocks, rc.max_threads, [&](int64_t item, int) {
        if (rc.aborted()) return;
        const int64_t o = item / blocks;
        const int64_t j0 = (item % blocks) * kBlock;
        const int64_t len = std::min(kBlock, inner - j0);
        const int64_t base = o * n * inner + j0;
        softmax_strided(x + base, y + base, n, inner, len);
      });
    }
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  static void softmax_row(const float* x, float* y, int64_t n) {
    float m = x[0];
    for (int64_t k = 1; k < n; ++k) m = x[k] > m ? x[k] : m;
    float s = 0.f;
    for (int64_t k = 0; k < n; ++k) {
      const float e = std::exp(x[k] - m);
      y[k] = e;
      s += e;
    }
    const float inv = 1.f / s;
    for (int64_t k = 0; k < n; ++k) y[k] *= inv;
  }

  // len columns j of x[k * stride + j], k < n.
  static void softmax_strided(const float* x, float* y, int64_t n, int64_t stride, int64_t len) {
    float m[kBlock], s[kBlock];
    for (int64_t j = 0; j < len; ++j) m[j] = x[j];
    for (int64_t k = 1; k < n; ++k) {
      const float* xk = x + k * stride;
      for (int64_t j = 0; j < len; ++j) m[j] = xk[j] > m[j] ? xk[j] : m[j];
    }
    for (int64_t j = 0; j < len; ++j) s[j] = 0.f;
    for (int64_t k = 0; k < n; ++k) {
      const float* xk = x + k * stride;
      float* yk = y + k * stride;
      for (int64_t j = 0; j < len; ++j) {
        const float e = std::exp(xk[j] - m[j]);
        yk[j] = e;
        s[j] += e;
      }
    }
    for (int64_t j = 0; j < len; ++j) s[j] = 1.f / s[j];
    for (int64_t k = 0; k < n; ++k) {
      float* yk = y + k * stride;
      for (int64_t j = 0; j < len; ++j) yk[j] *= s[j];
    }
  }

  int64_t outer_ = 0, n_ = 0, inner_ = 0;
};

}  // namespace

Status make_softmax_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<SoftmaxOp>();
  FCN_RETURN_IF_ERROR(a.get_int(who, "axis", 1, &op->axis));
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
