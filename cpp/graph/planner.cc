#include "graph/planner.h"

#include "core/memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace fcn {

namespace {
// FCNKIT_DEBUG_POISON=1: every arena lent to a run is filled with NaN first (0xff bytes), so an
// op that reads an intermediate before writing it shows up in the tests (test/arena-reuse.test.js).
bool poison_arenas() {
  static const bool on = [] {
    const char* v = std::getenv("FCNKIT_DEBUG_POISON");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}
}  // namespace

AlignedBuffer Plan::take_arena() const {
  AlignedBuffer b;
  {
    std::lock_guard<std::mutex> lock(arena_mu_);
    if (!spare_arenas_.empty()) {
      b = std::move(spare_arenas_.back());
      spare_arenas_.pop_back();
    }
  }
  if (!b.data()) b.allocate(arena_bytes_);
  if (b.data() && poison_arenas()) std::memset(b.data(), 0xff, b.size());
  return b;
}

void Plan::give_back_arena(AlignedBuffer&& arena) const {
  if (arena.size() < arena_bytes_) return;
  std::lock_guard<std::mutex> lock(arena_mu_);
  if (spare_arenas_.size() < kSpareArenas) spare_arenas_.push_back(std::move(arena));
}

namespace {

constexpr size_t kAlign = 64;

bool align_up(size_t n, size_t* out) {
  if (n > std::numeric_limits<size_t>::max() - (kAlign - 1)) return false;
  *out = (n + kAlign - 1) & ~(kAlign - 1);
  return true;
}

// For sizes already checked by align_up.
size_t aligned(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

std::string declared_str(const Shape& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += dims[i] < 0 ? std::string("?") : std::to_string(dims[i]);
  }
  return s + "]";
}

// Lays out arena values greedily by size: the largest first, each at the lowest offset whose
// gap between already placed values with overlapping lifetimes is the tightest fit (or after
// them all). Returns false when the total would overflow size_t.
bool assign_offsets(std::vector<Plan::Value>& values, const std::vector<int>& ids, size_t* total) {
  std::vector<int> order = ids;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (values[a].bytes != values[b].bytes) return values[a].bytes > values[b].bytes;
    return values[a].first < values[b].first;
  });
  std::vector<int> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of overlapping placed values
  *total = 0;
  for (int id : order) {
    Plan::Value& v = values[id];
    size_t size;
    if (!align_up(v.bytes, &size)) return false;
    if (size == 0) {
      v.offset = 0;
      continue;
    }
    busy.clear();
    for (int p : placed) {
      const Plan::Value& u = values[p];
      if (u.first <= v.last && v.first <= u.last) busy.emplace_back(u.offset, u.offset + aligned(u.bytes));
    }
    std::sort(busy.begin(), busy.end());
    size_t best = std::numeric_limits<size_t>::max(), best_gap = std::numeric_limits<size_t>::max();
    size_t end = 0;
    for (const auto& b : busy) {
      if (b.first > end) {
        size_t gap = b.first - end;
        if (gap >= size && gap < best_gap) {
          best = end;
          best_gap = gap;
        }
      }
      end = std::max(end, b.second);
    }
    if (best == std::numeric_limits<size_t>::max()) best = end;
    if (best > std::numeric_limits<size_t>::max() - size) return false;
    v.offset = best;
    *total = std::max(*total, best + size);
    placed.push_back(id);
  }
  return true;
}

}  // namespace

Status compile(const Graph& graph, const std::vector<Shape>& input_shapes, Isa isa, int max_threads,
               size_t memory_budget, std::unique_ptr<Plan>* out) {
  const GraphDesc& d = graph.desc();
  if (input_shapes.size() != d.inputs.size())
    return error(Code::kInvalidArgument, "the graph has ", d.inputs.size(), " input(s) but ",
                 input_shapes.size(), " input shape(s) were given");
  std::unique_ptr<Plan> plan(new Plan());
  plan->isa_ = isa;
  plan->max_threads_ = std::max(1, max_threads);
  plan->memory_budget_ = memory_budget;
  const std::string fix = " (use smaller inputs or a smaller model, or raise memoryBudgetBytes)";

  const std::vector<Graph::Value>& gv = graph.values();
  plan->values_.resize(gv.size());
  for (size_t id = 0; id < gv.size(); ++id) plan->values_[id].name = gv[id].name;

  auto set_desc = [&](Plan::Value& v, DType dtype, const Shape& shape, const std::string& what) -> Status {
    int64_t n;
    FCN_RETURN_IF_ERROR(checked_numel(shape, what.c_str(), &n));
    v.dtype = dtype;
    v.shape = shape;
    v.bytes = static_cast<size_t>(n) * dtype_size(dtype);
    return Status::OK();
  };

  for (size_t i = 0; i < d.inputs.size(); ++i) {
    const GraphInputDesc& in = d.inputs[i];
    const Shape& s = input_shapes[i];
    bool ok = s.size() == in.dims.size();
    for (size_t k = 0; ok && k < s.size(); ++k) ok = in.dims[k] < 0 || in.dims[k] == s[k];
    if (!ok)
      return error(Code::kShapeMismatch, "input '", in.name, "': expected ", declared_str(in.dims),
                   " but received ", shape_str(s));
    Plan::Value& v = plan->values_[graph.value_id(in.name)];
    FCN_RETURN_IF_ERROR(set_desc(v, in.dtype, s, "input '" + in.name + "'"));
    v.where = Plan::Where::kInput;
    v.index = static_cast<int>(i);
    plan->input_names_.push_back(in.name);
    plan->input_shapes_.push_back(s);
    plan->input_dtypes_.push_back(in.dtype);
  }
  for (size_t i = 0; i < d.constants.size(); ++i) {
    const GraphConstantDesc& c = d.constants[i];
    Plan::Value& v = plan->values_[graph.value_id(c.name)];
    FCN_RETURN_IF_ERROR(set_desc(v, c.dtype, c.shape, "constant '" + c.name + "'"));
    v.where = Plan::Where::kConstant;
    v.index = static_cast<int>(i);
    v.constant = c.data;
  }

  // Graph outputs: the first listing of a node-produced value is written in place; anything
  // else (an input, a constant, a value listed twice) is copied after the last step.
  std::vector<int> first_output(gv.size(), -1);
  const std::vector<int>& out_ids = graph.output_ids();
  for (size_t o = 0; o < out_ids.size(); ++o) {
    int id = out_ids[o];
    if (gv[id].kind == Graph::ValueKind::kNodeOutput && first_output[id] < 0) {
      first_output[id] = static_cast<int>(o);
      plan->values_[id].where = Plan::Where::kOutput;
      plan->values_[id].index = static_cast<int>(o);
    } else {
      plan->copies_.push_back(Plan::Copy{static_cast<int>(o), id});
    }
  }

  // Set up every op in order with the inferred descriptors; constants carry their data so
  // weights are packed once, here.
  size_t workspace = 0;
  plan->steps_.resize(d.nodes.size());
  for (size_t i = 0; i < d.nodes.size(); ++i) {
    const GraphNodeDesc& n = d.nodes[i];
    Plan::Step& step = plan->steps_[i];
    step.name = n.name;
    step.inputs = graph.node_inputs()[i];
    step.outputs = graph.node_outputs()[i];
    FCN_RETURN_IF_ERROR(make_op(n.type, n.attrs, n.name, isa, &step.op));
    step.op->set_memory_budget(memory_budget - plan->packed_bytes_);
    std::vector<TensorDesc> in_descs;
    in_descs.reserve(step.inputs.size());
    for (int id : step.inputs) {
      const Plan::Value& v = plan->values_[id];
      in_descs.push_back(TensorDesc{v.dtype, v.shape, v.where == Plan::Where::kConstant ? v.constant : nullptr});
      if (v.where == Plan::Where::kConstant) plan->constant_bytes_ += v.bytes;
    }
    std::vector<TensorDesc> out_descs;
    FCN_RETURN_IF_ERROR(step.op->setup(in_descs, &out_descs));
    if (out_descs.size() != step.outputs.size())
      return error(Code::kBadModel, step.op->label(), ": node lists ", step.outputs.size(),
                   " output(s) but the op produces ", out_descs.size());
    plan->packed_bytes_ += step.op->setup_bytes();
    for (size_t s = 0; s < out_descs.size(); ++s) {
      Plan::Value& v = plan->values_[step.outputs[s]];
      FCN_RETURN_IF_ERROR(set_desc(v, out_descs[s].dtype, out_descs[s].shape, step.op->label()));
      if (v.bytes > memory_budget - plan->packed_bytes_)
        return error(Code::kTooLarge, step.op->label(), ": its output '", v.name, "' ", shape_str(v.shape), " needs ",
                     bytes_str(v.bytes), ", past the memory budget of ", bytes_str(memory_budget),
                     plan->packed_bytes_ ? str(" (", bytes_str(plan->packed_bytes_), " of it taken by packed weights)") : "",
                     fix);
      v.first = v.last = static_cast<int>(i);
    }
    for (int id : step.inputs) {
      Plan::Value& v = plan->values_[id];
      if (v.first >= 0) v.last = std::max(v.last, static_cast<int>(i));
    }
    workspace = std::max(workspace, step.op->workspace_bytes(plan->max_threads_));
  }

  for (int id : out_ids) {
    plan->output_shapes_.push_back(plan->values_[id].shape);
    plan->output_dtypes_.push_back(plan->values_[id].dtype);
  }
  plan->output_names_ = d.outputs;

  // Arena layout of the intermediates, then the shared workspace after them.
  std::vector<int> arena_ids;
  size_t unshared = 0;
  for (size_t id = 0; id < plan->values_.size(); ++id) {
    Plan::Value& v = plan->values_[id];
    if (gv[id].kind != Graph::ValueKind::kNodeOutput || v.where != Plan::Where::kArena) continue;
    arena_ids.push_back(static_cast<int>(id));
    size_t a;
    if (!align_up(v.bytes, &a) || unshared > std::numeric_limits<size_t>::max() - a)
      return error(Code::kTooLarge, "the graph's intermediate values need more memory than can be addressed");
    unshared += a;
  }
  size_t activations;
  if (!assign_offsets(plan->values_, arena_ids, &activations))
    return error(Code::kTooLarge, "the graph's intermediate values need more memory than can be addressed");
  size_t ws;
  if (!align_up(workspace, &ws) || activations > std::numeric_limits<size_t>::max() - ws ||
      unshared > std::numeric_limits<size_t>::max() - ws)
    return error(Code::kTooLarge, "the graph's op workspace needs more memory than can be addressed");
  plan->workspace_bytes_ = workspace;
  plan->workspace_offset_ = activations;
  plan->arena_bytes_ = activations + ws;
  plan->unshared_bytes_ = unshared + ws;
  // The whole run against the budget: packed weights + arena + outputs (all below 2^62 each).
  for (int id : out_ids) plan->output_bytes_ += plan->values_[id].bytes;
  const double need = double(plan->packed_bytes_) + double(plan->arena_bytes_) + double(plan->output_bytes_);
  if (need > double(memory_budget)) {
    int largest = -1;
    for (int id : arena_ids)
      if (largest < 0 || plan->values_[id].bytes > plan->values_[largest].bytes) largest = id;
    return error(Code::kTooLarge, "a run of this graph at ", shape_str(input_shapes.empty() ? Shape{} : input_shapes[0]),
                 " needs ", bytes_str(size_t(need)), " (intermediates ", bytes_str(activations), ", op workspace ",
                 bytes_str(ws), ", outputs ", bytes_str(plan->output_bytes_), ", packed weights ",
                 bytes_str(plan->packed_bytes_), "), past the memory budget of ", bytes_str(memory_budget),
                 largest >= 0 ? str("; the largest intermediate is '", plan->values_[largest].name, "' ",
                                    shape_str(plan->values_[largest].shape), " (", bytes_str(plan->values_[largest].bytes), ")")
                              : std::string(),
                 fix);
  }
  *out = std::move(plan);
  return Status::OK();
}

}  // namespace fcn
