// Graph, Plan and AbortToken: a whole model in one native call.
//   new Graph(spec)        validates a GraphSpec; constants are copied into native memory the
//                          graph owns (convert.h: a transferred or collected JS array cannot
//                          pull them from under a compile or a run).
//   graph.plan(shapes, threads?, memoryBudgetBytes?)  compiles for concrete input shapes (ops set
//                          up, weights packed once), checked against the budget (TOO_LARGE);
//   graph.planAsync(...)   the same off the JS thread.
//   plan.run(inputs, threads?, token?, memoryBudgetBytes?)  runs every node in one AsyncWorker on
//                          copies of the inputs; runSync(inputs, threads?, memoryBudgetBytes?) on
//                          this thread, reading the inputs in place.
// Lifetimes: a run holds its plan, and a plan holds its graph's constants, by shared_ptr, so
// disposing either while a run is in flight only drops the JS side's hold.
#include <napi.h>

#include <mutex>
#include <set>

#include "binding/convert.h"
#include "binding/external_memory.h"
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

// Tags that tell our own objects apart from anything else JS might pass.
const napi_type_tag kPlanSeedTag = {0x6663'6e6b'6974'0001ULL, 0x706c'616e'5f73'6565ULL};
const napi_type_tag kAbortTokenTag = {0x6663'6e6b'6974'0002ULL, 0x6162'6f72'745f'746bULL};

// Per-environment constructors, passed to the classes as their data.
struct Classes {
  Napi::FunctionReference plan;
};

struct GraphState {
  std::unique_ptr<fcn::Graph> graph;
  std::vector<fcn::AlignedBuffer> constants;  // the constants' data (moves keep the pointers)
};

struct PlanState {
  std::shared_ptr<GraphState> graph;  // keeps the constants the ops read pinned
  std::unique_ptr<fcn::Plan> plan;
};

// An abort request shared by a token and the runs it was given to: cancel() sets each run's own
// flag, the same flag the environment's RunRegistry sets at teardown, so ops watch one atomic.
struct TokenState {
  std::mutex mu;
  bool aborted = false;
  std::set<AbortFlag> runs;

  void cancel() {
    std::lock_guard<std::mutex> lock(mu);
    aborted = true;
    for (const AbortFlag& f : runs) f->store(true);
  }
  void attach(const AbortFlag& f) {
    std::lock_guard<std::mutex> lock(mu);
    if (aborted) f->store(true);
    runs.insert(f);
  }
  void detach(const AbortFlag& f) {
    std::lock_guard<std::mutex> lock(mu);
    runs.erase(f);
  }
};

// ---- spec parsing -----------------------------------------------------------------------

std::shared_ptr<GraphState> parse_spec(Napi::Env env, Napi::Value arg) {
  auto state = std::make_shared<GraphState>();
  fcn::GraphDesc desc = parse_graph_spec(env, arg, [&](const std::string& name, JsTensor& t) {
    own_copy(env, "constant '" + name + "'", &t);
    const void* data = t.view.data;
    state->constants.push_back(std::move(t.owned));
    return fcn::GraphConstantDesc{name, t.view.dtype, t.view.shape, data};
  });
  throw_if_error(env, fcn::Graph::create(std::move(desc), &state->graph));
  return state;
}

fcn::Status compile_safe(const fcn::Graph& graph, const std::vector<fcn::Shape>& shapes, int threads, size_t budget,
                         std::unique_ptr<fcn::Plan>* out) {
  try {
    return fcn::compile(graph, shapes, fcn::active_isa(), threads, budget, out);
  } catch (const std::bad_alloc&) {
    return fcn::error(Code::kOutOfMemory, "cannot compile the graph: out of memory");
  } catch (const std::exception& e) {
    return fcn::error(Code::kInvalidArgument, "cannot compile the graph: ", e.what());
  }
}

Napi::Object new_plan(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<PlanState> state) {
  auto seed = Napi::External<std::shared_ptr<PlanState>>::New(env, &state);
  seed.TypeTag(&kPlanSeedTag);
  return ctor.New({seed});
}

// ---- Plan ----------------------------------------------------------------------------------

struct RunCall : RunIO {
  std::shared_ptr<PlanState> plan;
  int threads = 1;
};

fcn::Status execute_run(RunCall& call, const std::atomic<bool>* abort) {
  fcn::RunControl rc;
  rc.pool = &fcn::ThreadPool::global();
  rc.max_threads = call.threads;
  rc.abort = abort;
  return fcn::run_plan(*call.plan->plan, call.in_views, call.out_views, rc);
}

class RunWorker : public PromiseWorker {
 public:
  RunWorker(Napi::Env env, std::unique_ptr<RunCall> call, std::shared_ptr<TokenState> token)
      : PromiseWorker(env, "fcnkit:graph-run", static_cast<int64_t>(call->plan->plan->arena_bytes())),
        call_(std::move(call)),
        token_(std::move(token)) {
    if (token_) token_->attach(abort_flag());
  }

 private:
  fcn::Status compute(const std::atomic<bool>* abort) override { return execute_run(*call_, abort); }
  void unhook() override {
    if (token_) token_->detach(abort_flag());
  }
  Napi::Value result(Napi::Env) override { return call_->outputs.Value(); }
  std::unique_ptr<RunCall> call_;
  std::shared_ptr<TokenState> token_;
};

class AbortTokenWrap : public Napi::ObjectWrap<AbortTokenWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "AbortToken",
                       {InstanceMethod<&AbortTokenWrap::Abort>("abort"),
                        InstanceAccessor<&AbortTokenWrap::Aborted>("aborted")});
  }
  explicit AbortTokenWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<AbortTokenWrap>(info), state_(std::make_shared<TokenState>()) {
    info.This().As<Napi::Object>().TypeTag(&kAbortTokenTag);
  }
  const std::shared_ptr<TokenState>& state() const { return state_; }

 private:
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    state_->cancel();
    return info.Env().Undefined();
  }
  Napi::Value Aborted(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(state_->mu);
    return Napi::Boolean::New(info.Env(), state_->aborted);
  }
  std::shared_ptr<TokenState> state_;
};

std::shared_ptr<TokenState> to_token(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kAbortTokenTag))
    throw bad_arg(env, "abortToken", "an AbortToken", v);
  return AbortTokenWrap::Unwrap(v.As<Napi::Object>())->state();
}

class PlanWrap : public Napi::ObjectWrap<PlanWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Plan",
                       {InstanceAccessor<&PlanWrap::InputNames>("inputNames"),
                        InstanceAccessor<&PlanWrap::OutputNames>("outputNames"),
                        InstanceAccessor<&PlanWrap::InputShapes>("inputShapes"),
                        InstanceAccessor<&PlanWrap::OutputShapes>("outputShapes"),
                        InstanceAccessor<&PlanWrap::ArenaBytes>("arenaBytes"),
                        InstanceAccessor<&PlanWrap::RunBytes>("runBytes"),
                        InstanceAccessor<&PlanWrap::UnsharedBytes>("unsharedBytes"),
                        InstanceAccessor<&PlanWrap::WorkspaceBytes>("workspaceBytes"),
                        InstanceAccessor<&PlanWrap::Threads>("threads"),
                        InstanceAccessor<&PlanWrap::Disposed>("disposed"),
                        InstanceMethod<&PlanWrap::Run>("run"),
                        InstanceMethod<&PlanWrap::RunSync>("runSync"),
                        InstanceMethod<&PlanWrap::ProfileSync>("profileSync"),
                        InstanceMethod<&PlanWrap::Dispose>("dispose")});
  }

  explicit PlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PlanWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsExternal() || !info[0].As<Napi::External<std::shared_ptr<PlanState>>>().CheckTypeTag(&kPlanSeedTag))
      throw make_error(env, Code::kInvalidArgument, "Plan objects are made by Graph.plan() or Graph.planAsync()");
    state_ = *info[0].As<Napi::External<std::shared_ptr<PlanState>>>().Data();
    const fcn::Plan& p = *state_->plan;
    input_names_ = p.input_names();
    output_names_ = p.output_names();
    input_shapes_ = p.input_shapes();
    output_shapes_ = p.output_shapes();
    arena_ = p.arena_bytes();
    run_bytes_ = p.run_bytes();
    unshared_ = p.unshared_bytes();
    workspace_ = p.workspace_bytes();
    threads_ = p.max_threads();
    // The ops' packed weights: sized like the constants they read.
    reported_.report(env, static_cast<int64_t>(p.constant_bytes()));
  }

  ~PlanWrap() override { release(); }

 private:
  void release() {
    state_.reset();
    reported_.release();
  }

  const std::shared_ptr<PlanState>& live(Napi::Env env) const {
    if (!state_) throw make_error(env, Code::kInvalidArgument, "plan was disposed");
    return state_;
  }

  // Validates inputs against the plan, checks the run against the budget (info[budget_arg], else
  // the plan's own) and allocates the outputs (ordinary ArrayBuffers).
  std::unique_ptr<RunCall> prepare(const Napi::CallbackInfo& info, Hold hold, size_t budget_arg) {
    Napi::Env env = info.Env();
    auto call = std::make_unique<RunCall>();
    call->plan = live(env);
    const fcn::Plan& p = *call->plan->plan;
    call->threads = std::min(to_threads(env, info[1]), p.max_threads());
    Napi::Value b = info[budget_arg];
    const size_t budget = b.IsUndefined() || b.IsNull() ? p.memory_budget() : to_memory_budget(env, b);
    if (p.run_bytes() > budget)
      throw make_error(env, Code::kTooLarge,
                       "a run of this plan needs " + fcn::bytes_str(p.run_bytes()) + " (intermediates and workspace " +
                           fcn::bytes_str(p.arena_bytes()) + ", outputs " + fcn::bytes_str(p.output_bytes()) +
                           ", packed weights " + fcn::bytes_str(p.packed_bytes()) + "), past the memory budget of " +
                           fcn::bytes_str(budget) + " (use smaller inputs, or raise memoryBudgetBytes)");
    prepare_run_io(env, info[0],
                   PlanSignature{input_names_, p.input_shapes(), p.input_dtypes(), output_names_, p.output_shapes(),
                                 p.output_dtypes()},
                   hold, budget, call.get());
    return call;
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    std::unique_ptr<RunCall> call = prepare(info, Hold::kCopy, 3);
    std::shared_ptr<TokenState> token = to_token(info.Env(), info[2]);
    auto* worker = new RunWorker(info.Env(), std::move(call), std::move(token));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  Napi::Value RunSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_ptr<RunCall> call = prepare(info, Hold::kView, 2);
    throw_if_error(env, execute_run(*call, nullptr));
    return call->outputs.Value();
  }

  // runSync, timing every node: { outputs, steps: [{ name, ms }] } in plan order.
  Napi::Value ProfileSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_ptr<RunCall> call = prepare(info, Hold::kView, 2);
    fcn::RunControl rc;
    rc.pool = &fcn::ThreadPool::global();
    rc.max_threads = call->threads;
    std::vector<double> ms;
    throw_if_error(env, fcn::run_plan_profiled(*call->plan->plan, call->in_views, call->out_views, rc, &ms));
    const auto& steps = call->plan->plan->steps();
    Napi::Array list = Napi::Array::New(env, steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", steps[i].name);
      o.Set("ms", ms[i]);
      list.Set(static_cast<uint32_t>(i), o);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("outputs", call->outputs.Value());
    result.Set("steps", list);
    return result;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }

  Napi::Value InputNames(const Napi::CallbackInfo& info) { return strings_to_js(info.Env(), input_names_); }
  Napi::Value OutputNames(const Napi::CallbackInfo& info) { return strings_to_js(info.Env(), output_names_); }
  Napi::Value InputShapes(const Napi::CallbackInfo& info) { return shapes_to_js(info.Env(), input_shapes_); }
  Napi::Value OutputShapes(const Napi::CallbackInfo& info) { return shapes_to_js(info.Env(), output_shapes_); }
  Napi::Value ArenaBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(arena_)); }
  Napi::Value RunBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(run_bytes_)); }
  Napi::Value UnsharedBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(unshared_)); }
  Napi::Value WorkspaceBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(workspace_)); }
  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

  std::shared_ptr<PlanState> state_;
  std::vector<std::string> input_names_, output_names_;
  std::vector<fcn::Shape> input_shapes_, output_shapes_;
  size_t arena_ = 0, unshared_ = 0, workspace_ = 0, run_bytes_ = 0;
  int threads_ = 1;
  ExternalMemory reported_;
};

// ---- Graph ---------------------------------------------------------------------------------

class CompileWorker : public Napi::AsyncWorker {
 public:
  CompileWorker(Napi::Env env, std::shared_ptr<GraphState> graph, std::vector<fcn::Shape> shapes, int threads,
                size_t budget, Napi::FunctionReference& plan_ctor)
      : Napi::AsyncWorker(env, "fcnkit:graph-plan"),
        deferred_(Napi::Promise::Deferred::New(env)),
        graph_(std::move(graph)),
        shapes_(std::move(shapes)),
        threads_(threads),
        budget_(budget),
        plan_ctor_(Napi::Persistent(plan_ctor.Value())) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override { status_ = compile_safe(*graph_->graph, shapes_, threads_, budget_, &plan_); }
  void OnOK() override { finish(); }
  void OnError(const Napi::Error&) override { finish(); }

 private:
  void finish() {
    try {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      if (!status_.ok()) {
        deferred_.Reject(make_error(env, status_).Value());
        return;
      }
      auto state = std::make_shared<PlanState>();
      state->graph = graph_;
      state->plan = std::move(plan_);
      deferred_.Resolve(new_plan(env, plan_ctor_, std::move(state)));
    } catch (const Napi::Error& e) {
      try {
        deferred_.Reject(e.Value());
      } catch (...) {
      }
    } catch (...) {
    }
  }
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<GraphState> graph_;
  std::vector<fcn::Shape> shapes_;
  int threads_;
  size_t budget_;
  Napi::FunctionReference plan_ctor_;
  std::unique_ptr<fcn::Plan> plan_;
  fcn::Status status_;
};

class GraphWrap : public Napi::ObjectWrap<GraphWrap> {
 public:
  static Napi::Function define(Napi::Env env, Classes* classes) {
    return DefineClass(env, "Graph",
                       {InstanceMethod<&GraphWrap::MakePlan>("plan"),
                        InstanceMethod<&GraphWrap::PlanAsync>("planAsync"),
                        InstanceMethod<&GraphWrap::Dispose>("dispose"),
                        InstanceAccessor<&GraphWrap::Disposed>("disposed")},
                       classes);
  }

  explicit GraphWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<GraphWrap>(info), classes_(static_cast<Classes*>(info.Data())) {
    state_ = parse_spec(info.Env(), info[0]);
    // The constants' native copies, so that V8 counts them when deciding to collect.
    int64_t constant_bytes = 0;
    for (const fcn::AlignedBuffer& c : state_->constants) constant_bytes += static_cast<int64_t>(c.size());
    reported_.report(info.Env(), constant_bytes);
  }

  ~GraphWrap() override { release(); }

 private:

  void release() {
    state_.reset();
    reported_.release();
  }

 private:
  const std::shared_ptr<GraphState>& live(Napi::Env env) const {
    if (!state_) throw make_error(env, Code::kInvalidArgument, "graph was disposed");
    return state_;
  }

  Napi::Value MakePlan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<GraphState> g = live(env);
    std::vector<fcn::Shape> shapes = parse_shapes(env, info[0]);
    int threads = to_threads(env, info[1]);
    size_t budget = to_memory_budget(env, info[2]);
    auto state = std::make_shared<PlanState>();
    state->graph = g;
    throw_if_error(env, compile_safe(*g->graph, shapes, threads, budget, &state->plan));
    return new_plan(env, classes_->plan, std::move(state));
  }

  Napi::Value PlanAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<GraphState> g = live(env);
    std::vector<fcn::Shape> shapes = parse_shapes(env, info[0]);
    int threads = to_threads(env, info[1]);
    size_t budget = to_memory_budget(env, info[2]);
    auto* worker = new CompileWorker(env, g, std::move(shapes), threads, budget, classes_->plan);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // Drops this object's hold at once; plans made from the graph (and their runs) keep the
  // pinned constants they read until they are disposed or collected.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

  Classes* classes_;
  std::shared_ptr<GraphState> state_;
  ExternalMemory reported_;
};

}  // namespace

void register_graph(Napi::Env env, Napi::Object exports) {
  auto* classes = new Classes();
  env.AddCleanupHook([classes] { delete classes; });
  classes->plan = Napi::Persistent(PlanWrap::define(env));
  exports.Set("Graph", GraphWrap::define(env, classes));
  exports.Set("AbortToken", AbortTokenWrap::define(env));
}

}  // namespace fcnb
