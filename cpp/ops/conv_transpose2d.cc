// convTranspose2d: x [N, C, H, W], w [C, outC/groups, kH, kW], bias [outC]? -> y [N, outC, OH, OW].
#include "ops/op.h"

namespace fcn {

Status parse_activation(const Attrs& a, const std::string& who, bool* relu);

namespace {

class ConvTranspose2dOp : public Op {
 public:
  Attrs attrs;
  int64_t stride[2], dil[2], out_pad[2], groups = 1;
  bool relu = false;

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
    if (ws.size() != 4 || ws[0] != xs[1] || ws[1] < 1 || ws[2] < 1 || ws[3] < 1) {
      int64_t ocg = ws.size() == 4 ? ws[1] : 0, kh = ws.size() == 4 ? ws[2] : 0, kw = ws.size() == 4 ? ws[3] : 0;
      return error(Code::kShapeMismatch, who, ": expected weight of shape [inC, outC/groups, kH, kW] = ",
                   shape_str({xs[1], ocg, kh, kw}), " but received ", shape_str(ws));
    }
    ConvTranspose2dParams& p = params_;
    p.n = xs[0]; p.in_c = xs[1]; p.in_h = xs[2]; p.in_w = xs[3];
    p.out_c = ws[1] * groups; p.k_h = ws[2]; p.k_w = ws[3];
    p.stride_h = stride[0]; p.stride_w = stride[1]; p.dil_h = dil[0]; p.dil_w = dil[1];
    p.out_pad_h = out_pad[0]; p.out_pad_w = out_pad[1];
    p.groups = groups;
    p.relu = relu;
    if (in.size() == 3) {
      FCN_RETURN_IF_ERROR(expect_f32(who, "bias", in[2]));
      if (in[2].shape != Shape{p.out_c})
        return error(Code::kShapeMismatch, who, ": expected bias of shape [outC] = ", shape_str({p.out_c}),
                     " but received ", shape_str(in[2].shape));
    }
    std::string mode;
    FCN_RETURN_IF_ERROR(attrs.get_string(who, "autoPad", "explicit", &mode));
    if (mode == "same") {
      // Output = input * stride; SAME_UPPER puts the odd pixel of padding at the end.
      int64_t k[2] = {p.k_h, p.k_w};
      int64_t s[2] = {p.stride_h, p.stride_w}, d[2] = {p.dil_h, p.dil_w}, op[2] = {p.out_pad_h, p.out_pad_w};
      int64_t in_sz[2] = {p.in_h, p.in_w}, pb[2], pe[2];
      for (int i = 0; i < 2; ++i) {
        // The unpadded output size, checked, less input * stride.
        int64_t full, target, total;
        Status st = conv_transpose_out_size(in_sz[i], k[i], s[i], d[i], 0, 0, op[i], &full);
        if (!st.ok()) return error(st.code(), who, ": input ", shape_str(xs), ": ", st.message());
        if (!checked_mul(in_sz[i], s[i], &target))
          return error(Code::kTooLarge, who, ": input ", shape_str(xs), " times stride ", s[i], " overflows");
        total = full > target ? full - target : 0;
        pb[i] = total / 2;
        pe[i] = total - total / 2;
      }
      p.pad_t = pb[0]; p.pad_l = pb[1]; p.pad_b = pe[0]; p.pad_r = pe[1];
    } else {
      int64_t k[2] = {1, 1}, one[2] = {1, 1}, pads[4];
      FCN_RETURN_IF_ERROR(resolve_padding(attrs, who, p.in_h, p.in_w, k, one, one, pads));
      p.pad_t = pads[0]; p.pad_l = pads[1]; p.pad_b = pads[2]; p.pad_r = pads[3];
    }
    Status s = conv_transpose_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, p.out_pad_h, &p.out_h);
    if (s.ok()) s = conv_transpose_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, p.out_pad_w, &p.out_w);
    if (!s.ok()) return error(s.code(), who, ": input ", shape_str(xs), ": ", s.message());
    TensorDesc y;
    y.shape = {p.n, p.out_c, p.out_h, p.out_w};
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, who.c_str(), &count));
    s = make_conv_transpose2d_plan(isa_, p, &plan_);
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
  ConvTranspose2dParams params_;
  std::unique_ptr<ConvTranspose2dPlan> plan_;
  AlignedBuffer packed_;
  bool prepacked_ = false;
};

}  // namespace

Status make_conv_transpose2d_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<ConvTranspose2dOp>();
  op->attrs = a;
  FCN_RETURN_IF_ERROR(get_pair(a, who, "stride", 1, op->stride));
  FCN_RETURN_IF_ERROR(get_pair(a, who, "dilation", 1, op->dil));
  FCN_RETURN_IF_ERROR(get_pair(a, who, "outputPadding", 0, op->out_pad));
  FCN_RETURN_IF_ERROR(a.get_int(who, "groups", 1, &op->groups));
  FCN_RETURN_IF_ERROR(parse_activation(a, who, &op->relu));
  if (op->stride[0] < 1 || op->stride[1] < 1 || op->dil[0] < 1 || op->dil[1] < 1 || op->groups < 1)
    return error(Code::kInvalidArgument, who, ": stride, dilation and groups must be >= 1");
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
