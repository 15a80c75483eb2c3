#include "binding/spec.h"

#include <cstdint>

#include "graph/executor.h"

namespace fcnb {

using fcn::Code;

std::string describe(Napi::Value v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsString()) return "\"" + v.As<Napi::String>().Utf8Value() + "\"";
  if (v.IsArray()) return "an array";
  if (v.IsObject()) return "an object";
  return v.ToString().Utf8Value();
}

Napi::Error bad_arg(Napi::Env env, const std::string& what, const std::string& expected, Napi::Value got) {
  return make_error(env, Code::kInvalidArgument,
                    "Expected " + expected + " for " + what + " but received " + describe(got));
}

Napi::Object get_object(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject() || v.IsArray()) throw bad_arg(env, what, "an object", v);
  return v.As<Napi::Object>();
}

std::string get_string(Napi::Env env, Napi::Object o, const char* key, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw bad_arg(env, what + "." + key, "a string", v);
  return v.As<Napi::String>().Utf8Value();
}

Napi::Array get_array(Napi::Env env, Napi::Object o, const char* key, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw bad_arg(env, what + "." + key, "an array", v);
  return v.As<Napi::Array>();
}

std::vector<std::string> get_strings(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) throw bad_arg(env, what, "an array of strings", v);
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr[i];
    if (!e.IsString()) throw bad_arg(env, what + "[" + std::to_string(i) + "]", "a string", e);
    out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<fcn::Shape> parse_shapes(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) throw bad_arg(env, "input shapes", "an array of shapes (number[][])", v);
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<fcn::Shape> shapes;
  for (uint32_t i = 0; i < arr.Length(); ++i) shapes.push_back(to_shape(env, arr.Get(i), "input shape " + std::to_string(i)));
  return shapes;
}

Napi::Value shapes_to_js(Napi::Env env, const std::vector<fcn::Shape>& shapes) {
  Napi::Array arr = Napi::Array::New(env, shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) arr.Set(static_cast<uint32_t>(i), shape_to_js(env, shapes[i]));
  return arr;
}

Napi::Value strings_to_js(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array arr = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) arr.Set(static_cast<uint32_t>(i), v[i]);
  return arr;
}

namespace {

fcn::DType parse_dtype(Napi::Env env, Napi::Value v, const std::string& what) {
  if (v.IsUndefined() || v.IsNull()) return fcn::DType::kF32;
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "float32") return fcn::DType::kF32;
    if (s == "int32") return fcn::DType::kI32;
  }
  throw bad_arg(env, what, "'float32' or 'int32'", v);
}

fcn::GraphInputDesc parse_input(Napi::Env env, Napi::Value v, uint32_t i) {
  std::string what = "graph spec inputs[" + std::to_string(i) + "]";
  Napi::Object in = get_object(env, v, what);
  fcn::GraphInputDesc d;
  d.name = get_string(env, in, "name", what);
  what = "graph input '" + d.name + "'";
  d.dtype = parse_dtype(env, in.Get("dtype"), what + " dtype");
  Napi::Array shape = get_array(env, in, "shape", what);
  if (shape.Length() > 8) throw make_error(env, Code::kInvalidArgument, what + ": at most 8 dimensions");
  for (uint32_t k = 0; k < shape.Length(); ++k) {
    Napi::Value dim = shape[k];
    if (dim.IsNull() || dim.IsUndefined()) {
      d.dims.push_back(-1);  // open
      continue;
    }
    double x = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1;
    if (!dim.IsNumber() || !(x >= 0) || x != static_cast<double>(static_cast<int64_t>(x)) || x > 9.0e15)
      throw bad_arg(env, what + " shape[" + std::to_string(k) + "]", "a non-negative integer or null", dim);
    d.dims.push_back(static_cast<int64_t>(x));
  }
  return d;
}

fcn::GraphNodeDesc parse_node(Napi::Env env, Napi::Value v, uint32_t i) {
  std::string what = "graph spec nodes[" + std::to_string(i) + "]";
  Napi::Object n = get_object(env, v, what);
  fcn::GraphNodeDesc d;
  d.name = get_string(env, n, "name", what);
  d.type = get_string(env, n, "type", what);
  std::string who = d.type + " '" + d.name + "'";
  d.inputs = get_strings(env, n.Get("inputs"), who + " inputs");
  d.outputs = get_strings(env, n.Get("outputs"), who + " outputs");
  d.attrs = to_attrs(env, n.Get("attrs"), who);
  return d;
}

}  // namespace

fcn::GraphDesc parse_graph_spec(Napi::Env env, Napi::Value arg, const ConstantSink& sink) {
  Napi::Object spec = get_object(env, arg, "the graph spec");
  fcn::GraphDesc desc;
  Napi::Array inputs = get_array(env, spec, "inputs", "the graph spec");
  for (uint32_t i = 0; i < inputs.Length(); ++i) desc.inputs.push_back(parse_input(env, inputs.Get(i), i));

  Napi::Value cv = spec.Get("constants");
  if (!cv.IsUndefined() && !cv.IsNull()) {
    Napi::Object constants = get_object(env, cv, "graph spec constants");
    Napi::Array keys = constants.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      std::string name = keys.Get(i).ToString().Utf8Value();
      JsTensor t;
      to_tensor(env, constants.Get(name), "constant '" + name + "'", Hold::kView, &t);
      desc.constants.push_back(sink(name, t));
    }
  }

  Napi::Array nodes = get_array(env, spec, "nodes", "the graph spec");
  for (uint32_t i = 0; i < nodes.Length(); ++i) desc.nodes.push_back(parse_node(env, nodes.Get(i), i));
  desc.outputs = get_strings(env, spec.Get("outputs"), "graph spec outputs");
  return desc;
}

void prepare_run_io(Napi::Env env, Napi::Value inputs_arg, const PlanSignature& plan, Hold hold, size_t budget,
                    RunIO* io) {
  if (!inputs_arg.IsArray()) throw bad_arg(env, "plan inputs", "an array of tensors", inputs_arg);
  Napi::Array arr = inputs_arg.As<Napi::Array>();
  io->inputs.resize(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string what = i < plan.input_names.size() ? "input '" + plan.input_names[i] + "'" : "input " + std::to_string(i);
    to_tensor(env, arr.Get(i), what, Hold::kView, &io->inputs[i]);
    io->in_views.push_back(io->inputs[i].view);
  }
  throw_if_error(env, fcn::check_tensors("input", plan.input_names, plan.input_shapes, plan.input_dtypes, io->in_views));
  if (hold == Hold::kCopy) {
    for (size_t i = 0; i < io->inputs.size(); ++i) {
      own_copy(env, "input '" + plan.input_names[i] + "'", &io->inputs[i]);
      io->in_views[i] = io->inputs[i].view;
    }
  }
  Napi::Array outs = Napi::Array::New(env, plan.output_shapes.size());
  for (size_t i = 0; i < plan.output_shapes.size(); ++i) {
    fcn::TensorDesc desc{plan.output_dtypes[i], plan.output_shapes[i], nullptr};
    void* data = nullptr;
    Napi::TypedArray ta = new_typed_array(env, desc, "output '" + plan.output_names[i] + "'", budget, &data);
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", ta);
    o.Set("shape", shape_to_js(env, desc.shape));
    outs.Set(static_cast<uint32_t>(i), o);
    io->out_views.push_back(fcn::Tensor{desc.dtype, desc.shape, data});
  }
  io->outputs = Napi::Persistent(outs);
}

}  // namespace fcnb
