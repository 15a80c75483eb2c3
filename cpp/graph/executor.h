// run_plan(): one run of a compiled Plan, node after node, on the caller's thread (ops spread
// their work over rc.pool). Allocates nothing but the arena (and a few small per-run tables).
#pragma once
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/planner.h"
#include "kernels/kernels.h"

namespace fcn {

// inputs / outputs: in the plan's input and output order, with exactly its shapes and dtypes
// (SHAPE_MISMATCH / INVALID_ARGUMENT otherwise); outputs must not overlap inputs or each other.
// arena: at least plan.arena_bytes() bytes, 64-byte aligned, or null to have one allocated for
// this run (OUT_OF_MEMORY when it cannot be). rc.max_threads is capped at plan.max_threads().
// ABORTED when rc.abort is set: "run aborted before node 'conv3_1'". Safe to call concurrently
// on one plan with distinct arenas and outputs.
Status run_plan(const Plan& plan, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                const RunControl& rc, void* arena = nullptr, size_t arena_size = 0);

// Checks tensors against what a plan takes or gives (count, shapes, dtypes, data): INVALID_ARGUMENT
// or SHAPE_MISMATCH naming the tensor ("input 'x': the plan was made for ..."). kind: "input" or
// "output". Shared with the CUDA plan (cpp/cuda/lower.cc).
Status check_tensors(const char* kind, const std::vector<std::string>& names, const std::vector<Shape>& shapes,
                     const std::vector<DType>& dtypes, const std::vector<Tensor>& given);

// The same run, timing every step: step_ms[i] is plan.steps()[i]'s wall-clock time in ms.
Status run_plan_profiled(const Plan& plan, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                         const RunControl& rc, std::vector<double>* step_ms);

}  // namespace fcn
