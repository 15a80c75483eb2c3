// crop: Caffe's Crop with axis = 2: x [N, C, H, W] -> y [N, C, h, w] = x[:, :, oy:oy+h, ox:ox+w].
// Caffe derives the offset from a reference blob; here the caller passes offset and size
// (importers turn the reference's shape into `size`).
#include <algorithm>
#include <cstring>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 16;

class CropOp : public Op {
 public:
  int64_t offset[2] = {0, 0}, size[2] = {1, 1};

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "input [N, C, H, W]", in[0], 4));
    const Shape& xs = in[0].shape;
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(xs, who.c_str(), &count));
    // Attributes were range-checked at creation, so these sums cannot overflow.
    if (offset[0] + size[0] > xs[2] || offset[1] + size[1] > xs[3])
      return error(Code::kShapeMismatch, who, ": offset ", shape_str({offset[0], offset[1]}), " + size ",
                   shape_str({size[0], size[1]}), " reaches ", shape_str({offset[0] + size[0], offset[1] + size[1]}),
                   ", beyond the input's spatial size ", shape_str({xs[2], xs[3]}), " (input ", shape_str(xs), ")");
    in_h_ = xs[2];
    in_w_ = xs[3];
    planes_ = xs[0] * xs[1];
    TensorDesc y;
    y.shape = {xs[0], xs[1], size[0], size[1]};
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const float* x = in[0].f32();
    float* y = out[0].f32();
    const int64_t h = size[0], w = size[1], rows = planes_ * h;
    int64_t per = std::max<int64_t>(1, kChunkElems / w);
    int64_t chunks = (rows + per - 1) / per;
    auto body = [&](int64_t c, int) {
      if (rc.aborted()) return;
      int64_t end = std::min(rows, (c + 1) * per);
      for (int64_t r = c * per; r < end; ++r) {
        int64_t plane = r / h, oy = r % h;
        const float* src = x + (plane * in_h_ + offset[0] + oy) * in_w_ + offset[1];
        std::memcpy(y + r * w, src, static_cast<size_t>(w) * sizeof(float));
      }
    };
    run_chunks(rc, chunks, body);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t in_h_ = 0, in_w_ = 0, planes_ = 0;
};

}  // namespace

Status make_crop_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<CropOp>();
  if (!a.has("size")) return error(Code::kInvalidArgument, who, ": attribute 'size' [h, w] is required");
  FCN_RETURN_IF_ERROR(get_pair(a, who, "offset", 0, op->offset));
  FCN_RETURN_IF_ERROR(get_pair(a, who, "size", 1, op->size));
  for (int i = 0; i < 2; ++i) {
    if (op->offset[i] < 0 || op->offset[i] > kMaxElements || op->size[i] < 1 || op->size[i] > kMaxElements)
      return error(Code::kInvalidArgument, who, ": offset must be >= 0 and size >= 1, got offset ",
                   shape_str({op->offset[0], op->offset[1]}), ", size ", shape_str({op->size[0], op->size[1]}));
  }
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
