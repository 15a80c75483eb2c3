/**
 * Devices and precisions, and the GPU's counterpart of CompiledGraph.
 *
 * `device: 'cuda'` runs the same GraphSpec as the CPU on an NVIDIA GPU (compute capability 8.0+,
 * driver 580+ for the CUDA 13 runtime): the weights are uploaded once, every node runs as a CUDA
 * kernel with the activations in a device arena planned as the CPU's, and only the inputs and the
 * outputs cross to and from the host. `precision` picks the convolutions' arithmetic:
 *   'fp32'  exact float32 FMAs, results as the CPU's to rounding (the default);
 *   'tf32'  tensor cores with TF32 operands (10-bit mantissa), fp32 accumulation: several times
 *           faster, normalised error about 1e-3 (recommended for speed);
 *   'bf16'  tensor cores with bfloat16 operands (7-bit mantissa), fp32 accumulation.
 * On the CPU, 'fp32' (default) or 'bf16': AVX512-BF16 kernels (vdpbf16ps) where the CPU has
 * them, weights rounded to bfloat16 once when packed, fp32 sums, bias and ReLU (see README).
 * Everything but the convolutions (pooling, resize, softmax, ...) is fp32 in every precision.
 * Where CUDA is unavailable, creating a CudaCompiledGraph throws FcnkitError CUDA_UNAVAILABLE
 * whose message holds backendInfo().cuda.reason.
 */
import { FcnkitError, invalidArgument, toFcnkitError } from './errors';
import { native, NativeCudaGraph, NativeCudaInfo, NativeCudaPlan, NativeTensor } from './native';
import { Tensor } from './tensor';
import { checkCpuPrecision, checkMemoryBudget, CompiledGraph } from './graph/compiled';
import { orderInputs, PlanCache, wrapOutputs } from './graph/plan-cache';
import type { GraphInputs, GraphOutputs } from './graph/plan-cache';
import type { GraphSpec } from './graph/spec';

export const DEVICES = ['cpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];

export const PRECISIONS = ['fp32', 'tf32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** 'fp32': exact. Use 'tf32' for speed (tensor cores; about 1e-3 normalised error). */
export const DEFAULT_PRECISION: Precision = 'fp32';

/** Throws INVALID_ARGUMENT unless `v` is a device name; undefined gives 'cpu'. */
export function checkDevice(what: string, v: unknown): Device {
  if (v === undefined) return 'cpu';
  if (!(DEVICES as readonly unknown[]).includes(v)) throw invalidArgument(what, DEVICES.map((d) => `'${d}'`).join(' or '), v);
  return v as Device;
}

/** Throws INVALID_ARGUMENT unless `v` is a precision; undefined gives DEFAULT_PRECISION. */
export function checkPrecision(what: string, v: unknown): Precision {
  if (v === undefined) return DEFAULT_PRECISION;
  if (!(PRECISIONS as readonly unknown[]).includes(v)) {
    throw invalidArgument(what, PRECISIONS.map((p) => `'${p}'`).join(', '), v);
  }
  return v as Precision;
}

/** backendInfo().cuda: whether this build has the CUDA backend, whether a usable GPU is there, and why not. */
export function cudaInfo(): NativeCudaInfo {
  return native().backendInfo().cuda;
}

/** The node types the CUDA backend runs (a graph with any other is UNSUPPORTED_OP on 'cuda'). */
export function cudaOpTypes(): string[] {
  return native().CudaGraph.supportedOpTypes();
}

/** Throws CUDA_UNAVAILABLE (with the reason) unless a GPU can be used. */
export function requireCuda(): void {
  const info = cudaInfo();
  if (info.available) return;
  throw new FcnkitError(
    'CUDA_UNAVAILABLE',
    `device 'cuda' is unavailable: ${info.reason ?? 'unknown reason'}${info.detail ? ` (${info.detail})` : ''}; use device 'cpu'`,
  );
}

export interface CudaGraphOptions {
  precision?: Precision;
  /** Which GPU (default 0). */
  deviceIndex?: number;
  /** Plans kept (one per set of input shapes; each holds its gather tables). Default 8. */
  maxPlans?: number;
  /** @internal Run the device steps on the CPU (cpp/cuda/emulate.cc): for tests without a GPU. */
  emulate?: boolean;
}

export interface CudaRunOptions {
  /** Aborting rejects the run with FcnkitError ABORTED; it stops between kernels. */
  signal?: AbortSignal;
  /** Ignored on the GPU (CPU runs take it: the same options work on either device). */
  threads?: number;
}

let tickets = 0;

/** A GraphSpec on the GPU, with CompiledGraph's shape: plans cached per input shapes, runs whole. */
export class CudaCompiledGraph {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly precision: Precision;
  private graph: NativeCudaGraph | undefined;
  private readonly plans: PlanCache<NativeCudaPlan>;

  constructor(spec: GraphSpec, options: CudaGraphOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('cuda graph options', 'an object', options);
    this.precision = checkPrecision('precision', options.precision);
    const maxPlans = options.maxPlans ?? 8;
    if (!Number.isSafeInteger(maxPlans) || maxPlans < 1) throw invalidArgument('maxPlans', 'an integer >= 1', maxPlans);
    this.plans = new PlanCache<NativeCudaPlan>(maxPlans, () => this.live());
    try {
      this.graph = new (native().CudaGraph)(spec, {
        precision: this.precision,
        ...(options.deviceIndex !== undefined ? { deviceIndex: options.deviceIndex } : {}),
        ...(options.emulate ? { emulate: true } : {}),
      });
    } catch (err) {
      throw toFcnkitError(err, new Error());
    }
    this.inputNames = Object.freeze(spec.inputs.map((i) => i.name));
    this.outputNames = Object.freeze([...spec.outputs]);
  }

  get disposed(): boolean {
    return this.graph === undefined;
  }

  get planCount(): number {
    return this.plans.size;
  }

  /** Device bytes of the weights uploaded. */
  get weightBytes(): number {
    return this.live().weightBytes;
  }

  plan(inputShapes: readonly (readonly number[])[]): NativeCudaPlan {
    try {
      return this.plans.get(inputShapes);
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  async planAsync(inputShapes: readonly (readonly number[])[]): Promise<NativeCudaPlan> {
    return this.plans.getAsync(inputShapes);
  }

  /** Runs the whole graph on the GPU; the JS thread only queues it. */
  async run(inputs: GraphInputs, options: CudaRunOptions = {}): Promise<GraphOutputs> {
    const callSite = new Error();
    try {
      if (typeof options !== 'object' || options === null) throw invalidArgument('run options', 'an object', options);
      const { signal } = options;
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument('run signal', 'an AbortSignal', signal);
      if (signal?.aborted) throw new FcnkitError('ABORTED', 'run aborted before it started');
      const tensors = orderInputs(this.inputNames, inputs);
      const plan = await this.plans.getLive(tensors.map((t) => t.shape));
      if (signal?.aborted) throw new FcnkitError('ABORTED', 'run aborted before it started');
      return wrapOutputs(this.outputNames, await this.runPlan(plan, tensors, signal));
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  /** Runs on this thread, waiting for the GPU (blocks the event loop). */
  runSync(inputs: GraphInputs, _options: Pick<CudaRunOptions, 'threads'> = {}): GraphOutputs {
    try {
      const tensors = orderInputs(this.inputNames, inputs);
      return wrapOutputs(this.outputNames, this.plans.get(tensors.map((t) => t.shape)).runSync(tensors));
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /** Frees the plans and, once no run holds them, the device weights. */
  dispose(): void {
    this.plans.clear();
    this.graph?.dispose();
    this.graph = undefined;
  }

  private live(): NativeCudaGraph {
    if (!this.graph) throw new FcnkitError('INVALID_ARGUMENT', 'graph was disposed');
    return this.graph;
  }

  private async runPlan(plan: NativeCudaPlan, tensors: Tensor[], signal: AbortSignal | undefined): Promise<NativeTensor[]> {
    if (!signal) return plan.run(tensors);
    const ticket = ++tickets;
    const onAbort = (): void => plan.abort(ticket);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await plan.run(tensors, ticket);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

// ---- where a graph runs: the options models and sessions share ------------------------------

/** `device` and `precision` as the model builders, InferenceSession and the CLI take them. */
export interface DeviceOptions {
  /** 'cpu' (default) or 'cuda' (CUDA_UNAVAILABLE, with the reason, where no usable GPU is). */
  device?: Device;
  /**
   * Arithmetic of the convolutions (and Gemm heads): 'fp32' (default, exact); 'bf16' (fp32 sums
   * of bfloat16 products: on 'cuda' tensor cores, on the CPU AVX512-BF16); 'tf32' on 'cuda' only.
   */
  precision?: Precision;
  /** Which GPU on 'cuda' (default 0). */
  deviceIndex?: number;
  /** @internal Run the CUDA lowering on the CPU emulator (tests without a GPU). */
  emulate?: boolean;
  /**
   * What one run may hold on the CPU, in bytes: packed weights, intermediates, op workspace and
   * outputs together (default: 3/4 of physical memory, backendInfo().defaultMemoryBudgetBytes).
   * A model or an input size past it is TOO_LARGE when compiled, before anything is allocated.
   */
  memoryBudgetBytes?: number;
}

export interface ResolvedDevice {
  device: Device;
  precision: Precision;
  deviceIndex?: number;
  emulate: boolean;
  memoryBudgetBytes?: number;
}


/**
 * Checks `device` / `precision` (INVALID_ARGUMENT) and, for 'cuda', that a GPU can be used
 * (CUDA_UNAVAILABLE with backendInfo().cuda.reason): at construction, not at the first run.
 */
export function resolveDevice(options: DeviceOptions): ResolvedDevice {
  const device = checkDevice('device', options.device);
  const precision = checkPrecision('precision', options.precision);
  if (device === 'cpu') checkCpuPrecision(precision);
  const { deviceIndex } = options;
  if (deviceIndex !== undefined && (!Number.isSafeInteger(deviceIndex) || deviceIndex < 0)) {
    throw invalidArgument('deviceIndex', 'an integer >= 0', deviceIndex);
  }
  const emulate = options.emulate === true;
  const memoryBudgetBytes = checkMemoryBudget('memoryBudgetBytes', options.memoryBudgetBytes);
  if (device === 'cuda' && !emulate) requireCuda();
  return {
    device,
    precision,
    ...(deviceIndex !== undefined ? { deviceIndex } : {}),
    emulate,
    ...(memoryBudgetBytes !== undefined ? { memoryBudgetBytes } : {}),
  };
}

/** What Model and InferenceSession run: a CompiledGraph on the CPU or a CudaCompiledGraph. */
export type DeviceGraph = CompiledGraph | CudaCompiledGraph;

/**
 * Compiles `spec` for the resolved device. On 'cuda' a node type the CUDA backend lacks is
 * UNSUPPORTED_OP here, naming the node (see cudaOpTypes()).
 */
export function compileOn(spec: GraphSpec, target: ResolvedDevice, maxPlans: number): DeviceGraph {
  if (target.device === 'cpu') {
    return new CompiledGraph(spec, {
      maxPlans,
      precision: target.precision === 'bf16' ? 'bf16' : 'fp32',
      ...(target.memoryBudgetBytes !== undefined ? { memoryBudgetBytes: target.memoryBudgetBytes } : {}),
    });
  }
  const supported = new Set(cudaOpTypes());
  const node = spec.nodes.find((n) => !supported.has(n.type));
  if (node) {
    throw new FcnkitError('UNSUPPORTED_OP', `node '${node.name}' (${node.type}) has no CUDA kernel; run this model with device 'cpu'`);
  }
  return new CudaCompiledGraph(spec, {
    precision: target.precision,
    maxPlans,
    ...(target.deviceIndex !== undefined ? { deviceIndex: target.deviceIndex } : {}),
    ...(target.emulate ? { emulate: true } : {}),
  });
}

/** The DeviceOptions fields of a larger options object (for passing them on). */
export function deviceOptionsOf(o: DeviceOptions): DeviceOptions {
  const out: DeviceOptions = {};
  if (o.device !== undefined) out.device = o.device;
  if (o.precision !== undefined) out.precision = o.precision;
  if (o.deviceIndex !== undefined) out.deviceIndex = o.deviceIndex;
  if (o.emulate !== undefined) out.emulate = o.emulate;
  if (o.memoryBudgetBytes !== undefined) out.memoryBudgetBytes = o.memoryBudgetBytes;
  return out;
}
