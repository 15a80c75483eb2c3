/**
 * CompiledGraph: a GraphSpec handed to the native core once, then run whole in one native call
 * per inference. Plans (one per set of input shapes: ops set up, weights packed, activation
 * arena laid out) are made on first use and cached, least recently used dropped first.
 */
import { FcnkitError, describe, invalidArgument, toFcnkitError } from '../errors';
import { native, NativeAbortToken, NativeGraph, NativePlan, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import type { GraphSpec } from './spec';

export interface CompiledGraphOptions {
  /** Plans kept per graph (each holds its own packed weights). Default 8. */
  maxPlans?: number;
}

export interface GraphRunOptions {
  /** Aborting rejects the run with FcnkitError ABORTED; it stops between nodes. */
  signal?: AbortSignal;
  /** Caps how many of the core's threads the run uses (default: all). */
  threads?: number;
}

export type GraphInputs = Record<string, Tensor> | Tensor;
export type GraphOutputs = Record<string, Tensor>;

const DEFAULT_MAX_PLANS = 8;

/** 'n,c,h,w|n,c,h,w': the cache key of a set of input shapes. */
export function shapeKey(shapes: readonly (readonly number[])[]): string {
  return shapes.map((s) => s.join(',')).join('|');
}

function abortedError(): FcnkitError {
  return new FcnkitError('ABORTED', 'run aborted before it started');
}

export class CompiledGraph {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private graph: NativeGraph | undefined;
  private readonly plans = new Map<string, NativePlan>();
  private readonly pending = new Map<string, Promise<NativePlan>>();
  private readonly maxPlans: number;

  constructor(spec: GraphSpec, options: CompiledGraphOptions = {}) {
    const maxPlans = options.maxPlans ?? DEFAULT_MAX_PLANS;
    if (!Number.isSafeInteger(maxPlans) || maxPlans < 1) throw invalidArgument('maxPlans', 'an integer >= 1', maxPlans);
    this.maxPlans = maxPlans;
    try {
      this.graph = new (native().Graph)(spec);
    } catch (err) {
      throw toFcnkitError(err, new Error());
    }
    // The native side has checked the spec's structure by now.
    this.inputNames = Object.freeze(spec.inputs.map((i) => i.name));
    this.outputNames = Object.freeze([...spec.outputs]);
  }

  get disposed(): boolean {
    return this.graph === undefined;
  }

  /** How many plans are cached now. */
  get planCount(): number {
    return this.plans.size;
  }

  /** The plan for these input shapes (in inputNames order), compiled on this thread if new. */
  plan(inputShapes: readonly (readonly number[])[]): NativePlan {
    try {
      const graph = this.live();
      const key = shapeKey(inputShapes);
      const cached = this.touch(key);
      if (cached) return cached;
      return this.store(key, graph.plan(inputShapes.map((s) => [...s])));
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /** The plan for these input shapes, compiled (weights packed) off the JS thread if new. */
  async planAsync(inputShapes: readonly (readonly number[])[]): Promise<NativePlan> {
    const graph = this.live();
    const key = shapeKey(inputShapes);
    const cached = this.touch(key);
    if (cached) return cached;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = graph
        .planAsync(inputShapes.map((s) => [...s]))
        .then((plan) => {
          if (this.graph === undefined) {
            plan.dispose();
            throw new FcnkitError('INVALID_ARGUMENT', 'graph was disposed');
          }
          return this.store(key, plan);
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /** Runs the whole graph off the JS thread. */
  async run(inputs: GraphInputs, options: GraphRunOptions = {}): Promise<GraphOutputs> {
    const callSite = new Error();
    try {
      const { signal, threads } = this.runOptions(options);
      if (signal?.aborted) throw abortedError();
      const tensors = this.orderInputs(inputs);
      const shapes = tensors.map((t) => t.shape);
      // A plan evicted by a concurrent run between its compilation and our use: fetch again.
      for (let attempt = 0; ; attempt++) {
        const plan = await this.planAsync(shapes);
        if (signal?.aborted) throw abortedError();
        if (plan.disposed && attempt < 3 && !this.disposed) continue;
        return this.wrapOutputs(await this.runPlan(plan, tensors, threads, signal));
      }
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  /** Runs the whole graph on this thread (blocks the event loop: for small graphs and scripts). */
  runSync(inputs: GraphInputs, options: Pick<GraphRunOptions, 'threads'> = {}): GraphOutputs {
    try {
      const { threads } = this.runOptions(options);
      const tensors = this.orderInputs(inputs);
      const plan = this.plan(tensors.map((t) => t.shape));
      return this.wrapOutputs(plan.runSync(tensors, threads));
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /** Frees the graph and its plans now; runs in flight finish first. Later calls throw INVALID_ARGUMENT. */
  dispose(): void {
    for (const plan of this.plans.values()) plan.dispose();
    this.plans.clear();
    this.graph?.dispose();
    this.graph = undefined;
  }

  private live(): NativeGraph {
    if (!this.graph) throw new FcnkitError('INVALID_ARGUMENT', 'graph was disposed');
    return this.graph;
  }

  private touch(key: string): NativePlan | undefined {
    const plan = this.plans.get(key);
    if (plan) {
      this.plans.delete(key);
      this.plans.set(key, plan);
    }
    return plan;
  }

  private store(key: string, plan: NativePlan): NativePlan {
    this.plans.set(key, plan);
    for (const [oldKey, old] of this.plans) {
      if (this.plans.size <= this.maxPlans) break;
      this.plans.delete(oldKey);
      old.dispose();
    }
    return plan;
  }

  private async runPlan(
    plan: NativePlan,
    tensors: Tensor[],
    threads: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<NativeTensor[]> {
    if (!signal) return plan.run(tensors, threads);
    const token: NativeAbortToken = new (native().AbortToken)();
    const onAbort = (): void => token.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await plan.run(tensors, threads, token);
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
    return { signal, threads };
  }

  private orderInputs(inputs: unknown): Tensor[] {
    if (inputs instanceof Tensor) {
      if (this.inputNames.length !== 1) {
        throw invalidArgument('graph inputs', `an object with tensors ${this.inputNames.map((n) => `'${n}'`).join(', ')}`, inputs);
      }
      return [inputs];
    }
    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
      throw invalidArgument('graph inputs', 'a Tensor or an object of tensors by input name', inputs);
    }
    const record = inputs as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      if (!this.inputNames.includes(name)) {
        throw new FcnkitError('INVALID_ARGUMENT', `graph has no input '${name}' (its inputs are ${this.inputNames.map((n) => `'${n}'`).join(', ')})`);
      }
    }
    return this.inputNames.map((name) => {
      const t = record[name];
      if (!(t instanceof Tensor)) throw new FcnkitError('INVALID_ARGUMENT', `Expected a Tensor for graph input '${name}' but received ${describe(t)}`);
      return t;
    });
  }

  private wrapOutputs(outs: NativeTensor[]): GraphOutputs {
    const result: GraphOutputs = {};
    this.outputNames.forEach((name, i) => {
      result[name] = new Tensor(outs[i].data, outs[i].shape);
    });
    return result;
  }
}
