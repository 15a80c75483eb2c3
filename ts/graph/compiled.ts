/**
 * CompiledGraph: a GraphSpec handed to the native core once, then run whole in one native call
 * per inference. Plans (one per set of input shapes: ops set up, weights packed, activation
 * arena laid out) are made on first use and cached, least recently used dropped first.
 */
import { FcnkitError, invalidArgument, toFcnkitError } from '../errors';
import { native, NativeAbortToken, NativeGraph, NativePlan, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { orderInputs, PlanCache, shapeKey, wrapOutputs } from './plan-cache';
import type { GraphInputs, GraphOutputs } from './plan-cache';
import type { GraphSpec } from './spec';

export interface CompiledGraphOptions {
  /** Plans kept per graph (each holds its own packed weights). Default 8. */
  maxPlans?: number;
  /**
   * What one run may hold, in bytes: packed weights, intermediates, op workspace and outputs
   * (default: 3/4 of physical memory). Input sizes past it are TOO_LARGE when planned.
   */
  memoryBudgetBytes?: number;
  /**
   * 'fp32' (default, exact) or 'bf16': the convolutions and Gemm heads multiply bfloat16
   * operands (weights rounded once, when packed) and sum in fp32, with AVX512-BF16 kernels;
   * depthwise convolutions and every other op stay fp32. INVALID_ARGUMENT naming the missing CPU
   * feature where the CPU lacks AVX512-BF16 (backendInfo().bf16).
   */
  precision?: 'fp32' | 'bf16';
}

/** The node types whose arithmetic precision 'bf16' changes (their `precision` attribute). */
const BF16_NODE_TYPES: ReadonlySet<string> = new Set(['conv2d', 'gemm']);

/**
 * spec as compiled in `precision`: for 'bf16', `precision: 'bf16'` set on its conv2d and gemm
 * nodes (the rest shared, not copied). For specs handed to a NativeSharedModel directly.
 */
export function specWithPrecision(spec: GraphSpec, precision: 'fp32' | 'bf16'): GraphSpec {
  if (precision === 'fp32') return spec;
  return {
    ...spec,
    nodes: spec.nodes.map((n) => (BF16_NODE_TYPES.has(n.type) ? { ...n, attrs: { ...(n.attrs ?? {}), precision: 'bf16' } } : n)),
  };
}

/**
 * INVALID_ARGUMENT unless the CPU computes in `precision`: 'fp32' always; 'bf16' where the CPU
 * has AVX512-BF16 (backendInfo().bf16 says why not); 'tf32' never (a GPU tensor-core format).
 */
export function checkCpuPrecision(precision: string): void {
  if (precision === 'tf32') {
    throw new FcnkitError('INVALID_ARGUMENT', "precision 'tf32' needs device 'cuda' (the CPU computes in 'fp32' or 'bf16')");
  }
  if (precision === 'bf16') {
    const info = native().backendInfo().bf16;
    if (!info.available) {
      throw new FcnkitError('INVALID_ARGUMENT', `precision 'bf16' is not available on this CPU: ${info.reason ?? 'no AVX512-BF16'} (use 'fp32', or device 'cuda')`);
    }
  }
}

export interface GraphRunOptions {
  /** Aborting rejects the run with FcnkitError ABORTED; it stops between nodes. */
  signal?: AbortSignal;
  /** Caps how many of the core's threads the run uses (default: all). */
  threads?: number;
  /** This run's memory budget in bytes (default: the graph's): TOO_LARGE before allocating when past it. */
  memoryBudgetBytes?: number;
}

export type { GraphInputs, GraphOutputs };
export { shapeKey };

/** One node of a profiled run. */
export interface ProfiledStep {
  name: string;
  type: string;
  ms: number;
}

const DEFAULT_MAX_PLANS = 8;

/** A memoryBudgetBytes option: undefined, or a positive safe integer (INVALID_ARGUMENT otherwise). */
export function checkMemoryBudget(what: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalidArgument(what, 'a positive integer number of bytes', v);
  return v;
}

function abortedError(): FcnkitError {
  return new FcnkitError('ABORTED', 'run aborted before it started');
}

export class CompiledGraph {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly nodeTypes: ReadonlyMap<string, string>;
  /** The native graph; kept after dispose() until the runs then in flight have ended. */
  private graph: NativeGraph | undefined;
  private disposeCalled = false;
  /** Runs started and not yet ended: dispose() frees the native side when the last one ends. */
  private active = 0;
  private readonly plans: PlanCache<NativePlan>;
  /** The convolutions' arithmetic (CompiledGraphOptions.precision). */
  readonly precision: 'fp32' | 'bf16';
  private readonly budget: number | undefined;

  constructor(spec: GraphSpec, options: CompiledGraphOptions = {}) {
    const maxPlans = options.maxPlans ?? DEFAULT_MAX_PLANS;
    if (!Number.isSafeInteger(maxPlans) || maxPlans < 1) throw invalidArgument('maxPlans', 'an integer >= 1', maxPlans);
    const precision = options.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'bf16') throw invalidArgument('precision', "'fp32' or 'bf16' (on the CPU)", precision);
    checkCpuPrecision(precision);
    this.precision = precision;
    this.budget = checkMemoryBudget('memoryBudgetBytes', options.memoryBudgetBytes);
    this.plans = new PlanCache<NativePlan>(maxPlans, () => {
      const g = this.native();
      return {
        plan: (shapes: number[][]) => g.plan(shapes, undefined, this.budget),
        planAsync: (shapes: number[][]) => g.planAsync(shapes, undefined, this.budget),
      };
    });
    try {
      this.graph = new (native().Graph)(specWithPrecision(spec, precision));
    } catch (err) {
      throw toFcnkitError(err, new Error());
    }
    // The native side has checked the spec's structure by now.
    this.inputNames = Object.freeze(spec.inputs.map((i) => i.name));
    this.outputNames = Object.freeze([...spec.outputs]);
    this.nodeTypes = new Map(spec.nodes.map((n) => [n.name, n.type]));
  }

  get disposed(): boolean {
    return this.disposeCalled;
  }

  /** How many plans are cached now. */
  get planCount(): number {
    return this.plans.size;
  }

  /** The plan for these input shapes (in inputNames order), compiled on this thread if new. */
  plan(inputShapes: readonly (readonly number[])[]): NativePlan {
    try {
      this.live();
      return this.plans.get(inputShapes);
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /** The plan for these input shapes, compiled (weights packed) off the JS thread if new. */
  async planAsync(inputShapes: readonly (readonly number[])[]): Promise<NativePlan> {
    this.live();
    return this.plans.getAsync(inputShapes);
  }

  /** Runs the whole graph off the JS thread. */
  async run(inputs: GraphInputs, options: GraphRunOptions = {}): Promise<GraphOutputs> {
    const callSite = new Error();
    try {
      this.live();
      const { signal, threads, memoryBudgetBytes } = this.runOptions(options);
      if (signal?.aborted) throw abortedError();
      const tensors = orderInputs(this.inputNames, inputs);
      // From here the run is in flight: a dispose() now lets it finish (the native graph and
      // its plans are freed when the last such run ends).
      this.active++;
      try {
        // The native run copies its inputs when it starts: with the plan at hand it starts now,
        // in this call; else the inputs are copied here, so that whatever the caller does to its
        // arrays while the plan compiles (transfer them, refill them) cannot reach the run.
        const shapes = tensors.map((t) => t.shape);
        const cached = this.plans.peek(shapes);
        if (cached) return wrapOutputs(this.outputNames, await this.runPlan(cached, tensors, threads, memoryBudgetBytes, signal));
        const held = tensors.map((t) => new Tensor(t.data.slice(), t.shape));
        const plan = await this.plans.getLive(shapes);
        if (signal?.aborted) throw abortedError();
        return wrapOutputs(this.outputNames, await this.runPlan(plan, held, threads, memoryBudgetBytes, signal));
      } finally {
        this.active--;
        if (this.disposeCalled && this.active === 0) this.release();
      }
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  /** Runs the whole graph on this thread (blocks the event loop: for small graphs and scripts). */
  runSync(inputs: GraphInputs, options: Pick<GraphRunOptions, 'threads' | 'memoryBudgetBytes'> = {}): GraphOutputs {
    try {
      this.live();
      const { threads, memoryBudgetBytes } = this.runOptions(options);
      const tensors = orderInputs(this.inputNames, inputs);
      const plan = this.plans.get(tensors.map((t) => t.shape));
      return wrapOutputs(this.outputNames, plan.runSync(tensors, threads, memoryBudgetBytes));
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /**
   * runSync, timing every node of the plan (wall clock on this thread, ms, in the order they
   * run): where a model's time goes. Nodes are the plan's (batch norms folded, ReLUs fused).
   */
  profileSync(inputs: GraphInputs, options: Pick<GraphRunOptions, 'threads'> = {}): { outputs: GraphOutputs; steps: ProfiledStep[] } {
    try {
      this.live();
      const { threads } = this.runOptions(options);
      const tensors = orderInputs(this.inputNames, inputs);
      const plan = this.plans.get(tensors.map((t) => t.shape));
      const r = plan.profileSync(tensors, threads);
      return {
        outputs: wrapOutputs(this.outputNames, r.outputs),
        steps: r.steps.map((s) => ({ name: s.name, type: this.nodeTypes.get(s.name) ?? '', ms: s.ms })),
      };
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /**
   * Frees the graph and its plans now; runs in flight (any run() called before, even in the same
   * tick) complete normally, those waiting for their plan's compilation keeping the native graph
   * until then. Later calls throw INVALID_ARGUMENT.
   */
  dispose(): void {
    this.disposeCalled = true;
    // Plans go now: a run that has one started its native call in run() itself, and the
    // native side keeps what it runs. Runs still waiting for a compilation keep the graph.
    this.plans.clear();
    if (this.active === 0) this.release();
  }

  private release(): void {
    this.plans.clear();
    this.graph?.dispose();
    this.graph = undefined;
  }

  /** Throws INVALID_ARGUMENT once dispose() was called: for new calls. */
  private live(): void {
    if (this.disposeCalled) throw new FcnkitError('INVALID_ARGUMENT', 'graph was disposed');
  }

  /** The native graph, for new calls and the runs in flight at dispose(). */
  private native(): NativeGraph {
    if (!this.graph) throw new FcnkitError('INVALID_ARGUMENT', 'graph was disposed');
    return this.graph;
  }

  private async runPlan(
    plan: NativePlan,
    tensors: Tensor[],
    threads: number | undefined,
    memoryBudgetBytes: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<NativeTensor[]> {
    if (!signal) return plan.run(tensors, threads, undefined, memoryBudgetBytes);
    const token: NativeAbortToken = new (native().AbortToken)();
    const onAbort = (): void => token.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await plan.run(tensors, threads, token, memoryBudgetBytes);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private runOptions(options: unknown): GraphRunOptions {
    if (options === undefined || options === null) return {};
    if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgument('run options', 'an object', options);
    const { signal, threads } = options as GraphRunOptions;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument('run signal', 'an AbortSignal', signal);
    if (threads !== undefined && (!Number.isSafeInteger(threads) || threads < 1)) {
      throw invalidArgument('run threads', 'an integer >= 1', threads);
    }
    const memoryBudgetBytes = checkMemoryBudget('run memoryBudgetBytes', (options as GraphRunOptions).memoryBudgetBytes);
    return { signal, threads, memoryBudgetBytes };
  }
}
