// The op interface shared by single-op calls and compiled graph plans.
//   setup(): validate input descriptors, infer outputs, choose kernels, pack constant weights.
//   run():   compute; may be called concurrently with distinct workspaces.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/cpu_features.h"
#include "core/status.h"
#include "core/tensor.h"
#include "kernels/kernels.h"

namespace fcn {

struct AttrValue {
  std::vector<double> nums;
  std::string str;
  bool is_string = false;
};

class Attrs {
 public:
  void set_nums(const std::string& name, std::vector<double> v) { m_[name] = AttrValue{std::move(v), "", false}; }
  void set_string(const std::string& name, std::string s) { m_[name] = AttrValue{{}, std::move(s), true}; }
  bool has(const std::string& name) const { return m_.count(name) != 0; }
  const std::map<std::string, AttrValue>& all() const { return m_; }

  // Getters check type and integrality; `who` prefixes error messages ("conv2d 'conv1'").
  Status get_int(const std::string& who, const std::string& name, int64_t def, int64_t* out) const;
  Status get_ints(const std::string& who, const std::string& name, const std::vector<int64_t>& def,
                  std::vector<int64_t>* out) const;
  Status get_float(const std::string& who, const std::string& name, double def, double* out) const;
  Status get_floats(const std::string& who, const std::string& name, const std::vector<double>& def,
                    std::vector<double>* out) const;
  Status get_string(const std::string& who, const std::string& name, const std::string& def,
                    std::string* out) const;

 private:
  std::map<std::string, AttrValue> m_;
};

class Op {
 public:
  virtual ~Op() = default;
  virtual Status setup(const std::vector<TensorDesc>& inputs, std::vector<TensorDesc>* outputs) = 0;
  virtual size_t workspace_bytes(int max_threads) const { return 0; }
  virtual Status run(const RunControl& rc, const std::vector<Tensor>& inputs,
                     const std::vector<Tensor>& outputs, void* workspace) const = 0;
  // "conv2d" or "conv2d 'score_fr'": how messages name this op.
  const std::string& label() const { return label_; }

  // What setup() may allocate (packed weights): the run's memory budget less what earlier
  // nodes took. Set before setup(); past it, setup() is TOO_LARGE before allocating.
  void set_memory_budget(size_t bytes) { memory_budget_ = bytes; }
  // Bytes setup() allocated and keeps for the op's life.
  size_t setup_bytes() const { return setup_bytes_; }

 protected:
  friend Status make_op(const std::string&, const Attrs&, const std::string&, Isa, std::unique_ptr<Op>*);
  // Counts `bytes` of `what` against the budget: TOO_LARGE naming both when they do not fit.
  Status reserve(const char* what, size_t bytes);
  std::string label_;
  Isa isa_ = Isa::kRef;
  size_t memory_budget_ = ~size_t(0);
  size_t setup_bytes_ = 0;
};

// Creates an op by type ("conv2d", "maxPool2d", ...). UNSUPPORTED_OP for an unknown type.
Status make_op(const std::string& type, const Attrs& attrs, const std::string& node_name, Isa isa,
               std::unique_ptr<Op>* out);

// Every op type make_op knows.
std::vector<std::string> op_types();

// Helpers for op implementations.
Status expect_inputs(const std::string& who, const std::vector<TensorDesc>& in, size_t min, size_t max);
Status expect_rank(const std::string& who, const char* what, const TensorDesc& t, size_t rank);

// An op along one axis of xs (softmax, argmax): the axis (negative counts from the end) checked
// against the rank, and the shape seen as [outer, n, inner].
struct AxisSplit {
  int64_t axis = 0, outer = 1, n = 1, inner = 1;
};
Status split_axis(const std::string& who, const char* op, const Shape& xs, int64_t axis, AxisSplit* out);
Status expect_f32(const std::string& who, const char* what, const TensorDesc& t);

// [h, w] from a 1- or 2-element attribute (a number applies to both axes).
Status get_pair(const Attrs& a, const std::string& who, const std::string& name, int64_t def,
                int64_t out[2]);
// Padding from `pads` ([p], [h, w] or [top, left, bottom, right]) and `autoPad`
// ('explicit' | 'same' | 'valid'); same = SAME_UPPER. Writes t, l, b, r.
Status resolve_padding(const Attrs& a, const std::string& who, int64_t in_h, int64_t in_w,
                       const int64_t k[2], const int64_t stride[2], const int64_t dil[2],
                       int64_t pads[4]);

}  // namespace fcn
