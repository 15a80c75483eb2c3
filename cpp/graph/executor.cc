#include "graph/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>

#include "core/buffer.h"

namespace fcn {

Status check_tensors(const char* kind, const std::vector<std::string>& names, const std::vector<Shape>& shapes,
                     const std::vector<DType>& dtypes, const std::vector<Tensor>& given) {
  if (given.size() != names.size())
    return error(Code::kInvalidArgument, "the plan has ", names.size(), " ", kind, "(s) but ", given.size(),
                 " were given");
  for (size_t i = 0; i < given.size(); ++i) {
    if (given[i].shape != shapes[i])
      return error(Code::kShapeMismatch, kind, " '", names[i], "': the plan was made for ", shape_str(shapes[i]),
                   " but received ", shape_str(given[i].shape));
    if (given[i].dtype != dtypes[i])
      return error(Code::kInvalidArgument, kind, " '", names[i], "': expected dtype ", dtype_name(dtypes[i]),
                   " but received ", dtype_name(given[i].dtype));
    if (!given[i].data && numel(shapes[i]) > 0)
      return error(Code::kInvalidArgument, kind, " '", names[i], "' has no data");
  }
  return Status::OK();
}

namespace {

Status run_steps(const Plan& plan, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                 const RunControl& rc_in, void* arena, size_t arena_size, std::vector<double>* step_ms) {
  // Without an arena from the caller, the plan lends one (given back when this run ends, however).
  struct Lease {
    const Plan& plan;
    AlignedBuffer buffer;
    ~Lease() {
      if (buffer.data()) plan.give_back_arena(std::move(buffer));
    }
  } lease{plan, AlignedBuffer()};
  if (plan.arena_bytes() > 0 && (!arena || arena_size < plan.arena_bytes())) {
    if (arena)
      return error(Code::kInvalidArgument, "the arena given has ", arena_size, " bytes but the plan needs ",
                   plan.arena_bytes());
    lease.buffer = plan.take_arena();
    if (!lease.buffer.data())
      return error(Code::kOutOfMemory, "cannot allocate the run's arena of ", plan.arena_bytes(), " bytes");
    arena = lease.buffer.data();
  }
  if (reinterpret_cast<uintptr_t>(arena) % 64 != 0)
    return error(Code::kInvalidArgument, "the arena given is not 64-byte aligned");
  char* base = static_cast<char*>(arena);

  // Where every value lives in this run.
  const std::vector<Plan::Value>& values = plan.values();
  std::vector<void*> where(values.size(), nullptr);
  for (size_t id = 0; id < values.size(); ++id) {
    const Plan::Value& v = values[id];
    switch (v.where) {
      case Plan::Where::kInput: where[id] = inputs[v.index].data; break;
      case Plan::Where::kConstant: where[id] = const_cast<void*>(v.constant); break;
      case Plan::Where::kOutput: where[id] = outputs[v.index].data; break;
      case Plan::Where::kArena: where[id] = base ? base + v.offset : nullptr; break;
    }
  }

  // Every step's tensor lists up front, so nothing is allocated between nodes.
  const std::vector<Plan::Step>& steps = plan.steps();
  std::vector<std::vector<Tensor>> step_in(steps.size()), step_out(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    for (int id : steps[i].inputs) step_in[i].push_back(Tensor{values[id].dtype, values[id].shape, where[id]});
    for (int id : steps[i].outputs) step_out[i].push_back(Tensor{values[id].dtype, values[id].shape, where[id]});
  }

  RunControl rc = rc_in;
  rc.max_threads = rc.max_threads <= 0 ? plan.max_threads() : std::min(rc.max_threads, plan.max_threads());
  void* workspace = plan.workspace_bytes() ? base + plan.workspace_offset() : nullptr;

  for (size_t i = 0; i < steps.size(); ++i) {
    const Plan::Step& step = steps[i];
    if (rc.aborted()) return error(Code::kAborted, "run aborted before node '", step.name, "'");
    Status s;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      s = step.op->run(rc, step_in[i], step_out[i], workspace);
      if (step_ms)
        (*step_ms)[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    } catch (const std::bad_alloc&) {
      return error(Code::kOutOfMemory, step.op->label(), ": out of memory");
    } catch (const std::exception& e) {
      return error(Code::kInvalidArgument, step.op->label(), ": ", e.what());
    }
    if (s.code() == Code::kAborted) return error(Code::kAborted, "run aborted in node '", step.name, "'");
    if (!s.ok()) return s;
  }

  for (const Plan::Copy& c : plan.copies()) {
    const Plan::Value& v = values[c.value];
    if (v.bytes) std::memcpy(outputs[c.output].data, where[c.value], v.bytes);
  }
  return Status::OK();
}

Status checked_run(const Plan& plan, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                   const RunControl& rc, void* arena, size_t arena_size, std::vector<double>* step_ms) {
  FCN_RETURN_IF_ERROR(check_tensors("input", plan.input_names(), plan.input_shapes(), plan.input_dtypes(), inputs));
  FCN_RETURN_IF_ERROR(
      check_tensors("output", plan.output_names(), plan.output_shapes(), plan.output_dtypes(), outputs));
  try {
    if (step_ms) step_ms->assign(plan.steps().size(), 0.0);
    return run_steps(plan, inputs, outputs, rc, arena, arena_size, step_ms);
  } catch (const std::bad_alloc&) {
    return error(Code::kOutOfMemory, "run: out of memory");
  } catch (const std::exception& e) {
    return error(Code::kInvalidArgument, "run: ", e.what());
  } catch (...) {
    return error(Code::kInvalidArgument, "run: unexpected failure");
  }
}

}  // namespace

Status run_plan(const Plan& plan, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                const RunControl& rc, void* arena, size_t arena_size) {
  return checked_run(plan, inputs, outputs, rc, arena, arena_size, nullptr);
}

Status run_plan_profiled(const Plan& plan, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                         const RunControl& rc, std::vector<double>* step_ms) {
  return checked_run(plan, inputs, outputs, rc, nullptr, 0, step_ms);
}

}  // namespace fcn
