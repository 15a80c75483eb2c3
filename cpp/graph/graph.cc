#include "graph/graph.h"

#include <unordered_set>

namespace fcn {

namespace {
std::string node_label(const GraphNodeDesc& n) { return n.type + " '" + n.name + "'"; }
}  // namespace

int Graph::value_id(const std::string& name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? -1 : it->second;
}

Status Graph::create(GraphDesc desc, std::unique_ptr<Graph>* out) {
  std::unique_ptr<Graph> g(new Graph());
  g->desc_ = std::move(desc);
  const GraphDesc& d = g->desc_;

  // Producers of every value, so that a read of a later node's output can be told apart from
  // a read of a name nobody defines.
  std::unordered_map<std::string, int> later_producer;
  for (size_t i = 0; i < d.nodes.size(); ++i)
    for (const std::string& o : d.nodes[i].outputs) later_producer.emplace(o, static_cast<int>(i));

  auto define = [&](const std::string& name, ValueKind kind, int index, int slot,
                    const std::string& where) -> Status {
    if (name.empty()) return error(Code::kBadModel, where, ": value name must not be empty");
    int id = static_cast<int>(g->values_.size());
    if (!g->ids_.emplace(name, id).second)
      return error(Code::kBadModel, where, ": value name '", name, "' is defined more than once");
    g->values_.push_back(Value{name, kind, index, slot});
    return Status::OK();
  };

  for (size_t i = 0; i < d.inputs.size(); ++i) {
    const GraphInputDesc& in = d.inputs[i];
    std::string where = "graph input '" + in.name + "'";
    FCN_RETURN_IF_ERROR(define(in.name, ValueKind::kInput, static_cast<int>(i), 0, where));
    if (in.dims.size() > 8)
      return error(Code::kInvalidArgument, where, ": at most 8 dimensions, got ", in.dims.size());
    for (int64_t dim : in.dims)
      if (dim < -1)
        return error(Code::kInvalidArgument, where, ": dimensions must be >= 0 (or dynamic) but received ",
                     shape_str(in.dims));
  }

  for (size_t i = 0; i < d.constants.size(); ++i) {
    const GraphConstantDesc& c = d.constants[i];
    std::string where = "constant '" + c.name + "'";
    FCN_RETURN_IF_ERROR(define(c.name, ValueKind::kConstant, static_cast<int>(i), 0, where));
    int64_t n;
    FCN_RETURN_IF_ERROR(checked_numel(c.shape, where.c_str(), &n));
    if (n > 0 && !c.data) return error(Code::kBadModel, where, ": has no data");
    g->constant_bytes_ += static_cast<size_t>(n) * dtype_size(c.dtype);
  }

  std::unordered_set<std::string> node_names;
  g->node_inputs_.resize(d.nodes.size());
  g->node_outputs_.resize(d.nodes.size());
  for (size_t i = 0; i < d.nodes.size(); ++i) {
    const GraphNodeDesc& n = d.nodes[i];
    if (n.name.empty()) return error(Code::kBadModel, "node ", i, " (", n.type, "): node name must not be empty");
    if (!node_names.insert(n.name).second)
      return error(Code::kBadModel, "node name '", n.name, "' is used more than once");
    const std::string who = node_label(n);

    // Unknown types and rejected attributes surface now, not when a plan is made or run.
    std::unique_ptr<Op> probe;
    FCN_RETURN_IF_ERROR(make_op(n.type, n.attrs, n.name, Isa::kRef, &probe));

    for (const std::string& in : n.inputs) {
      int id = g->value_id(in);
      if (id < 0) {
        auto p = later_producer.find(in);
        if (p != later_producer.end())
          return error(Code::kBadModel, who, ": reads '", in, "' before node '", d.nodes[p->second].name,
                       "' produces it (nodes must be listed in topological order)");
        return error(Code::kBadModel, who, ": input '", in,
                     "' is not a graph input, a constant or an output of any node");
      }
      g->node_inputs_[i].push_back(id);
    }
    if (n.outputs.empty()) return error(Code::kBadModel, who, ": node has no outputs");
    for (size_t s = 0; s < n.outputs.size(); ++s) {
      FCN_RETURN_IF_ERROR(define(n.outputs[s], ValueKind::kNodeOutput, static_cast<int>(i), static_cast<int>(s), who));
      g->node_outputs_[i].push_back(g->value_id(n.outputs[s]));
    }
  }

  if (d.outputs.empty()) return error(Code::kBadModel, "graph has no outputs");
  for (const std::string& o : d.outputs) {
    int id = g->value_id(o);
    if (id < 0)
      return error(Code::kBadModel, "graph output '", o, "' is not a graph input, a constant or an output of any node");
    g->output_ids_.push_back(id);
  }
  *out = std::move(g);
  return Status::OK();
}

}  // namespace fcn
