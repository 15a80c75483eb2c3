// max: y = elementwise maximum of 2 to 16 inputs of one shape (Caffe Eltwise MAX), any rank.
// A NaN in any input makes that output NaN, as maxPool2d lets a NaN in the window win.
#include <algorithm>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 16;
constexpr size_t kMaxInputs = 16;

class MaxOp : public Op {
 public:
  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, kMaxInputs));
    for (size_t i = 0; i < in.size(); ++i) {
      FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[i]));
      if (in[i].shape != in[0].shape)
        return error(Code::kShapeMismatch, who, ": input ", i, " has shape ", shape_str(in[i].shape),
                     " but input 0 has ", shape_str(in[0].shape), " (max takes inputs of one shape)");
    }
    FCN_RETURN_IF_ERROR(checked_numel(in[0].shape, who.c_str(), &count_));
    TensorDesc y;
    y.shape = in[0].shape;
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    float* y = out[0].f32();
    const int64_t n = count_;
    const int64_t chunks = (n + kChunkElems - 1) / kChunkElems;
    auto body = [&](int64_t c, int) {
      if (rc.aborted()) return;
      int64_t begin = c * kChunkElems, end = std::min(n, begin + kChunkElems);
      const float* x0 = in[0].f32();
      for (int64_t i = begin; i < end; ++i) y[i] = x0[i];
      for (size_t k = 1; k < in.size(); ++k) {
        const float* x = in[k].f32();
        // Written so that a NaN already in y stays and a NaN in x replaces y.
        for (int64_t i = begin; i < end; ++i) y[i] = (x[i] > y[i] || x[i] != x[i]) ? x[i] : y[i];
      }
    };
    run_chunks(rc, chunks, body);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t count_ = 0;
};

}  // namespace

Status make_max_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  *out = std::make_unique<MaxOp>();
  return Status::OK();
}

}  // namespace fcn
