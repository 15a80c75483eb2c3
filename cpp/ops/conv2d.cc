// conv2d: x [N, C, H, W], w [outC, C/groups, kH, kW], bias [outC]? -> y [N, outC, OH, OW].
#include "kernels/bf16.h"
#include "ops/op.h"
#include "ops/precision.h"

namespace fcn {

namespace {

class Conv2dOp : public Op {
 public:
  Attrs attrs;
  int64_t stride[2], dil[2], groups = 1;
  bool relu = false;
  bool bf16 = false;  // precision 'bf16' (ops/precision.h)

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 2, 3));
    FCN_RETURN_IF_ERROR(expect_f32(who, "input", in[0]));
    FCN_RETURN_IF_ERROR(expect_f32(who, "weight", in[1]));
    FCN_RETURN_IF_ERROR(expect_rank(who, "input [N, C, H, W]", in[0], 4));
    const Shape& xs = in[0].shape;
    const Shape& ws = in[1].shape;
    if (xs[1] % groups != 0)
      return error(Code::kShapeMismatch, who, ": input channels ", xs[1], " are not divisible by groups ", groups);
    if (ws.size() != 4 || ws[1] != xs[1] / groups || ws[0] < 1 || ws[0] % groups != 0 || ws[2] < 1 || ws[3] < 1) {
      int64_t oc = ws.size() == 4 ? ws[0] : 0, kh = ws.size() == 4 ? ws[2] : 0, kw = ws.size() == 4 ? ws[3] : 0;
      std::string extra = (ws.size() == 4 && ws[0] % groups != 0)
                              ? str(" (outC ", ws[0], " must be divisible by groups ", groups, ")")
                              : "";
      return error(Code::kShapeMismatch, who, ": expected weight of shape [outC, inC/groups, kH, kW] = ",
                   shape_str({oc, xs[1] / groups, kh, kw}), " but received ", shape_str(ws), extra);
    }
    if (in.size() == 3) {
      FCN_RETURN_IF_ERROR(expect_f32(who, "bias", in[2]));
      if (in[2].shape != Shape{ws[0]})
        return error(Code::kShapeMismatch, who, ": expected bias of shape [outC] = ", shape_str({ws[0]}),
                     " but received ", shape_str(in[2].shape));
    }
    Conv2dParams& p = params_;
    p.n = xs[0]; p.in_c = xs[1]; p.in_h = xs[2]; p.in_w = xs[3];
    p.out_c = ws[0]; p.k_h = ws[2]; p.k_w = ws[3];
    p.stride_h = stride[0]; p.stride_w = stride[1]; p.dil_h = dil[0]; p.dil_w = dil[1];
    p.groups = groups;
    p.relu = relu;
    int64_t k[2] = {p.k_h, p.k_w}, pads[4];
    FCN_RETURN_IF_ERROR(resolve_padding(attrs, who, p.in_h, p.in_w, k, stride, dil, pads));
    p.pad_t = pads[0]; p.pad_l = pads[1]; p.pad_b = pads[2]; p.pad_r = pads[3];
    Status s = conv_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, &p.out_h);
    if (s.ok()) s = conv_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, &p.out_w);
    if (!s.ok())
      return error(s.code(), who, ": input ", shape_str(xs), " with kernel ", p.k_h, "x", p.k_w,
                   ", padding ", shape_str({p.pad_t, p.pad_l, p.pad_b, p.pad_r}), ": ", s.message());
    TensorDesc y;
    y.shape = {p.n, p.out_c, p.out_h, p.out_w};
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, who.c_str(), &count));
    if (bf16) FCN_RETURN_IF_ERROR(check_bf16_supported(who));
    if (bf16 && bf16_conv_applies(p)) s = make_conv2d_plan_bf16(isa_, p, &plan_);
    else s = make_conv2d_plan(isa_, p, &plan_);
    if (!s.ok()) return error(s.code(), who, ": input ", shape_str(xs), ", weight ", shape_str(ws), ": ", s.message());
    if (in[1].constant) {
      FCN_RETURN_IF_ERROR(reserve("packed weights", plan_->packed_weight_floats() * sizeof(float)));
      if (!packed_.allocate(plan_->packed_weight_floats() * sizeof(float)))
        return error(Code::kOutOfMemory, who, ": cannot allocate packed weights");
      plan_->pack_weights(static_cast<const float*>(in[1].constant), packed_.f32());
      prepacked_ = true;
    }
    out->assign(1, y);
    return Status::OK();
  }

  size_t workspace_bytes(int max_threads) const override {
    size_t ws = plan_->workspace_bytes(max_threads);
    if (!prepacked_) ws = align(ws) + plan_->packed_weight_floats() * sizeof(float);
    return ws;
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const float* packed = packed_.f32();
    if (!prepacked_) {
      float* dst = reinterpret_cast<float*>(static_cast<char*>(workspace) + align(plan_->workspace_bytes(rc.max_threads)));
      plan_->pack_weights(in[1].f32(), dst);
      packed = dst;
    }
    plan_->run(in[0].f32(), packed, in.size() == 3 ? in[2].f32() : nullptr, out[0].f32(), workspace, rc);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  static size_t align(size_t n) { return (n + 63) & ~size_t(63); }
  Conv2dParams params_;
  std::unique_ptr<Conv2dPlan> plan_;
  AlignedBuffer packed_;
  bool prepacked_ = false;
};

}  // namespace

Status parse_activation(const Attrs& a, const std::string& who, bool* relu) {
  std::string act;
  FCN_RETURN_IF_ERROR(a.get_string(who, "activation", "none", &act));
  if (act != "none" && act != "relu")
    return error(Code::kInvalidArgument, who, ": activation '", act, "' is not one of none, relu");
  *relu = act == "relu";
  return Status::OK();
}

Status make_conv2d_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<Conv2dOp>();
  op->attrs = a;
  FCN_RETURN_IF_ERROR(get_pair(a, who, "stride", 1, op->stride));
  FCN_RETURN_IF_ERROR(get_pair(a, who, "dilation", 1, op->dil));
  FCN_RETURN_IF_ERROR(a.get_int(who, "groups", 1, &op->groups));
  FCN_RETURN_IF_ERROR(parse_activation(a, who, &op->relu));
  FCN_RETURN_IF_ERROR(parse_precision(a, who, &op->bf16));
  if (op->stride[0] < 1 || op->stride[1] < 1 || op->dil[0] < 1 || op->dil[1] < 1 || op->groups < 1)
    return error(Code::kInvalidArgument, who, ": stride, dilation and groups must be >= 1");
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
