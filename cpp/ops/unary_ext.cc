// tanh and clip on a tensor of any rank (ONNX Tanh, Clip). NaN stays NaN in both.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 16;

enum class UnaryKind { kTanh, kClip };

class UnaryExtOp : public Op {
 public:
  UnaryKind kind = UnaryKind::kTanh;
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(in[0].shape, who.c_str(), &count));
    TensorDesc y;
    y.shape = in[0].shape;
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const float* x = in[0].f32();
    float* y = out[0].f32();
    const int64_t n = in[0].numel();
    const int64_t chunks = (n + kChunkElems - 1) / kChunkElems;
    const float l = lo, h = hi;
    const UnaryKind k = kind;
    auto body = [&](int64_t c, int) {
      if (rc.aborted()) return;
      const int64_t begin = c * kChunkElems, end = std::min(n, begin + kChunkElems);
      if (k == UnaryKind::kTanh) {
        for (int64_t i = begin; i < end; ++i) y[i] = std::tanh(x[i]);
      } else {
        // Written so that a NaN input fails both comparisons and is kept.
        for (int64_t i = begin; i < end; ++i) {
          float v = x[i];
          v = v < l ? l : v;
          y[i] = v > h ? h : v;
        }
      }
    };
    run_chunks(rc, chunks, body);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }
};

Status get_bound(const Attrs& a, const std::string& who, const char* name, float def, float* out) {
  if (!a.has(name)) {
    *out = def;
    return Status::OK();
  }
  double v;
  FCN_RETURN_IF_ERROR(a.get_float(who, name, 0.0, &v));
  if (std::isnan(v)) return error(Code::kInvalidArgument, who, ": attribute '", name, "' must not be NaN");
  *out = static_cast<float>(v);  // beyond float32's range becomes +-inf: the same bound
  return Status::OK();
}

}  // namespace

Status make_tanh_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<UnaryExtOp>();
  op->kind = UnaryKind::kTanh;
  *out = std::move(op);
  return Status::OK();
}

// clip: attrs min and max (each optional: unbounded). ONNX leaves min > max to the
// implementation; here every value becomes max then, as onnxruntime does.
Status make_clip_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<UnaryExtOp>();
  op->kind = UnaryKind::kClip;
  FCN_RETURN_IF_ERROR(get_bound(a, who, "min", -std::numeric_limits<float>::infinity(), &op->lo));
  FCN_RETURN_IF_ERROR(get_bound(a, who, "max", std::numeric_limits<float>::infinity(), &op->hi));
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
