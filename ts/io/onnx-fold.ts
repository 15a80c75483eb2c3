/**
 * The constant-folding interpreter of the ONNX importer: the shape subgraphs that exports carry
 * (Shape -> Gather -> Concat -> Resize sizes, Slice bounds, Reshape targets...) evaluated in
 * TypeScript once the input shapes are known. Values are small int64 / float / bool arrays
 * (ConstValue); float arithmetic is rounded to float32 after each op (what a float32 ONNX graph
 * computes), integer division truncates toward zero (as onnxruntime's int64 Div).
 */
import { FcnkitError } from '../errors';
import { DataType } from './onnx-proto';
import { ConstKind, ConstValue, dataTypeName, kindOf, MAX_INT_ELEMENTS } from './onnx-tensors';

/**
 * Folded results beyond this many elements are refused (a shape subgraph never needs more),
 * unless an input is as large: ops that only move or map values (a weight's Transpose or Cast)
 * may produce what they were given, ops that grow (ConstantOfShape, Expand, Tile) may not.
 */
export const MAX_FOLD_ELEMENTS = 2 ** 24;
let foldLimit = MAX_FOLD_ELEMENTS;
/** The most dims a folded shape may have (ONNX models use 8 at most in practice). */
const MAX_FOLD_RANK = 64;

export function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function makeConst(kind: ConstKind, shape: number[], values: ArrayLike<number>): ConstValue {
  const data = kind === 'float' ? new Float32Array(values) : Float64Array.from(values);
  return { kind, shape, data };
}

export function intConst(values: number[], shape: number[] = [values.length]): ConstValue {
  return { kind: 'int', shape, data: Float64Array.from(values) };
}

/** A value's elements as plain numbers. */
export function numbers(v: ConstValue): number[] {
  return Array.from(v.data);
}

function tooLarge(who: string, shape: readonly number[]): FcnkitError {
  return new FcnkitError('TOO_LARGE', `${who}: a folded constant of shape [${shape.join(', ')}] is too large (at most ${foldLimit} elements here)`);
}

function checkSize(who: string, shape: number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new FcnkitError('BAD_MODEL', `${who}: computed shape [${shape.join(', ')}] has a bad dimension`);
    n *= d;
    if (n > foldLimit) throw tooLarge(who, shape);
  }
  return n;
}

/** numpy broadcast of two shapes; SHAPE_MISMATCH when they don't broadcast. */
export function broadcastShapes(who: string, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = i < r - a.length ? 1 : a[i - (r - a.length)];
    const y = i < r - b.length ? 1 : b[i - (r - b.length)];
    if (x !== y && x !== 1 && y !== 1) {
      throw new FcnkitError('SHAPE_MISMATCH', `${who}: shapes [${a.join(', ')}] and [${b.join(', ')}] cannot be broadcast`);
    }
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** For each output index, the flat index into a tensor of `shape` broadcast to `out`. */
function broadcastIndex(shape: readonly number[], out: readonly number[]): (i: number) => number {
  const r = out.length;
  const padded = [...new Array<number>(r - shape.length).fill(1), ...shape];
  const strides = new Array<number>(r).fill(0);
  let s = 1;
  for (let d = r - 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 ? 0 : s;
    s *= padded[d];
  }
  return (i: number) => {
    let off = 0;
    for (let d = r - 1; d >= 0; d--) {
      const idx = i % out[d];
      i = Math.floor(i / out[d]);
      off += idx * strides[d];
    }
    return off;
  };
}

function elementwise(who: string, xs: ConstValue[], kind: ConstKind, f: (...v: number[]) => number): ConstValue {
  let shape: number[] = xs[0].shape;
  for (const x of xs.slice(1)) shape = broadcastShapes(who, shape, x.shape);
  const n = checkSize(who, shape);
  const idx = xs.map((x) => broadcastIndex(x.shape, shape));
  const out = kind === 'float' ? new Float32Array(n) : new Float64Array(n);
  const args = new Array<number>(xs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < xs.length; k++) args[k] = xs[k].data[idx[k](i)];
    out[i] = f(...args);
  }
  return { kind, shape, data: out };
}

/** The kind of a binary arithmetic result: float if either side is float. */
function arithKind(a: ConstValue, b: ConstValue): ConstKind {
  return a.kind === 'float' || b.kind === 'float' ? 'float' : 'int';
}

/** Normalises an axis against a rank (negative counts from the end); BAD_MODEL when out of range. */
export function normAxis(who: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new FcnkitError('BAD_MODEL', `${who}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export interface SliceAxis {
  start: number;
  step: number;
  size: number;
}

/**
 * ONNX Slice bounds resolved against a shape: per dim the first index, the step and the count
 * (negative starts/ends count from the end; bounds are clamped as the spec says).
 */
export function resolveSlice(who: string, shape: readonly number[], starts: number[], ends: number[], axes: number[] | undefined,
  steps: number[] | undefined): SliceAxis[] {
  const r = shape.length;
  const out: SliceAxis[] = shape.map((d) => ({ start: 0, step: 1, size: d }));
  const ax = axes ?? starts.map((_, i) => i);
  if (ends.length !== starts.length || ax.length !== starts.length || (steps && steps.length !== starts.length)) {
    throw new FcnkitError('BAD_MODEL', `${who}: starts, ends, axes and steps must have the same length`);
  }
  const seen = new Set<number>();
  ax.forEach((a0, i) => {
    const a = normAxis(who, a0, r);
    if (seen.has(a)) throw new FcnkitError('BAD_MODEL', `${who}: axis ${a0} appears twice`);
    seen.add(a);
    const d = shape[a];
    const step = steps ? steps[i] : 1;
    if (step === 0) throw new FcnkitError('BAD_MODEL', `${who}: steps must not be 0`);
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    let size: number;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
      size = e > s ? Math.ceil((e - s) / step) : 0;
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
      size = s > e ? Math.ceil((s - e) / -step) : 0;
    }
    out[a] = { start: size > 0 ? s : 0, step, size };
  });
  return out;
}

/** Reads the elements picked by a resolved slice. */
export function sliceConst(who: string, x: ConstValue, spec: SliceAxis[]): ConstValue {
  const shape = spec.map((s) => s.size);
  const n = checkSize(who, shape);
  const r = shape.length;
  const strides = new Array<number>(r);
  let st = 1;
  for (let d = r - 1; d >= 0; d--) {
    strides[d] = st;
    st *= x.shape[d];
  }
  const out = x.kind === 'float' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = 0;
    for (let d = r - 1; d >= 0; d--) {
      const idx = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      off += (spec[d].start + idx * spec[d].step) * strides[d];
    }
    out[i] = x.data[off];
  }
  return { kind: x.kind, shape, data: out };
}

/** ONNX Reshape's target: 0 copies the input dim (unless allowzero), one -1 is inferred. */
export function reshapeTarget(who: string, inShape: readonly number[], target: number[], allowZero: boolean): number[] {
  const total = count(inShape);
  const out = target.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  if (out.some((d) => d === undefined || !Number.isSafeInteger(d) || d < -1)) {
    throw new FcnkitError('BAD_MODEL', `${who}: bad reshape target [${target.join(', ')}] for input [${inShape.join(', ')}]`);
  }
  const minus = out.filter((d) => d === -1).length;
  if (minus > 1) throw new FcnkitError('BAD_MODEL', `${who}: reshape target [${target.join(', ')}] has more than one -1`);
  if (minus === 1) {
    const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
    if (known === 0 || total % known !== 0) {
      throw new FcnkitError('SHAPE_MISMATCH', `${who}: cannot reshape [${inShape.join(', ')}] to [${target.join(', ')}]`);
    }
    out[out.indexOf(-1)] = total / known;
  }
  if (count(out) !== total) throw new FcnkitError('SHAPE_MISMATCH', `${who}: cannot reshape [${inShape.join(', ')}] (${total} elements) to [${out.join(', ')}]`);
  return out;
}

export function transposeConst(who: string, x: ConstValue, perm: number[]): ConstValue {
  const r = x.shape.length;
  const shape = perm.map((p) => x.shape[p]);
  const n = checkSize(who, shape);
  const strides = new Array<number>(r);
  let st = 1;
  for (let d = r - 1; d >= 0; d--) {
    strides[d] = st;
    st *= x.shape[d];
  }
  const out = x.kind === 'float' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = 0;
    for (let d = r - 1; d >= 0; d--) {
      const idx = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      off += idx * strides[perm[d]];
    }
    out[i] = x.data[off];
  }
  return { kind: x.kind, shape, data: out };
}

export function concatConst(who: string, xs: ConstValue[], axis0: number): ConstValue {
  const r = xs[0].shape.length;
  const axis = normAxis(who, axis0, r);
  const shape = [...xs[0].shape];
  shape[axis] = 0;
  for (const x of xs) {
    if (x.shape.length !== r || x.shape.some((d, i) => i !== axis && d !== xs[0].shape[i])) {
      throw new FcnkitError('SHAPE_MISMATCH', `${who}: inputs [${xs.map((v) => `[${v.shape.join(', ')}]`).join(', ')}] differ off axis ${axis}`);
    }
    shape[axis] += x.shape[axis];
  }
  const n = checkSize(who, shape);
  const kind: ConstKind = xs.some((x) => x.kind === 'float') ? 'float' : xs[0].kind;
  const out = kind === 'float' ? new Float32Array(n) : new Float64Array(n);
  const outer = count(shape.slice(0, axis));
  const inner = count(shape.slice(axis + 1));
  let p = 0;
  for (let o = 0; o < outer; o++) {
    for (const x of xs) {
      const len = x.shape[axis] * inner;
      for (let k = 0; k < len; k++) out[p++] = x.data[o * len + k];
    }
  }
  return { kind, shape, data: out };
}

function gatherConst(who: string, data: ConstValue, indices: ConstValue, axis0: number): ConstValue {
  const r = data.shape.length;
  const axis = normAxis(who, axis0, r);
  const d = data.shape[axis];
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const n = checkSize(who, shape);
  const outer = count(data.shape.slice(0, axis));
  const inner = count(data.shape.slice(axis + 1));
  const ni = indices.data.length;
  const out = data.kind === 'float' ? new Float32Array(n) : new Float64Array(n);
  let p = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < ni; j++) {
      let idx = indices.data[j];
      if (idx < 0) idx += d;
      if (!(idx >= 0 && idx < d)) throw new FcnkitError('BAD_MODEL', `${who}: index ${indices.data[j]} is out of range for axis ${axis} of size ${d}`);
      for (let k = 0; k < inner; k++) out[p++] = data.data[(o * d + idx) * inner + k];
    }
  }
  return { kind: data.kind, shape, data: out };
}

function castTo(who: string, x: ConstValue, to: number): ConstValue {
  const kind = kindOf(to);
  if (!kind) throw new FcnkitError('UNSUPPORTED_OP', `${who}: Cast to ${dataTypeName(to)} is not supported`);
  const n = x.data.length;
  // float -> float shares the data (float16 weights behind a Cast are float32 already).
  if (kind === 'float') return { kind, shape: [...x.shape], data: x.kind === 'float' ? x.data : Float32Array.from(x.data) };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = x.data[i];
    if (kind === 'bool') out[i] = v !== 0 ? 1 : 0;
    else {
      if (!Number.isFinite(v)) throw new FcnkitError('BAD_MODEL', `${who}: cannot cast ${v} to ${dataTypeName(to)}`);
      let t = Math.trunc(v);
      // Wrap into the target's range as a C cast would.
      if (to === DataType.INT32) t = t | 0;
      else if (to === DataType.UINT8) t = t & 0xff;
      else if (to === DataType.INT8) t = (t << 24) >> 24;
      out[i] = t;
    }
  }
  return { kind, shape: [...x.shape], data: out };
}

function reduce(who: string, x: ConstValue, axes: number[] | undefined, keep: boolean, init: number, f: (a: number, b: number) => number,
  noopWithEmptyAxes = false): ConstValue {
  const r = x.shape.length;
  if (axes && axes.length === 0 && noopWithEmptyAxes) return x;
  const set = new Set((axes && axes.length ? axes : x.shape.map((_, i) => i)).map((a) => normAxis(who, a, r)));
  const outShapeKeep = x.shape.map((d, i) => (set.has(i) ? 1 : d));
  const n = count(outShapeKeep);
  const out = new Float64Array(n).fill(init);
  const idxOut = (i: number): number => {
    let rem = i;
    let off = 0;
    let mul = 1;
    for (let d = r - 1; d >= 0; d--) {
      const idx = rem % x.shape[d];
      rem = Math.floor(rem / x.shape[d]);
      if (!set.has(d)) off += idx * mul;
      mul *= outShapeKeep[d];
    }
    return off;
  };
  for (let i = 0; i < x.data.length; i++) {
    const o = idxOut(i);
    out[o] = f(out[o], x.data[i]);
  }
  const shape = keep ? outShapeKeep : x.shape.filter((_, i) => !set.has(i));
  return { kind: x.kind, shape, data: x.kind === 'float' ? Float32Array.from(out) : out };
}

export interface FoldArgs {
  who: string;
  opType: string;
  opset: number;
  /** Inputs in order; undefined for an omitted optional input. */
  inputs: (ConstValue | undefined)[];
  attr: {
    int(name: string, def: number): number;
    float(name: string, def: number): number;
    ints(name: string): number[] | undefined;
    floats(name: string): number[] | undefined;
    string(name: string, def: string): string;
    tensor(name: string): ConstValue | undefined;
    has(name: string): boolean;
  };
}

/** Op types this interpreter evaluates when all their inputs are constants. */
export const FOLDABLE = new Set([
  'Identity', 'Cast', 'CastLike', 'Size', 'Gather', 'Slice', 'Concat', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Transpose',
  'ConstantOfShape', 'Range', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Floor', 'Ceil', 'Round', 'Neg', 'Abs', 'Sqrt', 'Reciprocal',
  'Min', 'Max', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Where', 'Expand', 'Tile',
  'ReduceProd', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'Dropout', 'Sign', 'NonZero',
]);

const f32 = Math.fround;

function req(a: FoldArgs, i: number): ConstValue {
  const v = a.inputs[i];
  if (!v) throw new FcnkitError('BAD_MODEL', `${a.who}: input ${i} is required`);
  return v;
}

/** Evaluates one node on constant inputs; returns its outputs. */
export function fold(a: FoldArgs): ConstValue[] {
  const { who, opType, opset } = a;
  foldLimit = Math.max(MAX_FOLD_ELEMENTS, ...a.inputs.map((v) => (v ? v.data.length : 0)));
  if (opType === 'ConstantOfShape' || opType === 'Expand' || opType === 'Tile' || opType === 'Range') foldLimit = MAX_FOLD_ELEMENTS;
  const x = (): ConstValue => req(a, 0);
  const intsFrom = (i: number, attrName: string): number[] | undefined =>
    a.inputs[i] ? numbers(a.inputs[i]!) : a.attr.ints(attrName);
  switch (opType) {
    case 'Identity':
    case 'Dropout':
      return [x()];
    case 'Cast':
      return [castTo(who, x(), a.attr.int('to', DataType.FLOAT))];
    case 'CastLike': {
      const like = req(a, 1);
      return [like.kind === 'float' ? castTo(who, x(), DataType.FLOAT) : like.kind === 'bool' ? castTo(who, x(), DataType.BOOL) : castTo(who, x(), DataType.INT64)];
    }
    case 'Size':
      return [intConst([x().data.length], [])];
    case 'Gather':
      return [gatherConst(who, x(), req(a, 1), a.attr.int('axis', 0))];
    case 'Slice': {
      const v = x();
      const starts = opset < 10 ? a.attr.ints('starts') : intsFrom(1, '');
      const ends = opset < 10 ? a.attr.ints('ends') : intsFrom(2, '');
      const axes = opset < 10 ? a.attr.ints('axes') : intsFrom(3, '');
      const steps = opset < 10 ? undefined : intsFrom(4, '');
      if (!starts || !ends) throw new FcnkitError('BAD_MODEL', `${who}: Slice needs starts and ends`);
      return [sliceConst(who, v, resolveSlice(who, v.shape, starts, ends, axes, steps))];
    }
    case 'Concat':
      return [concatConst(who, a.inputs.filter((v): v is ConstValue => v !== undefined), a.attr.int('axis', 0))];
    case 'Unsqueeze': {
      const v = x();
      const axes = opset < 13 ? a.attr.ints('axes') : intsFrom(1, '');
      if (!axes) throw new FcnkitError('BAD_MODEL', `${who}: Unsqueeze needs axes`);
      const r = v.shape.length + axes.length;
      const set = new Set(axes.map((ax) => normAxis(who, ax, r)));
      if (set.size !== axes.length) throw new FcnkitError('BAD_MODEL', `${who}: Unsqueeze axes [${axes.join(', ')}] name an axis twice`);
      const shape: number[] = [];
      let k = 0;
      for (let i = 0; i < r; i++) shape.push(set.has(i) ? 1 : v.shape[k++]);
      return [{ ...v, shape }];
    }
    case 'Squeeze': {
      const v = x();
      const axes = opset < 13 ? a.attr.ints('axes') : intsFrom(1, '');
      const set = new Set((axes ?? v.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((ax) => normAxis(who, ax, v.shape.length)));
      for (const ax of set) if (v.shape[ax] !== 1) throw new FcnkitError('SHAPE_MISMATCH', `${who}: cannot squeeze axis ${ax} of size ${v.shape[ax]}`);
      return [{ ...v, shape: v.shape.filter((_, i) => !set.has(i)) }];
    }
    case 'Reshape': {
      const v = x();
      const target = opset < 5 ? a.attr.ints('shape') : intsFrom(1, '');
      if (!target) throw new FcnkitError('BAD_MODEL', `${who}: Reshape needs a shape`);
      return [{ ...v, shape: reshapeTarget(who, v.shape, target, a.attr.int('allowzero', 0) === 1) }];
    }
    case 'Flatten': {
      const v = x();
      const axis = a.attr.int('axis', 1);
      const ax = axis < 0 ? axis + v.shape.length : axis;
      return [{ ...v, shape: [count(v.shape.slice(0, ax)), count(v.shape.slice(ax))] }];
    }
    case 'Transpose': {
      const v = x();
      const perm = a.attr.ints('perm') ?? v.shape.map((_, i) => v.shape.length - 1 - i);
      return [transposeConst(who, v, perm)];
    }
    case 'ConstantOfShape': {
      const shape = numbers(x());
      const n = checkSize(who, shape);
      const value = a.attr.tensor('value') ?? { kind: 'float' as const, shape: [1], data: new Float32Array([0]) };
      const out = value.kind === 'float' ? new Float32Array(n) : new Float64Array(n);
      out.fill(value.data[0] ?? 0);
      return [{ kind: value.kind, shape, data: out }];
    }
    case 'Range': {
      const [s, l, d] = [0, 1, 2].map((i) => req(a, i));
      const start = s.data[0];
      const limit = l.data[0];
      const delta = d.data[0];
      if (delta === 0) throw new FcnkitError('BAD_MODEL', `${who}: Range delta is 0`);
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      if (n > MAX_INT_ELEMENTS) throw tooLarge(who, [n]);
      const vals = Array.from({ length: n }, (_, i) => start + i * delta);
      return [makeConst(s.kind, [n], vals)];
    }
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Mod': {
      const p = req(a, 0);
      const q = req(a, 1);
      const kind = opType === 'Pow' ? p.kind : arithKind(p, q);
      const fl = kind === 'float';
      const fmod = a.attr.int('fmod', 0) === 1;
      const f = {
        Add: (u: number, v: number) => (fl ? f32(u + v) : u + v),
        Sub: (u: number, v: number) => (fl ? f32(u - v) : u - v),
        Mul: (u: number, v: number) => (fl ? f32(u * v) : u * v),
        Div: (u: number, v: number) => {
          if (fl) return f32(u / v);
          if (v === 0) throw new FcnkitError('BAD_MODEL', `${who}: integer division by zero`);
          return Math.trunc(u / v);
        },
        Pow: (u: number, v: number) => (fl ? f32(u ** v) : Math.trunc(u ** v)),
        Mod: (u: number, v: number) => {
          if (v === 0) throw new FcnkitError('BAD_MODEL', `${who}: modulo by zero`);
          if (fl || fmod) return fl ? f32(u % v) : u % v;
          const m = u % v;
          return m !== 0 && (m < 0) !== (v < 0) ? m + v : m;
        },
      }[opType]!;
      return [elementwise(who, [p, q], kind, f)];
    }
    case 'Floor': case 'Ceil': case 'Round': case 'Neg': case 'Abs': case 'Sqrt': case 'Reciprocal': case 'Sign': {
      const v = x();
      const fl = v.kind === 'float';
      const g = {
        Floor: Math.floor,
        Ceil: Math.ceil,
        // Round half to even.
        Round: (u: number) => {
          const r = Math.round(u);
          return Math.abs(u % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
        },
        Neg: (u: number) => -u,
        Abs: Math.abs,
        Sqrt: Math.sqrt,
        Reciprocal: (u: number) => 1 / u,
        Sign: Math.sign,
      }[opType]!;
      return [elementwise(who, [v], v.kind, (u) => (fl ? f32(g(u)) : g(u)))];
    }
    case 'Min': case 'Max': {
      const vs = a.inputs.filter((v): v is ConstValue => v !== undefined);
      const kind: ConstKind = vs.some((v) => v.kind === 'float') ? 'float' : vs[0].kind;
      const g = opType === 'Min' ? Math.min : Math.max;
      return [elementwise(who, vs, kind, (...u) => g(...u))];
    }
    case 'Equal': case 'Less': case 'Greater': case 'LessOrEqual': case 'GreaterOrEqual': case 'And': case 'Or': {
      const g = {
        Equal: (u: number, v: number) => u === v,
        Less: (u: number, v: number) => u < v,
        Greater: (u: number, v: number) => u > v,
        LessOrEqual: (u: number, v: number) => u <= v,
        GreaterOrEqual: (u: number, v: number) => u >= v,
        And: (u: number, v: number) => u !== 0 && v !== 0,
        Or: (u: number, v: number) => u !== 0 || v !== 0,
      }[opType]!;
      return [elementwise(who, [req(a, 0), req(a, 1)], 'bool', (u, v) => (g(u, v) ? 1 : 0))];
    }
    case 'Not':
      return [elementwise(who, [x()], 'bool', (u) => (u ? 0 : 1))];
    case 'Where': {
      const c = req(a, 0);
      const p = req(a, 1);
      const q = req(a, 2);
      return [elementwise(who, [c, p, q], arithKind(p, q), (s, u, v) => (s ? u : v))];
    }
    case 'Expand': {
      const v = x();
      const t = req(a, 1);
      if (t.data.length > MAX_FOLD_RANK) throw new FcnkitError('BAD_MODEL', `${who}: target shape has ${t.data.length} dims (at most ${MAX_FOLD_RANK})`);
      const shape = broadcastShapes(who, v.shape, numbers(t));
      // The size is checked before anything of that size exists.
      const n = checkSize(who, shape);
      const idx = broadcastIndex(v.shape, shape);
      const out = v.kind === 'float' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = v.data[idx(i)];
      return [{ kind: v.kind, shape, data: out }];
    }
    case 'Tile': {
      const v = x();
      const reps = numbers(req(a, 1));
      if (reps.length !== v.shape.length) throw new FcnkitError('BAD_MODEL', `${who}: repeats must have one value per dim`);
      const shape = v.shape.map((d, i) => d * reps[i]);
      const n = checkSize(who, shape);
      const out = v.kind === 'float' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let rem = i;
        let off = 0;
        let mul = 1;
        for (let d = shape.length - 1; d >= 0; d--) {
          const idx = rem % shape[d];
          rem = Math.floor(rem / shape[d]);
          off += (idx % v.shape[d]) * mul;
          mul *= v.shape[d];
        }
        out[i] = v.data[off];
      }
      return [{ kind: v.kind, shape, data: out }];
    }
    case 'ReduceProd': case 'ReduceSum': case 'ReduceMax': case 'ReduceMin': {
      const v = x();
      const axesFromInput = opType === 'ReduceSum' ? opset >= 13 : opset >= 18;
      const axes = axesFromInput ? (a.inputs[1] ? numbers(a.inputs[1]) : undefined) : a.attr.ints('axes');
      const keep = a.attr.int('keepdims', 1) === 1;
      const noop = a.attr.int('noop_with_empty_axes', 0) === 1;
      const [init, f] = {
        ReduceProd: [1, (p: number, q: number) => p * q],
        ReduceSum: [0, (p: number, q: number) => p + q],
        ReduceMax: [-Infinity, Math.max],
        ReduceMin: [Infinity, Math.min],
      }[opType] as [number, (p: number, q: number) => number];
      return [reduce(who, v, axes, keep, init, f, noop)];
    }
    case 'NonZero': {
      const v = x();
      const r = v.shape.length;
      const hits: number[][] = Array.from({ length: r }, () => []);
      for (let i = 0; i < v.data.length; i++) {
        if (!v.data[i]) continue;
        let rem = i;
        for (let d = r - 1; d >= 0; d--) {
          hits[d].push(rem % v.shape[d]);
          rem = Math.floor(rem / v.shape[d]);
        }
      }
      return [intConst(hits.flat(), [r, hits[0]?.length ?? 0])];
    }
    default:
      throw new FcnkitError('UNSUPPORTED_OP', `${who}: ${opType} cannot be evaluated on constants`);
  }
}
