// compile(): a graph and concrete input shapes -> a Plan: every node's op made and set up once
// (shapes inferred, constant weights packed), and one arena laid out by value lifetimes.
//
// Memory of a run:
//   graph inputs       read in place from the caller's buffers;
//   graph outputs      written by their node directly into the caller's output buffers (later
//                      nodes that read such a value read it there); an output that is a graph
//                      input, a constant or listed twice is copied at the end of the run;
//   intermediates      in the arena, at offsets planned greedily by size: a value lives from the
//                      node that writes it to its last reader, and values whose lifetimes do not
//                      overlap share bytes (64-byte aligned);
//   op workspace       one region after the intermediates, the largest any op asks for with
//                      max_threads threads, shared since ops run one after another.
// A Plan is immutable after compile(), so any number of runs may use it at once, each with its
// own arena.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/cpu_features.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "ops/op.h"

namespace fcn {

class Plan {
 public:
  enum class Where { kInput, kConstant, kArena, kOutput };
  struct Value {
    std::string name;
    DType dtype = DType::kF32;
    Shape shape;
    size_t bytes = 0;
    Where where = Where::kArena;
    int index = 0;          // graph input / constant / graph output index
    size_t offset = 0;      // kArena: byte offset in the arena
    const void* constant = nullptr;
    int first = -1, last = -1;  // lifetime in steps (kArena)
  };
  struct Step {
    std::string name;  // node name
    std::unique_ptr<Op> op;
    std::vector<int> inputs, outputs;  // value ids
  };
  // Graph output `output` gets a copy of value `value` after the last step.
  struct Copy {
    int output;
    int value;
  };

  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  const std::vector<DType>& input_dtypes() const { return input_dtypes_; }
  const std::vector<Shape>& output_shapes() const { return output_shapes_; }
  const std::vector<DType>& output_dtypes() const { return output_dtypes_; }

  // Bytes a run needs: intermediates (with reuse) plus the shared op workspace.
  size_t arena_bytes() const { return arena_bytes_; }
  // What the same would take with every intermediate in its own buffer.
  size_t unshared_bytes() const { return unshared_bytes_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  size_t workspace_offset() const { return workspace_offset_; }
  // Bytes of constants the plan's ops read (an estimate of what they packed at setup).
  size_t constant_bytes() const { return constant_bytes_; }
  // The most threads a run may use (workspaces are sized for it).
  int max_threads() const { return max_threads_; }
  // Bytes the ops allocated at compile (packed weights), and the graph outputs' bytes.
  size_t packed_bytes() const { return packed_bytes_; }
  size_t output_bytes() const { return output_bytes_; }
  // What one run holds at most: packed weights + arena + outputs (checked against the budget).
  size_t run_bytes() const { return packed_bytes_ + arena_bytes_ + output_bytes_; }
  size_t memory_budget() const { return memory_budget_; }
  Isa isa() const { return isa_; }

  // An arena of arena_bytes() for one run: one a finished run gave back when there is one, else
  // newly allocated (empty when the memory cannot be had). Reusing them spares every run the
  // first-touch page faults of hundreds of MB (a full-width FCN's activations).
  AlignedBuffer take_arena() const;
  // Keeps the arena for the next run (at most kSpareArenas; any more are freed).
  void give_back_arena(AlignedBuffer&& arena) const;
  static constexpr size_t kSpareArenas = 2;

  const std::vector<Value>& values() const { return values_; }
  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<Copy>& copies() const { return copies_; }

 private:
  friend Status compile(const Graph& graph, const std::vector<Shape>& input_shapes, Isa isa,
                        int max_threads, size_t memory_budget, std::unique_ptr<Plan>* out);
  Plan() = default;
  std::vector<std::string> input_names_, output_names_;
  std::vector<Shape> input_shapes_, output_shapes_;
  std::vector<DType> input_dtypes_, output_dtypes_;
  std::vector<Value> values_;  // same ids as Graph::values()
  std::vector<Step> steps_;
  std::vector<Copy> copies_;
  size_t arena_bytes_ = 0, unshared_bytes_ = 0, workspace_bytes_ = 0, workspace_offset_ = 0;
  size_t constant_bytes_ = 0, packed_bytes_ = 0, output_bytes_ = 0, memory_budget_ = 0;
  int max_threads_ = 1;
  Isa isa_ = Isa::kRef;
  mutable std::mutex arena_mu_;
  mutable std::vector<AlignedBuffer> spare_arenas_;
};

// SHAPE_MISMATCH when an input shape contradicts the graph's declared one
// ("input 'x': expected [1, 3, ?, ?] but received [1, 4, 500, 500]"); INVALID_ARGUMENT for a
// wrong number of shapes; BAD_MODEL when a node lists a different number of outputs than its op
// produces; whatever an op's setup() reports (naming its node). max_threads >= 1.
// memory_budget: what one run of the plan may hold (default_memory_budget() in core/memory.h):
// packed weights, the arena (intermediates and workspace) and the outputs together. A value,
// a node's packed weights or the total past it is TOO_LARGE, found here before anything of that
// size is allocated, naming the node or value, the sizes and the budget.
Status compile(const Graph& graph, const std::vector<Shape>& input_shapes, Isa isa, int max_threads,
               size_t memory_budget, std::unique_ptr<Plan>* out);

}  // namespace fcn
