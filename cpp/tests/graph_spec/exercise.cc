#include "exercise.h"

#include <cstring>
#include <exception>
#include <memory>
#include <new>

#include "core/buffer.h"
#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/planner.h"

namespace fcn {

namespace {

// Bytes of a tensor, or SIZE_MAX when the shape is not a valid one.
size_t tensor_bytes(const Shape& s) {
  int64_t n;
  if (!checked_numel(s, "t", &n).ok()) return SIZE_MAX;
  return static_cast<size_t>(n) * 4;
}

bool add_bytes(size_t* total, size_t b, size_t cap) {
  if (b == SIZE_MAX || *total > cap || b > cap - *total) return false;
  *total += b;
  return true;
}

// Small values of both signs, some exact integers (index-like inputs), no NaN.
void fill(const Tensor& t, uint32_t seed) {
  const int64_t n = t.numel();
  uint32_t x = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    if (t.dtype == DType::kI32)
      t.i32()[i] = static_cast<int32_t>((x >> 16) % 7);
    else
      t.f32()[i] = static_cast<float>(static_cast<int32_t>(x >> 8) % 2000) / 500.0f;
  }
}

RunControl control() {
  RunControl rc;
  rc.pool = &ThreadPool::global();
  rc.max_threads = 2;
  return rc;
}

}  // namespace

Outcome exercise_graph(GraphDesc desc, const std::vector<Shape>& shapes, Isa isa, uint32_t seed, size_t run_cap) {
  Outcome out;
  std::unique_ptr<Graph> graph;
  try {
    out.status = Graph::create(std::move(desc), &graph);
  } catch (const std::exception& e) {
    out.escaped = std::string("Graph::create threw: ") + e.what();
    return out;
  }
  if (!out.status.ok()) return out;

  // As binding/graph.cc's compile_safe: exceptions from compile are converted there.
  std::unique_ptr<Plan> plan;
  try {
    out.status = compile(*graph, shapes, isa, 2, run_cap, &plan);
  } catch (const std::bad_alloc&) {
    out.status = error(Code::kOutOfMemory, "compile: out of memory");
  } catch (const std::exception& e) {
    out.status = error(Code::kInvalidArgument, "compile: ", e.what());
  }
  if (!out.status.ok()) return out;

  size_t total = plan->arena_bytes();
  if (total > run_cap) return out;
  for (const Shape& s : plan->input_shapes())
    if (!add_bytes(&total, tensor_bytes(s), run_cap)) return out;
  for (const Shape& s : plan->output_shapes())
    if (!add_bytes(&total, tensor_bytes(s), run_cap)) return out;

  std::vector<AlignedBuffer> buffers;
  std::vector<Tensor> inputs, outputs;
  auto make = [&](DType dtype, const Shape& shape, std::vector<Tensor>* list) {
    buffers.emplace_back();
    buffers.back().allocate(tensor_bytes(shape));
    list->push_back(Tensor{dtype, shape, buffers.back().data()});
  };
  buffers.reserve(plan->input_shapes().size() + plan->output_shapes().size());
  for (size_t i = 0; i < plan->input_shapes().size(); ++i) {
    make(plan->input_dtypes()[i], plan->input_shapes()[i], &inputs);
    fill(inputs.back(), seed + static_cast<uint32_t>(i));
  }
  for (size_t i = 0; i < plan->output_shapes().size(); ++i)
    make(plan->output_dtypes()[i], plan->output_shapes()[i], &outputs);
  // run_plan converts exceptions itself; one escaping it is a finding.
  try {
    out.status = run_plan(*plan, inputs, outputs, control());
    out.ran = true;
  } catch (const std::exception& e) {
    out.escaped = std::string("run_plan threw: ") + e.what();
  }
  return out;
}

Outcome exercise_op(const std::string& type, const Attrs& attrs, const std::vector<TensorDesc>& inputs, Isa isa,
                    uint32_t seed, size_t run_cap) {
  Outcome out;
  std::unique_ptr<Op> op;
  std::vector<TensorDesc> outs;
  // binding/ops.cc calls make_op and setup unguarded: an exception there would end the process.
  try {
    out.status = make_op(type, attrs, "", isa, &op);
    if (!out.status.ok()) return out;
    out.status = op->setup(inputs, &outs);
  } catch (const std::exception& e) {
    out.escaped = type + ": make_op/setup threw: " + e.what();
    return out;
  }
  if (!out.status.ok()) return out;

  size_t total = 0;
  for (const TensorDesc& d : inputs)
    if (!add_bytes(&total, tensor_bytes(d.shape), run_cap)) return out;
  for (const TensorDesc& d : outs)
    if (!add_bytes(&total, tensor_bytes(d.shape), run_cap)) return out;
  const size_t ws_bytes = op->workspace_bytes(2);
  if (!add_bytes(&total, ws_bytes, run_cap)) return out;

  std::vector<AlignedBuffer> buffers(inputs.size() + outs.size());
  std::vector<Tensor> in_t, out_t;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].constant) {
      in_t.push_back(Tensor{inputs[i].dtype, inputs[i].shape, const_cast<void*>(inputs[i].constant)});
      continue;
    }
    buffers[i].allocate(tensor_bytes(inputs[i].shape));
    in_t.push_back(Tensor{inputs[i].dtype, inputs[i].shape, buffers[i].data()});
    fill(in_t.back(), seed + static_cast<uint32_t>(i));
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    AlignedBuffer& b = buffers[inputs.size() + i];
    b.allocate(tensor_bytes(outs[i].shape));
    out_t.push_back(Tensor{outs[i].dtype, outs[i].shape, b.data()});
  }
  AlignedBuffer ws;
  ws.allocate(ws_bytes);
  // As binding/ops.cc's execute: bad_alloc and std::exception are converted there.
  try {
    out.status = op->run(control(), in_t, out_t, ws.data());
    out.ran = true;
  } catch (const std::bad_alloc&) {
    out.status = error(Code::kOutOfMemory, type, ": out of memory");
  } catch (const std::exception& e) {
    out.status = error(Code::kInvalidArgument, type, ": ", e.what());
  }
  return out;
}

}  // namespace fcn
