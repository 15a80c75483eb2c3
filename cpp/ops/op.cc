#include "ops/op.h"

#include <cmath>

#include "core/memory.h"

namespace fcn {

namespace {
Status find_nums(const std::map<std::string, AttrValue>& m, const std::string& who,
                 const std::string& name, const AttrValue** out) {
  auto it = m.find(name);
  if (it == m.end()) {
    *out = nullptr;
    return Status::OK();
  }
  if (it->second.is_string)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be numeric");
  *out = &it->second;
  return Status::OK();
}

Status to_int(const std::string& who, const std::string& name, double v, int64_t* out) {
  if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9.0e15)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be an integer, got ", v);
  *out = static_cast<int64_t>(v);
  return Status::OK();
}
}  // namespace

Status Attrs::get_int(const std::string& who, const std::string& name, int64_t def, int64_t* out) const {
  const AttrValue* v;
  FCN_RETURN_IF_ERROR(find_nums(m_, who, name, &v));
  if (!v) {
    *out = def;
    return Status::OK();
  }
  if (v->nums.size() != 1)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be one number");
  return to_int(who, name, v->nums[0], out);
}

Status Attrs::get_ints(const std::string& who, const std::string& name, const std::vector<int64_t>& def,
                       std::vector<int64_t>* out) const {
  const AttrValue* v;
  FCN_RETURN_IF_ERROR(find_nums(m_, who, name, &v));
  if (!v) {
    *out = def;
    return Status::OK();
  }
  out->resize(v->nums.size());
  for (size_t i = 0; i < v->nums.size(); ++i) FCN_RETURN_IF_ERROR(to_int(who, name, v->nums[i], &(*out)[i]));
  return Status::OK();
}

Status Attrs::get_float(const std::string& who, const std::string& name, double def, double* out) const {
  const AttrValue* v;
  FCN_RETURN_IF_ERROR(find_nums(m_, who, name, &v));
  if (!v) {
    *out = def;
    return Status::OK();
  }
  if (v->nums.size() != 1)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be one number");
  *out = v->nums[0];
  return Status::OK();
}

Status Attrs::get_floats(const std::string& who, const std::string& name, const std::vector<double>& def,
                         std::vector<double>* out) const {
  const AttrValue* v;
  FCN_RETURN_IF_ERROR(find_nums(m_, who, name, &v));
  *out = v ? v->nums : def;
  return Status::OK();
}

Status Attrs::get_string(const std::string& who, const std::string& name, const std::string& def,
                         std::string* out) const {
  auto it = m_.find(name);
  if (it == m_.end()) {
    *out = def;
    return Status::OK();
  }
  if (!it->second.is_string)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be a string");
  *out = it->second.str;
  return Status::OK();
}

Status Op::reserve(const char* what, size_t bytes) {
  if (bytes > memory_budget_ || setup_bytes_ > memory_budget_ - bytes)
    return error(Code::kTooLarge, label_, ": ", what, " need ", bytes_str(bytes), " but only ",
                 bytes_str(memory_budget_ > setup_bytes_ ? memory_budget_ - setup_bytes_ : 0),
                 " of the memory budget is left (use smaller inputs or a smaller model, or raise memoryBudgetBytes)");
  setup_bytes_ += bytes;
  return Status::OK();
}

Status expect_inputs(const std::string& who, const std::vector<TensorDesc>& in, size_t min, size_t max) {
  if (in.size() < min || in.size() > max) {
    if (min == max) return error(Code::kInvalidArgument, who, ": expected ", min, " inputs but received ", in.size());
    return error(Code::kInvalidArgument, who, ": expected ", min, " to ", max, " inputs but received ", in.size());
  }
  return Status::OK();
}

Status expect_rank(const std::string& who, const char* what, const TensorDesc& t, size_t rank) {
  if (t.shape.size() != rank)
    return error(Code::kShapeMismatch, who, ": expected ", what, " of rank ", rank, " but received shape ",
                 shape_str(t.shape));
  return Status::OK();
}

Status split_axis(const std::string& who, const char* op, const Shape& xs, int64_t axis, AxisSplit* out) {
  const int64_t rank = static_cast<int64_t>(xs.size());
  if (rank < 1) return error(Code::kInvalidArgument, who, ": ", op, " needs an input of rank >= 1, got a scalar");
  if (axis < -rank || axis >= rank)
    return error(Code::kInvalidArgument, who, ": axis ", axis, " is out of range for input ", shape_str(xs),
                 " (rank ", rank, ")");
  AxisSplit s;
  s.axis = axis < 0 ? axis + rank : axis;
  for (int64_t i = 0; i < s.axis; ++i) s.outer *= xs[i];
  for (int64_t i = s.axis + 1; i < rank; ++i) s.inner *= xs[i];
  s.n = xs[s.axis];
  *out = s;
  return Status::OK();
}

Status expect_f32(const std::string& who, const char* what, const TensorDesc& t) {
  if (t.dtype != DType::kF32)
    return error(Code::kInvalidArgument, who, ": expected ", what, " of dtype float32 but received ",
                 dtype_name(t.dtype));
  return Status::OK();
}

Status get_pair(const Attrs& a, const std::string& who, const std::string& name, int64_t def, int64_t out[2]) {
  std::vector<int64_t> v;
  FCN_RETURN_IF_ERROR(a.get_ints(who, name, {def, def}, &v));
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2)
    return error(Code::kInvalidArgument, who, ": attribute '", name, "' must be a number or [h, w], got ",
                 v.size(), " values");
  out[0] = v[0];
  out[1] = v[1];
  return Status::OK();
}

Status resolve_padding(const Attrs& a, const std::string& who, int64_t in_h, int64_t in_w, const int64_t k[2],
                       const int64_t stride[2], const int64_t dil[2], int64_t pads[4]) {
  std::string mode;
  FCN_RETURN_IF_ERROR(a.get_string(who, "autoPad", "explicit", &mode));
  if (mode == "same") {
    Status s = same_padding(in_h, k[0], stride[0], dil[0], &pads[0], &pads[2]);
    if (s.ok()) s = same_padding(in_w, k[1], stride[1], dil[1], &pads[1], &pads[3]);
    if (!s.ok()) return error(s.code(), who, ": ", s.message());
    return Status::OK();
  }
  if (mode == "valid") {
    pads[0] = pads[1] = pads[2] = pads[3] = 0;
    return Status::OK();
  }
  if (mode != "explicit")
    return error(Code::kInvalidArgument, who, ": padding mode '", mode, "' is not one of same, valid, explicit");
  std::vector<int64_t> p;
  FCN_RETURN_IF_ERROR(a.get_ints(who, "pads", {0}, &p));
  if (p.size() == 1) p = {p[0], p[0], p[0], p[0]};
  else if (p.size() == 2) p = {p[0], p[1], p[0], p[1]};
  else if (p.size() != 4)
    return error(Code::kInvalidArgument, who, ": padding must be a number, [h, w] or [top, left, bottom, right]");
  for (int i = 0; i < 4; ++i) {
    if (p[i] < 0) return error(Code::kInvalidArgument, who, ": padding must not be negative, got ", shape_str(p));
    pads[i] = p[i];
  }
  return Status::OK();
}

}  // namespace fcn
