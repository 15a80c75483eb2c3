// roiAlign and roiAlignMultiLevel: average RoIAlign as torchvision.ops.roi_align (aligned=True is
// ONNX RoiAlign-16's half_pixel) and torchvision's MultiScaleRoIAlign over an FPN.
//
// rois is [K, 5]: (batch index, x1, y1, x2, y2) in image coordinates, as torchvision's Tensor
// form. Each output cell averages grid_h × grid_w bilinear samples; samplingRatio 0 is adaptive,
// ceil(roi size / output size) per RoI. Samples more than one pixel outside the map count as 0;
// others are clamped into it. The sum runs in the same order as torchvision's CPU kernel so the
// results match it to the last bit on ordinary inputs.
//
// roiAlignMultiLevel (aligned defaults to false there, as MultiScaleRoIAlign calls roi_align)
// takes [rois, level 0 map, level 1 map, ...] with `scales` (one per map,
// powers of two: 1/4 .. 1/32 for P2..P5) and sends each RoI to one map:
// k = floor(canonicalLevel + log2(sqrt(area) / canonicalSize) + 1e-6), clamped to the maps'
// levels (k_min = -log2(scales[0])), in float32 as torchvision's LevelMapper.
#include <algorithm>
#include <cmath>

#include "ops/op.h"

namespace fcn {

namespace {

struct RoiParams {
  int64_t out_h = 1, out_w = 1, sampling = 0;
  bool aligned = true;
};

// One RoI over one [C, H, W] map into out [C, out_h, out_w].
void roi_align_one(const float* map, int64_t channels, int64_t height, int64_t width, const float* roi,
                   float spatial_scale, const RoiParams& p, int64_t c0, int64_t c1, float* out) {
  const float offset = p.aligned ? 0.5f : 0.0f;
  const float start_w = roi[1] * spatial_scale - offset;
  const float start_h = roi[2] * spatial_scale - offset;
  const float end_w = roi[3] * spatial_scale - offset;
  const float end_h = roi[4] * spatial_scale - offset;
  float roi_w = end_w - start_w, roi_h = end_h - start_h;
  if (!p.aligned) {
    roi_w = std::max(roi_w, 1.0f);
    roi_h = std::max(roi_h, 1.0f);
  }
  const float bin_h = roi_h / static_cast<float>(p.out_h);
  const float bin_w = roi_w / static_cast<float>(p.out_w);
  const int64_t grid_h = p.sampling > 0 ? p.sampling : static_cast<int64_t>(std::ceil(roi_h / p.out_h));
  const int64_t grid_w = p.sampling > 0 ? p.sampling : static_cast<int64_t>(std::ceil(roi_w / p.out_w));
  const float count = static_cast<float>(std::max<int64_t>(grid_h * grid_w, 1));

  struct Sample {
    int64_t p1, p2, p3, p4;
    float w1, w2, w3, w4;
  };
  // A reversed RoI gives negative grid sizes: no samples, yet torchvision still divides by count.
  const int64_t per_cell = std::max<int64_t>(grid_h, 0) * std::max<int64_t>(grid_w, 0);
  std::vector<Sample> samples(static_cast<size_t>(p.out_h * p.out_w * per_cell));
  size_t s = 0;
  for (int64_t ph = 0; ph < p.out_h; ++ph) {
    for (int64_t pw = 0; pw < p.out_w; ++pw) {
      for (int64_t iy = 0; iy < grid_h; ++iy) {
        const float yy = start_h + ph * bin_h + (iy + 0.5f) * bin_h / static_cast<float>(grid_h);
        for (int64_t ix = 0; ix < grid_w; ++ix) {
          const float xx = start_w + pw * bin_w + (ix + 0.5f) * bin_w / static_cast<float>(grid_w);
          Sample& sm = samples[s++];
          float y = yy, x = xx;
          if (y < -1.0f || y > height || x < -1.0f || x > width) {
            sm = Sample{0, 0, 0, 0, 0.f, 0.f, 0.f, 0.f};
            continue;
          }
          if (y <= 0) y = 0;
          if (x <= 0) x = 0;
          int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
          if (y_low >= height - 1) {
            y_high = y_low = height - 1;
            y = static_cast<float>(y_low);
          } else {
            y_high = y_low + 1;
          }
          if (x_low >= width - 1) {
            x_high = x_low = width - 1;
            x = static_cast<float>(x_low);
          } else {
            x_high = x_low + 1;
          }
          const float ly = y - y_low, lx = x - x_low, hy = 1.f - ly, hx = 1.f - lx;
          sm = Sample{y_low * width + x_low, y_low * width + x_high, y_high * width + x_low, y_high * width + x_high,
                      hy * hx, hy * lx, ly * hx, ly * lx};
        }
      }
    }
  }
  for (int64_t c = c0; c < c1; ++c) {
    const float* m = map + c * height * width;
    float* o = out + c * p.out_h * p.out_w;
    for (int64_t cell = 0; cell < p.out_h * p.out_w; ++cell) {
      float v = 0.f;
      const Sample* sc = samples.data() + cell * per_cell;
      for (int64_t k = 0; k < per_cell; ++k) {
        const Sample& q = sc[k];
        v += q.w1 * m[q.p1] + q.w2 * m[q.p2] + q.w3 * m[q.p3] + q.w4 * m[q.p4];
      }
      o[cell] = v / count;
    }
  }
  (void)channels;
}

Status parse_roi_params(const Attrs& a, const std::string& who, int64_t default_aligned, RoiParams* p) {
  int64_t size[2];
  FCN_RETURN_IF_ERROR(get_pair(a, who, "outputSize", 7, size));
  if (size[0] < 1 || size[1] < 1 || size[0] > 4096 || size[1] > 4096)
    return error(Code::kInvalidArgument, who, ": outputSize must be in 1..4096, got [", size[0], ", ", size[1], "]");
  p->out_h = size[0];
  p->out_w = size[1];
  FCN_RETURN_IF_ERROR(a.get_int(who, "samplingRatio", 0, &p->sampling));
  if (p->sampling < 0 || p->sampling > 64)
    return error(Code::kInvalidArgument, who, ": samplingRatio must be in 0..64 (0 = adaptive), got ", p->sampling);
  int64_t aligned;
  FCN_RETURN_IF_ERROR(a.get_int(who, "aligned", default_aligned, &aligned));
  if (aligned != 0 && aligned != 1) return error(Code::kInvalidArgument, who, ": aligned must be a boolean, got ", aligned);
  p->aligned = aligned != 0;
  std::string mode;
  FCN_RETURN_IF_ERROR(a.get_string(who, "mode", "avg", &mode));
  if (mode != "avg") return error(Code::kUnsupportedOp, who, ": mode '", mode, "' is not supported (only 'avg')");
  return Status::OK();
}

Status check_rois(const std::string& who, const TensorDesc& rois) {
  FCN_RETURN_IF_ERROR(expect_f32(who, "rois", rois));
  FCN_RETURN_IF_ERROR(expect_rank(who, "rois", rois, 2));
  if (rois.shape[1] != 5)
    return error(Code::kShapeMismatch, who, ": expected rois [K, 5] (batch index, x1, y1, x2, y2) but received ",
                 shape_str(rois.shape));
  return Status::OK();
}

// A RoI's batch index, checked against the batch size.
Status roi_batch(const std::string& who, const float* roi, int64_t k, int64_t batch, int64_t* b) {
  const float v = roi[0];
  if (!(v >= 0) || v >= static_cast<float>(batch) || v != std::floor(v))
    return error(Code::kInvalidArgument, who, ": rois[", k, "] has batch index ", v, " but the batch has ", batch,
                 " images");
  *b = static_cast<int64_t>(v);
  return Status::OK();
}

// Sizes of the cubic sample-table cap: a RoI's grid is at most its size in cells; bound it.
constexpr int64_t kMaxSamplesPerRoi = int64_t(1) << 24;

Status check_grid(const std::string& who, const float* roi, float scale, const RoiParams& p, int64_t k) {
  if (p.sampling > 0) return Status::OK();
  for (int i = 1; i <= 4; ++i)
    if (!std::isfinite(roi[i])) return error(Code::kInvalidArgument, who, ": rois[", k, "] is not finite");
  const double h = std::ceil(std::fabs(double(roi[4] - roi[2]) * scale) / p.out_h);
  const double w = std::ceil(std::fabs(double(roi[3] - roi[1]) * scale) / p.out_w);
  if (h * w * p.out_h * p.out_w > double(kMaxSamplesPerRoi))
    return error(Code::kTooLarge, who, ": rois[", k, "] needs ", h, "×", w, " samples per cell; use samplingRatio > 0");
  return Status::OK();
}

class RoiAlignOp : public Op {
 public:
  RoiParams p;
  float spatial_scale = 1.f;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 2));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "input", in[0], 4));
    FCN_RETURN_IF_ERROR(check_rois(who, in[1]));
    TensorDesc y;
    y.shape = {in[1].shape[0], in[0].shape[1], p.out_h, p.out_w};
    int64_t n;
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, "roiAlign output", &n));
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void*) const override {
    const Tensor& x = in[0];
    const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3], k = in[1].shape[0];
    const float* rois = in[1].f32();
    for (int64_t r = 0; r < k; ++r) {
      int64_t b;
      FCN_RETURN_IF_ERROR(roi_batch(label(), rois + r * 5, r, n, &b));
      FCN_RETURN_IF_ERROR(check_grid(label(), rois + r * 5, spatial_scale, p, r));
    }
    if (h == 0 || w == 0) {
      std::fill(out[0].f32(), out[0].f32() + out[0].numel(), 0.f);
      return Status::OK();
    }
    const int64_t cell = p.out_h * p.out_w;
    rc.pool->parallel_for(k, rc.max_threads, [&](int64_t r, int) {
      if (rc.aborted()) return;
      const float* roi = rois + r * 5;
      const int64_t b = static_cast<int64_t>(roi[0]);
      roi_align_one(x.f32() + b * c * h * w, c, h, w, roi, spatial_scale, p, 0, c, out[0].f32() + r * c * cell);
    });
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }
};

class RoiAlignMultiLevelOp : public Op {
 public:
  RoiParams p;
  std::vector<double> scales;
  double canonical_size = 224, canonical_level = 4;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    if (in.size() < 2) return error(Code::kInvalidArgument, who, ": expected rois and at least one feature map");
    FCN_RETURN_IF_ERROR(check_rois(who, in[0]));
    if (scales.size() != in.size() - 1)
      return error(Code::kInvalidArgument, who, ": ", in.size() - 1, " feature maps but ", scales.size(), " scales");
    for (size_t i = 1; i < in.size(); ++i) {
      FCN_RETURN_IF_ERROR(expect_f32(who, "feature map", in[i]));
      FCN_RETURN_IF_ERROR(expect_rank(who, "feature map", in[i], 4));
      if (in[i].shape[0] != in[1].shape[0] || in[i].shape[1] != in[1].shape[1])
        return error(Code::kShapeMismatch, who, ": feature map ", i - 1, " ", shape_str(in[i].shape),
                     " differs from map 0 ", shape_str(in[1].shape), " in batch or channels");
    }
    for (size_t i = 0; i < scales.size(); ++i) {
      const double lv = -std::log2(scales[i]);
      if (!(scales[i] > 0) || lv != std::round(lv))
        return error(Code::kInvalidArgument, who, ": scales must be powers of two, got ", scales[i]);
      if (i > 0 && lv != -std::log2(scales[i - 1]) + 1)
        return error(Code::kInvalidArgument, who, ": scales must halve from one map to the next");
    }
    TensorDesc y;
    y.shape = {in[0].shape[0], in[1].shape[1], p.out_h, p.out_w};
    int64_t n;
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, "roiAlignMultiLevel output", &n));
    out->assign(1, y);
    return Status::OK();
  }

  // The map index for a RoI, as torchvision's LevelMapper (float32 arithmetic).
  int64_t level_of(const float* roi) const {
    const float k_min = static_cast<float>(-std::log2(scales.front()));
    const float k_max = static_cast<float>(-std::log2(scales.back()));
    const float area = (roi[3] - roi[1]) * (roi[4] - roi[2]);
    const float s = std::sqrt(area);
    float lvl = std::floor(static_cast<float>(canonical_level) + std::log2(s / static_cast<float>(canonical_size)) +
                           1e-6f);
    if (std::isnan(lvl)) lvl = k_min;
    lvl = std::min(std::max(lvl, k_min), k_max);
    return static_cast<int64_t>(lvl - k_min);
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void*) const override {
    const int64_t k = in[0].shape[0], n = in[1].shape[0], c = in[1].shape[1];
    const float* rois = in[0].f32();
    for (int64_t r = 0; r < k; ++r) {
      int64_t b;
      FCN_RETURN_IF_ERROR(roi_batch(label(), rois + r * 5, r, n, &b));
      const int64_t lv = level_of(rois + r * 5);
      FCN_RETURN_IF_ERROR(check_grid(label(), rois + r * 5, static_cast<float>(scales[lv]), p, r));
    }
    const int64_t cell = p.out_h * p.out_w;
    rc.pool->parallel_for(k, rc.max_threads, [&](int64_t r, int) {
      if (rc.aborted()) return;
      const float* roi = rois + r * 5;
      const int64_t lv = level_of(roi);
      const Tensor& x = in[1 + lv];
      const int64_t h = x.shape[2], w = x.shape[3];
      float* o = out[0].f32() + r * c * cell;
      if (h == 0 || w == 0) {
        std::fill(o, o + c * cell, 0.f);
        return;
      }
      const int64_t b = static_cast<int64_t>(roi[0]);
      roi_align_one(x.f32() + b * c * h * w, c, h, w, roi, static_cast<float>(scales[lv]), p, 0, c, o);
    });
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }
};

}  // namespace

Status make_roi_align_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<RoiAlignOp>();
  FCN_RETURN_IF_ERROR(parse_roi_params(a, who, 1, &op->p));
  double scale;
  FCN_RETURN_IF_ERROR(a.get_float(who, "spatialScale", 1.0, &scale));
  if (!(scale > 0) || !std::isfinite(scale))
    return error(Code::kInvalidArgument, who, ": spatialScale must be a finite number > 0, got ", scale);
  op->spatial_scale = static_cast<float>(scale);
  *out = std::move(op);
  return Status::OK();
}

Status make_roi_align_multi_level_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<RoiAlignMultiLevelOp>();
  // MultiScaleRoIAlign calls roi_align with aligned=False.
  FCN_RETURN_IF_ERROR(parse_roi_params(a, who, 0, &op->p));
  FCN_RETURN_IF_ERROR(a.get_floats(who, "scales", {}, &op->scales));
  if (op->scales.empty()) return error(Code::kInvalidArgument, who, ": scales is required (one per feature map)");
  FCN_RETURN_IF_ERROR(a.get_float(who, "canonicalSize", 224, &op->canonical_size));
  FCN_RETURN_IF_ERROR(a.get_float(who, "canonicalLevel", 4, &op->canonical_level));
  if (!(op->canonical_size > 0)) return error(Code::kInvalidArgument, who, ": canonicalSize must be > 0");
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
