// maxPool2d / avgPool2d: x [N, C, H, W] -> y [N, C, OH, OW]; globalAvgPool2d -> y [N, C, 1, 1].
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

// Work per parallel_for item: about this many input elements touched.
constexpr int64_t kChunkElems = int64_t(1) << 15;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Planes [0, planes) split into items of about kChunkElems work each; stops between items once
// the run is aborted. Returns false when it was.
template <typename Fn>
bool for_planes(const RunControl& rc, int64_t planes, int64_t work_per_plane, Fn fn) {
  int64_t per = std::max<int64_t>(1, kChunkElems / std::max<int64_t>(1, work_per_plane));
  int64_t items = ceil_div(planes, per);
  auto body = [&](int64_t i, int) {
    if (rc.aborted()) return;
    int64_t end = std::min(planes, (i + 1) * per);
    for (int64_t p = i * per; p < end; ++p) fn(p);
  };
  run_chunks(rc, items, body);
  return !rc.aborted();
}

// For one axis: the taps [begin, end) of each output position whose input index lies in
// [lo, hi), with start = o * stride - pad and tap i at start + i * dil.
void tap_ranges(int64_t out, int64_t k, int64_t stride, int64_t dil, int64_t pad, int64_t lo, int64_t hi,
                std::vector<int64_t>* begin, std::vector<int64_t>* end) {
  begin->resize(out);
  end->resize(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t start = o * stride - pad;
    int64_t b = start >= lo ? 0 : ceil_div(lo - start, dil);
    int64_t e = start >= hi ? 0 : std::min(k, ceil_div(hi - start, dil));
    (*begin)[o] = std::min(b, k);
    (*end)[o] = std::max(e, (*begin)[o]);
  }
}

enum class PoolKind { kMax, kAvg };

class Pool2dOp : public Op {
 public:
  PoolKind kind = PoolKind::kMax;
  Attrs attrs;
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, dil[2] = {1, 1};
  bool ceil_mode = false, count_include_pad = false;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "input [N, C, H, W]", in[0], 4));
    const Shape& xs = in[0].shape;
    Pool2dParams& p = p_;
    p.n = xs[0]; p.c = xs[1]; p.in_h = xs[2]; p.in_w = xs[3];
    p.k_h = kernel[0]; p.k_w = kernel[1];
    p.stride_h = stride[0]; p.stride_w = stride[1];
    p.dil_h = dil[0]; p.dil_w = dil[1];
    p.ceil_mode = ceil_mode;
    p.count_include_pad = count_include_pad;
    int64_t pads[4];
    FCN_RETURN_IF_ERROR(resolve_padding(attrs, who, p.in_h, p.in_w, kernel, stride, dil, pads));
    // ONNX requires each pad to be smaller than the kernel: a window must touch more than padding.
    if (pads[0] >= p.k_h || pads[2] >= p.k_h || pads[1] >= p.k_w || pads[3] >= p.k_w)
      return error(Code::kInvalidArgument, who, ": padding ", shape_str({pads[0], pads[1], pads[2], pads[3]}),
                   " [top, left, bottom, right] must be smaller than the kernel ", p.k_h, "x", p.k_w);
    p.pad_t = pads[0]; p.pad_l = pads[1]; p.pad_b = pads[2]; p.pad_r = pads[3];
    int64_t reach_h, reach_w;
    if (!checked_mul(p.dil_h, p.k_h - 1, &reach_h) || !checked_mul(p.dil_w, p.k_w - 1, &reach_w) ||
        reach_h > kMaxElements || reach_w > kMaxElements)
      return error(Code::kInvalidArgument, who, ": kernel ", p.k_h, "x", p.k_w, " with dilation ", p.dil_h, "x",
                   p.dil_w, " spans too far");
    Status s = pool_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, p.ceil_mode, &p.out_h);
    if (s.ok()) s = pool_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, p.ceil_mode, &p.out_w);
    if (!s.ok())
      return error(s.code(), who, ": input ", shape_str(xs), " with kernel ", p.k_h, "x", p.k_w, ", dilation ",
                   p.dil_h, "x", p.dil_w, ", padding ", shape_str({p.pad_t, p.pad_l, p.pad_b, p.pad_r}), ": ",
                   s.message());
    TensorDesc y;
    y.shape = {p.n, p.c, p.out_h, p.out_w};
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, who.c_str(), &count));
    FCN_RETURN_IF_ERROR(checked_numel(xs, who.c_str(), &count));
    // Which taps of each window hit real pixels; for count_include_pad also which lie inside
    // the explicit padding (ONNX/PyTorch: the ceil-mode overhang beyond it is not counted).
    tap_ranges(p.out_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, 0, p.in_h, &h_begin_, &h_end_);
    tap_ranges(p.out_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, 0, p.in_w, &w_begin_, &w_end_);
    std::vector<int64_t> b, e;
    h_div_.resize(p.out_h);
    w_div_.resize(p.out_w);
    if (count_include_pad) tap_ranges(p.out_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, -p.pad_t, p.in_h + p.pad_b, &b, &e);
    for (int64_t o = 0; o < p.out_h; ++o) h_div_[o] = count_include_pad ? e[o] - b[o] : h_end_[o] - h_begin_[o];
    if (count_include_pad) tap_ranges(p.out_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, -p.pad_l, p.in_w + p.pad_r, &b, &e);
    for (int64_t o = 0; o < p.out_w; ++o) w_div_[o] = count_include_pad ? e[o] - b[o] : w_end_[o] - w_begin_[o];
    // Interior columns: the whole window inside the input.
    ow_lo_ = std::min(p.out_w, ceil_div(p.pad_l, p.stride_w));
    int64_t last_start = p.in_w - 1 - reach_w + p.pad_l;  // the largest ow * stride that still fits
    ow_hi_ = last_start < 0 ? 0 : std::min(p.out_w, last_start / p.stride_w + 1);
    ow_hi_ = std::max(ow_hi_, ow_lo_);
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const Pool2dParams& p = p_;
    const float* x = in[0].f32();
    float* y = out[0].f32();
    int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
    int64_t work = std::max(in_plane, out_plane * std::min<int64_t>(p.k_h * p.k_w, 64));
    bool ok = for_planes(rc, p.n * p.c, work, [&](int64_t plane) {
      if (kind == PoolKind::kMax) max_plane(x + plane * in_plane, y + plane * out_plane);
      else avg_plane(x + plane * in_plane, y + plane * out_plane);
    });
    if (!ok) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  // Columns [0, ow_lo_) and [ow_hi_, out_w) have windows cut by the left or right edge and go
  // one output at a time; the interior runs tap by tap over a whole row of outputs, so the
  // innermost loop is a plain (vectorisable) sweep along the output row.

  // Padding never wins (it is -inf); a NaN anywhere in the window wins and stays.
  static float max_step(float m, float v) { return (v > m || v != v) ? v : m; }

  void max_plane(const float* x, float* y) const {
    const Pool2dParams& p = p_;
    const float kNegInf = -std::numeric_limits<float>::infinity();
    const int64_t n_in = ow_hi_ - ow_lo_;
    for (int64_t oh = 0; oh < p.out_h; ++oh) {
      const int64_t row0 = (oh * p.stride_h - p.pad_t) * p.in_w - p.pad_l;  // index of tap (0, 0) at ow = 0
      float* yr = y + oh * p.out_w;
      auto edge = [&](int64_t ow) {
        float m = kNegInf;
        for (int64_t kh = h_begin_[oh]; kh < h_end_[oh]; ++kh)
          for (int64_t kw = w_begin_[ow]; kw < w_end_[ow]; ++kw)
            m = max_step(m, x[row0 + kh * p.dil_h * p.in_w + ow * p.stride_w + kw * p.dil_w]);
        yr[ow] = m;
      };
      for (int64_t ow = 0; ow < ow_lo_; ++ow) edge(ow);
      for (int64_t ow = ow_hi_; ow < p.out_w; ++ow) edge(ow);
      float* yi = yr + ow_lo_;
      for (int64_t j = 0; j < n_in; ++j) yi[j] = kNegInf;
      for (int64_t kh = h_begin_[oh]; kh < h_end_[oh]; ++kh) {
        for (int64_t kw = 0; kw < p.k_w && n_in > 0; ++kw) {
          const float* src = x + row0 + kh * p.dil_h * p.in_w + ow_lo_ * p.stride_w + kw * p.dil_w;
          if (p.stride_w == 1) {
            for (int64_t j = 0; j < n_in; ++j) yi[j] = max_step(yi[j], src[j]);
          } else {
            for (int64_t j = 0; j < n_in; ++j) yi[j] = max_step(yi[j], src[j * p.stride_w]);
          }
        }
      }
    }
  }

  void avg_plane(const float* x, float* y) const {
    const Pool2dParams& p = p_;
    const int64_t n_in = ow_hi_ - ow_lo_;
    // A window of padding only (possible with dilation) averages nothing: 0.
    auto divide = [](float sum, int64_t div) { return div > 0 ? sum / static_cast<float>(div) : 0.f; };
    for (int64_t oh = 0; oh < p.out_h; ++oh) {
      const int64_t row0 = (oh * p.stride_h - p.pad_t) * p.in_w - p.pad_l;
      float* yr = y + oh * p.out_w;
      auto edge = [&](int64_t ow) {
        float sum = 0.f;
        for (int64_t kh = h_begin_[oh]; kh < h_end_[oh]; ++kh)
          for (int64_t kw = w_begin_[ow]; kw < w_end_[ow]; ++kw)
            sum += x[row0 + kh * p.dil_h * p.in_w + ow * p.stride_w + kw * p.dil_w];
        yr[ow] = divide(sum, h_div_[oh] * w_div_[ow]);
      };
      for (int64_t ow = 0; ow < ow_lo_; ++ow) edge(ow);
      for (int64_t ow = ow_hi_; ow < p.out_w; ++ow) edge(ow);
      float* yi = yr + ow_lo_;
      for (int64_t j = 0; j < n_in; ++j) yi[j] = 0.f;
      for (int64_t kh = h_begin_[oh]; kh < h_end_[oh]; ++kh) {
        for (int64_t kw = 0; kw < p.k_w && n_in > 0; ++kw) {
          const float* src = x + row0 + kh * p.dil_h * p.in_w + ow_lo_ * p.stride_w + kw * p.dil_w;
          if (p.stride_w == 1) {
            for (int64_t j = 0; j < n_in; ++j) yi[j] += src[j];
          } else {
            for (int64_t j = 0; j < n_in; ++j) yi[j] += src[j * p.stride_w];
          }
        }
      }
      const int64_t div = h_div_[oh] * p.k_w;  // interior columns: every tap is a real pixel
      for (int64_t j = 0; j < n_in; ++j) yi[j] = divide(yi[j], div);
    }
  }

  Pool2dParams p_;
  std::vector<int64_t> h_begin_, h_end_, w_begin_, w_end_, h_div_, w_div_;
  int64_t ow_lo_ = 0, ow_hi_ = 0;
};

class GlobalAvgPool2dOp : public Op {
 public:
  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "input [N, C, H, W]", in[0], 4));
    const Shape& xs = in[0].shape;
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(xs, who.c_str(), &count));
    if (xs[2] < 1 || xs[3] < 1)
      return error(Code::kShapeMismatch, who, ": input ", shape_str(xs), " has no pixels to average");
    planes_ = xs[0] * xs[1];
    plane_ = xs[2] * xs[3];
    TensorDesc y;
    y.shape = {xs[0], xs[1], 1, 1};
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const float* x = in[0].f32();
    float* y = out[0].f32();
    int64_t plane = plane_;
    bool ok = for_planes(rc, planes_, plane, [&](int64_t i) {
      const float* src = x + i * plane;
      // Eight float partial sums (vectorisable) folded per block into a double.
      double total = 0.0;
      int64_t j = 0;
      for (; j + 1024 <= plane; j += 1024) {
        float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
        for (int64_t k = 0; k < 1024; k += 8)
          for (int l = 0; l < 8; ++l) acc[l] += src[j + k + l];
        for (int l = 0; l < 8; ++l) total += acc[l];
      }
      for (; j < plane; ++j) total += src[j];
      y[i] = static_cast<float>(total / static_cast<double>(plane));
    });
    if (!ok) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t planes_ = 0, plane_ = 1;
};

Status parse_flag(const Attrs& a, const std::string& who, const std::string& name, bool* out) {
  int64_t v;
  FCN_RETURN_IF_ERROR(a.get_int(who, name, 0, &v));
  if (v != 0 && v != 1)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be true or false, got ", v);
  *out = v == 1;
  return Status::OK();
}

Status make_pool2d(PoolKind kind, const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<Pool2dOp>();
  op->kind = kind;
  op->attrs = a;
  if (!a.has("kernel")) return error(Code::kInvalidArgument, who, ": attribute 'kernel' is required");
  FCN_RETURN_IF_ERROR(get_pair(a, who, "kernel", 1, op->kernel));
  if (op->kernel[0] < 1 || op->kernel[1] < 1)
    return error(Code::kInvalidArgument, who, ": kernel must be >= 1, got ", shape_str({op->kernel[0], op->kernel[1]}));
  if (a.has("stride")) {
    FCN_RETURN_IF_ERROR(get_pair(a, who, "stride", 1, op->stride));
  } else {
    op->stride[0] = op->kernel[0];
    op->stride[1] = op->kernel[1];
  }
  FCN_RETURN_IF_ERROR(get_pair(a, who, "dilation", 1, op->dil));
  if (op->stride[0] < 1 || op->stride[1] < 1 || op->dil[0] < 1 || op->dil[1] < 1)
    return error(Code::kInvalidArgument, who, ": stride and dilation must be >= 1, got stride ",
                 shape_str({op->stride[0], op->stride[1]}), ", dilation ", shape_str({op->dil[0], op->dil[1]}));
  FCN_RETURN_IF_ERROR(parse_flag(a, who, "ceilMode", &op->ceil_mode));
  if (kind == PoolKind::kAvg) FCN_RETURN_IF_ERROR(parse_flag(a, who, "countIncludePad", &op->count_include_pad));
  *out = std::move(op);
  return Status::OK();
}

}  // namespace

Status make_max_pool2d_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_pool2d(PoolKind::kMax, a, who, out);
}

Status make_avg_pool2d_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  return make_pool2d(PoolKind::kAvg, a, who, out);
}

Status make_global_avg_pool2d_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  *out = std::make_unique<GlobalAvgPool2dOp>();
  return Status::OK();
}

}  // namespace fcn
