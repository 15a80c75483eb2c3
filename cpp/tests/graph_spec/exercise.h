// What the binding does with a graph spec or a single op call (binding/graph.cc, binding/ops.cc),
// as plain C++ so the sanitizer harness (graph_spec_test.cc) and the libFuzzer target
// (graph_spec_fuzz.cc) drive the same entry points: Graph::create, compile, run_plan;
// make_op, Op::setup, Op::run. Runs use small tensors only: when a plan's memory would pass
// run_cap bytes the run is skipped (compiling it is still exercised).
#pragma once
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "ops/op.h"

namespace fcn {

constexpr size_t kRunBytesCap = size_t(64) << 20;  // the default run_cap

struct Outcome {
  Status status;    // the first error an entry point reported, or OK
  std::string escaped;  // non-empty: an exception left an entry point the binding does not guard
  bool ran = false;     // a run happened (shapes were small enough)
};

// Graph::create -> compile(shapes) -> run_plan with inputs filled from `seed`.
Outcome exercise_graph(GraphDesc desc, const std::vector<Shape>& shapes, Isa isa, uint32_t seed = 1,
                       size_t run_cap = kRunBytesCap);

// make_op -> setup(inputs) -> run. `inputs` with constant data set are passed to setup as constants.
Outcome exercise_op(const std::string& type, const Attrs& attrs, const std::vector<TensorDesc>& inputs, Isa isa,
                    uint32_t seed = 1, size_t run_cap = kRunBytesCap);

}  // namespace fcn
