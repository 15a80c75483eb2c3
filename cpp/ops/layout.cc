// Data movement on tensors of any rank up to 8, float32 or int32 (both copied as 4-byte words):
//   slice(x; starts, steps, sizes)  y[i0, i1, ...] = x[starts[0] + i0 * steps[0], ...], y's shape
//                                   = sizes; every index is checked to lie inside x. Importers
//                                   resolve ONNX Slice's negative and clamped bounds into these.
//   transpose(x; perm)              y = x permuted: y's dim d is x's dim perm[d].
//   reshape(x; shape)               the same elements under a new shape (a copy: the core has
//                                   no aliasing views).
#include <algorithm>
#include <cstring>

#include "ops/op.h"
#include "ops/parallel.h"

namespace fcn {

namespace {

constexpr int kMaxRank = 8;
constexpr int64_t kChunkElems = int64_t(1) << 16;

Status expect_word(const std::string& who, const TensorDesc& t) {
  if (t.dtype != DType::kF32 && t.dtype != DType::kI32)
    return error(Code::kInvalidArgument, who, ": expected input of dtype float32 or int32 but received ",
                 dtype_name(t.dtype));
  return Status::OK();
}

// y (dense, dims) = x read at offset base + sum(idx[d] * stride[d]); strides may be negative.
// Rows of the innermost dim; a row with stride 1 is one memcpy.
void strided_copy(const RunControl& rc, const uint32_t* x, uint32_t* y, int rank, const int64_t* dims,
                  const int64_t* strides, int64_t base) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= dims[d];
  if (total == 0) return;
  const int64_t inner = rank > 0 ? dims[rank - 1] : 1;
  const int64_t is = rank > 0 ? strides[rank - 1] : 1;
  const int64_t rows = total / inner;
  const int64_t per = std::max<int64_t>(1, kChunkElems / inner);
  for_chunks(rc, (rows + per - 1) / per, [&](int64_t c) {
    const int64_t r1 = std::min(rows, (c + 1) * per);
    for (int64_t r = c * per; r < r1; ++r) {
      int64_t rem = r, off = base;
      for (int d = rank - 2; d >= 0; --d) {
        off += (rem % dims[d]) * strides[d];
        rem /= dims[d];
      }
      uint32_t* yr = y + r * inner;
      const uint32_t* xr = x + off;
      if (is == 1) std::memcpy(yr, xr, static_cast<size_t>(inner) * sizeof(uint32_t));
      else for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i * is];
    }
  });
}

class SliceOp : public Op {
 public:
  std::vector<int64_t> starts, steps, sizes;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_word(who, in[0]));
    const Shape& xs = in[0].shape;
    const size_t r = xs.size();
    if (starts.size() != r || steps.size() != r || sizes.size() != r || r > kMaxRank)
      return error(Code::kShapeMismatch, who, ": starts, steps and sizes need one value per input dim (input ",
                   shape_str(xs), ", got ", starts.size(), ", ", steps.size(), ", ", sizes.size(), ")");
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(xs, who.c_str(), &count));
    rank_ = static_cast<int>(r);
    base_ = 0;
    int64_t stride = 1;
    bool empty = false;
    for (size_t d = r; d-- > 0;) {
      if (sizes[d] == 0) empty = true;
      strides_[d] = steps[d] * stride;
      base_ += starts[d] * stride;
      stride *= xs[d];
      dims_[d] = sizes[d];
    }
    for (size_t d = 0; d < r && !empty; ++d) {
      // Both ends inside x; the products are small: |steps| and sizes were bounded at creation.
      const int64_t last = starts[d] + (sizes[d] - 1) * steps[d];
      if (starts[d] < 0 || starts[d] >= xs[d] || last < 0 || last >= xs[d])
        return error(Code::kShapeMismatch, who, ": on axis ", d, " start ", starts[d], ", step ", steps[d], " and size ",
                     sizes[d], " read index ", last, ", outside the input ", shape_str(xs));
    }
    TensorDesc y;
    y.dtype = in[0].dtype;
    y.shape = sizes;
    FCN_RETURN_IF_ERROR(checked_numel(y.shape, who.c_str(), &count));
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    strided_copy(rc, static_cast<const uint32_t*>(in[0].data), static_cast<uint32_t*>(out[0].data), rank_, dims_,
                 strides_, base_);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int rank_ = 0;
  int64_t dims_[kMaxRank] = {0}, strides_[kMaxRank] = {0};
  int64_t base_ = 0;
};

class TransposeOp : public Op {
 public:
  std::vector<int64_t> perm;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_word(who, in[0]));
    const Shape& xs = in[0].shape;
    const size_t r = xs.size();
    if (r > kMaxRank) return error(Code::kInvalidArgument, who, ": input ", shape_str(xs), " has more than 8 dims");
    std::vector<int64_t> p = perm;
    if (p.empty()) {
      for (size_t d = 0; d < r; ++d) p.push_back(static_cast<int64_t>(r - 1 - d));
    }
    std::vector<bool> seen(r, false);
    bool ok = p.size() == r;
    for (size_t d = 0; ok && d < r; ++d) {
      ok = p[d] >= 0 && p[d] < static_cast<int64_t>(r) && !seen[p[d]];
      if (ok) seen[p[d]] = true;
    }
    if (!ok)
      return error(Code::kInvalidArgument, who, ": perm ", shape_str(p), " is not a permutation of the input's ", r,
                   " dims (input ", shape_str(xs), ")");
    int64_t count;
    FCN_RETURN_IF_ERROR(checked_numel(xs, who.c_str(), &count));
    int64_t xstride[kMaxRank];
    int64_t s = 1;
    for (size_t d = r; d-- > 0;) {
      xstride[d] = s;
      s *= xs[d];
    }
    TensorDesc y;
    y.dtype = in[0].dtype;
    rank_ = static_cast<int>(r);
    for (size_t d = 0; d < r; ++d) {
      y.shape.push_back(xs[p[d]]);
      dims_[d] = xs[p[d]];
      strides_[d] = xstride[p[d]];
    }
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    strided_copy(rc, static_cast<const uint32_t*>(in[0].data), static_cast<uint32_t*>(out[0].data), rank_, dims_,
                 strides_, 0);
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int rank_ = 0;
  int64_t dims_[kMaxRank] = {0}, strides_[kMaxRank] = {0};
};

class ReshapeOp : public Op {
 public:
  Shape shape;

  Status setup(const std::vector<TensorDesc>& in, std::vector<TensorDesc>* out) override {
    const std::string& who = label();
    FCN_RETURN_IF_ERROR(expect_inputs(who, in, 1, 1));
    FCN_RETURN_IF_ERROR(expect_word(who, in[0]));
    int64_t nx, ny;
    FCN_RETURN_IF_ERROR(checked_numel(in[0].shape, who.c_str(), &nx));
    FCN_RETURN_IF_ERROR(checked_numel(shape, who.c_str(), &ny));
    if (nx != ny)
      return error(Code::kShapeMismatch, who, ": cannot reshape ", shape_str(in[0].shape), " (", nx,
                   " elements) to ", shape_str(shape), " (", ny, " elements)");
    n_ = nx;
    TensorDesc y;
    y.dtype = in[0].dtype;
    y.shape = shape;
    out->assign(1, y);
    return Status::OK();
  }

  Status run(const RunControl& rc, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
             void* workspace) const override {
    const char* x = static_cast<const char*>(in[0].data);
    char* y = static_cast<char*>(out[0].data);
    const int64_t n = n_;
    for_chunks(rc, (n + kChunkElems - 1) / kChunkElems, [&](int64_t c) {
      const int64_t begin = c * kChunkElems, len = std::min(n, begin + kChunkElems) - begin;
      std::memcpy(y + begin * 4, x + begin * 4, static_cast<size_t>(len) * 4);
    });
    if (rc.aborted()) return error(Code::kAborted, label(), ": aborted");
    return Status::OK();
  }

 private:
  int64_t n_ = 0;
};

}  // namespace

Status make_slice_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<SliceOp>();
  for (const char* name : {"starts", "steps", "sizes"})
    if (!a.has(name)) return error(Code::kInvalidArgument, who, ": attribute '", name, "' is required");
  FCN_RETURN_IF_ERROR(a.get_ints(who, "starts", {}, &op->starts));
  FCN_RETURN_IF_ERROR(a.get_ints(who, "steps", {}, &op->steps));
  FCN_RETURN_IF_ERROR(a.get_ints(who, "sizes", {}, &op->sizes));
  for (size_t i = 0; i < op->steps.size(); ++i)
    if (op->steps[i] == 0 || op->steps[i] > kMaxElements || op->steps[i] < -kMaxElements)
      return error(Code::kInvalidArgument, who, ": steps must be non-zero and within +-2^32, got ", shape_str(op->steps));
  for (int64_t s : op->sizes)
    if (s < 0 || s > kMaxElements) return error(Code::kInvalidArgument, who, ": sizes must be in [0, 2^32], got ", shape_str(op->sizes));
  for (int64_t s : op->starts)
    if (s < 0 || s > kMaxElements) return error(Code::kInvalidArgument, who, ": starts must be in [0, 2^32], got ", shape_str(op->starts));
  *out = std::move(op);
  return Status::OK();
}

Status make_transpose_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<TransposeOp>();
  FCN_RETURN_IF_ERROR(a.get_ints(who, "perm", {}, &op->perm));
  *out = std::move(op);
  return Status::OK();
}

Status make_reshape_op(const Attrs& a, const std::string& who, std::unique_ptr<Op>* out) {
  auto op = std::make_unique<ReshapeOp>();
  if (!a.has("shape")) return error(Code::kInvalidArgument, who, ": attribute 'shape' is required");
  FCN_RETURN_IF_ERROR(a.get_ints(who, "shape", {}, &op->shape));
  if (op->shape.size() > kMaxRank) return error(Code::kInvalidArgument, who, ": shape has more than 8 dims");
  for (int64_t d : op->shape)
    if (d < 0) return error(Code::kInvalidArgument, who, ": shape must be concrete sizes >= 0, got ", shape_str(op->shape));
  *out = std::move(op);
  return Status::OK();
}

}  // namespace fcn
