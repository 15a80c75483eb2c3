// libFuzzer target: bytes -> a small graph spec (or one op call) -> Graph::create -> compile ->
// run on tiny shapes, through the same entry points as the binding (exercise.h). Built with
// -fsanitize=fuzzer,address,undefined by FCNKIT_FUZZ=ON (scripts/fuzz.js builds and runs it).
// A finding: a sanitizer report, a crash, a timeout, the RSS limit, or an exception leaving an
// entry point the binding does not guard (reported here with abort()).
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "exercise.h"

namespace fcn {
namespace {

const char* const kAttrNames[] = {"activation", "alpha", "autoPad", "axis", "beta", "ceilMode", "coordinate",
                                  "countIncludePad", "dilation", "groups", "keepDims", "kernel", "max", "min", "mode",
                                  "nearestMode", "offset", "outputPadding", "pads", "perm", "scale", "shape", "size",
                                  "sizes", "starts", "steps", "stride", "transA", "transB", "value"};
const char* const kStrings[] = {"none", "relu", "same", "valid", "explicit", "constant", "reflect", "edge", "nearest",
                                "bilinear", "half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
                                "round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "", "x"};
const double kNums[] = {0, 1, 2, 3, -1, -2, 0.5, 1.5, 4, 7, 16, 64, 255, 65536, 4294967296.0, 4503599627370496.0,
                        9.3e18, -9.3e18, 1e300, NAN, INFINITY, -INFINITY, 2147483647, -2147483648.0};
const int64_t kDims[] = {0, 1, 2, 3, 4, 5, 7, 8, 13, 16, 65537, int64_t(1) << 31, int64_t(1) << 40, int64_t(1) << 62};

template <typename T, size_t N>
const T& pick(FuzzedDataProvider& p, const T (&a)[N]) {
  return a[p.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

int64_t dim(FuzzedDataProvider& p) {
  // Mostly small, so that runs happen; sometimes an edge value.
  return p.ConsumeIntegralInRange<int>(0, 3) ? p.ConsumeIntegralInRange<int64_t>(1, 9) : pick(p, kDims);
}

Shape shape(FuzzedDataProvider& p, size_t max_rank) {
  Shape s(p.ConsumeIntegralInRange<size_t>(0, max_rank));
  for (int64_t& d : s) d = dim(p);
  return s;
}

Attrs attrs(FuzzedDataProvider& p) {
  Attrs a;
  const int n = p.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < n; ++i) {
    const std::string name = pick(p, kAttrNames);
    if (p.ConsumeIntegralInRange(0, 5) == 0) {
      a.set_string(name, pick(p, kStrings));
      continue;
    }
    std::vector<double> v(p.ConsumeIntegralInRange<size_t>(1, 8));
    for (double& x : v) x = p.ConsumeBool() ? pick(p, kNums) : p.ConsumeIntegralInRange<int>(-3, 9);
    a.set_nums(name, std::move(v));
  }
  return a;
}

// Constant data: any shape whose float count fits (the binding guarantees data matches shape).
constexpr int64_t kConstFloats = 4096;
const float* const_data() {
  static std::vector<float> d = [] {
    std::vector<float> v(kConstFloats);
    for (int64_t i = 0; i < kConstFloats; ++i) v[i] = std::sin(0.37f * static_cast<float>(i));
    return v;
  }();
  return d.data();
}
Shape const_shape(FuzzedDataProvider& p) {
  for (;;) {
    Shape s = shape(p, 4);
    int64_t n;
    if (checked_numel(s, "c", &n).ok() && n <= kConstFloats) return s;
    if (p.remaining_bytes() == 0) return {1};
  }
}

Outcome one_graph(FuzzedDataProvider& p, Isa isa) {
  GraphDesc d;
  std::vector<std::string> names;
  std::vector<Shape> run_shapes;
  const int n_in = p.ConsumeIntegralInRange(1, 2);
  for (int i = 0; i < n_in; ++i) {
    GraphInputDesc in{"x" + std::to_string(i), p.ConsumeIntegralInRange(0, 7) ? DType::kF32 : DType::kI32,
                      shape(p, 5)};
    Shape run = in.dims;
    for (int64_t& x : in.dims)
      if (p.ConsumeIntegralInRange(0, 2) == 0) x = -1;  // dynamic: run with the concrete size
    if (p.ConsumeIntegralInRange(0, 15) == 0 && !run.empty()) run[0] = dim(p);
    names.push_back(in.name);
    run_shapes.push_back(run);
    d.inputs.push_back(std::move(in));
  }
  const int n_const = p.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < n_const; ++i) {
    d.constants.push_back(GraphConstantDesc{"c" + std::to_string(i), DType::kF32, const_shape(p), const_data()});
    names.push_back(d.constants.back().name);
  }
  const std::vector<std::string> types = op_types();
  const int n_nodes = p.ConsumeIntegralInRange(1, 4);
  for (int i = 0; i < n_nodes; ++i) {
    GraphNodeDesc n;
    n.name = "n" + std::to_string(i);
    n.type = types[p.ConsumeIntegralInRange<size_t>(0, types.size() - 1)];
    const int n_args = p.ConsumeIntegralInRange(1, 3);
    for (int k = 0; k < n_args; ++k)
      n.inputs.push_back(p.ConsumeIntegralInRange(0, 31) ? names[p.ConsumeIntegralInRange<size_t>(0, names.size() - 1)]
                                                          : std::string("nowhere"));
    n.outputs.push_back("v" + std::to_string(i));
    if (p.ConsumeIntegralInRange(0, 15) == 0) n.outputs.push_back("w" + std::to_string(i));
    n.attrs = attrs(p);
    names.push_back(n.outputs[0]);
    d.nodes.push_back(std::move(n));
  }
  d.outputs.push_back(names.back());
  if (p.ConsumeBool()) d.outputs.push_back(names[p.ConsumeIntegralInRange<size_t>(0, names.size() - 1)]);
  return exercise_graph(std::move(d), run_shapes, isa, 7, size_t(4) << 20);
}

Outcome one_op(FuzzedDataProvider& p, Isa isa) {
  const std::vector<std::string> types = op_types();
  const std::string type = types[p.ConsumeIntegralInRange<size_t>(0, types.size() - 1)];
  Attrs a = attrs(p);
  std::vector<TensorDesc> in(p.ConsumeIntegralInRange<size_t>(0, 3));
  for (TensorDesc& t : in) {
    if (p.ConsumeIntegralInRange(0, 3) == 0) {
      t.shape = const_shape(p);
      t.constant = const_data();
    } else {
      t.shape = shape(p, 5);
    }
    if (p.ConsumeIntegralInRange(0, 7) == 0) t.dtype = DType::kI32;
  }
  return exercise_op(type, a, in, isa, 7, size_t(4) << 20);
}

}  // namespace
}  // namespace fcn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider p(data, size);
  const fcn::Isa isa = p.ConsumeBool() ? fcn::Isa::kRef : fcn::active_isa();
  fcn::Outcome o = p.ConsumeBool() ? fcn::one_op(p, isa) : fcn::one_graph(p, isa);
  if (!o.escaped.empty()) {
    std::fprintf(stderr, "graph_spec_fuzz: %s\n", o.escaped.c_str());
    // A fuzz target reports a finding by crashing: libFuzzer then saves the input. This is the
    // test driver, not the library (the core returns a Status for everything it is given).
    std::abort();
  }
  return 0;
}
