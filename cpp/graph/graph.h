// A validated graph: the plain C++ mirror of ts/graph/spec.ts's GraphSpec.
//
// Error codes of Graph::create:
//   BAD_MODEL        the description is malformed: an empty or duplicate name, a node input that
//                    names no graph input, constant or node output, a node that reads a value
//                    produced by a later node (nodes must be in topological order), a graph
//                    output that names nothing, a constant without data;
//   UNSUPPORTED_OP   a node's op type is unknown (found here, never mid-run);
//   INVALID_ARGUMENT a node's attributes are rejected by its op (also found here), a bad dimension.
// Every message names the node or value concerned.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ops/op.h"

namespace fcn {

struct GraphInputDesc {
  std::string name;
  DType dtype = DType::kF32;
  Shape dims;  // -1 where the size is only known when a plan is made (e.g. H and W)
};

// Fixed data (weights). The data is owned by the caller, who keeps it alive and unchanged for
// as long as the graph or any plan made from it (or any run of such a plan) exists.
struct GraphConstantDesc {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;
};

struct GraphNodeDesc {
  std::string name;
  std::string type;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  Attrs attrs;
};

struct GraphDesc {
  std::vector<GraphInputDesc> inputs;
  std::vector<GraphConstantDesc> constants;
  std::vector<GraphNodeDesc> nodes;  // topological order
  std::vector<std::string> outputs;
};

class Graph {
 public:
  enum class ValueKind { kInput, kConstant, kNodeOutput };
  // Every named value once: graph inputs, constants, node outputs.
  struct Value {
    std::string name;
    ValueKind kind;
    int index;  // input index, constant index, or producing node index
    int slot;   // output slot within the producing node (0 otherwise)
  };

  static Status create(GraphDesc desc, std::unique_ptr<Graph>* out);

  const GraphDesc& desc() const { return desc_; }
  const std::vector<Value>& values() const { return values_; }
  // Value ids (indices into values()) of each node's inputs and outputs, and of the graph outputs.
  const std::vector<std::vector<int>>& node_inputs() const { return node_inputs_; }
  const std::vector<std::vector<int>>& node_outputs() const { return node_outputs_; }
  const std::vector<int>& output_ids() const { return output_ids_; }
  // -1 when no value has that name.
  int value_id(const std::string& name) const;
  // Total bytes of all constants (what packed weights are sized like).
  size_t constant_bytes() const { return constant_bytes_; }

 private:
  Graph() = default;
  GraphDesc desc_;
  std::vector<Value> values_;
  std::unordered_map<std::string, int> ids_;
  std::vector<std::vector<int>> node_inputs_, node_outputs_;
  std::vector<int> output_ids_;
  size_t constant_bytes_ = 0;
};

}  // namespace fcn
