// anchors: torchvision's AnchorGenerator for one feature map, no inputs. Attributes: sizes and
// aspectRatios (A = |ratios|·|sizes| cell anchors, ratio-major), gridSize [gh, gw] and stride
// [sh, sw] (torchvision: padded image size // grid size). Output [gh·gw·A, 4], location-major
// (row, then column, then cell anchor). Cell anchors are round(±w/2, ±h/2) with h = size·√ratio,
// w = size/√ratio, rounded half to even as torch.round.
#include <cmath>

#include "ops/op.h"

namespace fcn {

namespace {

class AnchorsOp : public Op {
 public:
  std::vector<double> sizes, ratios;
  int64_t grid[2] = {1, 1}, stride[2] = {1, 1};

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    FCN_RETURN_IF_ERROR(expect_inputs(label(), in, 0, 0));
    int64_t cells, n;
    if (!checked_mul(grid[0], grid[1], &cells) || !checked_mul(cells, int64_t(sizes.size() * ratios.size()), &n))
      return error(Code::kTooLarge, label(), ": grid too large");
    TensorDesc y;
    y.shape = {n, 4};
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, "anchors output", &n));
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl&, const std::vector<Tensor>&, const std::vector<Tensor>& out, void*) const override {
    std::vector<float> cell;
    for (double r : ratios) {
      const float hr = std::sqrt(static_cast<float>(r));
      const float wr = 1.f / hr;
      for (double s : sizes) {
        const float ws = wr * static_cast<float>(s), hs = hr * static_cast<float>(s);
        cell.push_back(std::nearbyint(-ws / 2));
        cell.push_back(std::nearbyint(-hs / 2));
        cell.push_back(std::nearbyint(ws / 2));
        cell.push_back(std::nearbyint(hs / 2));
      }
    }
    const size_t a = cell.size() / 4;
    float* y = out[0].f32();
    for (int64_t gy = 0; gy < grid[0]; ++gy) {
      const float sy = static_cast<float>(gy * stride[0]);
      for (int64_t gx = 0; gx < grid[1]; ++gx) {
        const float sx = static_cast<float>(gx * stride[1]);
        for (size_t i = 0; i < a; ++i) {
          *y++ = sx + cell[i * 4 + 0];
          *y++ = sy + cell[i * 4 + 1];
          *y++ = sx + cell[i * 4 + 2];
          *y++ = sy + cell[i * 4 + 3];
        }
      }
    }
    return Status::OK();
  }
};

}  // namespace

Status make_anchors_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<AnchorsOp>();
  FCN_RETURN_IF_ERROR(a.get_floats(who, "sizes", {}, &op->sizes));
  FCN_RETURN_IF_ERROR(a.get_floats(who, "aspectRatios", {0.5, 1.0, 2.0}, &op->ratios));
  if (op->sizes.empty() || op->ratios.empty() || op->sizes.size() > 64 || op->ratios.size() > 64)
    return error(Code::kInvalidArgument, who, ": sizes and aspectRatios must each have 1..64 numbers");
  for (double v : op->sizes)
    if (!(v > 0) || !std::isfinite(v)) return error(Code::kInvalidArgument, who, ": sizes must be finite and > 0, got ", v);
  for (double v : op->ratios)
    if (!(v > 0) || !std::isfinite(v)) return error(Code::kInvalidArgument, who, ": aspectRatios must be finite and > 0, got ", v);
  FCN_RETURN_IF_ERROR(get_pair(a, who, "gridSize", 1, op->grid));
  FCN_RETURN_IF_ERROR(get_pair(a, who, "stride", 1, op->stride));
  for (int i = 0; i < 2; ++i) {
    if (op->grid[i] < 0 || op->grid[i] > (int64_t(1) << 20) || op->stride[i] < 0 || op->stride[i] > (int64_t(1) << 20))
      return error(Code::kInvalidArgument, who, ": gridSize and stride must be in 0..2^20");
  }
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
