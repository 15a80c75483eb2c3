// resize: x [N, C, H, W] -> y [N, C, OH, OW], ONNX Resize (opset 13+) on the spatial axes with
// mode nearest | linear (bilinear), no antialiasing.
//
// Numerics follow onnxruntime's CPU kernel (1.30, checked by test/ops-resize.test.js), so
// `nearest` picks the same pixel as ORT, ties and float32 rounding included:
// - scales are float32; with `scale` the output size is floor(float32(scale) * float32(in))
//   with the product rounded to float32, and that scale drives the coordinate transform; with
//   `size` the scale is float32(out) / float32(in);
// - source coordinates are computed in float32; an axis whose scale is exactly 1 maps i -> i,
//   and when the output size equals the input size on both axes the input is copied whatever
//   the scale (scale 1.25 on a 3-pixel axis gives 3 pixels, a copy);
// - round_prefer_floor / round_prefer_ceil treat a coordinate within 1e-6 of a half as the
//   tie (ORT 1.30 does, so that e.g. 7 -> 8 asymmetric picks by the rule at x = 3.4999998);
//   floor and ceil take the float32 coordinate as it is;
// - nearest clamps the chosen index to [0, in - 1]; linear clamps the source coordinate to
//   [0, in - 1] first, so edges repeat the border pixel.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/resize.h"

namespace fcn {

namespace {

float source_coordinate(ResizeCoord c, int64_t o, float scale, int64_t in_len, int64_t out_len) {
  const float x = static_cast<float>(o);
  switch (c) {
    case ResizeCoord::kAsymmetric:
      return x / scale;
    case ResizeCoord::kPytorchHalfPixel:
      return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case ResizeCoord::kAlignCorners:
      return out_len == 1 ? 0.0f : x * static_cast<float>(in_len - 1) / static_cast<float>(out_len - 1);
    case ResizeCoord::kHalfPixel:
    default:
      return (x + 0.5f) / scale - 0.5f;
  }
}

int64_t nearest_index(ResizeRounding r, float x) {
  const float f = std::floor(x);
  const float frac = x - f;
  const bool tie = std::fabs(frac - 0.5f) <= 1e-6f;
  switch (r) {
    case ResizeRounding::kFloor: return static_cast<int64_t>(f);
    case ResizeRounding::kCeil: return static_cast<int64_t>(std::ceil(x));
    case ResizeRounding::kRoundPreferCeil: return static_cast<int64_t>(tie || frac > 0.5f ? f + 1 : f);
    case ResizeRounding::kRoundPreferFloor:
    default: return static_cast<int64_t>(!tie && frac > 0.5f ? f + 1 : f);
  }
}

void fill_taps(const ResizeAttrs& a, ResizeTap* taps, int64_t in_len, int64_t out_len, float s) {
  const float last = static_cast<float>(in_len - 1);
  for (int64_t o = 0; o < out_len; ++o) {
    ResizeTap& t = taps[o];
    const float src = s == 1.0f ? static_cast<float>(o) : source_coordinate(a.coord, o, s, in_len, out_len);
    if (a.nearest) {
      t.i0 = std::min(std::max<int64_t>(nearest_index(a.rounding, src), 0), in_len - 1);
      t.i1 = t.i0;
      t.w0 = 1.f;
      t.w1 = 0.f;
      continue;
    }
    const float c = std::max(0.0f, std::min(src, last));
    t.i0 = std::min(static_cast<int64_t>(c), in_len - 1);
    t.i1 = std::min(t.i0 + 1, in_len - 1);
    if (t.i0 == t.i1) {
      t.w0 = 1.f;
      t.w1 = 0.f;
    } else {
      t.w1 = c - static_cast<float>(t.i0);
      t.w0 = static_cast<float>(t.i1) - c;
    }
  }
}

class ResizeOp : public Op {
 public:
  ResizeAttrs attrs;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "input [N, C, H, W]", in[0], 4));
    const Shape& xs = in[0].shape;
    ResizeGeometry g;
    FCN_RETURN_IF_ERROR(resize_geometry(attrs, who, xs, &g, &taps_));
    in_h_ = xs[2];
    in_w_ = xs[3];
    out_h_ = g.out_h;
    out_w_ = g.out_w;
    planes_ = xs[0] * xs[1];
    copy_ = g.copy;
    out->assign(1, TensorDesc{DType::kF32, {xs[0], xs[1], g.out_h, g.out_w}, nullptr});
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    if (planes_ == 0) return Status::OK();
    const ResizeTap* ty = taps_.data();
    const ResizeTap* tx = ty + out_h_;
    // Items are blocks of output rows (never crossing a plane), enough to balance the threads.
    const int64_t total_rows = planes_ * out_h_;
    const int threads = rc.pool->threads_for(total_rows, rc.max_threads);
    const int64_t row_target = std::max<int64_t>(1, total_rows / (int64_t(threads) * 8));
    const int64_t rows_per_item = std::min(out_h_, std::max<int64_t>(row_target, 4096 / out_w_));
    const int64_t items_per_plane = (out_h_ + rows_per_item - 1) / rows_per_item;
    const float* x = in[0].f32();
    float* y = out[0].f32();
    const int64_t in_plane = in_h_ * in_w_, out_plane = out_h_ * out_w_, ow = out_w_, iw = in_w_;
    const bool nearest = attrs.nearest;
    if (copy_) {
      rc.pool->parallel_for(planes_ * items_per_plane, rc.max_threads, [&](int64_t item, int) {
        if (rc.aborted()) return;
        const int64_t p = item / items_per_plane;
        const int64_t r0 = (item % items_per_plane) * rows_per_item;
        const int64_t r1 = std::min(out_h_, r0 + rows_per_item);
        std::memcpy(y + p * out_plane + r0 * ow, x + p * in_plane + r0 * iw, size_t((r1 - r0) * ow) * sizeof(float));
      });
      if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
      return Status::OK();
    }
    rc.pool->parallel_for(planes_ * items_per_plane, rc.max_threads, [&](int64_t item, int) {
      if (rc.aborted()) return;
      const int64_t p = item / items_per_plane;
      const int64_t r0 = (item % items_per_plane) * rows_per_item;
      const int64_t r1 = std::min(out_h_, r0 + rows_per_item);
      const float* xp = x + p * in_plane;
      for (int64_t r = r0; r < r1; ++r) {
        float* yr = y + p * out_plane + r * ow;
        const ResizeTap& t = ty[r];
        const float* a = xp + t.i0 * iw;
        if (nearest) {
          for (int64_t c = 0; c < ow; ++c) yr[c] = a[tx[c].i0];
          continue;
        }
        const float* b = xp + t.i1 * iw;
        const float v0 = t.w0, v1 = t.w1;
        for (int64_t c = 0; c < ow; ++c) {
          const ResizeTap& u = tx[c];
          yr[c] = v0 * (u.w0 * a[u.i0] + u.w1 * a[u.i1]) + v1 * (u.w0 * b[u.i0] + u.w1 * b[u.i1]);
        }
      }
    });
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t in_h_ = 0, in_w_ = 0, out_h_ = 0, out_w_ = 0, planes_ = 0;
  bool copy_ = false;
  std::vector<ResizeTap> taps_;  // out_h_ rows, then out_w_ columns
};

}  // namespace

Status parse_resize_attrs(const Attrs& a, const std::string& who, ResizeAttrs* op) {
  const bool has_size = a.has("size"), has_scale = a.has("scale");
  if (has_size == has_scale)
    return error(Code::kInvalidArgument, who, ": give exactly one of 'size' and 'scale'");
  op->has_size = has_size;
  if (has_size) {
    std::vector<int64_t> s;
    FCN_RETURN_IF_ERROR(a.get_ints(who, "size", {}, &s));
    if (s.size() != 2)
      return error(Code::kInvalidArgument, who, ": size must be [h, w], got ", s.size(), " values");
    if (s[0] < 1 || s[1] < 1)
      return error(Code::kInvalidArgument, who, ": size must be at least 1 on each axis, got ", shape_str(s));
    op->size[0] = s[0];
    op->size[1] = s[1];
  } else {
    std::vector<double> s;
    FCN_RETURN_IF_ERROR(a.get_floats(who, "scale", {}, &s));
    if (s.size() == 1) s.push_back(s[0]);
    if (s.size() != 2)
      return error(Code::kInvalidArgument, who, ": scale must be a number or [h, w], got ", s.size(), " values");
    for (int i = 0; i < 2; ++i) {
      if (!std::isfinite(s[i]) || !(s[i] > 0.0))
        return error(Code::kInvalidArgument, who, ": scale must be finite and > 0, got ", s[i]);
      // Scales are float32, as in ONNX.
      const float f = static_cast<float>(s[i]);
      if (std::isinf(f))
        return error(Code::kTooLarge, who, ": scale ", s[i], " gives an output beyond 2^32 elements");
      if (f == 0.0f) return error(Code::kInvalidArgument, who, ": scale ", s[i], " gives an empty output");
      op->scale[i] = f;
    }
  }
  std::string mode, coord, nearest;
  FCN_RETURN_IF_ERROR(a.get_string(who, "mode", "bilinear", &mode));
  FCN_RETURN_IF_ERROR(a.get_string(who, "coordinate", "half_pixel", &coord));
  FCN_RETURN_IF_ERROR(a.get_string(who, "nearestMode", "round_prefer_floor", &nearest));
  if (mode == "nearest") op->nearest = true;
  else if (mode == "bilinear") op->nearest = false;
  else return error(Code::kInvalidArgument, who, ": mode '", mode, "' is not one of nearest, bilinear");
  if (coord == "half_pixel") op->coord = ResizeCoord::kHalfPixel;
  else if (coord == "align_corners") op->coord = ResizeCoord::kAlignCorners;
  else if (coord == "asymmetric") op->coord = ResizeCoord::kAsymmetric;
  else if (coord == "pytorch_half_pixel") op->coord = ResizeCoord::kPytorchHalfPixel;
  else
    return error(Code::kInvalidArgument, who, ": coordinate '", coord,
                 "' is not one of half_pixel, align_corners, asymmetric, pytorch_half_pixel");
  if (nearest == "round_prefer_floor") op->rounding = ResizeRounding::kRoundPreferFloor;
  else if (nearest == "round_prefer_ceil") op->rounding = ResizeRounding::kRoundPreferCeil;
  else if (nearest == "floor") op->rounding = ResizeRounding::kFloor;
  else if (nearest == "ceil") op->rounding = ResizeRounding::kCeil;
  else
    return error(Code::kInvalidArgument, who, ": nearestMode '", nearest,
                 "' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil");
  return Status::OK();
}

Status resize_geometry(const ResizeAttrs& a, const std::string& who, const Shape& xs, ResizeGeometry* g,
                       std::vector<ResizeTap>* taps) {
  if (xs.size() != 4 || xs[2] < 1 || xs[3] < 1)
    return error(Code::kInvalidArgument, who, ": cannot resize an empty image, input ", shape_str(xs));
  int64_t out_hw[2];
  float axis_scale[2];
  for (int k = 0; k < 2; ++k) {
    const int64_t len = xs[2 + k];
    if (a.has_size) {
      out_hw[k] = a.size[k];
      axis_scale[k] = static_cast<float>(a.size[k]) / static_cast<float>(len);
    } else {
      const float prod = a.scale[k] * static_cast<float>(len);
      if (!(prod < 4.0e18f))
        return error(Code::kTooLarge, who, ": input ", shape_str(xs), " scaled by ", a.scale[k],
                     " gives an output beyond 2^32 elements");
      out_hw[k] = static_cast<int64_t>(prod);
      axis_scale[k] = a.scale[k];
      if (out_hw[k] < 1)
        return error(Code::kInvalidArgument, who, ": input ", shape_str(xs), " scaled by ", a.scale[k],
                     " gives an empty output (", k == 0 ? "height" : "width", " 0)");
    }
  }
  int64_t count;
  FCN_RETURN_IF_ERROR(checked_numel(Shape{xs[0], xs[1], out_hw[0], out_hw[1]}, who.c_str(), &count));
  g->out_h = out_hw[0];
  g->out_w = out_hw[1];
  g->copy = out_hw[0] == xs[2] && out_hw[1] == xs[3];
  if (g->copy) axis_scale[0] = axis_scale[1] = 1.0f;
  taps->resize(size_t(out_hw[0] + out_hw[1]));
  fill_taps(a, taps->data(), xs[2], out_hw[0], axis_scale[0]);
  fill_taps(a, taps->data() + out_hw[0], xs[3], out_hw[1], axis_scale[1]);
  return Status::OK();
}

Status make_resize_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<ResizeOp>();
  FCN_RETURN_IF_ERROR(parse_resize_attrs(a, who, &op->attrs));
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
