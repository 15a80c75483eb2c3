// The table of op types. Each op file defines its factory; add a line here for a new op.
#include "ops/op.h"

namespace fcn {

#define FCN_OPS(X)                          \
  X("conv2d", make_conv2d_op)               \
  X("convTranspose2d", make_conv_transpose2d_op) \
  X("pad", make_pad_op)                     \
  X("resize", make_resize_op)               \
  X("softmax", make_softmax_op)             \
  X("argmax", make_argmax_op)               \
  X("maxPool2d", make_max_pool2d_op)        \
  X("avgPool2d", make_avg_pool2d_op)        \
  X("globalAvgPool2d", make_global_avg_pool2d_op) \
  X("relu", make_relu_op)                   \
  X("leakyRelu", make_leaky_relu_op)        \
  X("sigmoid", make_sigmoid_op)             \
  X("hardSigmoid", make_hard_sigmoid_op)    \
  X("hardSwish", make_hard_swish_op)        \
  X("add", make_add_op)                     \
  X("mul", make_mul_op)                     \
  X("concat", make_concat_op)               \
  X("crop", make_crop_op)                   \
  X("tanh", make_tanh_op)                   \
  X("clip", make_clip_op)                   \
  X("sub", make_sub_op)                     \
  X("div", make_div_op)                     \
  X("prelu", make_prelu_op)                 \
  X("slice", make_slice_op)                 \
  X("transpose", make_transpose_op)         \
  X("reshape", make_reshape_op)             \
  X("gemm", make_gemm_op)                   \
  X("matmul", make_matmul_op)              \
  X("max", make_max_op)                     \
  X("roiAlign", make_roi_align_op)          \
  X("roiAlignMultiLevel", make_roi_align_multi_level_op) \
  X("nms", make_nms_op)                     \
  X("boxDecode", make_box_decode_op)        \
  X("anchors", make_anchors_op)             \
  X("topk", make_topk_op)

#define FCN_DECLARE(name, fn) Status fn(const Attrs& attrs, const std::string& who, std::unique_ptr<Op>* out);
FCN_OPS(FCN_DECLARE)
#undef FCN_DECLARE

namespace {
struct Entry {
  const char* name;
  Status (*make)(const Attrs&, const std::string&, std::unique_ptr<Op>*);
};
#define FCN_ENTRY(name, fn) {name, fn},
const Entry kOps[] = {FCN_OPS(FCN_ENTRY)};
#undef FCN_ENTRY
}  // namespace

Status make_op(const std::string& type, const Attrs& attrs, const std::string& node_name, Isa isa,
               std::unique_ptr<Op>* out) {
  std::string who = node_name.empty() ? type : type + " '" + node_name + "'";
  for (const Entry& e : kOps) {
    if (type != e.name) continue;
    std::unique_ptr<Op> op;
    FCN_RETURN_IF_ERROR(e.make(attrs, who, &op));
    op->label_ = who;
    op->isa_ = isa;
    *out = std::move(op);
    return Status::OK();
  }
  return error(Code::kUnsupportedOp, "unknown op type '", type, "'", node_name.empty() ? "" : " (node '" + node_name + "')");
}

std::vector<std::string> op_types() {
  std::vector<std::string> v;
  for (const Entry& e : kOps) v.push_back(e.name);
  return v;
}

}  // namespace fcn
