/**
 * toModel() for imported ONNX graphs: the same network rebuilt with GraphBuilder layers, so that
 * it gets a Model's API (parameters, loadWeights, getWeights, exportOnnx, inferShapes).
 *
 * The graph is walked once at load with symbolic input sizes (the builder's DimExpr), the shape
 * subgraphs evaluated over symbolic dims, so that an export's Shape -> Slice -> Sub -> Div ->
 * Slice chain becomes a builder crop again. It succeeds when every node maps to a layer:
 *   Conv (explicit pads, VALID, SAME_UPPER; SAME_LOWER when the padding is symmetric),
 *   ConvTranspose (explicit pads, output_padding), BatchNormalization, Relu, MaxPool,
 *   AveragePool (explicit pads), Add and Mul of two tensors, Mul by a scalar constant (scale),
 *   Concat, Softmax (opset >= 13, or over the last axis), Dropout, Identity, Slice of H and W
 *   whose bounds follow another tensor's size (crop, fixed or centred offset), and the
 *   Flatten -> Gemm (-> Relu) -> Unsqueeze(2, 3) head (linear);
 * anything else (Resize, Sigmoid, Pad, a Gemm over a dynamic size...) leaves toModel undefined.
 *
 * Parameters keep the file's initializer names when they have the builder's form
 * (`<layer>.weight`, `<layer>.bias`, BN's `<layer>.running_mean`...), as fcnkit's own exports and
 * most PyTorch exports do; otherwise the layer is named after the node and its parameters
 * `<node>.weight` and so on.
 */
import { FcnkitError } from '../errors';
import {
  Dim, DimExpr, dimAdd, dimFloorDiv, dimMul, dimSub, GraphBuilder, SymbolicTensor,
} from '../graph/builder';
import { Model } from '../graph/model';
import { Tensor } from '../tensor';
import type { Dim as InfoDim } from './imported';
import type { FoldArgs } from './onnx-fold';
import { fold, FOLDABLE } from './onnx-fold';
import type { ConstValue } from './onnx-tensors';

export interface OnnxModelNode {
  label: string;
  who: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: FoldArgs['attr'];
}

export interface OnnxModelSource {
  opset: number;
  consts: Map<string, ConstValue>;
  inputs: Array<{ name: string; dims: InfoDim[] | undefined }>;
  /** Nodes before BN folding and Relu fusion. */
  nodes: OnnxModelNode[];
  outputs: string[];
}

/** Why the graph cannot be a Model (caught: toModel stays undefined). */
class NotExpressible extends Error {}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;

/** Integer vectors over symbolic dims (shape subgraph values). */
interface SymInts {
  k: 'ints';
  shape: number[];
  v: Dim[];
}

type Val =
  | { k: 'tensor'; t: SymbolicTensor }
  | { k: 'const'; c: ConstValue }
  | SymInts
  /** Flatten(axis 1) of a 4-D tensor with known C, H, W: only a Gemm may take it. */
  | { k: 'flat'; t: SymbolicTensor }
  /** A linear layer's [N, out, 1, 1] seen as ONNX's [N, out]: Relu or Unsqueeze(2, 3) only. */
  | { k: 'fc'; t: SymbolicTensor };

function no(why: string): never {
  throw new NotExpressible(why);
}

const isNum = (d: Dim): d is number => typeof d === 'number';

/** Decides whether the graph maps onto builder layers; returns a Model factory or undefined. */
export function planOnnxModel(src: OnnxModelSource): (() => Model) | undefined {
  try {
    const { graph, weights } = walk(src);
    return () => new Model(graph, { weights });
  } catch (err) {
    if (err instanceof NotExpressible || err instanceof FcnkitError) return undefined;
    throw err;
  }
}

function walk(src: OnnxModelSource): { graph: GraphBuilder; weights: Record<string, Tensor> } {
  const g = new GraphBuilder();
  const vals = new Map<string, Val>();
  const weights: Record<string, Tensor> = {};
  const taken = new Set<string>();
  const tensors: SymbolicTensor[] = [];
  const symbols = new Set<string>();
  for (const [k, c] of src.consts) vals.set(k, { k: 'const', c });

  const fresh = (base: string): string => {
    let name = base.replace(/[^A-Za-z0-9_.\-/]/g, '_');
    if (!/^[A-Za-z_]/.test(name)) name = `n_${name}`;
    let out = name;
    for (let i = 1; taken.has(out); i++) out = `${name}_${i}`;
    taken.add(out);
    return out;
  };
  const track = (t: SymbolicTensor): Val => {
    tensors.push(t);
    return { k: 'tensor', t };
  };

  for (const inp of src.inputs) {
    if (!inp.dims || !NAME_RE.test(inp.name)) no(`input '${inp.name}'`);
    taken.add(inp.name);
    const t = g.input(inp.name, inp.dims.map((d) => (typeof d === 'number' ? d : null)));
    for (const d of t.shape) if (!isNum(d) && d.symbolName) symbols.add(d.symbolName);
    vals.set(inp.name, track(t));
  }

  const constOf = (v: Val | undefined, what: string): ConstValue => (v && v.k === 'const' ? v.c : no(`${what} is not a constant`));
  const tensorOf = (v: Val | undefined, what: string): SymbolicTensor => (v && v.k === 'tensor' ? v.t : no(`${what} is not a tensor`));
  const floatParam = (c: ConstValue): Tensor => {
    if (c.kind !== 'float') no('integer weights');
    return new Tensor(c.data as Float32Array, c.shape);
  };
  /** The layer name that makes the builder's parameter names equal the initializer names. */
  const layerName = (n: OnnxModelNode, params: Array<[string | undefined, string]>): string => {
    const given = params.filter(([init]) => init);
    const suffix = given[0] ? `.${given[0][1]}` : '';
    const prefix = given[0] && given[0][0]!.endsWith(suffix) ? given[0][0]!.slice(0, -suffix.length) : undefined;
    if (prefix && NAME_RE.test(prefix) && !taken.has(prefix) && given.every(([init, sfx]) => init === `${prefix}.${sfx}`) &&
      params.every(([, sfx]) => !taken.has(`${prefix}.${sfx}`))) {
      taken.add(prefix);
      return prefix;
    }
    return fresh(n.label);
  };
  const useParams = (layer: string, list: Array<[string, Tensor]>): void => {
    for (const [sfx, t] of list) {
      weights[`${layer}.${sfx}`] = t;
      taken.add(`${layer}.${sfx}`);
    }
  };
  const ints = (v: Val | undefined, what: string): Dim[] => {
    if (!v) no(`${what} missing`);
    if (v.k === 'ints') return v.v;
    if (v.k === 'const' && v.c.kind !== 'float') return Array.from(v.c.data);
    return no(`${what} is not an integer vector`);
  };
  const numsOnly = (d: Dim[], what: string): number[] => (d.every(isNum) ? (d as number[]) : no(`${what} is symbolic`));
  // Symbolic sizes compare by value at a few sample sizes: the exports' shape arithmetic
  // ((x - r) / 2 + r - (x - r) / 2 ...) is beyond the builder's structural simplification.
  const envs: Array<Record<string, number>> = [];
  const same = (p: Dim, q: Dim): boolean => {
    if (isNum(p) && isNum(q)) return p === q;
    if (envs.length === 0) {
      for (let k = 0; k < 6; k++) envs.push(Object.fromEntries([...symbols].map((sym, i) => [sym, 1000 + 97 * k + 389 * i + 13 * k * i])));
    }
    return envs.every((env) => {
      try {
        return (isNum(p) ? p : p.evaluate(env)) === (isNum(q) ? q : q.evaluate(env));
      } catch {
        return false;
      }
    });
  };

  for (const n of src.nodes) {
    const a = n.attrs;
    const ins = n.inputs.map((v) => (v ? vals.get(v) : undefined));
    const set = (v: Val): void => {
      vals.set(n.outputs[0], v);
    };
    // Whole-constant nodes: the importer's interpreter (numbers only).
    if (FOLDABLE.has(n.opType) && ins.every((v, i) => n.inputs[i] === '' || v?.k === 'const') && n.inputs.some((v) => v)) {
      const outs = fold({ who: n.who, opType: n.opType, opset: src.opset, inputs: ins.map((v) => (v as { c: ConstValue } | undefined)?.c), attr: a });
      n.outputs.forEach((o, i) => o && outs[i] && vals.set(o, { k: 'const', c: outs[i] }));
      continue;
    }
    switch (n.opType) {
      case 'Identity':
      case 'Dropout':
        if (!ins[0]) no('no input');
        set(ins[0]);
        break;
      case 'Cast':
        if (ins[0]?.k === 'ints') set(ins[0]);
        else if (ins[0]?.k === 'tensor' && [1, 10, 11, 16].includes(a.int('to', 1))) set(ins[0]);
        else no('Cast');
        break;
      case 'Shape': {
        const t = tensorOf(ins[0], 'Shape input');
        const r = t.shape.length;
        const norm = (x: number): number => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
        const s = norm(a.int('start', 0));
        const e = norm(a.int('end', r));
        const v = t.shape.slice(s, Math.max(s, e));
        set({ k: 'ints', shape: [v.length], v });
        break;
      }
      case 'Slice': {
        const opset = src.opset;
        const starts = opset < 10 ? a.ints('starts') : ins[1] && ints(ins[1], 'starts');
        const ends = opset < 10 ? a.ints('ends') : ins[2] && ints(ins[2], 'ends');
        const axes = opset < 10 ? a.ints('axes') : ins[3] && numsOnly(ints(ins[3], 'axes'), 'axes');
        const steps = opset < 10 ? undefined : ins[4] && numsOnly(ints(ins[4], 'steps'), 'steps');
        if (!starts || !ends) no('Slice bounds');
        if (steps && steps.some((s) => s !== 1)) no('Slice steps');
        const x = ins[0];
        if (x?.k === 'ints' || (x?.k === 'const' && x.c.kind !== 'float')) {
          // A slice of a shape vector: numeric bounds on axis 0.
          const v = ints(x, 'data');
          const b = numsOnly(starts, 'starts')[0];
          const e = numsOnly(ends, 'ends')[0];
          const len = v.length;
          const lo = Math.min(Math.max(b < 0 ? b + len : b, 0), len);
          const hi = Math.min(Math.max(e < 0 ? e + len : e, 0), len);
          const out = v.slice(lo, Math.max(lo, hi));
          set({ k: 'ints', shape: [out.length], v: out });
          break;
        }
        const t = tensorOf(x, 'Slice data');
        if (t.shape.length !== 4) no('Slice of a non-4-D tensor');
        const ax = (axes ?? starts.map((_, i) => i)).map((v) => (v < 0 ? v + 4 : v));
        if (ax.length !== 2 || !ax.includes(2) || !ax.includes(3)) no('Slice off H and W');
        const off: Dim[] = [0, 0];
        const size: Dim[] = [0, 0];
        ax.forEach((axis, i) => {
          off[axis - 2] = starts[i];
          size[axis - 2] = dimSub(ends[i], starts[i]);
        });
        const name = fresh(n.outputs[0]);
        let offset: [number, number] | 'center';
        if (off.every(isNum)) offset = off as [number, number];
        else if ([0, 1].every((i) => same(off[i], dimFloorDiv(dimSub(t.shape[2 + i], size[i]), 2)))) offset = 'center';
        else no('crop offset');
        let like: SymbolicTensor | [number, number] | undefined;
        if (size.every(isNum)) like = size as [number, number];
        else like = tensors.find((r) => r.shape.length === 4 && same(r.shape[2], size[0]) && same(r.shape[3], size[1]));
        if (!like) no('crop size');
        set(track(g.crop(name, t, { offset, like })));
        break;
      }
      case 'Gather': {
        const v = ints(ins[0], 'Gather data');
        const idx = numsOnly(ints(ins[1], 'indices'), 'indices');
        const ic = constOf(ins[1], 'indices');
        const pick = idx.map((i) => v[i < 0 ? i + v.length : i]);
        if (pick.some((d) => d === undefined)) no('Gather index');
        set({ k: 'ints', shape: [...ic.shape], v: pick });
        break;
      }
      case 'Unsqueeze':
      case 'Squeeze': {
        if (ins[0]?.k === 'fc' && n.opType === 'Unsqueeze') {
          const axes = src.opset < 13 ? a.ints('axes') : ins[1] && numsOnly(ints(ins[1], 'axes'), 'axes');
          if (!axes || axes.length !== 2 || !axes.map((x) => (x < 0 ? x + 4 : x)).every((x) => x === 2 || x === 3)) no('Unsqueeze of fc');
          set({ k: 'tensor', t: ins[0].t });
          break;
        }
        const v = ints(ins[0], `${n.opType} data`);
        const r = n.opType === 'Unsqueeze' ? (ins[0]?.k === 'ints' ? ins[0].shape.length : constOf(ins[0], 'x').shape.length) : 1;
        if (n.opType === 'Unsqueeze' && r !== 0) no('Unsqueeze of a vector');
        set({ k: 'ints', shape: n.opType === 'Unsqueeze' ? [v.length] : [], v });
        break;
      }
      case 'Concat': {
        if (ins.some((v) => v?.k === 'tensor')) {
          const ts = ins.map((v, i) => tensorOf(v, `Concat input ${i}`));
          set(track(g.concat(fresh(n.outputs[0]), ts, a.int('axis', 0))));
          break;
        }
        const v = ins.flatMap((x, i) => ints(x, `Concat input ${i}`));
        set({ k: 'ints', shape: [v.length], v });
        break;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const [p, q] = ins;
        if (p?.k === 'tensor' && q?.k === 'tensor') {
          if (n.opType === 'Add') set(track(g.add(fresh(n.outputs[0]), p.t, q.t)));
          else if (n.opType === 'Mul') set(track(g.mul(fresh(n.outputs[0]), p.t, q.t)));
          else no(`${n.opType} of two tensors`);
          break;
        }
        if (n.opType === 'Mul' && (p?.k === 'tensor' || q?.k === 'tensor')) {
          const t = p?.k === 'tensor' ? p.t : (q as { t: SymbolicTensor }).t;
          const c = constOf(p?.k === 'tensor' ? q : p, 'Mul factor');
          if (c.kind !== 'float' || c.data.length !== 1) no('Mul by a non-scalar');
          set(track(g.scale(fresh(n.outputs[0]), t, c.data[0])));
          break;
        }
        // Integer shape arithmetic over symbolic dims.
        const u = ints(p, 'a');
        const w = ints(q, 'b');
        const len = Math.max(u.length, w.length);
        if ((u.length !== len && u.length !== 1) || (w.length !== len && w.length !== 1)) no('broadcast');
        const at = (x: Dim[], i: number): Dim => (x.length === 1 ? x[0] : x[i]);
        const v: Dim[] = [];
        for (let i = 0; i < len; i++) {
          const x = at(u, i);
          const y = at(w, i);
          if (n.opType === 'Add') v.push(dimAdd(x, y));
          else if (n.opType === 'Sub') v.push(dimSub(x, y));
          else if (n.opType === 'Mul') v.push(isNum(y) ? dimMul(x, y) : isNum(x) ? dimMul(y, x) : no('product of two symbols'));
          else if (isNum(y) && y > 0) v.push(isNum(x) ? Math.trunc(x / y) : dimFloorDiv(x, y)); // sizes are >= 0: trunc = floor
          else no('division by a symbol');
        }
        const isVec = (x: Val | undefined): boolean => (x?.k === 'ints' ? x.shape.length > 0 : x?.k === 'const' ? x.c.shape.length > 0 : false);
        const shape = isVec(p) || isVec(q) ? [len] : [];
        set({ k: 'ints', shape: shape.length ? [len] : [], v });
        break;
      }
      case 'Conv':
      case 'ConvTranspose': {
        const x = tensorOf(ins[0], 'input');
        const w = constOf(ins[1], 'weight');
        const b = ins[2] ? constOf(ins[2], 'bias') : undefined;
        if (w.shape.length !== 4) no('weight rank');
        const stride = a.ints('strides') ?? [1, 1];
        const dilation = a.ints('dilations') ?? [1, 1];
        const groups = a.int('group', 1);
        const k = [w.shape[2], w.shape[3]];
        const mode = a.string('auto_pad', 'NOTSET');
        let padding: [number, number, number, number] | 'same' | 'valid';
        if (mode === 'VALID') padding = 'valid';
        else if (mode === 'SAME_UPPER' && n.opType === 'Conv') padding = 'same';
        else if (mode === 'SAME_LOWER' && n.opType === 'Conv' && stride.every((s) => s === 1)) {
          const total = [0, 1].map((i) => dilation[i] * (k[i] - 1));
          if (total.some((v) => v % 2)) no('asymmetric SAME_LOWER');
          padding = [total[0] / 2, total[1] / 2, total[0] / 2, total[1] / 2];
        } else if (mode === 'NOTSET') padding = (a.ints('pads') ?? [0, 0, 0, 0]) as [number, number, number, number];
        else no(`auto_pad ${mode}`);
        if (n.opType === 'ConvTranspose' && (a.has('output_shape') || typeof padding === 'string')) no('ConvTranspose output_shape / auto_pad');
        const name = layerName(n, [[n.inputs[1], 'weight'], ...(b ? [[n.inputs[2], 'bias'] as [string, string]] : [])]);
        const outChannels = n.opType === 'Conv' ? w.shape[0] : w.shape[1] * groups;
        const common = { outChannels, kernel: k as [number, number], stride: stride as [number, number], dilation: dilation as [number, number], groups, bias: !!b };
        const t = n.opType === 'Conv'
          ? g.conv2d(name, x, { ...common, padding })
          : g.convTranspose2d(name, x, { ...common, padding: padding as [number, number, number, number], outputPadding: (a.ints('output_padding') ?? [0, 0]) as [number, number] });
        useParams(name, [['weight', floatParam(w)], ...(b ? [['bias', floatParam(b)] as [string, Tensor]] : [])]);
        set(track(t));
        break;
      }
      case 'BatchNormalization': {
        const x = tensorOf(ins[0], 'input');
        const ps = [1, 2, 3, 4].map((i) => constOf(ins[i], 'statistics'));
        const sfx = ['weight', 'bias', 'running_mean', 'running_var'];
        const name = layerName(n, sfx.map((s, i) => [n.inputs[i + 1], s]));
        const t = g.batchNorm(name, x, { eps: a.float('epsilon', 1e-5) });
        useParams(name, sfx.map((s, i) => [s, floatParam(ps[i])]));
        set(track(t));
        break;
      }
      case 'Relu': {
        const v = ins[0];
        if (v?.k === 'fc') {
          set({ k: 'fc', t: g.relu(fresh(n.outputs[0]), v.t) });
          break;
        }
        set(track(g.relu(fresh(n.outputs[0]), tensorOf(v, 'input'))));
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = tensorOf(ins[0], 'input');
        const kernel = a.ints('kernel_shape');
        if (!kernel || kernel.length !== 2) no('pool kernel');
        const mode = a.string('auto_pad', 'NOTSET');
        if (mode !== 'NOTSET' && mode !== 'VALID') no('pool auto_pad');
        const opts = {
          kernel: kernel as [number, number],
          stride: (a.ints('strides') ?? [1, 1]) as [number, number],
          padding: (mode === 'VALID' ? [0, 0, 0, 0] : a.ints('pads') ?? [0, 0, 0, 0]) as [number, number, number, number],
          dilation: (a.ints('dilations') ?? [1, 1]) as [number, number],
          ceilMode: a.int('ceil_mode', 0) === 1,
        };
        const name = fresh(n.outputs[0]);
        set(track(n.opType === 'MaxPool' ? g.maxPool2d(name, x, opts) : g.avgPool2d(name, x, { ...opts, countIncludePad: a.int('count_include_pad', 0) === 1 })));
        break;
      }
      case 'Softmax': {
        const x = tensorOf(ins[0], 'input');
        const r = x.shape.length;
        const axis = a.int('axis', src.opset < 13 ? 1 : -1);
        if (src.opset < 13 && (axis < 0 ? axis + r : axis) !== r - 1) no('Softmax before opset 13 off the last axis');
        set(track(g.softmax(fresh(n.outputs[0]), x, axis)));
        break;
      }
      case 'Flatten': {
        const x = tensorOf(ins[0], 'input');
        if (a.int('axis', 1) !== 1 || x.shape.length !== 4 || !x.shape.slice(1).every(isNum)) no('Flatten');
        set({ k: 'flat', t: x });
        break;
      }
      case 'Gemm': {
        const f = ins[0];
        if (f?.k !== 'flat') no('Gemm input');
        const w = constOf(ins[1], 'weight');
        const b = ins[2] ? constOf(ins[2], 'bias') : undefined;
        if (a.int('transA', 0) !== 0 || a.float('alpha', 1) !== 1 || (b && a.float('beta', 1) !== 1)) no('Gemm attributes');
        const transB = a.int('transB', 0) === 1;
        const [rows, cols] = w.shape;
        const out = transB ? rows : cols;
        const k = transB ? cols : rows;
        if (w.shape.length !== 2 || (b && (b.data.length !== out || b.shape.length !== 1))) no('Gemm shapes');
        let wt = floatParam(w);
        if (!transB) {
          // [K, out] -> [out, K], the builder's (PyTorch Linear) layout.
          const d = new Float32Array(out * k);
          for (let i = 0; i < k; i++) for (let j = 0; j < out; j++) d[j * k + i] = w.data[i * out + j];
          wt = new Tensor(d, [out, k]);
        }
        const name = layerName(n, transB ? [[n.inputs[1], 'weight'], ...(b ? [[n.inputs[2], 'bias'] as [string, string]] : [])] : [[undefined, 'weight'], ...(b ? [[undefined, 'bias'] as [undefined, string]] : [])]);
        const t = g.linear(name, f.t, { outFeatures: out, bias: !!b });
        useParams(name, [['weight', wt], ...(b ? [['bias', floatParam(b)] as [string, Tensor]] : [])]);
        set({ k: 'fc', t });
        break;
      }
      default:
        no(`${n.opType} has no builder layer`);
    }
  }
  for (const o of src.outputs) {
    const v = vals.get(o);
    if (!v || v.k !== 'tensor' || !NAME_RE.test(o)) no(`output '${o}'`);
    if (src.inputs.some((i) => i.name === v.t.name)) no('an input returned as an output');
    g.output(o, v.t);
  }
  return { graph: g.freeze(), weights };
}

export type { DimExpr };
