// nms: greedy non-maximum suppression as torchvision.ops.nms / batched_nms.
//
// Inputs: boxes [K, 4] (x1, y1, x2, y2), scores [K], and optionally idxs [K] (class or image
// ids, float32 or int32: boxes of different ids never suppress each other). Output: int32 [K],
// the kept indices in decreasing score order, then -1 padding.
//
// As torchvision: boxes are visited in decreasing score, equal scores in index order (its CPU
// kernel sorts stably); IoU uses widths x2 - x1 without +1, overlap max(0, ·), and a box is
// dropped when IoU > iouThreshold (compared in double, the threshold's type). With idxs, up to
// 1000 boxes (4000 coordinates) torchvision's batched_nms offsets each id's boxes by
// id · (max coordinate + 1) and runs one NMS; above that it runs one NMS per id and merges by
// score. Both are reproduced, because the offset changes IoU rounding.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/op.h"

namespace fcn {

namespace {

constexpr int64_t kVanillaAbove = 4000;  // torchvision's CPU switch, in coordinates

// Indices of `order` kept by greedy NMS over boxes b (x1, y1, x2, y2 rows).
void greedy(const float* b, const std::vector<int64_t>& order, double thr, std::vector<int64_t>* keep) {
  const size_t n = order.size();
  std::vector<float> area(n);
  for (size_t i = 0; i < n; ++i) {
    const float* r = b + order[i] * 4;
    area[i] = (r[2] - r[0]) * (r[3] - r[1]);
  }
  std::vector<char> gone(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (gone[i]) continue;
    keep->push_back(order[i]);
    const float* a = b + order[i] * 4;
    for (size_t j = i + 1; j < n; ++j) {
      if (gone[j]) continue;
      const float* c = b + order[j] * 4;
      const float w = std::max(0.f, std::min(a[2], c[2]) - std::max(a[0], c[0]));
      const float h = std::max(0.f, std::min(a[3], c[3]) - std::max(a[1], c[1]));
      const float inter = w * h;
      const float iou = inter / (area[i] + area[j] - inter);
      if (static_cast<double>(iou) > thr) gone[j] = 1;
    }
  }
}

std::vector<int64_t> by_score(const float* scores, std::vector<int64_t> idx) {
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  return idx;
}

class NmsOp : public Op {
 public:
  double thr = 0.5;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 3));
    FCN_RETURN_IF_ERROR(expect_f32(who, "boxes", in[0]));
    FCN_RETURN_IF_ERROR(expect_f32(who, "scores", in[1]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "boxes", in[0], 2));
    const int64_t k = in[0].shape[0];
    if (in[0].shape[1] != 4) return error(Code::kShapeMismatch, who, ": expected boxes [K, 4] but received ", shape_str(in[0].shape));
    if (in[1].shape != Shape{k})
      return error(Code::kShapeMismatch, who, ": expected scores [", k, "] but received ", shape_str(in[1].shape));
    if (in.size() == 3 && in[2].shape != Shape{k})
      return error(Code::kShapeMismatch, who, ": expected idxs [", k, "] but received ", shape_str(in[2].shape));
    if (k > INT32_MAX) return error(Code::kTooLarge, who, ": ", k, " boxes is too many for int32 indices");
    TensorDesc y;
    y.dtype = DType::kI32;
    y.shape = {k};
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void*) const override {
    const int64_t k = in[0].shape[0];
    const float* boxes = in[0].f32();
    const float* scores = in[1].f32();
    for (int64_t i = 0; i < k * 4; ++i)
      if (std::isnan(boxes[i])) return error(Code::kInvalidArgument, label(), ": boxes hold NaN at row ", i / 4);
    std::vector<int64_t> all(static_cast<size_t>(k));
    std::iota(all.begin(), all.end(), 0);
    std::vector<int64_t> keep;
    if (in.size() < 3 || k == 0) {
      greedy(boxes, by_score(scores, all), thr, &keep);
    } else {
      std::vector<double> ids(static_cast<size_t>(k));
      for (int64_t i = 0; i < k; ++i)
        ids[i] = in[2].dtype == DType::kI32 ? in[2].i32()[i] : in[2].f32()[i];
      if (k * 4 > kVanillaAbove) {
        std::vector<double> distinct(ids);
        std::sort(distinct.begin(), distinct.end());
        distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
        for (double id : distinct) {
          if (rc.aborted()) break;
          std::vector<int64_t> mine;
          for (int64_t i = 0; i < k; ++i)
            if (ids[i] == id) mine.push_back(i);
          greedy(boxes, by_score(scores, mine), thr, &keep);
        }
        std::sort(keep.begin(), keep.end());
        keep = by_score(scores, keep);
      } else {
        float maxc = boxes[0];
        for (int64_t i = 1; i < k * 4; ++i) maxc = std::max(maxc, boxes[i]);
        std::vector<float> shifted(static_cast<size_t>(k * 4));
        for (int64_t i = 0; i < k; ++i) {
          const float off = static_cast<float>(ids[i]) * (maxc + 1.f);
          for (int c = 0; c < 4; ++c) shifted[i * 4 + c] = boxes[i * 4 + c] + off;
        }
        greedy(shifted.data(), by_score(scores, all), thr, &keep);
      }
    }
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    int32_t* y = out[0].i32();
    std::fill(y, y + k, -1);
    for (size_t i = 0; i < keep.size(); ++i) y[i] = static_cast<int32_t>(keep[i]);
    return Status::OK();
  }
};

}  // namespace

Status make_nms_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<NmsOp>();
  FCN_RETURN_IF_ERROR(a.get_float(who, "iouThreshold", 0.5, &op->thr));
  if (std::isnan(op->thr)) return error(Code::kInvalidArgument, who, ": iouThreshold is NaN");
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
