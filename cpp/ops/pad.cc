// pad: x [N, C, H, W] -> y [N, C, H + top + bottom, W + left + right], ONNX Pad on axes 2 and 3.
// Modes: constant (value), reflect (mirror without repeating the edge pixel, numpy 'reflect'),
// edge (repeat the edge pixel). A negative pad crops that side first, as ORT does; the other
// side's padding then reflects or repeats the cropped region's edges.
#include <algorithm>
#include <cstring>

#include "ops/op.h"

namespace fcn {

namespace {

enum class PadMode { kConstant, kReflect, kEdge };

// One spatial axis: the kept input range [crop, crop + keep) lands at output offset `before`.
struct PadAxis {
  int64_t in = 0, out = 0;
  int64_t crop = 0, keep = 0;
  int64_t before = 0, after = 0;

  // The input index output index `o` reads, or -1 for the constant value.
  int64_t source(int64_t o, PadMode mode) const {
    int64_t i = o - before;
    if (i >= 0 && i < keep) return crop + i;
    if (mode == PadMode::kConstant) return -1;
    if (mode == PadMode::kEdge) return crop + (i < 0 ? 0 : keep - 1);
    return crop + (i < 0 ? -i : 2 * (keep - 1) - i);  // reflect: before, after < keep
  }
};

const char* mode_name(PadMode m) {
  return m == PadMode::kConstant ? "constant" : m == PadMode::kReflect ? "reflect" : "edge";
}

class PadOp : public Op {
 public:
  int64_t pads[4] = {0, 0, 0, 0};  // top, left, bottom, right
  PadMode mode = PadMode::kConstant;
  float value = 0.f;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "input [N, C, H, W]", in[0], 4));
    const Shape& xs = in[0].shape;
    const char* names[2] = {"height", "width"};
    for (int a = 0; a < 2; ++a) {
      PadAxis& ax = axes_[a];
      int64_t b = pads[a], e = pads[a + 2];
      ax.in = xs[2 + a];
      ax.crop = b < 0 ? -b : 0;
      int64_t crop_end = e < 0 ? -e : 0;
      if (ax.crop > ax.in || crop_end > ax.in - ax.crop)
        return error(Code::kInvalidArgument, who, ": padding ", shape_str({pads[0], pads[1], pads[2], pads[3]}),
                     " crops more than the input ", names[a], " ", ax.in, " (input ", shape_str(xs), ")");
      ax.keep = ax.in - ax.crop - crop_end;
      ax.before = b > 0 ? b : 0;
      ax.after = e > 0 ? e : 0;
      if (!checked_add(ax.keep, ax.before, &ax.out) || !checked_add(ax.out, ax.after, &ax.out))
        return error(Code::kTooLarge, who, ": padding ", shape_str({pads[0], pads[1], pads[2], pads[3]}),
                     " is too large");
      // As ORT: reflect and edge need something to copy on both axes, padded or not.
      if (mode != PadMode::kConstant) {
        if (ax.keep == 0)
          return error(Code::kInvalidArgument, who, ": ", mode_name(mode), " padding needs a non-empty ", names[a],
                       " but the input is ", shape_str(xs), " with padding ",
                       shape_str({pads[0], pads[1], pads[2], pads[3]}));
        if (mode == PadMode::kReflect && (ax.before >= ax.keep || ax.after >= ax.keep))
          return error(Code::kInvalidArgument, who, ": reflect padding must be smaller than the ", names[a], " ",
                       ax.keep, " it mirrors, got padding ", shape_str({pads[0], pads[1], pads[2], pads[3]}),
                       " for input ", shape_str(xs));
      }
    }
    TensorDesc y;
    y.shape = {xs[0], xs[1], axes_[0].out, axes_[1].out};
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, who.c_str(), &count));
    planes_ = xs[0] * xs[1];
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const PadAxis& ah = axes_[0];
    const PadAxis& aw = axes_[1];
    if (planes_ == 0 || ah.out == 0 || aw.out == 0) return Status::OK();
    // Items are blocks of output rows (never crossing a plane), enough to balance the threads.
    const int64_t total_rows = planes_ * ah.out;
    const int threads = rc.pool->threads_for(total_rows, rc.max_threads);
    const int64_t row_target = std::max<int64_t>(1, total_rows / (int64_t(threads) * 8));
    const int64_t rows_per_item = std::min(ah.out, std::max<int64_t>(row_target, 4096 / std::max<int64_t>(1, aw.out)));
    const int64_t items_per_plane = (ah.out + rows_per_item - 1) / rows_per_item;
    const float* x = in[0].f32();
    float* y = out[0].f32();
    const int64_t in_plane = ah.in * aw.in, out_plane = ah.out * aw.out;
    rc.pool->parallel_for(planes_ * items_per_plane, rc.max_threads, [&](int64_t item, int) {
      if (rc.aborted()) return;
      const int64_t p = item / items_per_plane;
      const int64_t r0 = (item % items_per_plane) * rows_per_item;
      const int64_t r1 = std::min(ah.out, r0 + rows_per_item);
      const float* xp = x + p * in_plane;
      for (int64_t r = r0; r < r1; ++r) {
        float* yr = y + p * out_plane + r * aw.out;
        const int64_t sr = ah.source(r, mode);
        if (sr < 0) {
          std::fill(yr, yr + aw.out, value);
          continue;
        }
        const float* xr = xp + sr * aw.in;
        for (int64_t c = 0; c < aw.before; ++c) {
          int64_t sc = aw.source(c, mode);
          yr[c] = sc < 0 ? value : xr[sc];
        }
        if (aw.keep > 0) std::memcpy(yr + aw.before, xr + aw.crop, size_t(aw.keep) * sizeof(float));
        for (int64_t c = aw.before + aw.keep; c < aw.out; ++c) {
          int64_t sc = aw.source(c, mode);
          yr[c] = sc < 0 ? value : xr[sc];
        }
      }
    });
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  PadAxis axes_[2];
  int64_t planes_ = 0;
};

}  // namespace

Status make_pad_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<PadOp>();
  std::vector<int64_t> p;
  FCN_RETURN_IF_ERROR(a.get_ints(who, "pads", {0}, &p));
  if (p.size() == 1) p = {p[0], p[0], p[0], p[0]};
  else if (p.size() == 2) p = {p[0], p[1], p[0], p[1]};
  else if (p.size() != 4)
    return error(Code::kInvalidArgument, who, ": pads must be a number, [h, w] or [top, left, bottom, right], got ",
                 p.size(), " values");
  for (int i = 0; i < 4; ++i) op->pads[i] = p[i];
  std::string mode;
  FCN_RETURN_IF_ERROR(a.get_string(who, "mode", "constant", &mode));
  if (mode == "constant") op->mode = PadMode::kConstant;
  else if (mode == "reflect") op->mode = PadMode::kReflect;
  else if (mode == "edge") op->mode = PadMode::kEdge;
  else return error(Code::kInvalidArgument, who, ": mode '", mode, "' is not one of constant, reflect, edge");
  double v;
  FCN_RETURN_IF_ERROR(a.get_float(who, "value", 0.0, &v));
  op->value = static_cast<float>(v);
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
