/**
 * What CompiledGraph (CPU) and CudaCompiledGraph (GPU) share: the cache of plans by input shapes
 * (least recently used dropped first, one compilation in flight per shape), and the mapping of
 * inputs and outputs by name.
 */
import { FcnkitError, describe, invalidArgument } from '../errors';
import type { NativeTensor } from '../native';
import { Tensor } from '../tensor';

export type GraphInputs = Record<string, Tensor> | Tensor;
export type GraphOutputs = Record<string, Tensor>;

/** 'n,c,h,w|n,c,h,w': the cache key of a set of input shapes. */
export function shapeKey(shapes: readonly (readonly number[])[]): string {
  return shapes.map((s) => s.join(',')).join('|');
}

export interface CachedPlan {
  readonly disposed: boolean;
  dispose(): void;
}

/** A native graph that makes plans: on this thread, or off it. */
export interface PlanMaker<P> {
  plan(shapes: number[][]): P;
  planAsync(shapes: number[][]): Promise<P>;
}

export class PlanCache<P extends CachedPlan> {
  private readonly plans = new Map<string, P>();
  private readonly pending = new Map<string, Promise<P>>();

  /** `live()` returns the graph's native maker, or throws once the graph is disposed. */
  constructor(
    private readonly maxPlans: number,
    private readonly live: () => PlanMaker<P>,
  ) {}

  get size(): number {
    return this.plans.size;
  }

  /** The cached, live plan for these input shapes, or undefined (nothing is compiled). */
  peek(shapes: readonly (readonly number[])[]): P | undefined {
    const plan = this.touch(shapeKey(shapes));
    return plan && !plan.disposed ? plan : undefined;
  }

  /** The plan for these input shapes, made on this thread if new. */
  get(shapes: readonly (readonly number[])[]): P {
    const maker = this.live();
    const key = shapeKey(shapes);
    return this.touch(key) ?? this.store(key, maker.plan(shapes.map((s) => [...s])));
  }

  /** The plan for these input shapes, made off the JS thread if new (once, however many ask). */
  async getAsync(shapes: readonly (readonly number[])[]): Promise<P> {
    const maker = this.live();
    const key = shapeKey(shapes);
    const cached = this.touch(key);
    if (cached) return cached;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = maker
        .planAsync(shapes.map((s) => [...s]))
        .then((plan) => {
          try {
            this.live();
          } catch (err) {
            plan.dispose();
            throw err;
          }
          return this.store(key, plan);
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /**
   * The plan for these shapes that is still alive when the caller gets it: a plan evicted by a
   * concurrent run between its compilation and our use is fetched again.
   */
  async getLive(shapes: readonly (readonly number[])[]): Promise<P> {
    for (let attempt = 0; ; attempt++) {
      const plan = await this.getAsync(shapes);
      if (!plan.disposed || attempt >= 3) return plan;
    }
  }

  /** Disposes every plan (runs in flight keep theirs alive natively). */
  clear(): void {
    for (const plan of this.plans.values()) plan.dispose();
    this.plans.clear();
  }

  private touch(key: string): P | undefined {
    const plan = this.plans.get(key);
    if (plan) {
      this.plans.delete(key);
      this.plans.set(key, plan);
    }
    return plan;
  }

  private store(key: string, plan: P): P {
    this.plans.set(key, plan);
    for (const [oldKey, old] of this.plans) {
      if (this.plans.size <= this.maxPlans) break;
      this.plans.delete(oldKey);
      old.dispose();
    }
    return plan;
  }
}

/** The inputs as a list in `inputNames` order: a bare Tensor for a one-input graph, or a record by name. */
export function orderInputs(inputNames: readonly string[], inputs: unknown): Tensor[] {
  if (inputs instanceof Tensor) {
    if (inputNames.length !== 1) {
      throw invalidArgument('graph inputs', `an object with tensors ${inputNames.map((n) => `'${n}'`).join(', ')}`, inputs);
    }
    return [inputs];
  }
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw invalidArgument('graph inputs', 'a Tensor or an object of tensors by input name', inputs);
  }
  const record = inputs as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (!inputNames.includes(name)) {
      throw new FcnkitError('INVALID_ARGUMENT', `graph has no input '${name}' (its inputs are ${inputNames.map((n) => `'${n}'`).join(', ')})`);
    }
  }
  return inputNames.map((name) => {
    const t = record[name];
    if (!(t instanceof Tensor)) throw new FcnkitError('INVALID_ARGUMENT', `Expected a Tensor for graph input '${name}' but received ${describe(t)}`);
    return t;
  });
}

/** Native outputs as Tensors by output name. */
export function wrapOutputs(outputNames: readonly string[], outs: NativeTensor[]): GraphOutputs {
  const result: GraphOutputs = {};
  outputNames.forEach((name, i) => {
    result[name] = new Tensor(outs[i].data, outs[i].shape);
  });
  return result;
}
