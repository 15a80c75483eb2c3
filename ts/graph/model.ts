/**
 * Model: a GraphBuilder graph with its parameters, run natively as one compiled plan per input
 * size. The GraphSpec sent to the core is made per input size because crops that take their
 * size from another tensor (FCN's crop to the image) become concrete `crop` attrs; graphs whose
 * attrs don't depend on the size (no such crops) share one CompiledGraph and only re-plan.
 *
 * Weights are allocated on first use (running, getWeights, export), not when the graph is built,
 * so full-width networks can be inspected with inferShapes cheaply.
 */
import { writeFileAtomic } from '../io/atomic-write';
import { FcnkitError, describe, invalidArgument, toFcnkitError } from '../errors';
import { native } from '../native';
import type { NativeAttrs, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import * as shapeOps from '../ops/shape-ops';
import {
  AttributeProto, DataType, NodeProto, TensorProto, attr, encodeModel, makeModel, makeNode, tensorFromFloat32,
  tensorFromInt64, valueInfo,
} from '../io/onnx-proto';
import { GraphRunOptions } from './compiled';
import { compileOn, DeviceGraph, DeviceOptions, resolveDevice, ResolvedDevice } from '../device';
import type { Device, Precision } from '../device';
import type { GraphSpec, GraphSpecNode } from './spec';
import { cropWindow, Dim, GraphBuilder, Layer, ParamSpec } from './builder';

export interface ModelOptions extends DeviceOptions {
  /** Seed of the initial weights (uint32, default 0): the same seed gives the same weights. */
  seed?: number;
  /** Weights to start from instead (checked as loadWeights with strict: true). */
  weights?: Record<string, Tensor>;
  /** Compiled graphs (and plans in each) kept for different input sizes. Default 4. */
  maxPlans?: number;
  /**
   * Extra check of concrete input shapes before inference (model factories use it to name the
   * nearest legal sizes); throw an FcnkitError to refuse.
   */
  checkInput?: (shapes: Readonly<Record<string, readonly number[]>>) => void;
}

export type RunOptions = GraphRunOptions;

/** The core's limit on one tensor: 2^32 elements. */
const MAX_ELEMENTS = 2 ** 32;

/**
 * TOO_LARGE up front, before a weight is made, when one parameter passes the core's per-tensor
 * limit or all of them pass the memory budget (a run needs them, and their packed copy, in memory).
 */
function checkParamSizes(specs: readonly ParamSpec[], budget: number | undefined): void {
  let total = 0;
  for (const p of specs) {
    const n = p.shape.reduce((a, d) => a * d, 1);
    if (n > MAX_ELEMENTS) {
      throw new FcnkitError('TOO_LARGE', `parameter '${p.name}' [${p.shape.join(', ')}] has ${n} elements, past the core's limit of 2^32 per tensor (use fewer classes or channels)`);
    }
    total += n * 4;
  }
  const limit = budget ?? native().backendInfo().defaultMemoryBudgetBytes;
  if (total > limit) {
    throw new FcnkitError('TOO_LARGE', `the model's parameters take ${total} bytes, past the memory budget of ${limit} bytes (use fewer classes or channels, or raise memoryBudgetBytes)`);
  }
}

export interface LoadWeightsOptions {
  /** true (default): every parameter present and no other name. false: any subset; unknown names are ignored. */
  strict?: boolean;
}

export interface LoadWeightsResult {
  /** Parameters not in the map (kept as they were). Empty when strict. */
  missing: string[];
  /** Names in the map that are not parameters (ignored). Empty when strict. */
  unexpected: string[];
}

/** Opsets exportOnnx writes: 13 (Softmax along one axis, Slice with tensor inputs) up to 21. */
export const ONNX_OPSET_MIN = 13;
export const ONNX_OPSET_MAX = 21;

export interface ExportOnnxOptions {
  /** Default 17. */
  opset?: number;
}

// ---- initial weights --------------------------------------------------------------------

/**
 * The FNV-1a hash of (seed, name): each parameter gets its own mulberry32 stream, so its initial
 * values don't change when layers are added elsewhere in the graph.
 */
function paramSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  const mix = (byte: number): void => {
    h ^= byte & 0xff;
    h = Math.imul(h, 0x01000193);
  };
  for (let i = 0; i < 4; i++) mix(seed >>> (8 * i));
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    mix(c);
    mix(c >>> 8);
  }
  return h >>> 0;
}

/**
 * Fills `out` with N(0, std²) by Box-Muller over a mulberry32 stream (small, the same everywhere),
 * inlined: full-width FCN has 134 M weights.
 */
function fillNormal(out: Float32Array, std: number, seed: number): void {
  let a = seed | 0;
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u1 = 1 - ((t ^ (t >>> 14)) >>> 0) / 4294967296; // (0, 1]: the log stays finite
    a = (a + 0x6d2b79f5) | 0;
    t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u2 = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    const theta = 2 * Math.PI * u2;
    out[i] = r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
  }
}

/**
 * The 2-D bilinear upsampling filter of FCN's surgery.upsample_filt: factor = ceil(size / 2),
 * centre factor - 1 (odd size) or factor - 0.5 (even), value (1 - |i - c| / factor)(1 - |j - c| / factor).
 */
function upsampleFilter(size: number): Float64Array {
  const factor = Math.floor((size + 1) / 2);
  const center = size % 2 === 1 ? factor - 1 : factor - 0.5;
  const f = new Float64Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) f[i * size + j] = (1 - Math.abs(i - center) / factor) * (1 - Math.abs(j - center) / factor);
  }
  return f;
}

/**
 * Caffe/FCN's fixed upsampling weights for a transposed convolution [channels, channels, size,
 * size]: the bilinear filter on the diagonal (channel i to channel i), zero elsewhere, as the FCN
 * reference's surgery.interp fills its deconvolutions.
 */
export function bilinearKernel(channels: number, size: number): Tensor<Float32Array> {
  if (!Number.isSafeInteger(channels) || channels < 1) throw invalidArgument('bilinearKernel channels', 'an integer >= 1', channels);
  if (!Number.isSafeInteger(size) || size < 1) throw invalidArgument('bilinearKernel size', 'an integer >= 1', size);
  const filt = upsampleFilter(size);
  const plane = size * size;
  const data = new Float32Array(channels * channels * plane);
  for (let c = 0; c < channels; c++) data.set(filt, (c * channels + c) * plane);
  return new Tensor(data, [channels, channels, size, size]);
}

function initParam(p: ParamSpec, seed: number): Tensor<Float32Array> {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  switch (p.init) {
    case 'he':
      fillNormal(data, Math.sqrt(2 / (p.fanIn ?? 1)), paramSeed(seed, p.name));
      break;
    case 'smallNormal':
      // Small but not zero, so that tests see every bias.
      fillNormal(data, 0.01, paramSeed(seed, p.name));
      break;
    case 'ones':
      data.fill(1);
      break;
    case 'zeros':
      break;
    case 'bilinear': {
      // [in, out/groups, k, k]: the builder allows only in == out (groups 1: the diagonal) or
      // one output per group (depthwise: every [c, 0]).
      const [inC, perGroup, k] = p.shape;
      const filt = upsampleFilter(k);
      const plane = k * k;
      for (let c = 0; c < inC; c++) data.set(filt, (c * perGroup + (perGroup === 1 ? 0 : c)) * plane);
      break;
    }
  }
  return new Tensor(data, p.shape);
}

// ---- native spec emission ---------------------------------------------------------------

/** A constant the native graph reads: a parameter, or something derived from parameters. */
type ConstSource =
  | { kind: 'param'; name: string }
  | { kind: 'foldWeight' | 'foldBias'; conv: Layer; bn: Layer }
  | { kind: 'bnScale' | 'bnShift'; bn: Layer; rank: number }
  | { kind: 'factor'; layer: Layer }
  | { kind: 'linearWeight'; layer: Layer };

interface Step {
  node: GraphSpecNode;
  /** A crop whose attrs are filled per input size from its layer. */
  crop?: Layer;
}

/** Names of derived constants use '#', which layer names cannot contain. */
function constName(src: ConstSource): string {
  switch (src.kind) {
    case 'param':
      return src.name;
    case 'foldWeight':
      return `${src.bn.name}#folded_weight`;
    case 'foldBias':
      return `${src.bn.name}#folded_bias`;
    case 'bnScale':
      return `${src.bn.name}#scale`;
    case 'bnShift':
      return `${src.bn.name}#shift`;
    case 'factor':
      return `${src.layer.name}#factor`;
    case 'linearWeight':
      return `${src.layer.name}#conv_weight`;
  }
}

/**
 * The size-independent part of the native graph: one step per native node, with conv → BN → ReLU
 * chains merged into one conv (BN folded into its weight and bias, ReLU into its epilogue).
 */
function planSteps(graph: GraphBuilder): { steps: Step[]; consts: Map<string, ConstSource> } {
  const consumers = new Map<string, Layer[]>();
  for (const l of graph.layers) for (const v of l.inputs) consumers.set(v, [...(consumers.get(v) ?? []), l]);
  const returned = new Set(graph.outputs.map((o) => o.value));
  const sole = (v: string): Layer | undefined => {
    const c = consumers.get(v);
    return c && c.length === 1 && !returned.has(v) ? c[0] : undefined;
  };
  const consts = new Map<string, ConstSource>();
  const use = (src: ConstSource): string => {
    const n = constName(src);
    consts.set(n, src);
    return n;
  };
  const absorbed = new Set<string>();
  const steps: Step[] = [];
  const push = (name: string, type: string, inputs: string[], output: string, attrs: NativeAttrs, crop?: Layer): void => {
    steps.push({ node: { name, type, inputs, outputs: [output], attrs }, crop });
  };
  for (const l of graph.layers) {
    if (absorbed.has(l.name)) continue;
    switch (l.type) {
      case 'conv2d':
      case 'convTranspose2d':
      case 'linear': {
        let out = l.name;
        let activation = l.attrs.activation as string;
        let bn: Layer | undefined;
        if (activation === 'none') {
          let next = sole(out);
          if (l.type === 'conv2d' && next?.type === 'batchNorm') {
            bn = next;
            absorbed.add(bn.name);
            out = bn.name;
            next = sole(out);
          }
          if (next?.type === 'relu') {
            absorbed.add(next.name);
            out = next.name;
            activation = 'relu';
          }
        }
        const inputs = [l.inputs[0]];
        if (bn) inputs.push(use({ kind: 'foldWeight', conv: l, bn }), use({ kind: 'foldBias', conv: l, bn }));
        else if (l.type === 'linear') {
          // fc over [C, H, W] = an H×W conv with the weight [out, C*H*W] viewed as [out, C, H, W].
          inputs.push(use({ kind: 'linearWeight', layer: l }), ...l.params.slice(1).map((p) => use({ kind: 'param', name: p.name })));
        } else for (const p of l.params) inputs.push(use({ kind: 'param', name: p.name }));
        push(l.name, l.type === 'linear' ? 'conv2d' : l.type, inputs, out, { ...l.attrs, activation });
        break;
      }
      case 'batchNorm': {
        const rank = graph.shapeOf(l.inputs[0]).length;
        push(`${l.name}#mul`, 'mul', [l.inputs[0], use({ kind: 'bnScale', bn: l, rank })], `${l.name}#scaled`, {});
        push(l.name, 'add', [`${l.name}#scaled`, use({ kind: 'bnShift', bn: l, rank })], l.name, {});
        break;
      }
      case 'scale':
        push(l.name, 'mul', [l.inputs[0], use({ kind: 'factor', layer: l })], l.name, {});
        break;
      case 'crop':
        push(l.name, 'crop', [l.inputs[0]], l.name, {}, l);
        break;
      default:
        push(l.name, l.type, [...l.inputs], l.name, { ...l.attrs });
    }
  }
  return { steps, consts };
}

// ---- ONNX export --------------------------------------------------------------------------

function onnxDims(shape: readonly Dim[]): Array<number | string | null> {
  return shape.map((d) => (typeof d === 'number' ? d : d.symbolName ?? null));
}

function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

function pads4(attrs: NativeAttrs): number[] {
  return (attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
}

// ---- the Model --------------------------------------------------------------------------

const DEFAULT_MAX_PLANS = 4;

export class Model {
  readonly graph: GraphBuilder;
  private readonly specs: readonly ParamSpec[];
  private readonly specByName: ReadonlyMap<string, ParamSpec>;
  private readonly seed: number;
  private readonly maxPlans: number;
  private readonly checkInput?: ModelOptions['checkInput'];
  private readonly steps: Step[];
  private readonly consts: Map<string, ConstSource>;
  private weights: Map<string, Tensor<Float32Array>> | undefined;
  private derived = new Map<string, Tensor<Float32Array>>();
  /** By the per-size part of the spec (crop windows); least recently used first. */
  private readonly compiled = new Map<string, DeviceGraph>();
  private readonly target: ResolvedDevice;
  private disposed = false;

  constructor(graph: GraphBuilder, options: ModelOptions = {}) {
    if (!(graph instanceof GraphBuilder)) throw invalidArgument('Model graph', 'a GraphBuilder', graph);
    if (typeof options !== 'object' || options === null) throw invalidArgument('Model options', 'an object', options);
    if (graph.inputs.length === 0) throw new FcnkitError('INVALID_ARGUMENT', 'Model: the graph has no inputs');
    if (graph.outputs.length === 0) throw new FcnkitError('INVALID_ARGUMENT', 'Model: the graph has no outputs (call graph.output(name, tensor))');
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) throw invalidArgument('Model seed', 'an integer in [0, 2^32)', seed);
    const maxPlans = options.maxPlans ?? DEFAULT_MAX_PLANS;
    if (!Number.isSafeInteger(maxPlans) || maxPlans < 1) throw invalidArgument('Model maxPlans', 'an integer >= 1', maxPlans);
    if (options.checkInput !== undefined && typeof options.checkInput !== 'function') {
      throw invalidArgument('Model checkInput', 'a function', options.checkInput);
    }
    this.target = resolveDevice(options);
    this.graph = graph.freeze();
    this.specs = graph.paramSpecs();
    checkParamSizes(this.specs, this.target.memoryBudgetBytes);
    this.specByName = new Map(this.specs.map((p) => [p.name, p]));
    this.seed = seed;
    this.maxPlans = maxPlans;
    this.checkInput = options.checkInput;
    ({ steps: this.steps, consts: this.consts } = planSteps(graph));
    if (options.weights !== undefined) {
      const checked = this.checkWeights(options.weights, true, 'Model weights');
      this.weights = new Map(this.specs.map((p) => [p.name, copyTensor(checked.get(p.name)!)]));
    }
  }

  /** Where the model runs: 'cpu' or 'cuda'. */
  get device(): Device {
    return this.target.device;
  }

  /** The convolutions' arithmetic: always 'fp32' on the CPU. */
  get precision(): Precision {
    return this.target.precision;
  }

  /** Graph inputs with their declared (possibly symbolic) shapes. */
  get inputs(): ReadonlyArray<{ name: string; shape: readonly Dim[] }> {
    return this.graph.inputs;
  }

  /** Output names and their symbolic shapes. */
  get outputs(): ReadonlyArray<{ name: string; shape: readonly Dim[] }> {
    return this.graph.outputs.map((o) => ({ name: o.name, shape: this.graph.shapeOf(o.value) }));
  }

  /** Every parameter, fixed ones (bilinear deconvolutions, BN statistics) included, in graph order. */
  parameters(): Array<{ name: string; shape: number[] }> {
    return this.specs.map((p) => ({ name: p.name, shape: [...p.shape] }));
  }

  /** Copies of every parameter by name (changing them changes nothing until loadWeights). */
  getWeights(): Record<string, Tensor<Float32Array>> {
    const w = this.live();
    const out: Record<string, Tensor<Float32Array>> = {};
    for (const p of this.specs) out[p.name] = copyTensor(w.get(p.name)!);
    return out;
  }

  /**
   * Replaces parameters from `map` (copied). Everything is checked before anything changes:
   * - a value that is not a float32 Tensor: INVALID_ARGUMENT;
   * - a parameter with another shape: SHAPE_MISMATCH naming it and both shapes;
   * - strict (default) and a parameter missing or a name that is no parameter: BAD_MODEL (the
   *   weights are for another model), naming them.
   */
  async loadWeights(map: Record<string, Tensor>, options: LoadWeightsOptions = {}): Promise<LoadWeightsResult> {
    const callSite = new Error();
    try {
      if (typeof options !== 'object' || options === null) throw invalidArgument('loadWeights options', 'an object', options);
      const strict = options.strict ?? true;
      if (typeof strict !== 'boolean') throw invalidArgument('loadWeights strict', 'a boolean', strict);
      const checked = this.checkWeights(map, strict, 'loadWeights');
      const w = this.live();
      // New arrays, never writes into the old ones: compiled graphs reference the old data and
      // runs in flight keep reading it.
      const next = new Map(w);
      for (const [name, t] of checked) next.set(name, copyTensor(t));
      this.weights = next;
      this.invalidate();
      const names = new Set(Object.keys(map));
      return {
        missing: this.specs.filter((p) => !names.has(p.name)).map((p) => p.name),
        unexpected: [...names].filter((n) => !this.specByName.has(n)),
      };
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  /** Every value's concrete shape for these input shapes (no weights, no native work). */
  inferShapes(inputShapes: Record<string, readonly number[]> | readonly number[]): Record<string, number[]> {
    const given = this.graph.normalizeInputShapes(inputShapes);
    this.checkInput?.(given);
    return this.graph.inferShapes(given);
  }

  /** The output shape for an input shape (a record by output name when there are several). */
  outputShape(inputShapes: Record<string, readonly number[]> | readonly number[]): number[] | Record<string, number[]> {
    const shapes = this.inferShapes(inputShapes);
    const outs = this.graph.outputs;
    if (outs.length === 1) return shapes[outs[0].value];
    const rec: Record<string, number[]> = {};
    for (const o of outs) rec[o.name] = shapes[o.value];
    return rec;
  }

  /**
   * Runs the whole network in one native call off the JS thread; resolves to the output (raw
   * scores) or, for several outputs, a record by output name. Aborting `signal` rejects with ABORTED.
   */
  async run(input: Tensor | Record<string, Tensor>, options: RunOptions = {}): Promise<Tensor | Record<string, Tensor>> {
    const callSite = new Error();
    try {
      const { feeds, compiled } = this.prepare(input);
      return this.pickOutputs(await compiled.run(feeds, options));
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  /** run() on the calling thread (blocks the event loop). */
  runSync(input: Tensor | Record<string, Tensor>, options: Pick<RunOptions, 'threads'> = {}): Tensor | Record<string, Tensor> {
    try {
      const { feeds, compiled } = this.prepare(input);
      return this.pickOutputs(compiled.runSync(feeds, options));
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /**
   * The GraphSpec the native core gets for these input shapes: conv → BN → ReLU chains merged,
   * crops with concrete offset and size, dropout gone. For inspection and tests.
   */
  graphSpec(inputShapes: Record<string, readonly number[]> | readonly number[]): GraphSpec {
    const weights = this.live();
    return this.spec(weights, this.cropWindows(inputShapes).cropAttrs);
  }

  /** Frees the native graphs and plans now (runs in flight finish first); the model can't run after. */
  dispose(): void {
    this.invalidate();
    this.weights = undefined;
    this.disposed = true;
  }

  /**
   * The graph and its weights as a standard ONNX model (BatchNormalization kept as such, not
   * folded). Dynamic input dims keep their names ('N', 'H', 'W'); crops that follow another
   * tensor's size read it with Shape and cut with Slice, so the file runs at any input size the
   * network takes.
   */
  exportOnnxBytes(options: ExportOnnxOptions = {}): Uint8Array {
    try {
      return encodeModel(this.toOnnx(options));
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  async exportOnnx(path: string, options: ExportOnnxOptions = {}): Promise<void> {
    const callSite = new Error();
    if (typeof path !== 'string' || path.length === 0) throw invalidArgument('exportOnnx path', 'a file path', path);
    let bytes: Uint8Array;
    try {
      bytes = encodeModel(this.toOnnx(options));
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
    try {
      // Atomic (temp file + rename): no half-written model, and a FIFO at `path` is replaced,
      // not opened (an open for writing would wait for a reader for ever).
      await writeFileAtomic(path, bytes);
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  // ---- internals --------------------------------------------------------------------------

  private live(): Map<string, Tensor<Float32Array>> {
    if (this.disposed) throw new FcnkitError('INVALID_ARGUMENT', 'model was disposed');
    if (!this.weights) this.weights = new Map(this.specs.map((p) => [p.name, initParam(p, this.seed)]));
    return this.weights;
  }

  private invalidate(): void {
    for (const g of this.compiled.values()) g.dispose();
    this.compiled.clear();
    this.derived = new Map();
  }

  private checkWeights(map: unknown, strict: boolean, what: string): Map<string, Tensor> {
    if (typeof map !== 'object' || map === null || Array.isArray(map) || map instanceof Tensor) {
      throw invalidArgument(`${what} map`, 'an object of Tensors by parameter name', map);
    }
    const rec = map as Record<string, unknown>;
    const out = new Map<string, Tensor>();
    const unexpected: string[] = [];
    for (const [name, t] of Object.entries(rec)) {
      const spec = this.specByName.get(name);
      if (!spec) {
        unexpected.push(name);
        continue;
      }
      if (!(t instanceof Tensor) || t.dtype !== 'float32') {
        throw new FcnkitError('INVALID_ARGUMENT', `Expected a float32 Tensor for parameter '${name}' but received ${t instanceof Tensor ? t.toString() : describe(t)}`);
      }
      if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
        throw new FcnkitError('SHAPE_MISMATCH', `${what}: parameter '${name}' has shape [${spec.shape.join(', ')}] but received [${t.shape.join(', ')}]`);
      }
      out.set(name, t);
    }
    if (strict) {
      const list = (names: string[]): string => {
        const shown = names.slice(0, 5).map((n) => `'${n}'${this.specByName.has(n) ? ` [${this.specByName.get(n)!.shape.join(', ')}]` : ''}`);
        return shown.join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
      };
      const missing = this.specs.filter((p) => !out.has(p.name)).map((p) => p.name);
      if (missing.length > 0) {
        throw new FcnkitError('BAD_MODEL', `${what}: missing ${missing.length === 1 ? 'parameter' : `${missing.length} parameters`} ${list(missing)} (strict; pass { strict: false } to load a subset)`);
      }
      if (unexpected.length > 0) {
        throw new FcnkitError('BAD_MODEL', `${what}: ${unexpected.length === 1 ? 'name' : `${unexpected.length} names`} ${list(unexpected)} ${unexpected.length === 1 ? 'is' : 'are'} not a parameter of this model (strict)`);
      }
    }
    return out;
  }

  /** Inputs by name, checked, and the compiled graph for their sizes. */
  private prepare(input: unknown): { feeds: Record<string, Tensor>; compiled: DeviceGraph } {
    const weights = this.live();
    const names = this.graph.inputs.map((i) => i.name);
    let feeds: Record<string, Tensor>;
    if (input instanceof Tensor) {
      if (names.length !== 1) throw invalidArgument('run input', `an object with tensors ${names.map((n) => `'${n}'`).join(', ')}`, input);
      feeds = { [names[0]]: input };
    } else if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      feeds = input as Record<string, Tensor>;
    } else throw invalidArgument('run input', 'a Tensor or an object of Tensors by input name', input);
    const shapes: Record<string, readonly number[]> = {};
    for (const [name, t] of Object.entries(feeds)) {
      if (!(t instanceof Tensor)) throw new FcnkitError('INVALID_ARGUMENT', `Expected a Tensor for input '${name}' but received ${describe(t)}`);
      if (t.dtype !== 'float32') throw new FcnkitError('INVALID_ARGUMENT', `Expected a float32 Tensor for input '${name}' but received ${t.toString()}`);
      shapes[name] = t.shape;
    }
    const { key, cropAttrs } = this.cropWindows(shapes);
    let compiled = this.compiled.get(key);
    if (compiled) {
      this.compiled.delete(key);
    } else {
      compiled = compileOn(this.spec(weights, cropAttrs), this.target, this.maxPlans);
      for (const [oldKey, old] of this.compiled) {
        if (this.compiled.size < this.maxPlans) break;
        this.compiled.delete(oldKey);
        old.dispose();
      }
    }
    this.compiled.set(key, compiled);
    return { feeds, compiled };
  }

  /** Crop attrs for these input shapes (checked), and the key of the spec they make. */
  private cropWindows(shapes: Record<string, readonly number[]> | readonly number[]): { key: string; cropAttrs: Map<string, NativeAttrs> } {
    const given = this.graph.normalizeInputShapes(shapes);
    this.checkInput?.(given);
    const concrete = this.graph.inferConcrete(given);
    // Crop windows are the only size-dependent attrs: sizes that agree on them share a spec.
    const cropAttrs = new Map<string, NativeAttrs>();
    for (const s of this.steps) {
      if (!s.crop) continue;
      const l = s.crop;
      const w = cropWindow(l, concrete.get(l.inputs[0])!, l.refs.length ? concrete.get(l.refs[0]) : undefined);
      cropAttrs.set(l.name, shapeOps.crop(new Tensor(new Float32Array(0), [0]), w).attrs);
    }
    const key = [...cropAttrs.values()].map((a) => `${(a.offset as number[]).join(',')}:${(a.size as number[]).join(',')}`).join('|');
    return { key, cropAttrs };
  }

  private spec(weights: Map<string, Tensor<Float32Array>>, cropAttrs: Map<string, NativeAttrs>): GraphSpec {
    const constants: Record<string, NativeTensor> = {};
    for (const [name, src] of this.consts) constants[name] = this.constant(name, src, weights);
    return {
      // Declared shapes: the spec is right for every input size that gives these crop windows.
      inputs: this.graph.inputs.map((i) => ({ name: i.name, shape: i.shape.map((d) => (typeof d === 'number' ? d : null)) })),
      constants,
      nodes: this.steps.map((s) => (s.crop ? { ...s.node, attrs: cropAttrs.get(s.node.name)! } : s.node)),
      outputs: [...new Set(this.graph.outputs.map((o) => o.value))],
    };
  }

  private constant(name: string, src: ConstSource, weights: Map<string, Tensor<Float32Array>>): Tensor<Float32Array> {
    if (src.kind === 'param') return weights.get(src.name)!;
    let t = this.derived.get(name);
    if (t) return t;
    const p = (layer: Layer, suffix: string): Float32Array => weights.get(`${layer.name}.${suffix}`)!.data;
    switch (src.kind) {
      case 'factor':
        t = new Tensor(new Float32Array([src.layer.factor!]), [1]);
        break;
      case 'linearWeight': {
        const w = weights.get(src.layer.params[0].name)!;
        t = w.reshape([w.shape[0], src.layer.inChannels!, ...src.layer.kernel!]);
        break;
      }
      case 'bnScale':
      case 'bnShift': {
        const { scale, shift } = bnAffine(src.bn, p);
        const shape = [scale.length, ...new Array<number>(Math.max(0, src.rank - 2)).fill(1)];
        t = new Tensor(src.kind === 'bnScale' ? scale : shift, shape);
        break;
      }
      case 'foldWeight':
      case 'foldBias': {
        // BN(conv(x)) = conv'(x) with w'[o] = w[o] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + beta[o].
        const { scale, shift } = bnAffine(src.bn, p);
        const w = weights.get(`${src.conv.name}.weight`)!;
        const bias = weights.get(`${src.conv.name}.bias`)?.data;
        const per = w.data.length / scale.length;
        const fw = new Float32Array(w.data.length);
        for (let o = 0; o < scale.length; o++) for (let i = 0; i < per; i++) fw[o * per + i] = w.data[o * per + i] * scale[o];
        const fb = new Float32Array(scale.length);
        for (let o = 0; o < scale.length; o++) fb[o] = (bias ? bias[o] : 0) * scale[o] + shift[o];
        this.derived.set(constName({ ...src, kind: 'foldWeight' }), new Tensor(fw, w.shape));
        this.derived.set(constName({ ...src, kind: 'foldBias' }), new Tensor(fb, [scale.length]));
        return this.derived.get(name)!;
      }
    }
    this.derived.set(name, t);
    return t;
  }

  private pickOutputs(outs: Record<string, Tensor>): Tensor | Record<string, Tensor> {
    const list = this.graph.outputs;
    if (list.length === 1) return outs[list[0].value];
    const rec: Record<string, Tensor> = {};
    for (const o of list) rec[o.name] = outs[o.value];
    return rec;
  }

  private toOnnx(options: ExportOnnxOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('exportOnnx options', 'an object', options);
    const opset = options.opset ?? 17;
    if (!Number.isSafeInteger(opset) || opset < ONNX_OPSET_MIN || opset > ONNX_OPSET_MAX) {
      throw invalidArgument('exportOnnx opset', `an integer from ${ONNX_OPSET_MIN} to ${ONNX_OPSET_MAX}`, opset);
    }
    const weights = this.live();
    const g = this.graph;
    const nodes: NodeProto[] = [];
    const inits: TensorProto[] = [];
    for (const p of this.specs) inits.push(tensorFromFloat32(p.name, p.shape, weights.get(p.name)!.data));
    const ints = (name: string, values: number[]): string => {
      inits.push(tensorFromInt64(name, [values.length], values));
      return name;
    };
    const node = (op: string, inputs: string[], output: string, attrs: AttributeProto[] = [], name = output): void => {
      nodes.push(makeNode(op, inputs, [output], attrs, name));
    };
    for (const l of g.layers) {
      const a = l.attrs;
      const x = l.inputs[0];
      switch (l.type) {
        case 'conv2d':
        case 'convTranspose2d': {
          const relu = a.activation === 'relu';
          const out = relu ? `${l.name}#linear` : l.name;
          const attrs = [
            attr.ints('kernel_shape', [...l.kernel!]),
            attr.ints('strides', a.stride as number[]),
            attr.ints('dilations', a.dilation as number[]),
            attr.int('group', a.groups as number),
          ];
          const stride = a.stride as number[];
          if (a.autoPad === 'same' && stride[0] === 1 && stride[1] === 1) {
            // At stride 1 SAME_UPPER pads a fixed span - 1 (the extra pixel last): explicit pads
            // say the same, and onnxruntime rejects auto_pad with dilation.
            const dil = a.dilation as number[];
            const total = [0, 1].map((i) => dil[i] * (l.kernel![i] - 1));
            const begin = total.map((v) => Math.floor(v / 2));
            attrs.push(attr.ints('pads', [begin[0], begin[1], total[0] - begin[0], total[1] - begin[1]]));
          } else if (a.autoPad === 'same') attrs.push(attr.string('auto_pad', 'SAME_UPPER'));
          else if (a.autoPad === 'valid') attrs.push(attr.string('auto_pad', 'VALID'));
          else attrs.push(attr.ints('pads', pads4(a)));
          if (l.type === 'convTranspose2d') attrs.push(attr.ints('output_padding', a.outputPadding as number[]));
          node(l.type === 'conv2d' ? 'Conv' : 'ConvTranspose', [x, ...l.params.map((p) => p.name)], out, attrs, l.name);
          if (relu) node('Relu', [out], l.name, [], `${l.name}#relu`);
          break;
        }
        case 'maxPool2d':
        case 'avgPool2d': {
          const attrs = [
            attr.ints('kernel_shape', a.kernel as number[]),
            attr.ints('strides', a.stride as number[]),
            attr.ints('pads', pads4(a)),
            attr.int('ceil_mode', a.ceilMode ? 1 : 0),
          ];
          const dilated = (a.dilation as number[]).some((d) => d !== 1);
          if (l.type === 'maxPool2d') attrs.push(attr.ints('dilations', a.dilation as number[]));
          else {
            if (dilated && opset < 19) {
              throw new FcnkitError('UNSUPPORTED_OP', `exportOnnx: avgPool2d '${l.name}' is dilated, which ONNX AveragePool supports from opset 19 (asked for ${opset})`);
            }
            if (dilated) attrs.push(attr.ints('dilations', a.dilation as number[]));
            attrs.push(attr.int('count_include_pad', a.countIncludePad ? 1 : 0));
          }
          node(l.type === 'maxPool2d' ? 'MaxPool' : 'AveragePool', [x], l.name, attrs);
          break;
        }
        case 'linear': {
          // Gemm takes 2-D values: flatten (C, H, W order), multiply, then back to [N, out, 1, 1].
          node('Flatten', [x], `${l.name}#flat`, [attr.int('axis', 1)]);
          const relu = a.activation === 'relu';
          node('Gemm', [`${l.name}#flat`, ...l.params.map((p) => p.name)], `${l.name}#gemm`, [attr.int('transB', 1)], l.name);
          if (relu) node('Relu', [`${l.name}#gemm`], `${l.name}#relu`);
          node('Unsqueeze', [relu ? `${l.name}#relu` : `${l.name}#gemm`, ints(`${l.name}#axes`, [2, 3])], l.name, [], `${l.name}#unsqueeze`);
          break;
        }
        case 'relu':
          node('Relu', [x], l.name);
          break;
        case 'add':
          node('Add', [...l.inputs], l.name);
          break;
        case 'mul':
          node('Mul', [...l.inputs], l.name);
          break;
        case 'scale':
          inits.push(tensorFromFloat32(`${l.name}#factor`, [], new Float32Array([l.factor!])));
          node('Mul', [x, `${l.name}#factor`], l.name);
          break;
        case 'concat':
          node('Concat', [...l.inputs], l.name, [attr.int('axis', a.axis as number)]);
          break;
        case 'softmax':
          node('Softmax', [x], l.name, [attr.int('axis', a.axis as number)]);
          break;
        case 'batchNorm':
          node('BatchNormalization', [x, ...l.params.map((p) => p.name)], l.name, [attr.float('epsilon', l.eps!)]);
          break;
        case 'crop': {
          const spec = l.crop!;
          const axes = ints(`${l.name}#axes`, [2, 3]);
          const hwOf = (v: string): string => {
            node('Shape', [v], `${l.name}#shape_${v}`);
            node('Slice', [`${l.name}#shape_${v}`, ints(`${l.name}#hw_start_${v}`, [2]), ints(`${l.name}#hw_end_${v}`, [4]),
              ints(`${l.name}#hw_axis_${v}`, [0])], `${l.name}#hw_${v}`);
            return `${l.name}#hw_${v}`;
          };
          // The output size: the reference's H, W read at run time, or fixed.
          const size = l.refs.length ? hwOf(l.refs[0]) : ints(`${l.name}#size`, [...spec.size!]);
          let starts: string;
          if (spec.offset === 'center') {
            node('Sub', [hwOf(x), size], `${l.name}#excess`);
            node('Div', [`${l.name}#excess`, ints(`${l.name}#two`, [2, 2])], `${l.name}#starts`);
            starts = `${l.name}#starts`;
          } else starts = ints(`${l.name}#offset`, [...spec.offset]);
          if (!l.refs.length && spec.offset !== 'center') {
            const ends = ints(`${l.name}#ends`, [spec.offset[0] + spec.size![0], spec.offset[1] + spec.size![1]]);
            node('Slice', [x, starts, ends, axes], l.name);
          } else {
            node('Add', [starts, size], `${l.name}#ends`);
            node('Slice', [x, starts, `${l.name}#ends`, axes], l.name);
          }
          break;
        }
      }
    }
    const outputs = g.outputs.map((o) => {
      if (o.name !== o.value) node('Identity', [o.value], o.name, [], `${o.name}#output`);
      return valueInfo(o.name, DataType.FLOAT, onnxDims(g.shapeOf(o.value)));
    });
    return makeModel({
      nodes,
      inputs: g.inputs.map((i) => valueInfo(i.name, DataType.FLOAT, onnxDims(i.shape))),
      outputs,
      initializers: inits,
      opset,
      irVersion: irVersionFor(opset),
      graphName: 'fcnkit',
    });
  }
}

function bnAffine(bn: Layer, p: (layer: Layer, suffix: string) => Float32Array): { scale: Float32Array; shift: Float32Array } {
  const gamma = p(bn, 'weight');
  const beta = p(bn, 'bias');
  const mean = p(bn, 'running_mean');
  const variance = p(bn, 'running_var');
  const scale = new Float32Array(gamma.length);
  const shift = new Float32Array(gamma.length);
  for (let c = 0; c < gamma.length; c++) {
    const s = gamma[c] / Math.sqrt(variance[c] + bn.eps!);
    scale[c] = s;
    shift[c] = beta[c] - mean[c] * s;
  }
  return { scale, shift };
}

function copyTensor(t: Tensor): Tensor<Float32Array> {
  return new Tensor(new Float32Array(t.data as Float32Array), t.shape);
}
