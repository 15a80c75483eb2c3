/**
 * GraphBuilder: a functional graph builder. `input()` makes a symbolic tensor, each layer method
 * takes symbolic tensors and returns a new one, registering its parameters under PyTorch-style
 * dotted names (`conv1_1.weight`, `down1.bn1.running_mean`). Shapes are inferred as layers are
 * added, with dims that are numbers or expressions of the inputs' dynamic sizes (H, W), so a
 * channel mismatch fails at build time and a spatial one as soon as concrete sizes are known.
 *
 * Layer attributes are resolved by the single-op builders in ts/ops/ (same names, same checks),
 * so the GraphSpec a Model sends to the native core uses exactly the attrs of `ops.*`.
 */
import * as os from 'node:os';
import { FcnkitError, invalidArgument, describe } from '../errors';
import type { NativeAttrs } from '../native';
import { Tensor } from '../tensor';
import * as convOps from '../ops/conv';
import * as poolOps from '../ops/pool';
import * as shapeOps from '../ops/shape-ops';
import * as reduceOps from '../ops/reduce';
import type { Activation } from '../ops/conv';
import type { Padding, Pair } from '../ops/define';
import type { PoolPadding } from '../ops/pool';

// =========================================================================================
// Symbolic dims
// =========================================================================================

type DimNode =
  | { op: 'sym'; name: string }
  | { op: 'add'; a: DimExpr; b: Dim }
  | { op: 'mul'; a: DimExpr; c: number }
  | { op: 'floordiv' | 'ceildiv'; a: DimExpr; c: number }
  | { op: 'min'; a: DimExpr; b: Dim };

/**
 * A dimension only known at run time: a symbol (an input's dynamic H or W) or a small expression
 * tree over symbols with integer constants (+, *, floor/ceil division, min). Constants are kept
 * outermost (`(x + 3) + 4` becomes `x + 7`) so that equal sizes reached by different layers
 * usually compare equal structurally; when they don't, checks wait for concrete sizes.
 */
export class DimExpr {
  /** Canonical text, also the structural identity. */
  readonly key: string;

  private constructor(readonly node: DimNode) {
    if (typeof node !== 'object' || node === null) throw new FcnkitError('INVALID_ARGUMENT', 'a DimExpr comes from a SymbolicTensor\'s shape, not from new DimExpr()');
    try {
      this.key = render(node);
    } catch (err) {
      throw new FcnkitError('INVALID_ARGUMENT', `not a dimension expression: ${describe(node)}`, { cause: err });
    }
  }

  /** @internal */
  static make(node: DimNode): DimExpr {
    return new DimExpr(node);
  }

  static symbol(name: string): DimExpr {
    return new DimExpr({ op: 'sym', name });
  }

  /** The symbol's name when this is a bare symbol (e.g. 'H'), else undefined. */
  get symbolName(): string | undefined {
    return this.node.op === 'sym' ? this.node.name : undefined;
  }

  /** The value for concrete symbol values; throws when a symbol is missing. */
  evaluate(env: Readonly<Record<string, number>>): number {
    const n = this.node;
    switch (n.op) {
      case 'sym': {
        const v = env[n.name];
        if (typeof v !== 'number') throw new FcnkitError('INVALID_ARGUMENT', `no value given for dimension '${n.name}'`);
        return v;
      }
      case 'add':
        return n.a.evaluate(env) + evalDim(n.b, env);
      case 'mul':
        return n.a.evaluate(env) * n.c;
      case 'floordiv':
        return Math.floor(n.a.evaluate(env) / n.c);
      case 'ceildiv':
        return Math.ceil(n.a.evaluate(env) / n.c);
      case 'min':
        return Math.min(n.a.evaluate(env), evalDim(n.b, env));
    }
  }

  toString(): string {
    return this.key;
  }
}

export type Dim = number | DimExpr;

function render(n: DimNode): string {
  const paren = (d: Dim): string => (typeof d === 'number' || d.node.op !== 'add' ? String(d) : `(${d.key})`);
  switch (n.op) {
    case 'sym':
      return n.name;
    case 'add':
      if (typeof n.b === 'number') return n.b < 0 ? `${n.a.key} - ${-n.b}` : `${n.a.key} + ${n.b}`;
      return `${n.a.key} + ${n.b.key}`;
    case 'mul':
      return `${n.c}*${paren(n.a)}`;
    case 'floordiv':
      return `floor(${paren(n.a)} / ${n.c})`;
    case 'ceildiv':
      return `ceil(${paren(n.a)} / ${n.c})`;
    case 'min':
      return `min(${n.a.key}, ${String(n.b)})`;
  }
}

export function evalDim(d: Dim, env: Readonly<Record<string, number>>): number {
  return typeof d === 'number' ? d : d.evaluate(env);
}

function isNum(d: Dim): d is number {
  return typeof d === 'number';
}

/** d = base + constant, base 0 when d is a number. */
function splitConst(d: Dim): [Dim, number] {
  if (isNum(d)) return [0, d];
  if (d.node.op === 'add' && isNum(d.node.b)) return [d.node.a, d.node.b];
  return [d, 0];
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b)) return a + b;
  const [ea, ca] = splitConst(a);
  const [eb, cb] = splitConst(b);
  const c = ca + cb;
  let base: Dim;
  if (isNum(ea)) base = eb;
  else if (isNum(eb)) base = ea;
  else base = DimExpr.make({ op: 'add', a: ea, b: eb });
  if (isNum(base)) return base + c;
  return c === 0 ? base : DimExpr.make({ op: 'add', a: base, b: c });
}

export function dimMul(a: Dim, c: number): Dim {
  if (isNum(a)) return a * c;
  if (c === 1) return a;
  if (c === 0) return 0;
  const [ea, ca] = splitConst(a);
  if (ca !== 0) return dimAdd(dimMul(ea, c), ca * c);
  if (a.node.op === 'mul') return dimMul(a.node.a, a.node.c * c);
  return DimExpr.make({ op: 'mul', a, c });
}

export function dimSub(a: Dim, b: Dim): Dim {
  if (isNum(b)) return dimAdd(a, -b);
  const [ea, ca] = splitConst(a);
  const [eb, cb] = splitConst(b);
  if (!isNum(ea) && !isNum(eb) && ea.key === eb.key) return ca - cb;
  return dimAdd(dimAdd(ea, dimMul(eb, -1)), ca - cb);
}

function divide(a: Dim, c: number, ceil: boolean): Dim {
  const round = ceil ? Math.ceil : Math.floor;
  if (isNum(a)) return round(a / c);
  if (c === 1) return a;
  // (x + q*c + r) / c = (x + r) / c + q for integer x, so whole multiples of c leave the division.
  const [ea, k] = splitConst(a);
  if (isNum(ea)) return round(k / c);
  if (ea.node.op === 'mul' && ea.node.c % c === 0) return dimAdd(dimMul(ea.node.a, ea.node.c / c), round(k / c));
  const op = ceil ? 'ceildiv' : 'floordiv';
  // Nested roundings the same way merge: ceil((ceil(y / a) + k) / c) = ceil((y + a*k) / (a*c)),
  // likewise floor; this keeps a chain of pools one division deep.
  if (ea.node.op === op) return divide(dimAdd(ea.node.a, ea.node.c * k), ea.node.c * c, ceil);
  const q = Math.floor(k / c);
  const r = k - q * c;
  return dimAdd(DimExpr.make({ op, a: dimAdd(ea, r) as DimExpr, c }), q);
}

export function dimFloorDiv(a: Dim, c: number): Dim {
  return divide(a, c, false);
}

export function dimCeilDiv(a: Dim, c: number): Dim {
  return divide(a, c, true);
}

export function dimMin(a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b)) return Math.min(a, b);
  const d = dimSub(a, b);
  if (isNum(d)) return d <= 0 ? a : b;
  if (isNum(a)) return DimExpr.make({ op: 'min', a: b as DimExpr, b: a });
  return DimExpr.make({ op: 'min', a, b });
}

/** true / false when decidable now, undefined when it depends on run-time sizes. */
export function dimEquals(a: Dim, b: Dim): boolean | undefined {
  const d = dimSub(a, b);
  return isNum(d) ? d === 0 : undefined;
}

function dimGe(a: Dim, b: Dim): boolean | undefined {
  const d = dimSub(a, b);
  return isNum(d) ? d >= 0 : undefined;
}

export function shapeToString(shape: readonly Dim[]): string {
  return `[${shape.map(String).join(', ')}]`;
}

// =========================================================================================
// Layers
// =========================================================================================

export const LAYER_TYPES = [
  'conv2d', 'convTranspose2d', 'maxPool2d', 'avgPool2d', 'relu', 'add', 'mul', 'scale', 'concat', 'crop',
  'batchNorm', 'softmax', 'linear',
] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

/** How a freshly built Model fills a parameter (see Model's `seed`). */
export const PARAM_INITS = ['he', 'smallNormal', 'bilinear', 'ones', 'zeros'] as const;
export type ParamInit = (typeof PARAM_INITS)[number];

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: ParamInit;
  /** For 'he': std = sqrt(2 / fanIn). */
  readonly fanIn?: number;
}

export interface CropSpec {
  /** Fixed [y, x], or 'center': floor((in - out) / 2) on each axis. */
  readonly offset: readonly [number, number] | 'center';
  /** Output [h, w] fixed, when no reference tensor gives it. */
  readonly size?: readonly [number, number];
}

/** One layer as recorded by the builder (frozen). */
export interface Layer {
  readonly name: string;
  readonly type: LayerType;
  /** Data inputs: value names (graph inputs or earlier layers' names). */
  readonly inputs: readonly string[];
  /** Values whose shape (not data) the layer reads: a crop's reference tensor. */
  readonly refs: readonly string[];
  /** Native attrs, exactly as ts/ops/* resolve them (crop: filled in per input size). */
  readonly attrs: NativeAttrs;
  readonly params: readonly ParamSpec[];
  /** conv2d / convTranspose2d / linear: the input channel count the weight was made for. */
  readonly inChannels?: number;
  /** conv2d / convTranspose2d: [kh, kw] (the native op reads it from the weight); linear: the input's [H, W]. */
  readonly kernel?: readonly [number, number];
  readonly crop?: CropSpec;
  /** scale: the constant factor. */
  readonly factor?: number;
  /** batchNorm: epsilon added to the running variance. */
  readonly eps?: number;
}

export interface GraphInput {
  readonly name: string;
  readonly shape: readonly Dim[];
}

export interface GraphOutput {
  readonly name: string;
  /** The value it returns. */
  readonly value: string;
}

/** A value of the graph being built; its shape may hold run-time dims. */
export class SymbolicTensor {
  /** @internal */
  constructor(
    readonly graph: GraphBuilder,
    readonly name: string,
    readonly shape: readonly Dim[],
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `SymbolicTensor('${this.name}', ${shapeToString(this.shape)})`;
  }
}

export interface Conv2dLayerOptions {
  outChannels: number;
  kernel: Pair;
  stride?: Pair;
  /** number, [h, w], [top, left, bottom, right], 'same' or 'valid'. Default 0. */
  padding?: Padding;
  dilation?: Pair;
  groups?: number;
  /** Default true. */
  bias?: boolean;
  /** Applied after the bias ('relu' fuses into the conv). Default 'none'. */
  activation?: Activation;
  /** When given, the input must have this many channels. */
  inChannels?: number;
  /** How a fresh Model fills the weight: 'he' (default) or 'bilinear' (fixed upsampling filter). */
  init?: 'he' | 'bilinear';
}

export interface ConvTranspose2dLayerOptions extends Omit<Conv2dLayerOptions, 'padding'> {
  /** number, [h, w] or [top, left, bottom, right] (explicit only). Default 0. */
  padding?: number | readonly [number, number] | readonly [number, number, number, number];
  outputPadding?: Pair;
}

export interface Pool2dLayerOptions {
  kernel: Pair;
  /** Default: the kernel. */
  stride?: Pair;
  padding?: PoolPadding;
  dilation?: Pair;
  /** Caffe's pooling rounds up: ceilMode true. Default false. */
  ceilMode?: boolean;
}

export interface AvgPool2dLayerOptions extends Pool2dLayerOptions {
  countIncludePad?: boolean;
}

export interface CropLayerOptions {
  /** [y, x] (or one number for both) of the first kept pixel, or 'center'. Default 0. */
  offset?: Pair | 'center';
  /** The output's [h, w]: a tensor to take H×W from (Caffe Crop's second bottom), or fixed sizes. */
  like: SymbolicTensor | Pair;
}

export interface LinearLayerOptions {
  outFeatures: number;
  /** Default true. */
  bias?: boolean;
  /** Applied after the bias. Default 'none'. */
  activation?: Activation;
}

export interface BatchNormLayerOptions {
  /** Default 1e-5 (PyTorch). */
  eps?: number;
}

const DUMMY = new Tensor(new Float32Array(0), [0]);

/** Re-throws an op builder's error with the layer named first. */
function named<T>(type: string, name: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FcnkitError) {
      const prefix = `${type} '${name}'`;
      throw err.message.startsWith(prefix) ? err : new FcnkitError(err.code, `${prefix}: ${err.message}`);
    }
    throw err;
  }
}

function shapeMismatch(layer: Layer, message: string): FcnkitError {
  return new FcnkitError('SHAPE_MISMATCH', `${layer.type} '${layer.name}': ${message}`);
}

/** Throws only when a check is decidably false; undecidable ones wait for concrete sizes. */
function check(ok: boolean | undefined, err: () => FcnkitError): void {
  if (ok === false) throw err();
}

function hw(d: Dim[] | readonly Dim[]): string {
  return `${String(d[0])}×${String(d[1])}`;
}

function pair(v: unknown): [number, number] {
  return v as [number, number];
}

/** Output H and W of a windowed layer; `compute` gets one axis's size, window and padding. */
function spatialOut(
  layer: Layer, x: readonly Dim[],
  compute: (axis: 0 | 1, d: Dim, k: number, s: number, dil: number, p0: number, p1: number) => Dim,
): [Dim, Dim] {
  const a = layer.attrs;
  const k = pair(layer.kernel ?? a.kernel);
  const s = pair(a.stride);
  const dil = pair(a.dilation);
  const pads = (a.pads as number[] | undefined) ?? [0, 0, 0, 0];
  const out: Dim[] = [];
  for (const axis of [0, 1] as const) {
    const d = x[2 + axis];
    if (a.autoPad === 'same') {
      // SAME_UPPER: the output is ceil(d / s) whatever the kernel (the padding adapts).
      out.push(dimCeilDiv(d, s[axis]));
      continue;
    }
    const valid = a.autoPad === 'valid';
    out.push(compute(axis, d, k[axis], s[axis], dil[axis], valid ? 0 : pads[axis], valid ? 0 : pads[axis + 2]));
  }
  return out as [Dim, Dim];
}

/** Output shape of a layer from its input shapes (numbers in, numbers out; dims in, dims out). */
function layerShape(layer: Layer, ins: readonly (readonly Dim[])[], refs: readonly (readonly Dim[])[]): Dim[] {
  const need4 = (x: readonly Dim[], what = 'input'): void => {
    if (x.length !== 4) throw shapeMismatch(layer, `expected a 4-D ${what} [N, C, H, W] but received ${shapeToString(x)}`);
  };
  const a = layer.attrs;
  switch (layer.type) {
    case 'conv2d': {
      const x = ins[0];
      need4(x);
      const w = layer.params[0].shape;
      check(dimEquals(x[1], layer.inChannels!), () =>
        shapeMismatch(layer, `expected ${layer.inChannels} input channels but received ${String(x[1])} (input ${shapeToString(x)})`));
      const [oh, ow] = spatialOut(layer, x, (axis, d, k, s, dil, p0, p1) => {
        const span = dil * (k - 1) + 1;
        const padded = dimAdd(d, p0 + p1);
        check(dimGe(padded, span), () =>
          shapeMismatch(layer, `input ${hw(x.slice(2))} with padding [${(a.pads as number[] | undefined)?.join(', ') ?? a.autoPad}] ` +
            `is smaller than the kernel's extent ${span} on axis ${axis === 0 ? 'H' : 'W'} (input ${shapeToString(x)})`));
        return dimAdd(dimFloorDiv(dimSub(padded, span), s), 1);
      });
      return [x[0], w[0], oh, ow];
    }
    case 'convTranspose2d': {
      const x = ins[0];
      need4(x);
      const w = layer.params[0].shape;
      const groups = a.groups as number;
      check(dimEquals(x[1], layer.inChannels!), () =>
        shapeMismatch(layer, `expected ${layer.inChannels} input channels but received ${String(x[1])} (input ${shapeToString(x)})`));
      const op = pair(a.outputPadding);
      const [oh, ow] = spatialOut(layer, x, (axis, d, k, s, dil, p0, p1) => {
        // ONNX ConvTranspose / Caffe Deconvolution: (in - 1) * s + dil * (k - 1) + 1 - pads + outputPadding.
        const o = dimAdd(dimMul(dimSub(d, 1), s), dil * (k - 1) + 1 - p0 - p1 + op[axis]);
        check(dimGe(o, 1), () => shapeMismatch(layer, `output size ${String(o)} on axis ${axis === 0 ? 'H' : 'W'} is not positive (padding too large; input ${shapeToString(x)})`));
        return o;
      });
      return [x[0], w[1] * groups, oh, ow];
    }
    case 'linear': {
      const x = ins[0];
      need4(x);
      const want = [layer.inChannels!, ...layer.kernel!];
      check(dimEquals(x[1], want[0]) !== false && dimEquals(x[2], want[1]) !== false && dimEquals(x[3], want[2]) !== false, () =>
        shapeMismatch(layer, `expected an input [N, ${want.join(', ')}] (the size the weight was made for) but received ${shapeToString(x)}`));
      return [x[0], layer.params[0].shape[0], 1, 1];
    }
    case 'maxPool2d':
    case 'avgPool2d': {
      const x = ins[0];
      need4(x);
      const ceil = a.ceilMode === true;
      const [oh, ow] = spatialOut(layer, x, (axis, d, k, s, dil, p0, p1) => {
        const span = dil * (k - 1) + 1;
        const padded = dimAdd(d, p0 + p1);
        check(dimGe(padded, span), () =>
          shapeMismatch(layer, `input ${hw(x.slice(2))} with padding [${(a.pads as number[]).join(', ')}] is smaller than the ` +
            `pooling window ${span} on axis ${axis === 0 ? 'H' : 'W'} (input ${shapeToString(x)})`));
        if (!ceil) return dimAdd(dimFloorDiv(dimSub(padded, span), s), 1);
        const up = dimAdd(dimCeilDiv(dimSub(padded, span), s), 1);
        // ONNX/Caffe: the last window must start inside the input or its leading padding, i.e.
        // out <= ceil((d + p0) / s). Without leading padding and with span - p1 >= s this can
        // never bind, so it is left out of the expression (Caffe's 2×2/2 pools among them).
        if (p0 === 0 && span - p1 >= s) return up;
        return dimMin(up, dimCeilDiv(dimAdd(d, p0), s));
      });
      return [x[0], x[1], oh, ow];
    }
    case 'relu':
    case 'scale':
    case 'softmax':
      if (layer.type === 'softmax') {
        const r = ins[0].length;
        const axis = a.axis as number;
        if (axis < -r || axis >= r) throw shapeMismatch(layer, `axis ${axis} is out of range for input ${shapeToString(ins[0])}`);
      }
      return [...ins[0]];
    case 'batchNorm': {
      const x = ins[0];
      if (x.length < 2) throw shapeMismatch(layer, `expected an input [N, C, ...] but received ${shapeToString(x)}`);
      const c = layer.params[0].shape[0];
      check(dimEquals(x[1], c), () => shapeMismatch(layer, `expected ${c} channels but received ${String(x[1])} (input ${shapeToString(x)})`));
      return [...x];
    }
    case 'add':
    case 'mul': {
      const [p, q] = ins;
      const r = Math.max(p.length, q.length);
      const out: Dim[] = [];
      for (let i = 0; i < r; i++) {
        const dp = i < r - p.length ? 1 : p[i - (r - p.length)];
        const dq = i < r - q.length ? 1 : q[i - (r - q.length)];
        const eq = dimEquals(dp, dq);
        if (eq === true || dq === 1) out.push(dp);
        else if (dp === 1) out.push(dq);
        else if (eq === false) {
          throw shapeMismatch(layer, `shapes ${shapeToString(p)} and ${shapeToString(q)} cannot be broadcast (axis ${i}: ${String(dp)} vs ${String(dq)})`);
        } else out.push(dp); // equal or failing once sizes are known
      }
      return out;
    }
    case 'concat': {
      const first = ins[0];
      const r = first.length;
      const axis = (a.axis as number) < 0 ? (a.axis as number) + r : (a.axis as number);
      if (axis < 0 || axis >= r) throw shapeMismatch(layer, `axis ${a.axis} is out of range for inputs of rank ${r}`);
      let total: Dim = 0;
      ins.forEach((x, j) => {
        if (x.length !== r) throw shapeMismatch(layer, `input ${j} ${shapeToString(x)} has rank ${x.length}, input 0 ${shapeToString(first)} has rank ${r}`);
        for (let i = 0; i < r; i++) {
          if (i === axis) continue;
          check(dimEquals(x[i], first[i]), () => shapeMismatch(layer,
            `input ${j} ${shapeToString(x)} differs from input 0 ${shapeToString(first)} on axis ${i} (only axis ${axis} may differ)`));
        }
        total = dimAdd(total, x[axis]);
      });
      const out = [...first];
      out[axis] = total;
      return out;
    }
    case 'crop': {
      const x = ins[0];
      need4(x);
      const spec = layer.crop!;
      let size: Dim[];
      if (refs.length > 0) {
        const ref = refs[0];
        if (ref.length < 4) throw shapeMismatch(layer, `the reference tensor ${shapeToString(ref)} has no H and W (rank 4 expected)`);
        size = [ref[ref.length - 2], ref[ref.length - 1]];
      } else size = [...spec.size!];
      const offset: Dim[] = spec.offset === 'center'
        ? [dimFloorDiv(dimSub(x[2], size[0]), 2), dimFloorDiv(dimSub(x[3], size[1]), 2)]
        : [...spec.offset];
      for (const i of [0, 1]) {
        const fits = spec.offset === 'center' ? dimGe(x[2 + i], size[i]) : dimGe(x[2 + i], dimAdd(offset[i], size[i]));
        check(fits, () => shapeMismatch(layer,
          `offset [${offset.map(String).join(', ')}] + size [${size.map(String).join(', ')}] reaches ` +
          `[${[0, 1].map((k) => String(dimAdd(offset[k], size[k]))).join(', ')}], beyond the input's spatial size ` +
          `[${String(x[2])}, ${String(x[3])}] (input ${shapeToString(x)})`));
      }
      return [x[0], x[1], size[0], size[1]];
    }
  }
}

/** Concrete offset and size of a crop for concrete input shapes (what the native `crop` takes). */
export function cropWindow(layer: Layer, x: readonly number[], ref: readonly number[] | undefined): { offset: [number, number]; size: [number, number] } {
  const spec = layer.crop!;
  const size: [number, number] = ref ? [ref[ref.length - 2], ref[ref.length - 1]] : [spec.size![0], spec.size![1]];
  const offset: [number, number] = spec.offset === 'center'
    ? [Math.floor((x[2] - size[0]) / 2), Math.floor((x[3] - size[1]) / 2)]
    : [spec.offset[0], spec.offset[1]];
  return { offset, size };
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;

/** Symbol names for an input's dynamic dims: N, C, H, W for the first 4-D input. */
function symbolNames(inputIndex: number, inputName: string, rank: number): string[] {
  const base = rank === 4 ? ['N', 'C', 'H', 'W'] : Array.from({ length: rank }, (_, i) => `d${i}`);
  return inputIndex === 0 ? base : base.map((b) => `${inputName}_${b}`);
}

/** The most elements one parameter tensor may have (a Float32Array of 8 GiB). */
export const MAX_PARAM_ELEMENTS = 2 ** 31;

/** The most bytes all of a graph's weights may take: half of the machine's memory. */
function maxParamBytes(): number {
  return Math.floor(os.totalmem() / 2);
}

export class GraphBuilder {
  /** Bytes of the float32 weights of the layers so far. */
  private paramBytes = 0;
  private readonly inputList: GraphInput[] = [];
  private readonly layerList: Layer[] = [];
  private readonly outputList: GraphOutput[] = [];
  private readonly values = new Map<string, readonly Dim[]>();
  private readonly names = new Set<string>();
  private frozen = false;

  get inputs(): readonly GraphInput[] {
    return this.inputList;
  }

  get layers(): readonly Layer[] {
    return this.layerList;
  }

  get outputs(): readonly GraphOutput[] {
    return this.outputList;
  }

  /** The symbolic shape of a value (graph input or layer name). */
  shapeOf(value: string): readonly Dim[] {
    const s = this.values.get(value);
    if (!s) throw new FcnkitError('INVALID_ARGUMENT', `graph has no value '${value}'`);
    return s;
  }

  /** Every parameter in registration order. */
  parameters(): Array<{ name: string; shape: number[] }> {
    return this.layerList.flatMap((l) => l.params.map((p) => ({ name: p.name, shape: [...p.shape] })));
  }

  /** @internal Parameter specs (init rules included), in registration order. */
  paramSpecs(): ParamSpec[] {
    return this.layerList.flatMap((l) => l.params);
  }

  /** No more layers may be added (a Model was built from this graph). */
  freeze(): this {
    this.frozen = true;
    return this;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** A graph input; null marks a dim known only at run time (e.g. [1, 3, null, null]). */
  input(name: string, shape: ReadonlyArray<number | null>): SymbolicTensor {
    this.checkOpen();
    this.claim('input', name);
    if (!Array.isArray(shape) || shape.length === 0 || shape.length > 8 ||
      shape.some((d) => d !== null && (!Number.isSafeInteger(d) || d < 1))) {
      throw invalidArgument(`input '${name}' shape`, 'an array of 1 to 8 positive integers or nulls', shape);
    }
    const syms = symbolNames(this.inputList.length, name, shape.length);
    const dims: Dim[] = shape.map((d, i) => (d === null ? DimExpr.symbol(syms[i]) : d));
    this.inputList.push(Object.freeze({ name, shape: Object.freeze(dims) }));
    this.values.set(name, dims);
    return new SymbolicTensor(this, name, dims);
  }

  /** 2-D convolution; parameters `<name>.weight` [out, in/groups, kh, kw] and `<name>.bias` [out]. */
  conv2d(name: string, x: SymbolicTensor, options: Conv2dLayerOptions): SymbolicTensor {
    return this.convLike('conv2d', name, x, options);
  }

  /** Transposed convolution (Caffe Deconvolution); `<name>.weight` [in, out/groups, kh, kw]. */
  convTranspose2d(name: string, x: SymbolicTensor, options: ConvTranspose2dLayerOptions): SymbolicTensor {
    return this.convLike('convTranspose2d', name, x, options);
  }

  maxPool2d(name: string, x: SymbolicTensor, options: Pool2dLayerOptions): SymbolicTensor {
    this.begin('maxPool2d', name, [x]);
    const o = this.options<Pool2dLayerOptions>('maxPool2d', name, options);
    const attrs = named('maxPool2d', name, () => poolOps.maxPool2d(DUMMY, {
      kernel: o.kernel!, stride: o.stride, padding: o.padding, dilation: o.dilation, ceilMode: o.ceilMode,
    }).attrs);
    return this.add_({ name, type: 'maxPool2d', inputs: [x.name], refs: [], attrs, params: [] });
  }

  avgPool2d(name: string, x: SymbolicTensor, options: AvgPool2dLayerOptions): SymbolicTensor {
    this.begin('avgPool2d', name, [x]);
    const o = this.options<AvgPool2dLayerOptions>('avgPool2d', name, options);
    const attrs = named('avgPool2d', name, () => poolOps.avgPool2d(DUMMY, {
      kernel: o.kernel!, stride: o.stride, padding: o.padding, dilation: o.dilation, ceilMode: o.ceilMode,
      countIncludePad: o.countIncludePad,
    }).attrs);
    return this.add_({ name, type: 'avgPool2d', inputs: [x.name], refs: [], attrs, params: [] });
  }

  relu(name: string, x: SymbolicTensor): SymbolicTensor {
    this.begin('relu', name, [x]);
    return this.add_({ name, type: 'relu', inputs: [x.name], refs: [], attrs: {}, params: [] });
  }

  /** a + b with numpy broadcasting (FCN's skip fusion). */
  add(name: string, a: SymbolicTensor, b: SymbolicTensor): SymbolicTensor {
    this.begin('add', name, [a, b]);
    return this.add_({ name, type: 'add', inputs: [a.name, b.name], refs: [], attrs: {}, params: [] });
  }

  /** a * b with numpy broadcasting. */
  mul(name: string, a: SymbolicTensor, b: SymbolicTensor): SymbolicTensor {
    this.begin('mul', name, [a, b]);
    return this.add_({ name, type: 'mul', inputs: [a.name, b.name], refs: [], attrs: {}, params: [] });
  }

  /** x * factor, a fixed constant (no parameter): FCN-8s-atonce's pool scaling. */
  scale(name: string, x: SymbolicTensor, factor: number): SymbolicTensor {
    this.begin('scale', name, [x]);
    if (typeof factor !== 'number' || !Number.isFinite(factor)) throw invalidArgument(`scale '${name}' factor`, 'a finite number', factor);
    return this.add_({ name, type: 'scale', inputs: [x.name], refs: [], attrs: {}, params: [], factor });
  }

  concat(name: string, xs: readonly SymbolicTensor[], axis = 1): SymbolicTensor {
    if (!Array.isArray(xs) || xs.length === 0) throw invalidArgument(`concat '${name}' inputs`, 'a non-empty array of SymbolicTensors', xs);
    this.begin('concat', name, xs);
    const attrs = named('concat', name, () => shapeOps.concat(xs.map(() => DUMMY), axis).attrs);
    return this.add_({ name, type: 'concat', inputs: xs.map((x) => x.name), refs: [], attrs, params: [] });
  }

  /**
   * Caffe Crop on H and W: keeps `like`'s H×W (a tensor's, read at run time, or fixed sizes) from
   * `offset` on. FCN aligns its upsampled scores with the image this way at fixed offsets; U-Net
   * crops its skips to the centre ('center').
   */
  crop(name: string, x: SymbolicTensor, options: CropLayerOptions): SymbolicTensor {
    const o = this.options<CropLayerOptions>('crop', name, options);
    const like = o.like;
    this.begin('crop', name, like instanceof SymbolicTensor ? [x, like] : [x]);
    let offset: CropSpec['offset'];
    if (o.offset === 'center') offset = 'center';
    else {
      const off = o.offset;
      offset = named('crop', name, () => shapeOps.crop(DUMMY, { offset: off as Pair | undefined, size: 1 }).attrs.offset as [number, number]);
    }
    let crop: CropSpec;
    const refs: string[] = [];
    if (like instanceof SymbolicTensor) {
      refs.push(like.name);
      crop = { offset };
    } else {
      if (like === undefined) throw invalidArgument(`crop '${name}' like`, 'a SymbolicTensor or a size [h, w]', like);
      const size = named('crop', name, () => shapeOps.crop(DUMMY, { size: like }).attrs.size as [number, number]);
      crop = { offset, size };
    }
    return this.add_({ name, type: 'crop', inputs: [x.name], refs, attrs: {}, params: [], crop: Object.freeze(crop) });
  }

  /**
   * Fully connected layer over the whole input (flatten + linear): x [N, C, H, W] with C, H and W
   * known when the graph is built is flattened in C, H, W order and multiplied by `<name>.weight`
   * [outFeatures, C*H*W] (PyTorch Linear layout), plus `<name>.bias` [outFeatures]. The result is
   * kept 4-D, [N, outFeatures, 1, 1], so layers stay NCHW and fc layers chain. It runs natively
   * as a conv2d with an H×W kernel (the same numbers: see dense/convolutionalize) and exports to
   * ONNX as Flatten + Gemm + Unsqueeze.
   */
  linear(name: string, x: SymbolicTensor, options: LinearLayerOptions): SymbolicTensor {
    this.begin('linear', name, [x]);
    const o = this.options<LinearLayerOptions>('linear', name, options);
    const what = (w: string): string => `linear '${name}' ${w}`;
    if (!Number.isSafeInteger(o.outFeatures) || o.outFeatures! < 1) throw invalidArgument(what('outFeatures'), 'an integer >= 1', o.outFeatures);
    if (o.bias !== undefined && typeof o.bias !== 'boolean') throw invalidArgument(what('bias'), 'a boolean', o.bias);
    const attrs = named('linear', name, () => convOps.conv2d(DUMMY, DUMMY, null, { activation: o.activation }).attrs);
    if (x.rank !== 4) throw new FcnkitError('SHAPE_MISMATCH', `linear '${name}': expected a 4-D input [N, C, H, W] but received ${shapeToString(x.shape)}`);
    const [, c, h, w] = x.shape;
    if (!isNum(c) || !isNum(h) || !isNum(w)) {
      throw new FcnkitError('SHAPE_MISMATCH', `linear '${name}': the input's C, H and W must be known when the graph is built (a fixed input size) but the input is ${shapeToString(x.shape)}`);
    }
    const fanIn = c * h * w;
    const params: ParamSpec[] = [{ name: `${name}.weight`, shape: [o.outFeatures!, fanIn], init: 'he', fanIn }];
    if (o.bias !== false) params.push({ name: `${name}.bias`, shape: [o.outFeatures!], init: 'smallNormal' });
    return this.add_({ name, type: 'linear', inputs: [x.name], refs: [], attrs, params, inChannels: c, kernel: [h, w] });
  }

  /** Dropout is the identity at inference: no layer is recorded and `x` comes back. */
  dropout(name: string, x: SymbolicTensor): SymbolicTensor {
    this.begin('dropout', name, [x]);
    this.names.add(name);
    return x;
  }

  /**
   * Inference-mode batch normalisation with parameters `<name>.weight`, `.bias`, `.running_mean`,
   * `.running_var` [C]; a Model folds it into the convolution before it when it can.
   */
  batchNorm(name: string, x: SymbolicTensor, options: BatchNormLayerOptions = {}): SymbolicTensor {
    this.begin('batchNorm', name, [x]);
    const o = this.options<BatchNormLayerOptions>('batchNorm', name, options);
    const eps = o.eps ?? 1e-5;
    if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw invalidArgument(`batchNorm '${name}' eps`, 'a finite number >= 0', eps);
    const c = x.shape[1];
    if (!isNum(c)) throw new FcnkitError('SHAPE_MISMATCH', `batchNorm '${name}': the input's channel count must be known when the graph is built but is ${String(c)}`);
    const params: ParamSpec[] = [
      { name: `${name}.weight`, shape: [c], init: 'ones' },
      { name: `${name}.bias`, shape: [c], init: 'zeros' },
      { name: `${name}.running_mean`, shape: [c], init: 'zeros' },
      { name: `${name}.running_var`, shape: [c], init: 'ones' },
    ];
    return this.add_({ name, type: 'batchNorm', inputs: [x.name], refs: [], attrs: {}, params, eps });
  }

  softmax(name: string, x: SymbolicTensor, axis = 1): SymbolicTensor {
    this.begin('softmax', name, [x]);
    const attrs = named('softmax', name, () => reduceOps.softmax(DUMMY, axis).attrs);
    return this.add_({ name, type: 'softmax', inputs: [x.name], refs: [], attrs, params: [] });
  }

  /** Marks `t` as a graph output returned under `name`. */
  output(name: string, t: SymbolicTensor): this {
    this.checkOpen();
    this.checkTensor('output', name, t);
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw invalidArgument('output name', 'a name of letters, digits, _ . - /', name);
    if (this.outputList.some((o) => o.name === name)) throw new FcnkitError('INVALID_ARGUMENT', `output '${name}' is already defined`);
    if (this.names.has(name) && name !== t.name) {
      throw new FcnkitError('INVALID_ARGUMENT', `output '${name}': the name belongs to another value of this graph`);
    }
    if (this.inputList.some((i) => i.name === t.name)) throw new FcnkitError('INVALID_ARGUMENT', `output '${name}' would return graph input '${t.name}' unchanged`);
    this.outputList.push(Object.freeze({ name, value: t.name }));
    return this;
  }

  /**
   * Every value's concrete shape for concrete input shapes (a bare shape when the graph has one
   * input), by value name (inputs and layer names) and by output name. No weights, no native work.
   */
  inferShapes(inputs: Record<string, readonly number[]> | readonly number[]): Record<string, number[]> {
    const map = this.inferConcrete(inputs);
    const out: Record<string, number[]> = {};
    for (const [k, v] of map) out[k] = v;
    for (const o of this.outputList) out[o.name] = map.get(o.value)!;
    return out;
  }

  /** @internal inferShapes as a Map (insertion order: inputs, then layers). */
  inferConcrete(inputs: Record<string, readonly number[]> | readonly number[]): Map<string, number[]> {
    const given = this.normalizeInputShapes(inputs);
    const shapes = new Map<string, number[]>();
    for (const inp of this.inputList) shapes.set(inp.name, given[inp.name]);
    for (const layer of this.layerList) {
      const out = layerShape(layer, layer.inputs.map((v) => shapes.get(v)!), layer.refs.map((v) => shapes.get(v)!));
      shapes.set(layer.name, out as number[]);
    }
    return shapes;
  }

  /** Checks concrete input shapes against the declared ones; returns them by input name. */
  normalizeInputShapes(inputs: Record<string, readonly number[]> | readonly number[]): Record<string, number[]> {
    let record: Record<string, unknown>;
    if (Array.isArray(inputs)) {
      if (this.inputList.length !== 1) {
        throw invalidArgument('input shapes', `an object with shapes for ${this.inputList.map((i) => `'${i.name}'`).join(', ')}`, inputs);
      }
      record = { [this.inputList[0].name]: inputs };
    } else if (typeof inputs === 'object' && inputs !== null) record = inputs as Record<string, unknown>;
    else throw invalidArgument('input shapes', 'a shape or an object of shapes by input name', inputs);
    for (const k of Object.keys(record)) {
      if (!this.inputList.some((i) => i.name === k)) {
        throw new FcnkitError('INVALID_ARGUMENT', `graph has no input '${k}' (its inputs are ${this.inputList.map((i) => `'${i.name}'`).join(', ')})`);
      }
    }
    const out: Record<string, number[]> = {};
    for (const inp of this.inputList) {
      const s = record[inp.name];
      if (!Array.isArray(s) || s.some((d) => !Number.isSafeInteger(d) || d < 1)) {
        throw invalidArgument(`input '${inp.name}' shape`, 'an array of positive integers', s);
      }
      const ok = s.length === inp.shape.length && inp.shape.every((d, i) => !isNum(d) || d === s[i]);
      if (!ok) {
        throw new FcnkitError('SHAPE_MISMATCH', `input '${inp.name}': expected shape ${shapeToString(inp.shape)} but received ${describe(s)}`);
      }
      out[inp.name] = [...(s as number[])];
    }
    return out;
  }

  // ---- internals --------------------------------------------------------------------------

  private convLike(type: 'conv2d' | 'convTranspose2d', name: string, x: SymbolicTensor,
    options: Conv2dLayerOptions | ConvTranspose2dLayerOptions): SymbolicTensor {
    this.begin(type, name, [x]);
    const o = this.options<ConvTranspose2dLayerOptions & Conv2dLayerOptions>(type, name, options);
    const what = (w: string): string => `${type} '${name}' ${w}`;
    if (!Number.isSafeInteger(o.outChannels) || o.outChannels! < 1) throw invalidArgument(what('outChannels'), 'an integer >= 1', o.outChannels);
    if (o.kernel === undefined) throw invalidArgument(what('kernel'), 'a number or [h, w]', undefined);
    if (o.bias !== undefined && typeof o.bias !== 'boolean') throw invalidArgument(what('bias'), 'a boolean', o.bias);
    if (o.init !== undefined && o.init !== 'he' && o.init !== 'bilinear') throw invalidArgument(what('init'), "'he' or 'bilinear'", o.init);
    if (type === 'convTranspose2d' && typeof o.padding === 'string') {
      throw invalidArgument(what('padding'), 'a number, [h, w] or [top, left, bottom, right]', o.padding);
    }
    const kernel = named(type, name, () => poolOps.maxPool2d(DUMMY, { kernel: o.kernel! }).attrs.kernel as [number, number]);
    const opts = { stride: o.stride, dilation: o.dilation, padding: o.padding, groups: o.groups, activation: o.activation };
    const attrs = named(type, name, () => type === 'conv2d'
      ? convOps.conv2d(DUMMY, DUMMY, null, opts).attrs
      : convOps.convTranspose2d(DUMMY, DUMMY, null, { ...opts, outputPadding: o.outputPadding }).attrs);
    const inC = x.shape[1];
    if (x.rank !== 4) throw new FcnkitError('SHAPE_MISMATCH', `${type} '${name}': expected a 4-D input [N, C, H, W] but received ${shapeToString(x.shape)}`);
    if (!isNum(inC)) throw new FcnkitError('SHAPE_MISMATCH', `${type} '${name}': the input's channel count must be known when the graph is built but is ${String(inC)}`);
    if (o.inChannels !== undefined && o.inChannels !== inC) {
      throw new FcnkitError('SHAPE_MISMATCH', `${type} '${name}': expected ${o.inChannels} input channels but received ${inC} (input ${shapeToString(x.shape)})`);
    }
    const groups = attrs.groups as number;
    const outC = o.outChannels!;
    if (inC % groups !== 0 || outC % groups !== 0) {
      throw new FcnkitError('SHAPE_MISMATCH', `${type} '${name}': groups ${groups} must divide the input channels ${inC} and outChannels ${outC}`);
    }
    const [kh, kw] = kernel;
    const stride = attrs.stride as [number, number];
    const init: ParamInit = o.init ?? 'he';
    if (init === 'bilinear') {
      const perGroupOut = outC / groups;
      const diagonal = type === 'convTranspose2d' && groups === 1 && inC === outC;
      const depthwise = type === 'convTranspose2d' && groups === inC && perGroupOut === 1;
      if (kh !== kw || !(diagonal || depthwise)) {
        throw new FcnkitError('INVALID_ARGUMENT', `${type} '${name}': init 'bilinear' needs a transposed convolution with a square kernel ` +
          `and as many output as input channels (groups 1 or one per channel); got kernel ${kh}×${kw}, ${inC} -> ${outC}, groups ${groups}`);
      }
    }
    // He et al.: std = sqrt(2 / fan_in), fan_in the inputs feeding one output. A transposed
    // convolution feeds each output from about in * kh * kw / (sh * sw) inputs.
    const fanIn = type === 'conv2d'
      ? (inC / groups) * kh * kw
      : Math.max(1, Math.round(((inC / groups) * kh * kw) / (stride[0] * stride[1])));
    const wShape = type === 'conv2d' ? [outC, inC / groups, kh, kw] : [inC, outC / groups, kh, kw];
    const params: ParamSpec[] = [{ name: `${name}.weight`, shape: wShape, init, fanIn }];
    if (o.bias !== false) params.push({ name: `${name}.bias`, shape: [outC], init: 'smallNormal' });
    return this.add_({ name, type, inputs: [x.name], refs: [], attrs, params, inChannels: inC, kernel });
  }

  private options<T>(type: string, name: string, v: unknown): Partial<T> {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`${type} '${name}' options`, 'an object', v);
    return v as Partial<T>;
  }

  private checkOpen(): void {
    if (this.frozen) throw new FcnkitError('INVALID_ARGUMENT', 'graph is frozen: a Model was built from it, so it can take no more layers');
  }

  private checkTensor(type: string, name: string, t: unknown): asserts t is SymbolicTensor {
    if (!(t instanceof SymbolicTensor)) throw invalidArgument(`${type} '${name}' input`, 'a SymbolicTensor', t);
    if (t.graph !== this) throw new FcnkitError('INVALID_ARGUMENT', `${type} '${name}': input '${t.name}' belongs to another graph`);
  }

  private claim(type: string, name: string): void {
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw invalidArgument(`${type} name`, 'a name of letters, digits, _ . - /', name);
    if (this.names.has(name) || this.outputList.some((o) => o.name === name)) {
      throw new FcnkitError('INVALID_ARGUMENT', `${type} '${name}': the name is already used in this graph`);
    }
  }

  private begin(type: string, name: string, xs: readonly unknown[]): void {
    this.checkOpen();
    this.claim(type, name);
    xs.forEach((x) => this.checkTensor(type, name, x));
  }

  private add_(layer: Layer): SymbolicTensor {
    let bytes = this.paramBytes;
    for (const p of layer.params) {
      if (this.names.has(p.name)) throw new FcnkitError('INVALID_ARGUMENT', `${layer.type} '${layer.name}': parameter name '${p.name}' is already used in this graph`);
      // Weights are allocated later (first run, getWeights): their size is refused now, not then.
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (!(n <= MAX_PARAM_ELEMENTS)) {
        throw new FcnkitError('TOO_LARGE', `${layer.type} '${layer.name}': parameter '${p.name}' of shape [${p.shape.join(', ')}] has ${n} elements, over ${MAX_PARAM_ELEMENTS} for one tensor`);
      }
      bytes += 4 * n;
      if (bytes > maxParamBytes()) {
        throw new FcnkitError('TOO_LARGE', `${layer.type} '${layer.name}': parameter '${p.name}' of shape [${p.shape.join(', ')}] brings the graph's weights to ${bytes} bytes, over ${maxParamBytes()} (half of this machine's memory)`);
      }
    }
    this.paramBytes = bytes;
    const out = layerShape(layer, layer.inputs.map((v) => this.values.get(v)!), layer.refs.map((v) => this.values.get(v)!));
    const frozen: Layer = Object.freeze({
      ...layer,
      inputs: Object.freeze([...layer.inputs]),
      refs: Object.freeze([...layer.refs]),
      attrs: Object.freeze({ ...layer.attrs }) as NativeAttrs,
      params: Object.freeze(layer.params.map((p) => Object.freeze({ ...p, shape: Object.freeze([...p.shape]) }))),
    });
    this.layerList.push(frozen);
    this.names.add(layer.name);
    for (const p of layer.params) this.names.add(p.name);
    const dims = Object.freeze(out);
    this.values.set(layer.name, dims);
    return new SymbolicTensor(this, layer.name, dims);
  }
}
