// SharedModel: one loaded model shared by every environment of the process (the main thread and
// its worker_threads), so a pool of workers holds one copy of the weights and one packed copy
// per input size, not one per worker.
//
//   new SharedModel()              an empty model, registered process-wide under .id
//   SharedModel.attach(id)         the same model from another environment (a worker)
//   m.addSpec(shapes | null, spec) the graph for these input shapes (null: for any shapes, when
//                                  the spec's inputs have open dimensions). Constants are copied
//                                  once into native memory; a constant equal to one already held
//                                  (same name, dtype, shape and bytes) is not copied again, so
//                                  per-size specs of one network share their weights.
//   m.hasSpec(shapes)              whether a run at these shapes has a graph
//   m.run(inputs, threads?, ticket?) compiles the plan for the inputs' shapes if this is the first
//                                  run at them in any environment (others wait for it: weights are
//                                  packed once), then runs it, all off the JS thread
//   m.abort(ticket)                stops this environment's run with that ticket (ABORTED)
//   m.release()                    drops this environment's hold; the model is freed with the last
//
// Why native memory and not the JS arrays: a graph built in one environment pins its constants
// with Napi references, which only that environment may release, and an environment (a worker)
// may end while another still runs the model. Here nothing a run holds belongs to any
// environment, so whichever thread drops the last hold frees it. Plans are immutable after
// compile and safe to run concurrently (each run allocates its own arena).
#include <napi.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "binding/convert.h"
#include "binding/instance.h"
#include "binding/run_worker.h"
#include "binding/spec.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/planner.h"

namespace fcnb {

namespace {

using fcn::Code;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

struct StoredConstant {
  std::string name;
  fcn::DType dtype = fcn::DType::kF32;
  fcn::Shape shape;
  size_t bytes = 0;
  std::unique_ptr<uint8_t, AlignedFree> data;
};

// One compiled plan, made once by whichever run first needs it; later runs wait on `cv`.
struct PlanSlot {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  fcn::Status status;
  std::shared_ptr<const fcn::Graph> graph;  // the plan's ops were set up from it
  std::unique_ptr<fcn::Plan> plan;
  size_t bytes = 0;  // packed constants, once compiled (guarded by the entry's mutex)
};

// Plans kept per model: at most this many, and past two of them no more than kPlanBudget bytes
// of packed weights in all (a full-width FCN-8s packs ~540 MB per input size).
constexpr size_t kMaxPlans = 8;
constexpr size_t kMinPlans = 2;
constexpr size_t kPlanBudget = size_t(1) << 30;

struct SharedEntry {
  uint64_t id = 0;
  std::mutex mu;
  // Never shrinks while the entry lives: graphs and plans hold raw pointers into it.
  std::vector<std::unique_ptr<StoredConstant>> constants;
  size_t constant_bytes = 0;
  std::unordered_map<std::string, std::shared_ptr<const fcn::Graph>> graphs;  // by shape key
  std::shared_ptr<const fcn::Graph> any_shape;  // the graph for any shapes, if given
  std::list<std::string> lru;                   // plan keys, most recent first
  std::unordered_map<std::string, std::shared_ptr<PlanSlot>> plans;
  size_t compiles = 0;

  // Drops least recently used plans past the limits (runs holding one keep it alive). mu held.
  void evict() {
    size_t bytes = 0;
    for (const auto& kv : plans) bytes += kv.second->bytes;
    while (lru.size() > kMinPlans && (lru.size() > kMaxPlans || bytes > kPlanBudget)) {
      auto it = plans.find(lru.back());
      if (it != plans.end()) {
        bytes -= it->second->bytes;
        plans.erase(it);
      }
      lru.pop_back();
    }
  }

  // The stored copy of a constant equal to this one, adding it if new. Called with mu held.
  const StoredConstant* store(const std::string& name, fcn::DType dtype, const fcn::Shape& shape, const void* src,
                              size_t bytes, fcn::Status* status) {
    for (const auto& c : constants) {
      if (c->name == name && c->dtype == dtype && c->shape == shape && c->bytes == bytes &&
          (bytes == 0 || std::memcmp(c->data.get(), src, bytes) == 0))
        return c.get();
    }
    auto c = std::make_unique<StoredConstant>();
    c->name = name;
    c->dtype = dtype;
    c->shape = shape;
    c->bytes = bytes;
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0 || !p) {
      *status = fcn::error(Code::kOutOfMemory, "constant '", name, "': cannot allocate ", bytes, " bytes");
      return nullptr;
    }
    if (bytes) std::memcpy(p, src, bytes);
    c->data.reset(static_cast<uint8_t*>(p));
    constant_bytes += bytes;
    constants.push_back(std::move(c));
    return constants.back().get();
  }
};

// Process-wide: every environment sees the same entries.
struct Registry {
  std::mutex mu;
  uint64_t next_id = 1;
  std::map<uint64_t, std::weak_ptr<SharedEntry>> entries;

  static Registry& get() {
    static Registry* r = new Registry();  // never destroyed: workers may outlive static destructors
    return *r;
  }
  std::shared_ptr<SharedEntry> create() {
    auto e = std::make_shared<SharedEntry>();
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = entries.begin(); it != entries.end();) it = it->second.expired() ? entries.erase(it) : std::next(it);
    e->id = next_id++;
    entries[e->id] = e;
    return e;
  }
  std::shared_ptr<SharedEntry> find(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = entries.find(id);
    return it == entries.end() ? nullptr : it->second.lock();
  }
};

std::string shape_key(const std::vector<fcn::Shape>& shapes) {
  std::string key;
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (i) key += '|';
    for (size_t k = 0; k < shapes[i].size(); ++k) {
      if (k) key += ',';
      key += std::to_string(shapes[i][k]);
    }
  }
  return key;
}

// A GraphSpec (ts/graph/spec.ts) -> a Graph whose constants live in the entry's store.
std::shared_ptr<const fcn::Graph> build_graph(Napi::Env env, SharedEntry& entry, Napi::Value arg, size_t* added) {
  fcn::GraphDesc desc;
  {
    // store() expects entry.mu held: held for the reading of the spec.
    std::lock_guard<std::mutex> lock(entry.mu);
    size_t before = entry.constant_bytes;
    desc = parse_graph_spec(env, arg, [&](const std::string& name, JsTensor& t) {
      size_t bytes = static_cast<size_t>(t.view.numel()) * fcn::dtype_size(t.view.dtype);
      fcn::Status st;
      const StoredConstant* c = entry.store(name, t.view.dtype, t.view.shape, t.view.data, bytes, &st);
      throw_if_error(env, st);
      return fcn::GraphConstantDesc{name, c->dtype, c->shape, c->data.get()};
    });
    *added = entry.constant_bytes - before;
  }
  std::unique_ptr<fcn::Graph> graph;
  throw_if_error(env, fcn::Graph::create(std::move(desc), &graph));
  return std::shared_ptr<const fcn::Graph>(std::move(graph));
}

// The plan for these shapes: compiled here if no run has made it yet, else the cached one
// (waiting while another thread compiles it). Runs off the JS thread.
fcn::Status get_plan(SharedEntry& entry, const std::vector<fcn::Shape>& shapes, std::shared_ptr<PlanSlot>* out) {
  std::string key = shape_key(shapes);
  std::shared_ptr<PlanSlot> slot;
  bool compile_here = false;
  {
    std::lock_guard<std::mutex> lock(entry.mu);
    auto it = entry.plans.find(key);
    if (it != entry.plans.end()) {
      slot = it->second;
      entry.lru.remove(key);
      entry.lru.push_front(key);
    } else {
      std::shared_ptr<const fcn::Graph> graph;
      auto g = entry.graphs.find(key);
      if (g != entry.graphs.end()) graph = g->second;
      else graph = entry.any_shape;
      if (!graph)
        return fcn::error(Code::kInvalidArgument, "the shared model has no graph for input shapes ", key,
                          " (addSpec() them first)");
      slot = std::make_shared<PlanSlot>();
      slot->graph = graph;
      compile_here = true;
      entry.plans[key] = slot;
      entry.lru.push_front(key);
      ++entry.compiles;
      entry.evict();
    }
  }
  if (compile_here) {
    fcn::Status st;
    std::unique_ptr<fcn::Plan> plan;
    try {
      st = fcn::compile(*slot->graph, shapes, fcn::active_isa(), fcn::ThreadPool::global().num_threads(),
                        fcn::default_memory_budget(), &plan);
    } catch (const std::bad_alloc&) {
      st = fcn::error(Code::kOutOfMemory, "cannot compile the graph: out of memory");
    } catch (const std::exception& e) {
      st = fcn::error(Code::kInvalidArgument, "cannot compile the graph: ", e.what());
    }
    {
      std::lock_guard<std::mutex> lock(slot->mu);
      slot->status = st;
      slot->plan = std::move(plan);
      slot->done = true;
    }
    slot->cv.notify_all();
    if (st.ok()) {
      std::lock_guard<std::mutex> lock(entry.mu);
      slot->bytes = slot->plan->constant_bytes();
      entry.evict();
    } else {
      // Not cached: a later run at these shapes gets the error again (or a fixed graph).
      std::lock_guard<std::mutex> lock(entry.mu);
      auto it = entry.plans.find(key);
      if (it != entry.plans.end() && it->second == slot) {
        entry.plans.erase(it);
        entry.lru.remove(key);
      }
    }
  } else {
    std::unique_lock<std::mutex> lock(slot->mu);
    slot->cv.wait(lock, [&] { return slot->done; });
  }
  if (!slot->status.ok()) return slot->status;
  *out = std::move(slot);
  return fcn::Status::OK();
}

struct SharedRun {
  std::shared_ptr<SharedEntry> entry;
  std::vector<JsTensor> inputs;  // copies, owned by the run (convert.h)
  std::vector<fcn::Shape> shapes;
  std::vector<fcn::Tensor> in_views;
  int threads = 0;
  // Filled off the JS thread:
  std::shared_ptr<PlanSlot> slot;
  std::vector<fcn::DType> out_dtypes;
  std::vector<fcn::Shape> out_shapes;
  std::vector<std::unique_ptr<uint8_t, AlignedFree>> out_data;
};

fcn::Status execute_shared(SharedRun& run, const std::atomic<bool>* abort) {
  if (abort && abort->load()) return fcn::error(Code::kAborted, "run aborted before it started");
  FCN_RETURN_IF_ERROR(get_plan(*run.entry, run.shapes, &run.slot));
  const fcn::Plan& plan = *run.slot->plan;
  for (size_t i = 0; i < run.in_views.size(); ++i) {
    if (run.in_views[i].dtype != plan.input_dtypes()[i])
      return fcn::error(Code::kInvalidArgument, "input '", plan.input_names()[i], "': expected dtype ",
                        fcn::dtype_name(plan.input_dtypes()[i]), " but received ", fcn::dtype_name(run.in_views[i].dtype));
  }
  std::vector<fcn::Tensor> outs;
  for (size_t i = 0; i < plan.output_shapes().size(); ++i) {
    int64_t n = 0;
    FCN_RETURN_IF_ERROR(fcn::checked_numel(plan.output_shapes()[i], "output", &n));
    size_t bytes = static_cast<size_t>(n) * fcn::dtype_size(plan.output_dtypes()[i]);
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0 || !p)
      return fcn::error(Code::kOutOfMemory, "output '", plan.output_names()[i], "': cannot allocate ", bytes, " bytes");
    run.out_data.emplace_back(static_cast<uint8_t*>(p));
    run.out_dtypes.push_back(plan.output_dtypes()[i]);
    run.out_shapes.push_back(plan.output_shapes()[i]);
    outs.push_back(fcn::Tensor{plan.output_dtypes()[i], plan.output_shapes()[i], p});
  }
  fcn::RunControl rc;
  rc.pool = &fcn::ThreadPool::global();
  rc.max_threads = run.threads > 0 ? std::min(run.threads, plan.max_threads()) : plan.max_threads();
  rc.abort = abort;
  try {
    return fcn::run_plan(plan, run.in_views, outs, rc);
  } catch (const std::bad_alloc&) {
    return fcn::error(Code::kOutOfMemory, "run: out of memory");
  }
}

using Tickets = std::map<double, AbortFlag>;

class SharedRunWorker : public PromiseWorker {
 public:
  SharedRunWorker(Napi::Env env, std::unique_ptr<SharedRun> run, std::shared_ptr<Tickets> tickets, double ticket)
      : PromiseWorker(env, "fcnkit:shared-run"), run_(std::move(run)), tickets_(std::move(tickets)), ticket_(ticket) {
    if (ticket_ > 0) (*tickets_)[ticket_] = abort_flag();
  }

 private:
  fcn::Status compute(const std::atomic<bool>* abort) override {
    try {
      return execute_shared(*run_, abort);
    } catch (...) {
      return fcn::error(Code::kInvalidArgument, "shared run failed");
    }
  }
  void unhook() override {
    if (ticket_ <= 0) return;
    auto it = tickets_->find(ticket_);
    if (it != tickets_->end() && it->second == abort_flag()) tickets_->erase(it);
  }
  // The outputs, copied from the run's native buffers into ordinary ArrayBuffers.
  Napi::Value result(Napi::Env env) override {
    Napi::Array outs = Napi::Array::New(env, run_->out_shapes.size());
    for (size_t i = 0; i < run_->out_shapes.size(); ++i) {
      fcn::TensorDesc desc{run_->out_dtypes[i], run_->out_shapes[i], nullptr};
      void* data = nullptr;
      Napi::TypedArray ta = new_typed_array(env, desc, "output", run_->slot->plan->memory_budget(), &data);
      std::memcpy(data, run_->out_data[i].get(), static_cast<size_t>(fcn::numel(desc.shape)) * fcn::dtype_size(desc.dtype));
      run_->out_data[i].reset();
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", run_->slot->plan->output_names()[i]);
      o.Set("data", ta);
      o.Set("shape", shape_to_js(env, desc.shape));
      outs.Set(static_cast<uint32_t>(i), o);
    }
    return outs;
  }
  std::unique_ptr<SharedRun> run_;
  std::shared_ptr<Tickets> tickets_;
  double ticket_;
};

const napi_type_tag kSharedSeedTag = {0x6663'6e6b'6974'0003ULL, 0x7368'6172'6564'6d64ULL};

struct SharedClasses {
  Napi::FunctionReference ctor;
};

class SharedModelWrap : public Napi::ObjectWrap<SharedModelWrap> {
 public:
  static Napi::Function define(Napi::Env env, SharedClasses* classes) {
    return DefineClass(env, "SharedModel",
                       {InstanceAccessor<&SharedModelWrap::Id>("id"),
                        InstanceAccessor<&SharedModelWrap::Released>("released"),
                        InstanceMethod<&SharedModelWrap::AddSpec>("addSpec"),
                        InstanceMethod<&SharedModelWrap::HasSpec>("hasSpec"),
                        InstanceMethod<&SharedModelWrap::Run>("run"),
                        InstanceMethod<&SharedModelWrap::Abort>("abort"),
                        InstanceMethod<&SharedModelWrap::Stats>("stats"),
                        InstanceMethod<&SharedModelWrap::Describe>("describe"),
                        InstanceMethod<&SharedModelWrap::Release>("release"),
                        StaticMethod<&SharedModelWrap::Attach>("attach", napi_default, classes)},
                       classes);
  }

  explicit SharedModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SharedModelWrap>(info) {
    if (info.Length() > 0 && info[0].IsExternal() &&
        info[0].As<Napi::External<std::shared_ptr<SharedEntry>>>().CheckTypeTag(&kSharedSeedTag)) {
      entry_ = *info[0].As<Napi::External<std::shared_ptr<SharedEntry>>>().Data();
    } else {
      entry_ = Registry::get().create();
    }
  }

 private:
  static Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double id = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(id >= 1) || id != static_cast<double>(static_cast<uint64_t>(id)))
      throw make_error(env, Code::kInvalidArgument, "Expected a shared model id (a positive integer) for attach");
    std::shared_ptr<SharedEntry> entry = Registry::get().find(static_cast<uint64_t>(id));
    if (!entry)
      throw make_error(env, Code::kInvalidArgument,
                       "no shared model with id " + std::to_string(static_cast<uint64_t>(id)) + " (released, or made in another process)");
    auto* classes = static_cast<SharedClasses*>(info.Data());
    auto seed = Napi::External<std::shared_ptr<SharedEntry>>::New(env, &entry);
    seed.TypeTag(&kSharedSeedTag);
    return classes->ctor.New({seed});
  }

  const std::shared_ptr<SharedEntry>& live(Napi::Env env) const {
    if (!entry_) throw make_error(env, Code::kInvalidArgument, "shared model was released");
    return entry_;
  }

  Napi::Value AddSpec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SharedEntry& entry = *live(env);
    bool any = info[0].IsNull() || info[0].IsUndefined();
    std::string key = any ? "" : shape_key(parse_shapes(env, info[0]));
    size_t added = 0;
    std::shared_ptr<const fcn::Graph> graph = build_graph(env, entry, info[1], &added);
    {
      std::lock_guard<std::mutex> lock(entry.mu);
      if (any) entry.any_shape = graph;
      else entry.graphs[key] = graph;
    }
    return Napi::Number::New(env, double(added));
  }

  Napi::Value HasSpec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SharedEntry& entry = *live(env);
    std::string key = shape_key(parse_shapes(env, info[0]));
    std::lock_guard<std::mutex> lock(entry.mu);
    return Napi::Boolean::New(env, entry.any_shape != nullptr || entry.graphs.count(key) > 0);
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto run = std::make_unique<SharedRun>();
    run->entry = live(env);
    if (!info[0].IsArray()) throw make_error(env, Code::kInvalidArgument, "Expected an array of tensors for the shared model's inputs");
    Napi::Array arr = info[0].As<Napi::Array>();
    run->inputs.resize(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      to_tensor(env, arr.Get(i), "input " + std::to_string(i), Hold::kCopy, &run->inputs[i]);
      run->in_views.push_back(run->inputs[i].view);
      run->shapes.push_back(run->inputs[i].view.shape);
    }
    run->threads = to_threads(env, info[1]);
    double ticket = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
    auto* worker = new SharedRunWorker(env, std::move(run), tickets_, ticket);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info[0].IsNumber()) {
      auto it = tickets_->find(info[0].As<Napi::Number>().DoubleValue());
      if (it != tickets_->end()) it->second->store(true);
    } else {
      for (auto& t : *tickets_) t.second->store(true);
    }
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SharedEntry& entry = *live(env);
    std::lock_guard<std::mutex> lock(entry.mu);
    Napi::Object o = Napi::Object::New(env);
    o.Set("constantBytes", double(entry.constant_bytes));
    o.Set("constants", double(entry.constants.size()));
    o.Set("specs", double(entry.graphs.size() + (entry.any_shape ? 1 : 0)));
    o.Set("plans", double(entry.plans.size()));
    o.Set("compiles", double(entry.compiles));
    o.Set("holders", double(entry_.use_count()));
    return o;
  }

  // The compiled plan at these shapes, node by node (for `fcnkit info`: FLOPs from the shapes
  // the core itself inferred). Compiles on this thread if no run has yet.
  Napi::Value Describe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SharedEntry& entry = *live(env);
    std::shared_ptr<PlanSlot> slot;
    throw_if_error(env, get_plan(entry, parse_shapes(env, info[0]), &slot));
    const fcn::Plan& plan = *slot->plan;
    const auto& nodes = slot->graph->desc().nodes;
    auto value_js = [&](int id) {
      const fcn::Plan::Value& v = plan.values()[id];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", v.name);
      o.Set("shape", shape_to_js(env, v.shape));
      o.Set("dtype", fcn::dtype_name(v.dtype));
      o.Set("constant", v.where == fcn::Plan::Where::kConstant);
      return o;
    };
    Napi::Array steps = Napi::Array::New(env, plan.steps().size());
    for (size_t i = 0; i < plan.steps().size(); ++i) {
      const fcn::Plan::Step& st = plan.steps()[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", st.name);
      o.Set("type", i < nodes.size() ? nodes[i].type : std::string());
      Napi::Array ins = Napi::Array::New(env, st.inputs.size());
      for (size_t k = 0; k < st.inputs.size(); ++k) ins.Set(static_cast<uint32_t>(k), value_js(st.inputs[k]));
      Napi::Array outs = Napi::Array::New(env, st.outputs.size());
      for (size_t k = 0; k < st.outputs.size(); ++k) outs.Set(static_cast<uint32_t>(k), value_js(st.outputs[k]));
      o.Set("inputs", ins);
      o.Set("outputs", outs);
      steps.Set(static_cast<uint32_t>(i), o);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("steps", steps);
    out.Set("arenaBytes", double(plan.arena_bytes()));
    out.Set("workspaceBytes", double(plan.workspace_bytes()));
    out.Set("outputShapes", [&] {
      Napi::Array a = Napi::Array::New(env, plan.output_shapes().size());
      for (size_t i = 0; i < plan.output_shapes().size(); ++i) a.Set(static_cast<uint32_t>(i), shape_to_js(env, plan.output_shapes()[i]));
      return a;
    }());
    return out;
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    entry_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Id(const Napi::CallbackInfo& info) {
    return entry_ ? Napi::Number::New(info.Env(), double(entry_->id)) : info.Env().Null();
  }
  Napi::Value Released(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !entry_); }

  std::shared_ptr<SharedEntry> entry_;
  // JS-thread only: tickets of this wrap's runs in flight.
  std::shared_ptr<Tickets> tickets_ = std::make_shared<Tickets>();
};

}  // namespace

void register_shared_model(Napi::Env env, Napi::Object exports) {
  auto* classes = new SharedClasses();
  env.AddCleanupHook([classes] { delete classes; });
  Napi::Function ctor = SharedModelWrap::define(env, classes);
  classes->ctor = Napi::Persistent(ctor);
  exports.Set("SharedModel", ctor);
}

}  // namespace fcnb
