// concat: inputs x0..xk of one rank, equal on every dim but `axis` -> y, joined along `axis`.
#include <algorithm>
#include <cstring>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 16;

class ConcatOp : public Op {
 public:
  int64_t axis_attr = 1;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    if (in.empty()) return error(Code::kInvalidArgument, who, ": expected at least 1 input but received 0");
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i].dtype != DType::kF32)
        return error(Code::kInvalidArgument, who, ": expected input ", i, " of dtype float32 but received ",
                     dtype_name(in[i].dtype));
    }
    const Shape& s0 = in[0].shape;
    int64_t rank = static_cast<int64_t>(s0.size());
    if (axis_attr < -rank || axis_attr >= rank)
      return error(Code::kInvalidArgument, who, ": axis ", axis_attr, " is out of range for inputs of rank ", rank,
                   " (expected ", -rank, " to ", rank - 1, ")");
    axis_ = axis_attr < 0 ? axis_attr + rank : axis_attr;
    Shape ys = s0;
    ys[axis_] = 0;
    int64_t count;
    for (size_t i = 0; i < in.size(); ++i) {
      const Shape& s = in[i].shape;
      bool match = s.size() == s0.size();
      for (int64_t d = 0; match && d < rank; ++d) match = d == axis_ || s[d] == s0[d];
      if (!match)
        return error(Code::kShapeMismatch, who, ": input ", i, " has shape ", shape_str(s), " but input 0 has shape ",
                     shape_str(s0), "; all dims but axis ", axis_, " must match");
      FCN_RETURN_IF_ERROR(checked_numel(s, who.c_str(), &count));
      if (!checked_add(ys[axis_], s[axis_], &ys[axis_]) || ys[axis_] > kMaxElements)
        return error(Code::kTooLarge, who, ": the joined axis is too long");
    }
    FCN_RETURN_IF_ERROR(checked_numel(ys, who.c_str(), &count));
    outer_ = 1;
    for (int64_t d = 0; d < axis_; ++d) outer_ *= ys[d];
    int64_t after = 1;
    for (int64_t d = axis_ + 1; d < rank; ++d) after *= ys[d];
    inner_.resize(in.size());
    prefix_.assign(in.size() + 1, 0);
    for (size_t i = 0; i < in.size(); ++i) {
      inner_[i] = in[i].shape[axis_] * after;
      prefix_[i + 1] = prefix_[i] + inner_[i];
    }
    TensorDesc y;
    y.shape = ys;
    out->assign(1, y);
    return Status::OK();
  }

  // The output is cut into equal flat ranges; each range is filled by walking the pieces
  // (one input's slice of one outer row) that overlap it.
  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    float* y = out[0].f32();
    const int64_t row = prefix_.back();
    const int64_t total = outer_ * row;
    int64_t chunks = (total + kChunkElems - 1) / kChunkElems;
    auto body = [&](int64_t c, int) {
      if (rc.aborted()) return;
      int64_t p = c * kChunkElems, end = std::min(total, p + kChunkElems);
      int64_t o = p / row, r = p % row;
      size_t i = 0;
      while (p < end) {
        while (prefix_[i + 1] <= r) ++i;
        int64_t len = std::min(end - p, prefix_[i + 1] - r);
        std::memcpy(y + p, in[i].f32() + o * inner_[i] + (r - prefix_[i]), static_cast<size_t>(len) * sizeof(float));
        p += len;
        r += len;
        if (r == row) {
          r = 0;
          ++o;
          i = 0;
        }
      }
    };
    run_chunks(rc, chunks, body);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t axis_ = 1, outer_ = 1;
  std::vector<int64_t> inner_, prefix_;
};

}  // namespace

Status make_concat_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<ConcatOp>();
  FCN_RETURN_IF_ERROR(a.get_int(who, "axis", 1, &op->axis_attr));
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
