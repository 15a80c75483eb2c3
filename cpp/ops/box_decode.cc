// boxDecode: torchvision's BoxCoder.decode_single. deltas [K, 4·C] (dx, dy, dw, dh per class),
// boxes [K, 4] (x1, y1, x2, y2) -> [K, 4·C] boxes. Deltas are divided by `weights` (RPN 1,1,1,1;
// Fast R-CNN 10,10,5,5) and dw, dh clamped at `clip` (log(1000/16)) before exp. float32 throughout,
// in torchvision's order of operations.
#include <cmath>

#include "ops/op.h"

namespace fcn {

namespace {

class BoxDecodeOp : public Op {
 public:
  float w[4] = {1, 1, 1, 1};
  float clip = 0;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 2));
    FCN_RETURN_IF_ERROR(expect_f32(who, "deltas", in[0]));
    FCN_RETURN_IF_ERROR(expect_f32(who, "boxes", in[1]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "deltas", in[0], 2));
    FCN_RETURN_IF_ERROR(expect_rank(who, "boxes", in[1], 2));
    if (in[1].shape[1] != 4 || in[0].shape[0] != in[1].shape[0] || in[0].shape[1] % 4 != 0)
      return error(Code::kShapeMismatch, who, ": expected deltas [K, 4·C] and boxes [K, 4] but received ",
                   shape_str(in[0].shape), " and ", shape_str(in[1].shape));
    out->assign(1, TensorDesc{DType::kF32, in[0].shape, nullptr});
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void*) const override {
    const int64_t k = in[0].shape[0], cols = in[0].shape[1];
    const float* d = in[0].f32();
    const float* b = in[1].f32();
    float* y = out[0].f32();
    for (int64_t i = 0; i < k; ++i) {
      if ((i & 1023) == 0 && rc.aborted()) return error(Code::kAborted, label(), ": aborted");
      const float* bi = b + i * 4;
      const float width = bi[2] - bi[0], height = bi[3] - bi[1];
      const float cx = bi[0] + 0.5f * width, cy = bi[1] + 0.5f * height;
      for (int64_t c = 0; c < cols; c += 4) {
        const float* di = d + i * cols + c;
        const float dx = di[0] / w[0], dy = di[1] / w[1];
        const float dw = std::min(di[2] / w[2], clip), dh = std::min(di[3] / w[3], clip);
        const float pcx = dx * width + cx, pcy = dy * height + cy;
        const float pw = std::exp(dw) * width, ph = std::exp(dh) * height;
        const float hw = 0.5f * pw, hh = 0.5f * ph;
        float* yi = y + i * cols + c;
        yi[0] = pcx - hw;
        yi[1] = pcy - hh;
        yi[2] = pcx + hw;
        yi[3] = pcy + hh;
      }
    }
    return Status::OK();
  }
};

}  // namespace

Status make_box_decode_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<BoxDecodeOp>();
  std::vector<double> weights;
  FCN_RETURN_IF_ERROR(a.get_floats(who, "weights", {1, 1, 1, 1}, &weights));
  if (weights.size() != 4) return error(Code::kInvalidArgument, who, ": weights must have 4 numbers, got ", weights.size());
  for (int i = 0; i < 4; ++i) {
    if (!(weights[i] > 0) || !std::isfinite(weights[i]))
      return error(Code::kInvalidArgument, who, ": weights must be finite numbers > 0, got ", weights[i]);
    op->w[i] = static_cast<float>(weights[i]);
  }
  double clip;
  FCN_RETURN_IF_ERROR(a.get_float(who, "clip", std::log(1000.0 / 16), &clip));
  if (std::isnan(clip)) return error(Code::kInvalidArgument, who, ": clip is NaN");
  op->clip = static_cast<float>(clip);
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
