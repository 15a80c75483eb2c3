// Elementwise activations on a tensor of any rank: relu, leakyRelu, sigmoid, hardSigmoid,
// hardSwish, tanh, clip (ONNX Relu ... Tanh, Clip). NaN stays NaN and infinities follow IEEE arithmetic (hardSwish(-inf) = -inf * 0 = NaN,
// as in ONNX Runtime and PyTorch).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 16;

enum class ActKind { kRelu, kLeakyRelu, kSigmoid, kHardSigmoid, kHardSwish, kTanh, kClip };

// Comparisons written so that a NaN input falls through to the branch that keeps it.
struct Relu {
  float operator()(float x) const { return x < 0.f ? 0.f : x; }
};
struct LeakyRelu {
  float alpha;
  float operator()(float x) const { return x < 0.f ? alpha * x : x; }
};
struct Sigmoid {
  float operator()(float x) const { return 1.f / (1.f + std::exp(-x)); }
};
struct HardSigmoid {
  float alpha, beta;
  float operator()(float x) const {
    float v = alpha * x + beta;
    v = v < 0.f ? 0.f : v;
    return v > 1.f ? 1.f : v;
  }
};
struct HardSwish {
  float operator()(float x) const {
    float v = x * (1.f / 6.f) + 0.5f;
    v = v < 0.f ? 0.f : v;
    return x * (v > 1.f ? 1.f : v);
  }
};

struct Tanh {
  float operator()(float x) const { return std::tanh(x); }
};
struct Clip {
  float lo, hi;
  float operator()(float x) const {
    float v = x < lo ? lo : x;
    return v > hi ? hi : v;
  }
};

// y[i] = f(x[i]) over chunks of kChunkElems, parallel when there is more than one chunk.
template <typename F>
bool map_elements(const RunControl& rc, const float* x, float* y, int64_t n, F f) {
  int64_t chunks = (n + kChunkElems - 1) / kChunkElems;
  auto body = [&](int64_t c, int) {
    if (rc.aborted()) return;
    int64_t begin = c * kChunkElems, end = std::min(n, begin + kChunkElems);
    for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
  };
  run_chunks(rc, chunks, body);
  return !rc.aborted();
}

class ActivationOp : public Op {
 public:
  ActKind kind = ActKind::kRelu;
  float alpha = 0.f, beta = 0.f;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();  // clip

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
    int64_t n = in[0].numel();
    bool ok = true;
    switch (kind) {
      case ActKind::kRelu: ok = map_elements(rc, x, y, n, Relu{}); break;
      case ActKind::kLeakyRelu: ok = map_elements(rc, x, y, n, LeakyRelu{alpha}); break;
      case ActKind::kSigmoid: ok = map_elements(rc, x, y, n, Sigmoid{}); break;
      case ActKind::kHardSigmoid: ok = map_elements(rc, x, y, n, HardSigmoid{alpha, beta}); break;
      case ActKind::kHardSwish: ok = map_elements(rc, x, y, n, HardSwish{}); break;
      case ActKind::kTanh: ok = map_elements(rc, x, y, n, Tanh{}); break;
      case ActKind::kClip: ok = map_elements(rc, x, y, n, Clip{lo, hi}); break;
    }
    if (!ok) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }
};

Status get_finite(const Attrs& a, const std::string& who, const std::string& name, double def, float* out) {
  double v;
  FCN_RETURN_IF_ERROR(a.get_float(who, name, def, &v));
  if (!std::isfinite(v) || std::fabs(v) > 3.0e38)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be a finite float32 number, got ", v);
  *out = static_cast<float>(v);
  return Status::OK();
}

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

std::unique_ptr<ActivationOp> make_act(ActKind kind) {
  auto op = std::make_unique<ActivationOp>();
  op->kind = kind;
  return op;
}

}  // namespace

Status make_relu_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  *out = make_act(ActKind::kRelu);
  return Status::OK();
}

Status make_leaky_relu_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = make_act(ActKind::kLeakyRelu);
  FCN_RETURN_IF_ERROR(get_finite(a, who, "alpha", 0.01, &op->alpha));
  *out = std::move(op);
  return Status::OK();
}

Status make_sigmoid_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  *out = make_act(ActKind::kSigmoid);
  return Status::OK();
}

Status make_hard_sigmoid_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = make_act(ActKind::kHardSigmoid);
  FCN_RETURN_IF_ERROR(get_finite(a, who, "alpha", 0.2, &op->alpha));
  FCN_RETURN_IF_ERROR(get_finite(a, who, "beta", 0.5, &op->beta));
  *out = std::move(op);
  return Status::OK();
}

Status make_hard_swish_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  *out = make_act(ActKind::kHardSwish);
  return Status::OK();
}

Status make_tanh_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  *out = make_act(ActKind::kTanh);
  return Status::OK();
}

// clip: attrs min and max (each optional: unbounded). ONNX leaves min > max to the
// implementation; here every value becomes max then, as onnxruntime does.
Status make_clip_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = make_act(ActKind::kClip);
  FCN_RETURN_IF_ERROR(get_bound(a, who, "min", -std::numeric_limits<float>::infinity(), &op->lo));
  FCN_RETURN_IF_ERROR(get_bound(a, who, "max", std::numeric_limits<float>::infinity(), &op->hi));
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
