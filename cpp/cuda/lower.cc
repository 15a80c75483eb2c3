#include "cuda/lower.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "core/shape.h"
#include "cuda/step_math.h"
#include "graph/executor.h"
#include "graph/planner.h"
#include "ops/op.h"
#include "ops/resize.h"

namespace fcn {
namespace cuda {

namespace {

constexpr uint64_t kDeviceAlign = 256;
constexpr int64_t kGemmK = 32;      // the GEMM's k tile: k is padded to a multiple of it
constexpr int64_t kGemmNAlign = 4;  // rows of the prepared weight are 16-byte aligned
constexpr int64_t kMaxGridZ = 65535;
constexpr int64_t kMaxTap = int64_t(1) << 30;

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }
int64_t round_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

std::string node_label(const GraphNodeDesc& n) { return n.type + " '" + n.name + "'"; }

Shape dense_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t d = s.size(); d-- > 0;) {
    st[d] = acc;
    acc *= s[d];
  }
  return st;
}

const std::vector<std::string>& supported_list() {
  static const std::vector<std::string> v = {
      "conv2d", "convTranspose2d", "maxPool2d", "avgPool2d", "globalAvgPool2d", "relu",     "leakyRelu",
      "sigmoid", "hardSigmoid",    "hardSwish", "tanh",      "clip",            "add",      "mul",
      "sub",     "div",            "prelu",     "max",       "concat",          "crop",     "slice",
      "transpose", "reshape",      "pad",       "resize",    "softmax",         "argmax"};
  return v;
}

bool is_supported(const std::string& type) {
  const std::vector<std::string>& v = supported_list();
  return std::find(v.begin(), v.end(), type) != v.end();
}

// ---- attributes (parsed as the CPU ops parse them; compile() has validated them by then) ----

struct ConvAttrs {
  int64_t stride[2] = {1, 1}, dil[2] = {1, 1}, out_pad[2] = {0, 0};
  int64_t groups = 1;
  bool relu = false;
};

Status parse_conv_attrs(const GraphNodeDesc& n, bool transposed, ConvAttrs* a) {
  const std::string who = node_label(n);
  FCN_RETURN_IF_ERROR(get_pair(n.attrs, who, "stride", 1, a->stride));
  FCN_RETURN_IF_ERROR(get_pair(n.attrs, who, "dilation", 1, a->dil));
  if (transposed) FCN_RETURN_IF_ERROR(get_pair(n.attrs, who, "outputPadding", 0, a->out_pad));
  FCN_RETURN_IF_ERROR(n.attrs.get_int(who, "groups", 1, &a->groups));
  std::string act;
  FCN_RETURN_IF_ERROR(n.attrs.get_string(who, "activation", "none", &act));
  a->relu = act == "relu";
  if (a->stride[0] < 1 || a->stride[1] < 1 || a->dil[0] < 1 || a->dil[1] < 1 || a->groups < 1)
    return error(Code::kInvalidArgument, who, ": stride, dilation and groups must be >= 1");
  return Status::OK();
}

// A transposed convolution's padding, which never depends on the input size (cpp/ops/conv_transpose2d.cc).
Status deconv_pads(const GraphNodeDesc& n, const ConvAttrs& a, int64_t kh, int64_t kw, int64_t pads[4]) {
  const std::string who = node_label(n);
  std::string mode;
  FCN_RETURN_IF_ERROR(n.attrs.get_string(who, "autoPad", "explicit", &mode));
  if (mode == "same") {
    const int64_t k[2] = {kh, kw};
    for (int i = 0; i < 2; ++i) {
      int64_t total = a.out_pad[i] + (k[i] - 1) * a.dil[i] + 1 - a.stride[i];
      if (total < 0) total = 0;
      pads[i] = total / 2;
      pads[i + 2] = total - total / 2;
    }
    return Status::OK();
  }
  int64_t k1[2] = {1, 1}, one[2] = {1, 1};
  return resolve_padding(n.attrs, who, 1, 1, k1, one, one, pads);
}

// GEMM or direct, from what is known before any input shape.
bool conv_uses_gemm(const std::string& type, const ConvAttrs& a, const Shape& ws, bool weight_constant) {
  if (!weight_constant || ws.size() != 4) return false;
  for (int64_t d : ws)
    if (d < 1) return false;
  if (type == "conv2d") {
    const int64_t cg = ws[1];
    if (ws[0] % a.groups != 0) return false;
    if (cg == 1 && a.groups > 1) return false;  // depthwise: the direct kernel
    return a.groups <= kMaxGridZ;
  }
  if (a.dil[0] != 1 || a.dil[1] != 1) return false;
  if (ws[0] % a.groups != 0) return false;
  const int64_t cg = ws[0] / a.groups;
  if (cg == 1 && a.groups > 1) return false;
  return a.groups * a.stride[0] * a.stride[1] <= kMaxGridZ;
}

// ---- prepared weights ---------------------------------------------------------------------

// conv2d w [O, Cg, kh, kw] -> [g][k_pad][n_pad] with k = c*kh*kw + r*kw + s, n = o - g*N.
void prepare_conv(const float* w, const Shape& ws, int64_t groups, const CudaModel::NodeInfo& ni, std::vector<float>* out) {
  const int64_t cg = ws[1], kh = ws[2], kw = ws[3], nn = ni.n;
  out->assign(static_cast<size_t>(groups * ni.k_pad * ni.n_pad), 0.f);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t n = 0; n < nn; ++n)
      for (int64_t k = 0; k < cg * kh * kw; ++k)
        (*out)[static_cast<size_t>((g * ni.k_pad + k) * ni.n_pad + n)] = w[(g * nn + n) * cg * kh * kw + k];
}

// convTranspose2d w [C, Og, kh, kw] -> [phase][g][k_pad][n_pad] with k = c*Th*Tw + jy'*Tw + jx',
// holding tap ky = r_y + (Th-1-jy')*sh (zero where ky >= kh), r_y = (py + pad_t) mod sh.
void prepare_deconv(const float* w, const Shape& ws, const ConvAttrs& a, const CudaModel::NodeInfo& ni,
                    std::vector<float>* out) {
  const int64_t groups = a.groups, cg = ws[0] / groups, og = ws[1], kh = ws[2], kw = ws[3];
  const int64_t sh = a.stride[0], sw = a.stride[1], th = ni.taps_h, tw = ni.taps_w;
  out->assign(static_cast<size_t>(sh * sw * groups * ni.k_pad * ni.n_pad), 0.f);
  for (int64_t py = 0; py < sh; ++py)
    for (int64_t px = 0; px < sw; ++px) {
      const int64_t ry = (py + ni.pad_t) % sh, rx = (px + ni.pad_l) % sw;
      const int64_t phase = py * sw + px;
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t jy = 0; jy < th; ++jy)
            for (int64_t jx = 0; jx < tw; ++jx) {
              const int64_t ky = ry + (th - 1 - jy) * sh, kx = rx + (tw - 1 - jx) * sw;
              if (ky >= kh || kx >= kw) continue;
              const int64_t k = (c * th + jy) * tw + jx;
              float* row = out->data() + ((phase * groups + g) * ni.k_pad + k) * ni.n_pad;
              const float* src = w + ((g * cg + c) * og) * kh * kw + ky * kw + kx;
              for (int64_t n = 0; n < og; ++n) row[n] = src[n * kh * kw];
            }
    }
}

// ---- strided index spaces ----------------------------------------------------------------

// dims with one stride vector per operand: size-1 dims dropped, neighbours that are contiguous in
// every operand merged. Leaves at least one dim.
void collapse(Shape* dims, std::vector<Shape*> strides) {
  Shape out_dims;
  std::vector<Shape> out_st(strides.size());
  for (size_t d = 0; d < dims->size(); ++d) {
    const int64_t n = (*dims)[d];
    if (n == 1) continue;
    bool merge = !out_dims.empty();
    for (size_t k = 0; merge && k < strides.size(); ++k) merge = out_st[k].back() == (*strides[k])[d] * n;
    if (merge) {
      out_dims.back() *= n;
      for (size_t k = 0; k < strides.size(); ++k) out_st[k].back() = (*strides[k])[d];
    } else {
      out_dims.push_back(n);
      for (size_t k = 0; k < strides.size(); ++k) out_st[k].push_back((*strides[k])[d]);
    }
  }
  if (out_dims.empty()) {
    out_dims.push_back(1);
    for (size_t k = 0; k < strides.size(); ++k) out_st[k].push_back(0);
  }
  *dims = out_dims;
  for (size_t k = 0; k < strides.size(); ++k) *strides[k] = out_st[k];
}

// ---- the lowering of one plan -------------------------------------------------------------

struct Lowering {
  const CudaModel& model;
  const Graph& graph;
  const Plan& plan;
  const std::vector<CudaModel::NodeInfo>& infos;
  PlanDesc* pd;
  int precision;

  const Plan::Value& val(int id) const { return plan.values()[id]; }

  int add_value(const fcnkit_cuda_value& v) {
    pd->values.push_back(v);
    return static_cast<int>(pd->values.size() - 1);
  }
  int add_blob(const void* data, size_t bytes) {
    const uint64_t off = align_up(pd->blob.size(), kDeviceAlign);
    pd->blob.resize(off + bytes);
    std::memcpy(pd->blob.data() + off, data, bytes);
    fcnkit_cuda_value v{};
    v.where = FCNKIT_CUDA_IN_BLOB;
    v.weight = -1;
    v.offset = off;
    v.bytes = bytes;
    return add_value(v);
  }
  void add_step(int op, std::initializer_list<int> inputs, int output, const fcnkit_cuda_params& params,
                const std::string& label) {
    fcnkit_cuda_step s;
    std::memset(&s, 0, sizeof(s));
    s.op = op;
    s.n_inputs = static_cast<int32_t>(inputs.size());
    int i = 0;
    for (int v : inputs) s.inputs[i++] = v;
    for (; i < FCNKIT_CUDA_MAX_STEP_INPUTS; ++i) s.inputs[i] = -1;
    s.output = output;
    s.params = params;
    pd->steps.push_back(s);
    pd->step_labels.push_back(label);
  }
  static fcnkit_cuda_params zero_params() {
    fcnkit_cuda_params p;
    std::memset(&p, 0, sizeof(p));
    return p;
  }

  Status conv(int node, const GraphNodeDesc& n, const std::vector<int>& in, int out);
  Status deconv(int node, const GraphNodeDesc& n, const std::vector<int>& in, int out);
  Status pool(const GraphNodeDesc& n, int in, int out);
  Status binary(int kind, const std::string& label, int a, int b, int out);
  Status copy(const std::string& label, int in, int out, const Shape& dims, Shape src_strides, int64_t src_offset,
              Shape dst_strides, int64_t dst_offset);
  Status node(int index);
};

Status check_tap(const std::string& who, int64_t v) {
  if (v >= kMaxTap || v <= -kMaxTap)
    return error(Code::kTooLarge, who, ": kernel extent ", v, " is too large for the cuda kernels");
  return Status::OK();
}

Status Lowering::conv(int node, const GraphNodeDesc& n, const std::vector<int>& in, int out) {
  const std::string who = node_label(n);
  ConvAttrs a;
  FCN_RETURN_IF_ERROR(parse_conv_attrs(n, false, &a));
  const Shape& xs = val(in[0]).shape;
  const Shape& ws = val(in[1]).shape;
  const Shape& ys = val(out).shape;
  const int64_t kh = ws[2], kw = ws[3];
  int64_t k2[2] = {kh, kw}, pads[4];
  FCN_RETURN_IF_ERROR(resolve_padding(n.attrs, who, xs[2], xs[3], k2, a.stride, a.dil, pads));
  const int bias = in.size() > 2 ? in[2] : -1;
  const CudaModel::NodeInfo& ni = infos[node];
  if (!ni.gemm) {
    fcnkit_cuda_params p = zero_params();
    fcnkit_cuda_conv_params& c = p.conv;
    c.batch = xs[0]; c.in_c = xs[1]; c.in_h = xs[2]; c.in_w = xs[3];
    c.out_c = ys[1]; c.out_h = ys[2]; c.out_w = ys[3];
    c.k_h = kh; c.k_w = kw;
    c.stride_h = a.stride[0]; c.stride_w = a.stride[1]; c.dil_h = a.dil[0]; c.dil_w = a.dil[1];
    c.pad_t = pads[0]; c.pad_l = pads[1]; c.groups = a.groups; c.relu = a.relu;
    add_step(FCNKIT_CUDA_OP_CONV_DIRECT, {in[0], in[1], bias}, out, p, who);
    return Status::OK();
  }
  fcnkit_cuda_params p = zero_params();
  fcnkit_cuda_gemm_params& g = p.gemm;
  g.batch = xs[0]; g.in_c = xs[1]; g.in_h = xs[2]; g.in_w = xs[3];
  g.groups = a.groups; g.k = ni.k; g.k_pad = ni.k_pad; g.n = ni.n; g.n_pad = ni.n_pad;
  g.stride_h = a.stride[0]; g.stride_w = a.stride[1]; g.pad_t = pads[0]; g.pad_l = pads[1];
  g.out_c = ys[1]; g.out_h = ys[2]; g.out_w = ys[3];
  g.phases_h = g.phases_w = 1;
  g.taps_h = kh; g.taps_w = kw;
  g.max_rows = ys[0] * ys[2] * ys[3];
  g.relu = a.relu;
  g.precision = precision;
  FCN_RETURN_IF_ERROR(check_tap(who, a.dil[0] * (kh - 1)));
  FCN_RETURN_IF_ERROR(check_tap(who, a.dil[1] * (kw - 1)));
  // Gather table: k -> (c, r, s).
  std::vector<GatherEntry> table(static_cast<size_t>(ni.k_pad));
  const int64_t hw = xs[2] * xs[3];
  for (int64_t k = 0; k < ni.k_pad; ++k) {
    GatherEntry& e = table[static_cast<size_t>(k)];
    if (k >= ni.k) {
      e.delta = 0;
      e.dy = e.dx = kInvalidTap;
      continue;
    }
    const int64_t c = k / (kh * kw), r = (k / kw) % kh, s = k % kw;
    e.dy = static_cast<int32_t>(r * a.dil[0]);
    e.dx = static_cast<int32_t>(s * a.dil[1]);
    e.delta = c * hw + e.dy * xs[3] + e.dx;
  }
  const int tab = add_blob(table.data(), table.size() * sizeof(GatherEntry));
  fcnkit_cuda_value wv{};
  wv.where = FCNKIT_CUDA_IN_WEIGHTS;
  wv.weight = ni.prepared;
  wv.bytes = static_cast<uint64_t>(a.groups * ni.k_pad * ni.n_pad) * sizeof(float);
  const int w = add_value(wv);
  add_step(FCNKIT_CUDA_OP_CONV_GEMM, {in[0], w, tab, bias}, out, p, who);
  return Status::OK();
}

Status Lowering::deconv(int node, const GraphNodeDesc& n, const std::vector<int>& in, int out) {
  const std::string who = node_label(n);
  ConvAttrs a;
  FCN_RETURN_IF_ERROR(parse_conv_attrs(n, true, &a));
  const Shape& xs = val(in[0]).shape;
  const Shape& ws = val(in[1]).shape;
  const Shape& ys = val(out).shape;
  const int64_t kh = ws[2], kw = ws[3];
  int64_t pads[4];
  FCN_RETURN_IF_ERROR(deconv_pads(n, a, kh, kw, pads));
  // The CPU op's output size must follow from these pads.
  int64_t oh, ow;
  FCN_RETURN_IF_ERROR(conv_transpose_out_size(xs[2], kh, a.stride[0], a.dil[0], pads[0], pads[2], a.out_pad[0], &oh));
  FCN_RETURN_IF_ERROR(conv_transpose_out_size(xs[3], kw, a.stride[1], a.dil[1], pads[1], pads[3], a.out_pad[1], &ow));
  if (oh != ys[2] || ow != ys[3])
    return error(Code::kUnsupportedOp, who, ": internal error: the cuda lowering computes output ", oh, "x", ow,
                 " but the op ", ys[2], "x", ys[3]);
  FCN_RETURN_IF_ERROR(check_tap(who, a.dil[0] * (kh - 1) + pads[0]));
  FCN_RETURN_IF_ERROR(check_tap(who, a.dil[1] * (kw - 1) + pads[1]));
  const int bias = in.size() > 2 ? in[2] : -1;
  const CudaModel::NodeInfo& ni = infos[node];
  if (!ni.gemm) {
    fcnkit_cuda_params p = zero_params();
    fcnkit_cuda_conv_params& c = p.conv;
    c.batch = xs[0]; c.in_c = xs[1]; c.in_h = xs[2]; c.in_w = xs[3];
    c.out_c = ys[1]; c.out_h = ys[2]; c.out_w = ys[3];
    c.k_h = kh; c.k_w = kw;
    c.stride_h = a.stride[0]; c.stride_w = a.stride[1]; c.dil_h = a.dil[0]; c.dil_w = a.dil[1];
    c.pad_t = pads[0]; c.pad_l = pads[1]; c.groups = a.groups; c.relu = a.relu;
    add_step(FCNKIT_CUDA_OP_DECONV_DIRECT, {in[0], in[1], bias}, out, p, who);
    return Status::OK();
  }
  if (ni.pad_t != pads[0] || ni.pad_l != pads[1])
    return error(Code::kUnsupportedOp, who, ": internal error: padding changed since the weights were prepared");
  fcnkit_cuda_params p = zero_params();
  fcnkit_cuda_gemm_params& g = p.gemm;
  g.batch = xs[0]; g.in_c = xs[1]; g.in_h = xs[2]; g.in_w = xs[3];
  g.groups = a.groups; g.k = ni.k; g.k_pad = ni.k_pad; g.n = ni.n; g.n_pad = ni.n_pad;
  g.stride_h = g.stride_w = 1;
  g.out_c = ys[1]; g.out_h = ys[2]; g.out_w = ys[3];
  g.phases_h = a.stride[0]; g.phases_w = a.stride[1];
  g.deconv = 1;
  g.deconv_sh = a.stride[0]; g.deconv_sw = a.stride[1];
  g.deconv_pt = pads[0]; g.deconv_pl = pads[1];
  g.taps_h = ni.taps_h; g.taps_w = ni.taps_w;
  g.max_rows = ys[0] * ((ys[2] + a.stride[0] - 1) / a.stride[0]) * ((ys[3] + a.stride[1] - 1) / a.stride[1]);
  g.relu = a.relu;
  g.precision = precision;
  std::vector<GatherEntry> table(static_cast<size_t>(ni.k_pad));
  const int64_t hw = xs[2] * xs[3];
  for (int64_t k = 0; k < ni.k_pad; ++k) {
    GatherEntry& e = table[static_cast<size_t>(k)];
    if (k >= ni.k) {
      e.delta = 0;
      e.dy = e.dx = kInvalidTap;
      continue;
    }
    const int64_t c = k / (ni.taps_h * ni.taps_w), jy = (k / ni.taps_w) % ni.taps_h, jx = k % ni.taps_w;
    e.dy = static_cast<int32_t>(jy);
    e.dx = static_cast<int32_t>(jx);
    e.delta = c * hw + jy * xs[3] + jx;
  }
  const int tab = add_blob(table.data(), table.size() * sizeof(GatherEntry));
  fcnkit_cuda_value wv{};
  wv.where = FCNKIT_CUDA_IN_WEIGHTS;
  wv.weight = ni.prepared;
  wv.bytes = static_cast<uint64_t>(a.stride[0] * a.stride[1] * a.groups * ni.k_pad * ni.n_pad) * sizeof(float);
  const int w = add_value(wv);
  add_step(FCNKIT_CUDA_OP_CONV_GEMM, {in[0], w, tab, bias}, out, p, who);
  return Status::OK();
}

Status Lowering::pool(const GraphNodeDesc& n, int in, int out) {
  const std::string who = node_label(n);
  const Shape& xs = val(in).shape;
  const Shape& ys = val(out).shape;
  fcnkit_cuda_params p = zero_params();
  fcnkit_cuda_pool_params& q = p.pool;
  q.planes = xs[0] * xs[1];
  q.in_h = xs[2];
  q.in_w = xs[3];
  q.out_h = ys[2];
  q.out_w = ys[3];
  if (n.type == "globalAvgPool2d") {
    add_step(FCNKIT_CUDA_OP_GLOBAL_AVG_POOL, {in}, out, p, who);
    return Status::OK();
  }
  int64_t kernel[2], stride[2], dil[2], pads[4];
  FCN_RETURN_IF_ERROR(get_pair(n.attrs, who, "kernel", 1, kernel));
  if (n.attrs.has("stride")) {
    FCN_RETURN_IF_ERROR(get_pair(n.attrs, who, "stride", 1, stride));
  } else {
    stride[0] = kernel[0];
    stride[1] = kernel[1];
  }
  FCN_RETURN_IF_ERROR(get_pair(n.attrs, who, "dilation", 1, dil));
  FCN_RETURN_IF_ERROR(resolve_padding(n.attrs, who, xs[2], xs[3], kernel, stride, dil, pads));
  int64_t cip = 0;
  if (n.type == "avgPool2d") FCN_RETURN_IF_ERROR(n.attrs.get_int(who, "countIncludePad", 0, &cip));
  q.k_h = kernel[0]; q.k_w = kernel[1];
  q.stride_h = stride[0]; q.stride_w = stride[1];
  q.dil_h = dil[0]; q.dil_w = dil[1];
  q.pad_t = pads[0]; q.pad_l = pads[1]; q.pad_b = pads[2]; q.pad_r = pads[3];
  q.count_include_pad = cip != 0;
  add_step(n.type == "maxPool2d" ? FCNKIT_CUDA_OP_MAX_POOL : FCNKIT_CUDA_OP_AVG_POOL, {in}, out, p, who);
  return Status::OK();
}

Status Lowering::binary(int kind, const std::string& label, int a, int b, int out) {
  const Shape& as = val(a).shape;
  const Shape& bs = val(b).shape;
  Shape ys = val(out).shape;
  const size_t r = ys.size();
  if (r > FCNKIT_CUDA_MAX_RANK || as.size() > r || bs.size() > r)
    return error(Code::kUnsupportedOp, label, ": internal error: broadcast of rank ", r);
  Shape ap(r, 1), bp(r, 1);
  std::copy(as.begin(), as.end(), ap.begin() + (r - as.size()));
  std::copy(bs.begin(), bs.end(), bp.begin() + (r - bs.size()));
  Shape sa = dense_strides(ap), sb = dense_strides(bp);
  for (size_t d = 0; d < r; ++d) {
    if (ap[d] == 1) sa[d] = 0;
    if (bp[d] == 1) sb[d] = 0;
  }
  collapse(&ys, {&sa, &sb});
  fcnkit_cuda_params p = zero_params();
  fcnkit_cuda_binary_params& q = p.binary;
  q.count = numel(val(out).shape);
  q.kind = kind;
  q.rank = static_cast<int32_t>(ys.size());
  for (size_t d = 0; d < ys.size(); ++d) {
    q.dims[d] = ys[d];
    q.a_strides[d] = sa[d];
    q.b_strides[d] = sb[d];
  }
  add_step(FCNKIT_CUDA_OP_BINARY, {a, b}, out, p, label);
  return Status::OK();
}

Status Lowering::copy(const std::string& label, int in, int out, const Shape& dims_in, Shape src_strides,
                      int64_t src_offset, Shape dst_strides, int64_t dst_offset) {
  Shape dims = dims_in;
  if (dims.size() > FCNKIT_CUDA_MAX_RANK)
    return error(Code::kUnsupportedOp, label, ": internal error: copy of rank ", dims.size());
  const int64_t count = numel(dims);
  if (count == 0) return Status::OK();
  collapse(&dims, {&src_strides, &dst_strides});
  fcnkit_cuda_params p = zero_params();
  fcnkit_cuda_copy_params& q = p.copy;
  q.count = count;
  q.rank = static_cast<int32_t>(dims.size());
  q.src_offset = src_offset;
  q.dst_offset = dst_offset;
  for (size_t d = 0; d < dims.size(); ++d) {
    q.dims[d] = dims[d];
    q.src_strides[d] = src_strides[d];
    q.dst_strides[d] = dst_strides[d];
  }
  add_step(FCNKIT_CUDA_OP_COPY, {in}, out, p, label);
  return Status::OK();
}

Status Lowering::node(int index) {
  const GraphNodeDesc& n = graph.desc().nodes[index];
  const Plan::Step& step = plan.steps()[index];
  const std::vector<int>& in = step.inputs;
  const int out = step.outputs[0];
  const std::string who = node_label(n);
  const std::string& t = n.type;
  const Shape& ys = val(out).shape;

  if (t == "conv2d") return conv(index, n, in, out);
  if (t == "convTranspose2d") return deconv(index, n, in, out);
  if (t == "maxPool2d" || t == "avgPool2d" || t == "globalAvgPool2d") return pool(n, in[0], out);

  int unary = -1;
  float alpha = 0.f, beta = 0.f;
  if (t == "relu") unary = FCNKIT_CUDA_RELU;
  else if (t == "sigmoid") unary = FCNKIT_CUDA_SIGMOID;
  else if (t == "hardSwish") unary = FCNKIT_CUDA_HARD_SWISH;
  else if (t == "tanh") unary = FCNKIT_CUDA_TANH;
  else if (t == "leakyRelu" || t == "hardSigmoid") {
    double a, b = 0.0;
    FCN_RETURN_IF_ERROR(n.attrs.get_float(who, "alpha", t == "leakyRelu" ? 0.01 : 0.2, &a));
    if (t == "hardSigmoid") FCN_RETURN_IF_ERROR(n.attrs.get_float(who, "beta", 0.5, &b));
    unary = t == "leakyRelu" ? FCNKIT_CUDA_LEAKY_RELU : FCNKIT_CUDA_HARD_SIGMOID;
    alpha = static_cast<float>(a);
    beta = static_cast<float>(b);
  } else if (t == "clip") {
    unary = FCNKIT_CUDA_CLIP;
    alpha = -std::numeric_limits<float>::infinity();
    beta = std::numeric_limits<float>::infinity();
    double v;
    if (n.attrs.has("min")) {
      FCN_RETURN_IF_ERROR(n.attrs.get_float(who, "min", 0.0, &v));
      alpha = static_cast<float>(v);
    }
    if (n.attrs.has("max")) {
      FCN_RETURN_IF_ERROR(n.attrs.get_float(who, "max", 0.0, &v));
      beta = static_cast<float>(v);
    }
  }
  if (unary >= 0) {
    fcnkit_cuda_params p = zero_params();
    p.unary.count = numel(ys);
    p.unary.kind = unary;
    p.unary.alpha = alpha;
    p.unary.beta = beta;
    add_step(FCNKIT_CUDA_OP_UNARY, {in[0]}, out, p, who);
    return Status::OK();
  }

  if (t == "add") return binary(FCNKIT_CUDA_ADD, who, in[0], in[1], out);
  if (t == "mul") return binary(FCNKIT_CUDA_MUL, who, in[0], in[1], out);
  if (t == "sub") return binary(FCNKIT_CUDA_SUB, who, in[0], in[1], out);
  if (t == "div") return binary(FCNKIT_CUDA_DIV, who, in[0], in[1], out);
  if (t == "prelu") return binary(FCNKIT_CUDA_PRELU, who, in[0], in[1], out);
  if (t == "max") {
    // y = max(x0, x1), then y = max(y, xk): elementwise, so reading and writing y in place is safe.
    FCN_RETURN_IF_ERROR(binary(FCNKIT_CUDA_MAX, who, in[0], in[1], out));
    for (size_t k = 2; k < in.size(); ++k) FCN_RETURN_IF_ERROR(binary(FCNKIT_CUDA_MAX, who, out, in[k], out));
    return Status::OK();
  }

  if (t == "concat") {
    int64_t axis;
    FCN_RETURN_IF_ERROR(n.attrs.get_int(who, "axis", 1, &axis));
    const int64_t rank = static_cast<int64_t>(ys.size());
    if (axis < 0) axis += rank;
    const Shape dst = dense_strides(ys);
    int64_t at = 0;
    for (int v : in) {
      const Shape& s = val(v).shape;
      FCN_RETURN_IF_ERROR(copy(who, v, out, s, dense_strides(s), 0, dst, at * dst[axis]));
      at += s[axis];
    }
    return Status::OK();
  }
  if (t == "crop") {
    int64_t offset[2];
    FCN_RETURN_IF_ERROR(get_pair(n.attrs, who, "offset", 0, offset));
    const Shape& xs = val(in[0]).shape;
    const Shape src = dense_strides(xs);
    return copy(who, in[0], out, ys, src, offset[0] * src[2] + offset[1] * src[3], dense_strides(ys), 0);
  }
  if (t == "slice") {
    std::vector<int64_t> starts, steps;
    FCN_RETURN_IF_ERROR(n.attrs.get_ints(who, "starts", {}, &starts));
    FCN_RETURN_IF_ERROR(n.attrs.get_ints(who, "steps", {}, &steps));
    const Shape& xs = val(in[0]).shape;
    const Shape xst = dense_strides(xs);
    Shape src(xs.size());
    int64_t base = 0;
    for (size_t d = 0; d < xs.size(); ++d) {
      src[d] = steps[d] * xst[d];
      base += starts[d] * xst[d];
    }
    return copy(who, in[0], out, ys, src, base, dense_strides(ys), 0);
  }
  if (t == "transpose") {
    std::vector<int64_t> perm;
    FCN_RETURN_IF_ERROR(n.attrs.get_ints(who, "perm", {}, &perm));
    const Shape& xs = val(in[0]).shape;
    if (perm.empty())
      for (size_t d = 0; d < xs.size(); ++d) perm.push_back(static_cast<int64_t>(xs.size() - 1 - d));
    const Shape xst = dense_strides(xs);
    Shape src(xs.size());
    for (size_t d = 0; d < xs.size(); ++d) src[d] = xst[perm[d]];
    return copy(who, in[0], out, ys, src, 0, dense_strides(ys), 0);
  }
  if (t == "reshape") {
    const int64_t count = numel(ys);
    return copy(who, in[0], out, Shape{count}, Shape{1}, 0, Shape{1}, 0);
  }
  if (t == "pad") {
    std::vector<int64_t> pv;
    FCN_RETURN_IF_ERROR(n.attrs.get_ints(who, "pads", {0}, &pv));
    if (pv.size() == 1) pv = {pv[0], pv[0], pv[0], pv[0]};
    else if (pv.size() == 2) pv = {pv[0], pv[1], pv[0], pv[1]};
    std::string mode;
    FCN_RETURN_IF_ERROR(n.attrs.get_string(who, "mode", "constant", &mode));
    double value;
    FCN_RETURN_IF_ERROR(n.attrs.get_float(who, "value", 0.0, &value));
    const Shape& xs = val(in[0]).shape;
    fcnkit_cuda_params p = zero_params();
    fcnkit_cuda_pad_params& q = p.pad;
    q.planes = xs[0] * xs[1];
    q.mode = mode == "reflect" ? FCNKIT_CUDA_PAD_REFLECT : mode == "edge" ? FCNKIT_CUDA_PAD_EDGE : FCNKIT_CUDA_PAD_CONSTANT;
    q.value = static_cast<float>(value);
    fcnkit_cuda_pad_axis* axes[2] = {&q.h, &q.w};
    for (int a = 0; a < 2; ++a) {
      fcnkit_cuda_pad_axis& ax = *axes[a];
      const int64_t b = pv[a], e = pv[a + 2];
      ax.in = xs[2 + a];
      ax.crop = b < 0 ? -b : 0;
      ax.keep = ax.in - ax.crop - (e < 0 ? -e : 0);
      ax.before = b > 0 ? b : 0;
      ax.out = ys[2 + a];
    }
    add_step(FCNKIT_CUDA_OP_PAD, {in[0]}, out, p, who);
    return Status::OK();
  }
  if (t == "resize") {
    // The CPU op's own attrs reading and sampling tables: both devices read the same pixels.
    const Shape& xs = val(in[0]).shape;
    ResizeAttrs ra;
    FCN_RETURN_IF_ERROR(parse_resize_attrs(n.attrs, who, &ra));
    ResizeGeometry g;
    std::vector<ResizeTap> taps;
    FCN_RETURN_IF_ERROR(resize_geometry(ra, who, xs, &g, &taps));
    if (g.out_h != ys[2] || g.out_w != ys[3])
      return error(Code::kBadModel, who, ": resize output ", g.out_h, "x", g.out_w, " differs from the plan's ", shape_str(ys));
    static_assert(sizeof(ResizeTap) == sizeof(fcnkit_cuda_resize_tap), "one tap layout on both sides");
    fcnkit_cuda_params p = zero_params();
    fcnkit_cuda_resize_params& q = p.resize;
    q.planes = xs[0] * xs[1];
    q.in_h = xs[2]; q.in_w = xs[3]; q.out_h = ys[2]; q.out_w = ys[3];
    q.nearest = ra.nearest;
    q.copy = g.copy;
    std::vector<fcnkit_cuda_resize_tap> dev(taps.size());
    for (size_t i = 0; i < taps.size(); ++i) dev[i] = {taps[i].i0, taps[i].i1, taps[i].w0, taps[i].w1};
    const int tab = add_blob(dev.data(), dev.size() * sizeof(fcnkit_cuda_resize_tap));
    add_step(FCNKIT_CUDA_OP_RESIZE, {in[0], tab}, out, p, who);
    return Status::OK();
  }
  if (t == "softmax" || t == "argmax") {
    const Shape& xs = val(in[0]).shape;
    int64_t axis;
    FCN_RETURN_IF_ERROR(n.attrs.get_int(who, "axis", 1, &axis));
    AxisSplit sp;
    FCN_RETURN_IF_ERROR(split_axis(who, t.c_str(), xs, axis, &sp));
    fcnkit_cuda_params p = zero_params();
    p.axis.outer = sp.outer;
    p.axis.n = sp.n;
    p.axis.inner = sp.inner;
    if (numel(xs) == 0) return Status::OK();
    add_step(t == "softmax" ? FCNKIT_CUDA_OP_SOFTMAX : FCNKIT_CUDA_OP_ARGMAX, {in[0]}, out, p, who);
    return Status::OK();
  }
  return error(Code::kUnsupportedOp, who, ": op type '", t, "' is not supported on device 'cuda'");
}

}  // namespace

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
    default: return "fp32";
  }
}

bool parse_precision(const std::string& s, Precision* out) {
  if (s == "fp32") *out = Precision::kFp32;
  else if (s == "tf32") *out = Precision::kTf32;
  else if (s == "bf16") *out = Precision::kBf16;
  else return false;
  return true;
}

const std::vector<std::string>& supported_op_types() { return supported_list(); }

fcnkit_cuda_plan_desc PlanDesc::view(int device) const {
  fcnkit_cuda_plan_desc d;
  std::memset(&d, 0, sizeof(d));
  d.abi_version = FCNKIT_CUDA_ABI_VERSION;
  d.device = device;
  d.arena_bytes = arena_bytes;
  d.values = values.data();
  d.n_values = static_cast<int32_t>(values.size());
  d.steps = steps.data();
  d.n_steps = static_cast<int32_t>(steps.size());
  d.blob = blob.data();
  d.blob_bytes = blob.size();
  d.input_values = input_values.data();
  d.n_inputs = static_cast<int32_t>(input_values.size());
  d.output_values = output_values.data();
  d.n_outputs = static_cast<int32_t>(output_values.size());
  return d;
}

Status from_backend_error(const fcnkit_cuda_error& e, const std::vector<std::string>& step_labels) {
  Code code;
  switch (e.code) {
    case FCNKIT_CUDA_OK: return Status::OK();
    case FCNKIT_CUDA_INVALID_ARGUMENT: code = Code::kInvalidArgument; break;
    case FCNKIT_CUDA_OUT_OF_MEMORY: code = Code::kOutOfMemory; break;
    case FCNKIT_CUDA_UNAVAILABLE: code = Code::kCudaUnavailable; break;
    case FCNKIT_CUDA_ABORTED: code = Code::kAborted; break;
    case FCNKIT_CUDA_TOO_LARGE: code = Code::kTooLarge; break;
    case FCNKIT_CUDA_UNSUPPORTED: code = Code::kUnsupportedOp; break;
    default: code = Code::kCudaError; break;
  }
  std::string msg(e.message, strnlen(e.message, sizeof(e.message)));
  const bool has_step = e.step >= 0 && static_cast<size_t>(e.step) < step_labels.size();
  if (code == Code::kAborted)
    return error(code, "run aborted", has_step ? " before " + step_labels[e.step] : std::string());
  if (has_step) return error(code, step_labels[e.step], ": ", msg);
  return error(code, msg);
}

// ---- CudaModel ------------------------------------------------------------------------------

CudaModel::~CudaModel() {
  if (weights_ && api_) api_->weights_destroy(weights_);
}

Status CudaModel::create(const Api* api, const GraphDesc& desc, Precision precision, int device,
                         std::shared_ptr<CudaModel>* out) {
  if (!api) return require_cuda();
  // The CPU's own validation first, so both devices reject the same graphs with the same errors.
  std::unique_ptr<Graph> original;
  FCN_RETURN_IF_ERROR(Graph::create(desc, &original));
  const GraphDesc& d = original->desc();
  for (const GraphNodeDesc& n : d.nodes)
    if (!is_supported(n.type))
      return error(Code::kUnsupportedOp, node_label(n), ": op type '", n.type,
                   "' is not supported on device 'cuda' yet (it runs on device 'cpu')");

  std::shared_ptr<CudaModel> m(new CudaModel());
  m->api_ = api;
  m->precision_ = precision;
  m->device_ = device;
  m->user_inputs_ = d.inputs.size();
  for (const GraphInputDesc& in : d.inputs) m->input_names_.push_back(in.name);
  m->output_names_ = d.outputs;

  // conv -> relu (its only reader, not a graph output): one node with the ReLU in the epilogue.
  std::unordered_map<std::string, std::vector<int>> readers;
  for (size_t i = 0; i < d.nodes.size(); ++i)
    for (const std::string& v : d.nodes[i].inputs) readers[v].push_back(static_cast<int>(i));
  std::unordered_set<std::string> returned(d.outputs.begin(), d.outputs.end());
  std::vector<bool> absorbed(d.nodes.size(), false);
  GraphDesc sd;
  sd.inputs = d.inputs;
  for (const GraphConstantDesc& c : d.constants) {
    sd.inputs.push_back(GraphInputDesc{c.name, c.dtype, c.shape});
    m->constant_shapes_.push_back(c.shape);
  }
  for (size_t i = 0; i < d.nodes.size(); ++i) {
    if (absorbed[i]) continue;
    GraphNodeDesc n = d.nodes[i];
    if ((n.type == "conv2d" || n.type == "convTranspose2d") && n.outputs.size() == 1) {
      std::string act;
      FCN_RETURN_IF_ERROR(n.attrs.get_string(node_label(n), "activation", "none", &act));
      const std::vector<int>& r = readers[n.outputs[0]];
      if (act == "none" && r.size() == 1 && !returned.count(n.outputs[0]) && d.nodes[r[0]].type == "relu" &&
          d.nodes[r[0]].inputs.size() == 1 && d.nodes[r[0]].outputs.size() == 1) {
        absorbed[r[0]] = true;
        n.outputs = d.nodes[r[0]].outputs;
        n.attrs.set_string("activation", "relu");
      }
    }
    sd.nodes.push_back(std::move(n));
  }
  sd.outputs = d.outputs;
  FCN_RETURN_IF_ERROR(Graph::create(sd, &m->shape_graph_));
  const Graph& sg = *m->shape_graph_;

  // Which constants are read as they are, which only through prepared weights.
  const size_t nc = d.constants.size();
  auto constant_of = [&](const std::string& name) -> int {
    const int id = sg.value_id(name);
    if (id < 0) return -1;
    const Graph::Value& v = sg.values()[id];
    if (v.kind != Graph::ValueKind::kInput || v.index < static_cast<int>(m->user_inputs_)) return -1;
    return v.index - static_cast<int>(m->user_inputs_);
  };
  std::vector<bool> raw(nc, false);
  for (const std::string& o : d.outputs) {
    const int c = constant_of(o);
    if (c >= 0) raw[c] = true;
  }
  struct Pending {
    std::vector<float> data;
  };
  std::vector<Pending> prepared;
  m->nodes_.resize(sg.desc().nodes.size());
  try {
    for (size_t i = 0; i < sg.desc().nodes.size(); ++i) {
      const GraphNodeDesc& n = sg.desc().nodes[i];
      NodeInfo& ni = m->nodes_[i];
      const bool is_conv = n.type == "conv2d", is_deconv = n.type == "convTranspose2d";
      int weight_constant = -1;
      ConvAttrs a;
      if ((is_conv || is_deconv) && n.inputs.size() >= 2) {
        FCN_RETURN_IF_ERROR(parse_conv_attrs(n, is_deconv, &a));
        weight_constant = constant_of(n.inputs[1]);
        const Shape ws = weight_constant >= 0 ? d.constants[weight_constant].shape : Shape{};
        const bool f32 = weight_constant >= 0 && d.constants[weight_constant].dtype == DType::kF32;
        ni.gemm = f32 && conv_uses_gemm(n.type, a, ws, weight_constant >= 0);
        if (ni.gemm) {
          const float* w = static_cast<const float*>(d.constants[weight_constant].data);
          if (is_conv) {
            ni.k = ws[1] * ws[2] * ws[3];
            ni.n = ws[0] / a.groups;
            ni.k_pad = round_up(ni.k, kGemmK);
            ni.n_pad = round_up(ni.n, kGemmNAlign);
            prepared.emplace_back();
            prepare_conv(w, ws, a.groups, ni, &prepared.back().data);
          } else {
            int64_t pads[4];
            FCN_RETURN_IF_ERROR(deconv_pads(n, a, ws[2], ws[3], pads));
            ni.pad_t = pads[0];
            ni.pad_l = pads[1];
            ni.taps_h = (ws[2] + a.stride[0] - 1) / a.stride[0];
            ni.taps_w = (ws[3] + a.stride[1] - 1) / a.stride[1];
            ni.k = (ws[0] / a.groups) * ni.taps_h * ni.taps_w;
            ni.n = ws[1];
            ni.k_pad = round_up(ni.k, kGemmK);
            ni.n_pad = round_up(ni.n, kGemmNAlign);
            prepared.emplace_back();
            prepare_deconv(w, ws, a, ni, &prepared.back().data);
          }
          ni.prepared = static_cast<int>(prepared.size() - 1);  // renumbered below
        }
      }
      for (size_t s = 0; s < n.inputs.size(); ++s) {
        const int c = constant_of(n.inputs[s]);
        if (c >= 0 && !(ni.gemm && s == 1)) raw[c] = true;
      }
    }
  } catch (const std::bad_alloc&) {
    return error(Code::kOutOfMemory, "cannot prepare the convolution weights for device 'cuda': out of memory");
  }

  // Weight buffers: raw constants first, then prepared weights.
  std::vector<const void*> ptrs;
  std::vector<uint64_t> sizes;
  m->raw_buffer_.assign(nc, -1);
  for (size_t c = 0; c < nc; ++c) {
    if (!raw[c]) continue;
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(d.constants[c].shape, "constant", &count));
    m->raw_buffer_[c] = static_cast<int>(ptrs.size());
    ptrs.push_back(d.constants[c].data);
    sizes.push_back(static_cast<uint64_t>(count) * dtype_size(d.constants[c].dtype));
  }
  const int first_prepared = static_cast<int>(ptrs.size());
  for (const Pending& p : prepared) {
    ptrs.push_back(p.data.data());
    sizes.push_back(p.data.size() * sizeof(float));
  }
  for (NodeInfo& ni : m->nodes_)
    if (ni.prepared >= 0) ni.prepared += first_prepared;
  for (uint64_t s : sizes) m->weight_bytes_ += s;
  fcnkit_cuda_error err;
  std::memset(&err, 0, sizeof(err));
  err.step = -1;
  m->weights_ = api->weights_create(device, static_cast<int32_t>(ptrs.size()), ptrs.data(), sizes.data(), &err);
  if (!m->weights_) {
    Status s = from_backend_error(err, {});
    return s.ok() ? error(Code::kCudaError, "cannot upload the weights") : s;
  }
  *out = std::move(m);
  return Status::OK();
}

Status CudaModel::lower(const std::vector<Shape>& input_shapes, PlanDesc* out) const {
  if (input_shapes.size() != user_inputs_)
    return error(Code::kInvalidArgument, "the graph has ", user_inputs_, " input(s) but ", input_shapes.size(),
                 " input shape(s) were given");
  std::vector<Shape> full = input_shapes;
  full.insert(full.end(), constant_shapes_.begin(), constant_shapes_.end());
  std::unique_ptr<Plan> plan;
  try {
    // Shapes only (the constants are inputs here, the activations live on the device): no host budget.
    FCN_RETURN_IF_ERROR(compile(*shape_graph_, full, Isa::kRef, 1, ~size_t(0), &plan));
  } catch (const std::bad_alloc&) {
    return error(Code::kOutOfMemory, "cannot compile the graph: out of memory");
  }
  PlanDesc& pd = *out;
  pd = PlanDesc();
  const std::vector<Plan::Value>& values = plan->values();
  pd.activation_bytes = plan->workspace_offset();
  uint64_t cursor = align_up(pd.activation_bytes, kDeviceAlign);
  pd.values.resize(values.size());
  std::vector<int> outputs_later;
  for (size_t id = 0; id < values.size(); ++id) {
    const Plan::Value& v = values[id];
    fcnkit_cuda_value& dv = pd.values[id];
    std::memset(&dv, 0, sizeof(dv));
    dv.bytes = v.bytes;
    dv.weight = -1;
    switch (v.where) {
      case Plan::Where::kArena:
        dv.where = FCNKIT_CUDA_IN_ARENA;
        dv.offset = v.offset;
        break;
      case Plan::Where::kInput:
        if (v.index < static_cast<int>(user_inputs_)) {
          dv.where = FCNKIT_CUDA_IN_ARENA;
          dv.offset = cursor;
          cursor += align_up(v.bytes, kDeviceAlign);
        } else {
          dv.where = FCNKIT_CUDA_IN_WEIGHTS;
          dv.weight = raw_buffer_[v.index - user_inputs_];
        }
        break;
      case Plan::Where::kOutput:
        outputs_later.push_back(static_cast<int>(id));
        break;
      case Plan::Where::kConstant:
        return error(Code::kBadModel, "internal error: the cuda shape graph has a constant");
    }
  }
  for (int id : outputs_later) {
    fcnkit_cuda_value& dv = pd.values[id];
    dv.where = FCNKIT_CUDA_IN_ARENA;
    dv.offset = cursor;
    cursor += align_up(values[id].bytes, kDeviceAlign);
  }
  pd.arena_bytes = cursor;

  Lowering lw{*this, *shape_graph_, *plan, nodes_, &pd, static_cast<int>(precision_)};
  try {
    for (size_t i = 0; i < plan->steps().size(); ++i) FCN_RETURN_IF_ERROR(lw.node(static_cast<int>(i)));
  } catch (const std::bad_alloc&) {
    return error(Code::kOutOfMemory, "cannot lower the graph for device 'cuda': out of memory");
  }

  for (size_t i = 0; i < user_inputs_; ++i) {
    pd.input_values.push_back(shape_graph_->value_id(plan->input_names()[i]));
    pd.input_names.push_back(plan->input_names()[i]);
    pd.input_shapes.push_back(plan->input_shapes()[i]);
    pd.input_dtypes.push_back(plan->input_dtypes()[i]);
  }
  for (size_t o = 0; o < shape_graph_->output_ids().size(); ++o) pd.output_values.push_back(shape_graph_->output_ids()[o]);
  pd.output_names = plan->output_names();
  pd.output_shapes = plan->output_shapes();
  pd.output_dtypes = plan->output_dtypes();

  // Every value a step or an output reads from the weights must have been uploaded.
  auto check = [&](int id, const std::string& who) -> Status {
    if (id < 0) return Status::OK();
    const fcnkit_cuda_value& v = pd.values[id];
    if (v.where == FCNKIT_CUDA_IN_WEIGHTS && v.weight < 0)
      return error(Code::kBadModel, who, ": internal error: a constant the cuda plan reads was not uploaded");
    return Status::OK();
  };
  for (size_t s = 0; s < pd.steps.size(); ++s) {
    for (int k = 0; k < pd.steps[s].n_inputs; ++k) FCN_RETURN_IF_ERROR(check(pd.steps[s].inputs[k], pd.step_labels[s]));
    FCN_RETURN_IF_ERROR(check(pd.steps[s].output, pd.step_labels[s]));
    if (pd.values[pd.steps[s].output].where != FCNKIT_CUDA_IN_ARENA)
      return error(Code::kBadModel, pd.step_labels[s], ": internal error: a step writes outside the arena");
  }
  for (int id : pd.output_values) FCN_RETURN_IF_ERROR(check(id, "graph output"));
  return Status::OK();
}

Status CudaModel::plan(const std::vector<Shape>& input_shapes, std::unique_ptr<CudaPlan>* out) const {
  std::unique_ptr<CudaPlan> p(new CudaPlan());
  FCN_RETURN_IF_ERROR(lower(input_shapes, &p->desc_));
  const fcnkit_cuda_plan_desc view = p->desc_.view(device_);
  fcnkit_cuda_error err;
  std::memset(&err, 0, sizeof(err));
  err.step = -1;
  p->handle_ = api_->plan_create(weights_, &view, &err);
  if (!p->handle_) {
    Status s = from_backend_error(err, p->desc_.step_labels);
    return s.ok() ? error(Code::kCudaError, "cannot create the cuda plan") : s;
  }
  p->model_ = shared_from_this();
  // The device holds what it needs of the rest.
  p->desc_.values.clear();
  p->desc_.values.shrink_to_fit();
  p->desc_.blob.clear();
  p->desc_.blob.shrink_to_fit();
  *out = std::move(p);
  return Status::OK();
}

// ---- CudaPlan -------------------------------------------------------------------------------

CudaPlan::~CudaPlan() {
  if (handle_ && model_) model_->api()->plan_destroy(handle_);
}

namespace {
int32_t abort_requested(void* ctx) {
  const std::atomic<bool>* flag = static_cast<const std::atomic<bool>*>(ctx);
  return flag && flag->load(std::memory_order_relaxed) ? 1 : 0;
}
}  // namespace

Status CudaPlan::run(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                     const std::atomic<bool>* abort) const {
  FCN_RETURN_IF_ERROR(check_tensors("input", desc_.input_names, desc_.input_shapes, desc_.input_dtypes, inputs));
  FCN_RETURN_IF_ERROR(check_tensors("output", desc_.output_names, desc_.output_shapes, desc_.output_dtypes, outputs));
  if (abort && abort->load()) return error(Code::kAborted, "run aborted before it started");
  std::vector<const void*> in_ptrs;
  std::vector<void*> out_ptrs;
  for (const Tensor& t : inputs) in_ptrs.push_back(t.data);
  for (const Tensor& t : outputs) out_ptrs.push_back(t.data);
  fcnkit_cuda_error err;
  std::memset(&err, 0, sizeof(err));
  err.step = -1;
  const int32_t code = model_->api()->plan_run(handle_, in_ptrs.data(), out_ptrs.data(), abort ? abort_requested : nullptr,
                                               const_cast<std::atomic<bool>*>(abort), &err);
  if (code == FCNKIT_CUDA_OK) return Status::OK();
  err.code = code;
  return from_backend_error(err, desc_.step_labels);
}

}  // namespace cuda
}  // namespace fcn
