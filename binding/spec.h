// Reading a GraphSpec (ts/graph/spec.ts) and the small JS values around it, shared by the CPU
// graph (graph.cc), the process-wide shared model (shared_model.cc) and the CUDA graph
// (cuda_graph.cc). Errors are INVALID_ARGUMENT naming the field: "Expected a string for graph
// spec nodes[3].name but received undefined". Everything here runs on the JS thread.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "binding/convert.h"
#include "graph/graph.h"

namespace fcnb {

// "undefined", "null", "\"text\"", "an array", "an object", or the value as text.
std::string describe(Napi::Value v);
Napi::Error bad_arg(Napi::Env env, const std::string& what, const std::string& expected, Napi::Value got);

Napi::Object get_object(Napi::Env env, Napi::Value v, const std::string& what);
std::string get_string(Napi::Env env, Napi::Object o, const char* key, const std::string& what);
Napi::Array get_array(Napi::Env env, Napi::Object o, const char* key, const std::string& what);
std::vector<std::string> get_strings(Napi::Env env, Napi::Value v, const std::string& what);

// number[][] -> shapes; and back.
std::vector<fcn::Shape> parse_shapes(Napi::Env env, Napi::Value v);
Napi::Value shapes_to_js(Napi::Env env, const std::vector<fcn::Shape>& shapes);
Napi::Value strings_to_js(Napi::Env env, const std::vector<std::string>& v);

// Where each constant's data goes: given its name and the JS tensor (data referenced, valid while
// the caller's handles are), returns the description the graph uses: a view of the JS data that
// the caller pins, or a copy the caller keeps.
using ConstantSink = std::function<fcn::GraphConstantDesc(const std::string& name, JsTensor& tensor)>;

// The spec's inputs, constants (through `sink`), nodes and outputs, checked field by field.
// The graph itself is validated by fcn::Graph::create.
fcn::GraphDesc parse_graph_spec(Napi::Env env, Napi::Value arg, const ConstantSink& sink);

// A run's inputs (held as prepare_run_io was told) and its outputs, allocated before it starts
// as ordinary ArrayBuffers ([{ data, shape }]) that the run writes in place (JS sees them only
// once the run has ended).
struct RunIO {
  std::vector<JsTensor> inputs;
  std::vector<fcn::Tensor> in_views, out_views;
  Napi::Reference<Napi::Array> outputs;
};

// What a compiled plan takes and gives, to check a run against.
struct PlanSignature {
  const std::vector<std::string>& input_names;
  const std::vector<fcn::Shape>& input_shapes;
  const std::vector<fcn::DType>& input_dtypes;
  const std::vector<std::string>& output_names;
  const std::vector<fcn::Shape>& output_shapes;
  const std::vector<fcn::DType>& output_dtypes;
};

// Checks `inputs_arg` (an array of tensors) against the plan (count, shapes, dtypes: INVALID_ARGUMENT
// or SHAPE_MISMATCH naming the input), holds them as `hold` says (kCopy for async runs: see
// convert.h) and allocates the outputs into `io`, each checked against `budget` first.
void prepare_run_io(Napi::Env env, Napi::Value inputs_arg, const PlanSignature& plan, Hold hold, size_t budget,
                    RunIO* io);

}  // namespace fcnb
