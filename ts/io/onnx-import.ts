/**
 * ONNX importer: a ModelProto (opsets 7 to 21) -> ImportedGraph.
 *
 * At load (importOnnx) the file is decoded (zero-copy), every initializer checked and read
 * (float16 / bfloat16 / double converted to float32 once; external data read from the model's
 * folder only), nodes that feed no output dropped, every remaining op and attribute checked (an
 * unsupported one is UNSUPPORTED_OP naming the op, the node and the opset), Constant nodes and
 * whatever depends only on constants folded, BatchNormalization folded into the Conv before it
 * and Relu fused into the Conv / ConvTranspose before it.
 *
 * specFor(input shapes) then walks the graph with concrete shapes: the shape subgraphs (Shape,
 * Gather, Slice, Concat, Unsqueeze, Cast, arithmetic...) are evaluated in TypeScript
 * (onnx-fold.ts), auto_pad / output_shape / Resize sizes become explicit attributes, and every
 * run-time node becomes one or a few native nodes (see ONNX_OPS for the mapping).
 *
 * Deliberate differences from onnxruntime (docs/onnx.md lists every op and attribute):
 * - ArgMax returns int32 indices (ONNX: int64): fcnkit's tensors are float32 or int32.
 * - Graph inputs are float32 (a model declaring float16 or double inputs takes float32 feeds).
 */
import { FcnkitError } from '../errors';
import type { GraphSpec, GraphSpecNode } from '../graph/spec';
import type { Model } from '../graph/model';
import type { NativeAttrs, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import type { Dim, ImportedGraph, ImportedTensorInfo } from './imported';
import {
  AttributeProto, AttributeType, DataType, decodeModel, ModelProto, NodeProto, TensorShapeDimension, text,
} from './onnx-proto';
import { ConstValue, dataTypeName, ExternalDataOptions, loadTensor } from './onnx-tensors';
import {
  broadcastShapes, count, fold, FOLDABLE, intConst, normAxis, numbers, reshapeTarget, resolveSlice,
} from './onnx-fold';

export const ONNX_IMPORT_OPSET_MIN = 7;
export const ONNX_IMPORT_OPSET_MAX = 21;

/** Ops that run (natively, or folded when their inputs are constants). */
const RUNTIME_OPS = [
  'Conv', 'ConvTranspose', 'BatchNormalization', 'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'Tanh', 'Clip', 'HardSigmoid',
  'HardSwish', 'Softmax', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Add', 'Sub', 'Mul', 'Div',
  'Concat', 'Slice', 'Pad', 'Resize', 'Upsample', 'Gemm', 'MatMul', 'Flatten', 'Reshape', 'Transpose', 'Squeeze',
  'Unsqueeze', 'Dropout', 'Identity', 'ArgMax', 'Cast', 'ReduceMean', 'Shape', 'Size', 'Constant',
] as const;

/** Every ONNX op type the importer accepts; those beyond RUNTIME_OPS only on constants (shape subgraphs). */
export const ONNX_OPS: readonly string[] = Object.freeze([...new Set<string>([...RUNTIME_OPS, ...FOLDABLE])].sort());

export interface OnnxImportOptions extends ExternalDataOptions {
  /** Fixes input dims (by input name): a full shape, which must agree with the declared fixed dims. */
  inputShapes?: Record<string, readonly number[]>;
}

/** A value while lowering: a constant, or a tensor the native graph computes (rt). */
type Value =
  | { t: 'const'; c: ConstValue }
  | { t: 'rt'; name: string; shape: number[]; dtype: 'float32' | 'int32' };

interface NodeInfo {
  label: string;
  who: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttributeProto>;
  /** Conv / ConvTranspose followed by a Relu fused into its epilogue. */
  relu?: boolean;
}

const ATTR_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(AttributeType).map(([k, v]) => [v, k]));

/** Typed access to a node's attributes; a wrong attribute type is BAD_MODEL. */
class NodeAttrs {
  constructor(private readonly n: NodeInfo, private readonly load: (a: AttributeProto) => ConstValue) {}

  private get(name: string, type: number): AttributeProto | undefined {
    const a = this.n.attrs.get(name);
    if (a && a.type !== type && !(a.type === AttributeType.UNDEFINED)) {
      throw new FcnkitError('BAD_MODEL', `${this.n.who}: attribute '${name}' is ${ATTR_TYPE_NAMES[a.type] ?? a.type}, expected ${ATTR_TYPE_NAMES[type]}`);
    }
    return a;
  }

  has(name: string): boolean {
    return this.n.attrs.has(name);
  }

  int(name: string, def: number): number {
    return this.get(name, AttributeType.INT)?.i ?? def;
  }

  float(name: string, def: number): number {
    return this.get(name, AttributeType.FLOAT)?.f ?? def;
  }

  ints(name: string): number[] | undefined {
    return this.get(name, AttributeType.INTS)?.ints;
  }

  floats(name: string): number[] | undefined {
    return this.get(name, AttributeType.FLOATS)?.floats;
  }

  string(name: string, def: string): string {
    const a = this.get(name, AttributeType.STRING);
    return a ? text(a.s) : def;
  }

  tensor(name: string): ConstValue | undefined {
    const a = this.get(name, AttributeType.TENSOR);
    return a ? this.load(a) : undefined;
  }
}

function unsupported(n: NodeInfo, opset: number, what: string): FcnkitError {
  return new FcnkitError('UNSUPPORTED_OP', `ONNX ${n.opType} node '${n.label}' (opset ${opset}): ${what}`);
}

function shapeMismatch(n: NodeInfo, what: string): FcnkitError {
  return new FcnkitError('SHAPE_MISMATCH', `${n.who}: ${what}`);
}

const s = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

const RESIZE_COORDS = ['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel'];
const RESIZE_NEAREST = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** Decodes, validates and prepares an ONNX model. Throws FcnkitError (BAD_MODEL, UNSUPPORTED_OP, TOO_LARGE, IO_ERROR). */
export function importOnnx(bytes: Uint8Array, options: OnnxImportOptions = {}): ImportedGraph {
  if (!(bytes instanceof Uint8Array)) throw new FcnkitError('INVALID_ARGUMENT', 'importOnnx: expected the model as a Uint8Array');
  if (typeof options !== 'object' || options === null) throw new FcnkitError('INVALID_ARGUMENT', 'importOnnx: options must be an object');
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new FcnkitError(e.code === 'BAD_MODEL' ? 'BAD_MODEL' : 'BAD_MODEL', `not a valid ONNX model: ${e.message}`, { cause: err });
  }
  return new OnnxGraph(model, options);
}

class OnnxGraph implements ImportedGraph {
  readonly format = 'onnx' as const;
  readonly inputs: ImportedTensorInfo[];
  readonly outputs: ImportedTensorInfo[];
  readonly opset: number;
  readonly producer: string;
  /** Initializers, Constant nodes and everything folded at load. */
  private readonly consts = new Map<string, ConstValue>();
  private nodes: NodeInfo[] = [];
  /** The nodes before BN folding and Relu fusion (what toModel rebuilds). */
  private plainNodes: NodeInfo[] = [];
  private readonly outputNames: string[];
  private readonly inputDims = new Map<string, Dim[] | undefined>();
  private readonly extOpts: ExternalDataOptions;

  constructor(model: ModelProto, options: OnnxImportOptions) {
    const g = model.graph;
    if (!g || model.irVersion <= 0) {
      throw new FcnkitError('BAD_MODEL', 'not an ONNX model: no graph' + (model.irVersion <= 0 ? ' and no ir_version' : ''));
    }
    this.extOpts = { baseDir: options.baseDir };
    this.producer = model.producerName;
    const main = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
    const opset = main?.version ?? (model.irVersion < 3 ? 1 : 0);
    if (!main && model.opsetImport.length > 0 && g.node.every((n) => n.domain !== '' && n.domain !== 'ai.onnx')) {
      // A model of custom-domain ops only: the op check below names the first.
    }
    if (opset < ONNX_IMPORT_OPSET_MIN || opset > ONNX_IMPORT_OPSET_MAX) {
      throw new FcnkitError('UNSUPPORTED_OP', `ONNX opset ${opset} is not supported: fcnkit imports opsets ${ONNX_IMPORT_OPSET_MIN} to ${ONNX_IMPORT_OPSET_MAX}` +
        (opset > ONNX_IMPORT_OPSET_MAX ? ' (re-export the model with an older opset)' : ''));
    }
    this.opset = opset;

    // Initializers.
    for (const t of g.initializer) {
      if (!t.name) throw new FcnkitError('BAD_MODEL', 'an initializer has no name');
      if (this.consts.has(t.name)) throw new FcnkitError('BAD_MODEL', `initializer '${t.name}' is defined twice`);
      this.consts.set(t.name, loadTensor(t, `initializer '${t.name}'`, this.extOpts));
    }

    // Inputs: graph inputs that no initializer overrides (IR < 4 lists initializers as inputs too).
    const declaredInputs = g.input.filter((i) => !this.consts.has(i.name));
    const fixed = options.inputShapes ?? {};
    for (const name of Object.keys(fixed)) {
      if (!declaredInputs.some((i) => i.name === name)) {
        throw new FcnkitError('INVALID_ARGUMENT', `inputShapes: the model has no input '${name}' (its inputs are ${declaredInputs.map((i) => `'${i.name}'`).join(', ')})`);
      }
    }
    this.inputs = declaredInputs.map((vi) => {
      if (!vi.name) throw new FcnkitError('BAD_MODEL', 'a graph input has no name');
      const tt = vi.type?.tensorType;
      if (!tt) throw new FcnkitError('UNSUPPORTED_OP', `graph input '${vi.name}' is not a tensor`);
      if (![DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16].includes(tt.elemType as 1)) {
        throw new FcnkitError('UNSUPPORTED_OP', `graph input '${vi.name}' has element type ${dataTypeName(tt.elemType)}; fcnkit models take float32 inputs`);
      }
      let dims: Dim[] | undefined = tt.shape ? tt.shape.dim.map((d) => dimOf(d, `graph input '${vi.name}'`)) : undefined;
      const want = fixed[vi.name];
      if (want !== undefined) {
        if (!Array.isArray(want) || want.some((d) => !Number.isSafeInteger(d) || d < 1)) {
          throw new FcnkitError('INVALID_ARGUMENT', `inputShapes['${vi.name}']: expected an array of positive integers but received ${JSON.stringify(want)}`);
        }
        if (dims && (dims.length !== want.length || dims.some((d, i) => typeof d === 'number' && d !== want[i]))) {
          throw new FcnkitError('SHAPE_MISMATCH', `inputShapes['${vi.name}'] ${s(want)} does not fit the declared shape [${dims.map((d) => d ?? '?').join(', ')}]`);
        }
        dims = [...want];
      }
      this.inputDims.set(vi.name, dims);
      return { name: vi.name, dtype: 'float32' as const, shape: dims ?? [] };
    });
    if (this.inputs.length === 0) throw new FcnkitError('BAD_MODEL', 'the model has no inputs');
    if (g.output.length === 0) throw new FcnkitError('BAD_MODEL', 'the model has no outputs');
    this.outputNames = g.output.map((o) => {
      if (!o.name) throw new FcnkitError('BAD_MODEL', 'a graph output has no name');
      return o.name;
    });

    this.nodes = this.prepareNodes(g.node);

    // Output metadata: int32 for ArgMax results (followed through aliases and Casts).
    const producer = new Map<string, NodeInfo>();
    for (const n of this.nodes) for (const o of n.outputs) producer.set(o, n);
    const isInt = (v: string, depth = 0): boolean => {
      const p = producer.get(v);
      if (!p || depth > 64) return this.consts.get(v)?.kind === 'int';
      if (p.opType === 'ArgMax') return true;
      if (['Identity', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Transpose', 'Slice', 'Cast', 'Dropout'].includes(p.opType)) {
        if (p.opType === 'Cast') {
          const to = p.attrs.get('to')?.i ?? DataType.FLOAT;
          if (to === DataType.FLOAT || to === DataType.FLOAT16 || to === DataType.DOUBLE) return false;
        }
        return isInt(p.inputs[0], depth + 1);
      }
      return false;
    };
    this.planModel();
    this.outputs = g.output.map((o) => ({
      name: o.name,
      dtype: isInt(o.name) ? 'int32' as const : 'float32' as const,
      shape: o.type?.tensorType?.shape ? o.type.tensorType.shape.dim.map((d) => dimOf(d, `graph output '${o.name}'`)) : [],
    }));
  }

  // ---- load-time preparation ----------------------------------------------------------------

  private prepareNodes(protos: NodeProto[]): NodeInfo[] {
    const opset = this.opset;
    const labels = new Set<string>();
    let nodes: NodeInfo[] = protos.map((p, i) => {
      let label = p.name && !labels.has(p.name) ? p.name : `${p.opType || 'node'}_${i}`;
      while (labels.has(label)) label += '_';
      labels.add(label);
      const attrs = new Map<string, AttributeProto>();
      for (const a of p.attribute) attrs.set(a.name, a);
      const info: NodeInfo = { label, who: `${p.opType} '${label}'`, opType: p.opType, inputs: [...p.input], outputs: [...p.output], attrs };
      if (p.domain !== '' && p.domain !== 'ai.onnx') {
        throw unsupported(info, opset, `ops of domain '${p.domain}' are not supported (fcnkit imports the default ONNX domain)`);
      }
      return info;
    });

    // Every value defined once; node order made topological (Kahn); undefined inputs refused.
    const producer = new Map<string, number>();
    const graphInputs = new Set(this.inputs.map((i) => i.name));
    nodes.forEach((n, i) => {
      for (const o of n.outputs) {
        if (o === '') continue;
        if (producer.has(o) || this.consts.has(o) || graphInputs.has(o)) throw new FcnkitError('BAD_MODEL', `${n.who}: value '${o}' is defined more than once`);
        producer.set(o, i);
      }
    });
    for (const n of nodes) {
      for (const v of n.inputs) {
        if (v !== '' && !producer.has(v) && !this.consts.has(v) && !graphInputs.has(v)) {
          throw new FcnkitError('BAD_MODEL', `${n.who}: input '${v}' is not a graph input, an initializer or the output of any node`);
        }
      }
    }
    for (const o of this.outputNames) {
      if (!producer.has(o) && !this.consts.has(o) && !graphInputs.has(o)) throw new FcnkitError('BAD_MODEL', `graph output '${o}' is not produced by any node`);
    }
    nodes = topoSort(nodes, producer);

    // Dead nodes (feeding no output) go before anything is checked.
    const live = new Set(this.outputNames);
    const kept: NodeInfo[] = [];
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i];
      if (!n.outputs.some((o) => live.has(o))) continue;
      kept.push(n);
      for (const v of n.inputs) if (v) live.add(v);
    }
    nodes = kept.reverse();

    for (const n of nodes) this.checkNode(n, live);

    // Constant nodes and nodes whose inputs are all constants: evaluated now.
    const rest: NodeInfo[] = [];
    for (const n of nodes) {
      if (n.opType === 'Constant') {
        this.consts.set(n.outputs[0], this.constantNode(n));
        continue;
      }
      const ins = n.inputs.map((v) => (v ? this.consts.get(v) : undefined));
      const allConst = n.inputs.every((v, i) => v === '' || ins[i] !== undefined);
      if (allConst && FOLDABLE.has(n.opType) && n.inputs.some((v) => v !== '')) {
        const outs = fold({ who: n.who, opType: n.opType, opset, inputs: ins, attr: this.attrs(n) });
        n.outputs.forEach((o, i) => {
          if (o && outs[i]) this.consts.set(o, outs[i]);
        });
        continue;
      }
      rest.push(n);
    }
    this.plainNodes = rest.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs] }));
    return this.fuse(rest);
  }

  /** Load-time checks: the op is supported, with attributes fcnkit can honour. */
  private checkNode(n: NodeInfo, live: Set<string>): void {
    const opset = this.opset;
    const a = this.attrs(n);
    if (!ONNX_OPS.includes(n.opType)) {
      throw unsupported(n, opset, `op ${n.opType} is not supported (supported: ${ONNX_OPS.join(', ')})`);
    }
    const used = (i: number): boolean => i < n.outputs.length && n.outputs[i] !== '' && live.has(n.outputs[i]);
    const constRank = (i: number): number | undefined => (n.inputs[i] ? this.consts.get(n.inputs[i])?.shape.length : undefined);
    switch (n.opType) {
      case 'Conv':
      case 'ConvTranspose': {
        const k = a.ints('kernel_shape');
        const r = constRank(1);
        if ((k && k.length !== 2) || (r !== undefined && r !== 4)) throw unsupported(n, opset, 'only 2-D convolutions (4-D input and weight) are supported');
        const pad = a.string('auto_pad', 'NOTSET');
        if (!['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'].includes(pad)) throw new FcnkitError('BAD_MODEL', `${n.who}: unknown auto_pad '${pad}'`);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const k = a.ints('kernel_shape');
        if (!k) throw new FcnkitError('BAD_MODEL', `${n.who}: kernel_shape is required`);
        if (k.length !== 2) throw unsupported(n, opset, `only 2-D pooling is supported (kernel_shape [${k.join(', ')}])`);
        if (n.opType === 'MaxPool' && used(1)) throw unsupported(n, opset, 'the Indices output is not supported');
        if (n.opType === 'MaxPool' && a.int('storage_order', 0) !== 0 && used(1)) throw unsupported(n, opset, 'storage_order 1 is not supported');
        break;
      }
      case 'BatchNormalization':
        if (a.int('training_mode', 0) !== 0 || used(1) || used(2) || used(3) || used(4)) throw unsupported(n, opset, 'training mode (running statistics outputs) is not supported');
        if (opset < 9 && a.int('spatial', 1) !== 1) throw unsupported(n, opset, 'spatial = 0 is not supported');
        break;
      case 'Dropout':
        if (used(1)) throw unsupported(n, opset, 'the mask output is not supported (inference only)');
        break;
      case 'ArgMax':
        if (a.int('select_last_index', 0) !== 0) throw unsupported(n, opset, 'select_last_index = 1 is not supported (fcnkit returns the first maximum)');
        break;
      case 'Pad': {
        const mode = a.string('mode', 'constant');
        if (!['constant', 'reflect', 'edge'].includes(mode)) throw unsupported(n, opset, `mode '${mode}' is not supported (constant, reflect, edge are)`);
        break;
      }
      case 'Upsample':
      case 'Resize': {
        const mode = a.string('mode', 'nearest');
        if (!['nearest', 'linear', 'bilinear'].includes(mode) || (mode === 'bilinear' && n.opType === 'Resize')) {
          throw unsupported(n, opset, `mode '${mode}' is not supported (nearest and linear are)`);
        }
        if (n.opType === 'Resize' && opset >= 11) {
          const coord = a.string('coordinate_transformation_mode', 'half_pixel');
          if (!RESIZE_COORDS.includes(coord)) throw unsupported(n, opset, `coordinate_transformation_mode '${coord}' is not supported (${RESIZE_COORDS.join(', ')} are)`);
          const nearest = a.string('nearest_mode', 'round_prefer_floor');
          if (mode === 'nearest' && !RESIZE_NEAREST.includes(nearest)) throw unsupported(n, opset, `nearest_mode '${nearest}' is not supported (${RESIZE_NEAREST.join(', ')} are)`);
          if (a.int('antialias', 0) !== 0 && mode !== 'nearest') throw unsupported(n, opset, 'antialias = 1 is not supported');
          const policy = a.string('keep_aspect_ratio_policy', 'stretch');
          if (!['stretch', 'not_larger', 'not_smaller'].includes(policy)) throw new FcnkitError('BAD_MODEL', `${n.who}: unknown keep_aspect_ratio_policy '${policy}'`);
        }
        break;
      }
      case 'Cast': {
        const to = a.int('to', 0);
        if (![DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16, DataType.INT64, DataType.INT32, DataType.INT16,
          DataType.INT8, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64, DataType.BOOL].includes(to as 1)) {
          throw unsupported(n, opset, `Cast to ${dataTypeName(to)} is not supported`);
        }
        break;
      }
      case 'Constant':
        for (const k of n.attrs.keys()) {
          if (!['value', 'value_float', 'value_floats', 'value_int', 'value_ints'].includes(k)) {
            throw unsupported(n, opset, `Constant attribute '${k}' is not supported`);
          }
        }
        break;
      case 'ReduceMean': {
        if (opset < 18) {
          const axes = a.ints('axes');
          if (!axes || !isSpatialAxes(axes)) throw unsupported(n, opset, `ReduceMean only over H and W (axes [2, 3]) is supported, got axes ${axes ? s(axes) : 'all'}`);
        }
        break;
      }
      default:
        break;
    }
  }

  private constantNode(n: NodeInfo): ConstValue {
    const a = this.attrs(n);
    const t = a.tensor('value');
    if (t) return t;
    if (a.has('value_float')) return { kind: 'float', shape: [], data: new Float32Array([a.float('value_float', 0)]) };
    if (a.has('value_floats')) { const v = a.floats('value_floats')!; return { kind: 'float', shape: [v.length], data: new Float32Array(v) }; }
    if (a.has('value_int')) return intConst([a.int('value_int', 0)], []);
    if (a.has('value_ints')) return intConst(a.ints('value_ints')!);
    throw new FcnkitError('BAD_MODEL', `${n.who}: Constant has no value`);
  }

  private attrs(n: NodeInfo): NodeAttrs {
    return new NodeAttrs(n, (a) => {
      if (!a.t) throw new FcnkitError('BAD_MODEL', `${n.who}: attribute '${a.name}' has no tensor`);
      return loadTensor(a.t, `${n.who} attribute '${a.name}'`, this.extOpts);
    });
  }

  /** Folds BatchNormalization into the Conv before it, and Relu into a Conv / ConvTranspose. */
  private fuse(nodes: NodeInfo[]): NodeInfo[] {
    const uses = new Map<string, number>();
    for (const n of nodes) for (const v of n.inputs) if (v) uses.set(v, (uses.get(v) ?? 0) + 1);
    for (const o of this.outputNames) uses.set(o, (uses.get(o) ?? 0) + 1);
    const byOutput = new Map<string, NodeInfo>();
    for (const n of nodes) for (const o of n.outputs) if (o) byOutput.set(o, n);
    const dropped = new Set<NodeInfo>();
    for (const n of nodes) {
      if (n.opType !== 'BatchNormalization') continue;
      const conv = byOutput.get(n.inputs[0]);
      if (!conv || conv.opType !== 'Conv' || dropped.has(conv) || uses.get(conv.outputs[0]) !== 1 || conv.relu) continue;
      const w = this.consts.get(conv.inputs[1]);
      const b = conv.inputs[2] ? this.consts.get(conv.inputs[2]) : undefined;
      const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => this.consts.get(n.inputs[i]));
      if (!w || w.kind !== 'float' || w.shape.length !== 4 || (conv.inputs[2] && !b) || !scale || !bias || !mean || !variance) continue;
      const c = w.shape[0];
      if ([scale, bias, mean, variance].some((v) => v.data.length !== c) || (b && b.data.length !== c)) continue;
      const eps = this.attrs(n).float('epsilon', 1e-5);
      // BN(conv(x)) = conv'(x): w'[o] = w[o] * k[o], b'[o] = (b[o] - mean[o]) * k[o] + beta[o], k = gamma / sqrt(var + eps).
      const per = w.data.length / c;
      const fw = new Float32Array(w.data.length);
      const fb = new Float32Array(c);
      for (let o = 0; o < c; o++) {
        const k = scale.data[o] / Math.sqrt(variance.data[o] + eps);
        for (let i = 0; i < per; i++) fw[o * per + i] = w.data[o * per + i] * k;
        fb[o] = ((b ? b.data[o] : 0) - mean.data[o]) * k + bias.data[o];
      }
      const wName = uniqueName(`${n.outputs[0]}#folded_weight`, this.consts, byOutput);
      const bName = uniqueName(`${n.outputs[0]}#folded_bias`, this.consts, byOutput);
      this.consts.set(wName, { kind: 'float', shape: [...w.shape], data: fw });
      this.consts.set(bName, { kind: 'float', shape: [c], data: fb });
      conv.inputs = [conv.inputs[0], wName, bName];
      conv.outputs = [n.outputs[0]];
      byOutput.set(n.outputs[0], conv);
      dropped.add(n);
    }
    for (const n of nodes) {
      if (n.opType !== 'Relu' || dropped.has(n)) continue;
      const conv = byOutput.get(n.inputs[0]);
      if (!conv || (conv.opType !== 'Conv' && conv.opType !== 'ConvTranspose') || conv.relu || uses.get(conv.outputs[0]) !== 1) continue;
      conv.relu = true;
      conv.outputs = [n.outputs[0]];
      byOutput.set(n.outputs[0], conv);
      dropped.add(n);
    }
    return nodes.filter((n) => !dropped.has(n));
  }

  // ---- per input size -------------------------------------------------------------------------

  specFor(inputShapes: Record<string, readonly number[]>): GraphSpec {
    if (typeof inputShapes !== 'object' || inputShapes === null) throw new FcnkitError('INVALID_ARGUMENT', 'specFor: expected input shapes by input name');
    const shapes: Record<string, number[]> = {};
    for (const inp of this.inputs) {
      const got = inputShapes[inp.name];
      if (!Array.isArray(got) || got.some((d) => !Number.isSafeInteger(d) || d < 0)) {
        throw new FcnkitError('INVALID_ARGUMENT', `Expected a shape (array of integers >= 0) for input '${inp.name}' but received ${JSON.stringify(got)}`);
      }
      const dims = this.inputDims.get(inp.name);
      if (dims && (dims.length !== got.length || dims.some((d, i) => typeof d === 'number' && d !== got[i]))) {
        throw new FcnkitError('SHAPE_MISMATCH', `input '${inp.name}': expected shape [${dims.map((d) => d ?? '?').join(', ')}] but received ${s(got)}`);
      }
      shapes[inp.name] = [...got];
    }
    for (const k of Object.keys(inputShapes)) {
      if (!this.inputs.some((i) => i.name === k)) throw new FcnkitError('INVALID_ARGUMENT', `the model has no input '${k}'`);
    }
    return new Lowering(this.opset, this.consts, (n) => this.attrs(n)).run(
      this.inputs.map((i) => ({ name: i.name, shape: shapes[i.name], declared: this.inputDims.get(i.name) })),
      this.nodes, this.outputNames,
    );
  }

  /** Present when every node maps to a GraphBuilder layer (see onnx-to-model.ts). */
  toModel?: () => Model;

  /** Decides once, at load, whether the graph can be a Model (cheap: no weights are copied). */
  private planModel(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { planOnnxModel } = require('./onnx-to-model') as typeof import('./onnx-to-model');
    const build = planOnnxModel({
      opset: this.opset,
      consts: this.consts,
      inputs: this.inputs.map((i) => ({ name: i.name, dims: this.inputDims.get(i.name) })),
      nodes: this.plainNodes.map((n) => ({ label: n.label, who: n.who, opType: n.opType, inputs: n.inputs, outputs: n.outputs, attrs: this.attrs(n) })),
      outputs: this.outputNames,
    });
    if (build) this.toModel = build;
  }
}

function dimOf(d: TensorShapeDimension, what: string): Dim {
  if (d.dimValue !== undefined) {
    if (!Number.isSafeInteger(d.dimValue) || d.dimValue < 0) throw new FcnkitError('BAD_MODEL', `${what}: bad dimension ${d.dimValue}`);
    return d.dimValue;
  }
  return d.dimParam ? d.dimParam : null;
}

function isSpatialAxes(axes: number[]): boolean {
  const set = new Set(axes.map((a) => (a < 0 ? a + 4 : a)));
  return axes.length === 2 && set.has(2) && set.has(3);
}

function uniqueName(base: string, ...taken: Map<string, unknown>[]): string {
  let name = base;
  for (let i = 1; taken.some((m) => m.has(name)); i++) name = `${base}${i}`;
  return name;
}

/** Nodes in an order where every input is produced before use; BAD_MODEL on a cycle. */
function topoSort(nodes: NodeInfo[], producer: Map<string, number>): NodeInfo[] {
  const deps = nodes.map((n) => new Set(n.inputs.filter((v) => v && producer.has(v)).map((v) => producer.get(v)!)));
  if (deps.every((d, i) => [...d].every((j) => j < i))) return nodes;
  const users: number[][] = nodes.map(() => []);
  const pending = deps.map((d) => d.size);
  deps.forEach((d, i) => d.forEach((j) => users[j].push(i)));
  const ready = pending.flatMap((p, i) => (p === 0 ? [i] : []));
  const order: NodeInfo[] = [];
  while (ready.length) {
    const i = ready.shift()!;
    order.push(nodes[i]);
    for (const u of users[i]) if (--pending[u] === 0) ready.push(u);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((_, i) => pending[i] > 0)!;
    throw new FcnkitError('BAD_MODEL', `${stuck.who}: the graph has a cycle`);
  }
  return order;
}

// =================================================================================================
// Lowering: one walk over the graph at concrete input shapes, emitting the native GraphSpec.
// =================================================================================================

interface LowerInput {
  name: string;
  shape: number[];
  declared: Dim[] | undefined;
}

class Lowering {
  private readonly values = new Map<string, Value>();
  private readonly nodes: GraphSpecNode[] = [];
  private readonly constants: Record<string, NativeTensor> = {};
  private readonly constNames = new Map<ConstValue, string>();
  private readonly used = new Set<string>();
  private readonly nodeNames = new Set<string>();

  constructor(
    private readonly opset: number,
    private readonly consts: Map<string, ConstValue>,
    private readonly attrsOf: (n: NodeInfo) => NodeAttrs,
  ) {}

  run(inputs: LowerInput[], nodes: NodeInfo[], outputs: string[]): GraphSpec {
    for (const k of this.consts.keys()) this.used.add(k);
    for (const n of nodes) for (const o of n.outputs) if (o) this.used.add(o);
    for (const i of inputs) {
      this.used.add(i.name);
      this.values.set(i.name, { t: 'rt', name: i.name, shape: i.shape, dtype: 'float32' });
    }
    for (const [k, c] of this.consts) this.values.set(k, { t: 'const', c });
    for (const n of nodes) this.node(n);
    const outNames = outputs.map((o) => {
      const v = this.values.get(o);
      if (!v) throw new FcnkitError('BAD_MODEL', `graph output '${o}' was not computed`);
      if (v.t === 'rt') return v.name;
      return this.constName(v.c, o, true);
    });
    return {
      inputs: inputs.map((i) => ({ name: i.name, shape: i.declared ? i.declared.map((d) => (typeof d === 'number' ? d : null)) : i.shape.map(() => null) })),
      constants: this.constants,
      nodes: this.nodes,
      outputs: outNames,
    };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private fresh(base: string): string {
    let name = base || 'value';
    for (let i = 1; this.used.has(name); i++) name = `${base}#${i}`;
    this.used.add(name);
    return name;
  }

  /** The native constant holding c (registered once). */
  private constName(c: ConstValue, hint: string, allowInt = false): string {
    let name = this.constNames.get(c);
    if (name) return name;
    let data: Float32Array | Int32Array;
    if (c.kind === 'float') data = c.data as Float32Array;
    else if (allowInt) data = Int32Array.from(c.data);
    else throw new FcnkitError('UNSUPPORTED_OP', `constant '${hint}' is an integer tensor used as run-time data, which fcnkit does not support`);
    name = this.consts.get(hint) === c ? hint : this.fresh(`${hint}#const`);
    this.used.add(name);
    this.constNames.set(c, name);
    this.constants[name] = new Tensor(data, c.shape);
    return name;
  }

  private emit(n: NodeInfo, type: string, inputs: string[], attrs: NativeAttrs, shape: number[], output?: string,
    dtype: 'float32' | 'int32' = 'float32'): Value {
    let label = n.label;
    for (let i = 1; this.nodeNames.has(label); i++) label = `${n.label}#${i}`;
    this.nodeNames.add(label);
    const out = output ?? this.fresh(`${n.outputs[0] || n.label}#${type}`);
    this.nodes.push({ name: label, type, inputs, outputs: [out], attrs });
    return { t: 'rt', name: out, shape, dtype };
  }

  private node(n: NodeInfo): void {
    const ins = n.inputs.map((v) => (v ? this.values.get(v) : undefined));
    n.inputs.forEach((v, i) => {
      if (v && !ins[i]) throw new FcnkitError('BAD_MODEL', `${n.who}: input '${v}' has no value`);
    });
    const attrs = this.attrsOf(n);
    let outs: (Value | undefined)[];
    const allConst = ins.every((v, i) => n.inputs[i] === '' || v?.t === 'const') && n.inputs.some((v) => v !== '');
    if (allConst && FOLDABLE.has(n.opType)) {
      outs = fold({ who: n.who, opType: n.opType, opset: this.opset, inputs: ins.map((v) => (v as { c: ConstValue } | undefined)?.c), attr: attrs })
        .map((c) => ({ t: 'const' as const, c }));
    } else {
      outs = this.lower(n, ins, attrs);
    }
    n.outputs.forEach((o, i) => {
      if (o && outs[i]) this.values.set(o, outs[i]!);
    });
  }

  private lower(n: NodeInfo, ins: (Value | undefined)[], a: NodeAttrs): (Value | undefined)[] {
    const opset = this.opset;
    const out0 = n.outputs[0];
    const shapeOf = (v: Value): number[] => (v.t === 'rt' ? v.shape : v.c.shape);
    const req = (i: number): Value => {
      const v = ins[i];
      if (!v) throw new FcnkitError('BAD_MODEL', `${n.who}: input ${i} is required`);
      return v;
    };
    /** A float tensor operand (run-time or constant): its native value name. */
    const f = (i: number): string => {
      const v = req(i);
      if (v.t === 'const') return this.constName(v.c, n.inputs[i]);
      if (v.dtype !== 'float32') throw unsupported(n, opset, `input ${i} is an int32 tensor (an ArgMax result), which this op cannot take`);
      return v.name;
    };
    const constIn = (i: number, what: string): ConstValue | undefined => {
      const v = ins[i];
      if (!v) return undefined;
      if (v.t !== 'const') throw unsupported(n, opset, `${what} (input ${i}) must be a constant or computable from shapes; it depends on run-time data`);
      return v.c;
    };
    const rank4 = (i: number): number[] => {
      const sh = shapeOf(req(i));
      if (sh.length !== 4) throw unsupported(n, opset, `expects a 4-D [N, C, H, W] input but received ${s(sh)}`);
      return sh;
    };
    const alias = (v: Value): Value[] => [v];
    const unary = (type: string, attrs: NativeAttrs = {}): Value[] => [this.emit(n, type, [f(0)], attrs, shapeOf(req(0)), out0)];

    switch (n.opType) {
      case 'Identity':
      case 'Dropout':
        return alias(req(0));
      case 'Constant':
        return [{ t: 'const', c: this.consts.get(out0)! }];
      case 'Shape': {
        const sh = shapeOf(req(0));
        let start = a.int('start', 0);
        let end = a.int('end', sh.length);
        const r = sh.length;
        start = Math.min(Math.max(start < 0 ? start + r : start, 0), r);
        end = Math.min(Math.max(end < 0 ? end + r : end, 0), r);
        return [{ t: 'const', c: intConst(sh.slice(start, Math.max(start, end))) }];
      }
      case 'Size':
        return [{ t: 'const', c: intConst([count(shapeOf(req(0)))], []) }];
      case 'Cast': {
        const v = req(0);
        const to = a.int('to', DataType.FLOAT);
        const toFloat = to === DataType.FLOAT || to === DataType.FLOAT16 || to === DataType.DOUBLE || to === DataType.BFLOAT16;
        if (v.t === 'rt' && (v.dtype === 'float32') === toFloat) return alias(v);
        if (v.t === 'rt' && v.dtype === 'int32' && (to === DataType.INT64 || to === DataType.INT32)) return alias(v);
        throw unsupported(n, opset, `casting run-time ${v.t === 'rt' ? v.dtype : 'data'} to ${dataTypeName(to)} is not supported (only float-to-float casts run; integer casts are for shape computations)`);
      }
      case 'Relu':
        return unary('relu');
      case 'Sigmoid':
        return unary('sigmoid');
      case 'Tanh':
        return unary('tanh');
      case 'HardSwish':
        return unary('hardSwish');
      case 'LeakyRelu':
        return unary('leakyRelu', { alpha: a.float('alpha', 0.01) });
      case 'HardSigmoid':
        return unary('hardSigmoid', { alpha: a.float('alpha', 0.2), beta: a.float('beta', 0.5) });
      case 'Clip': {
        const attrs: NativeAttrs = {};
        if (opset < 11) {
          if (a.has('min')) attrs.min = a.float('min', 0);
          if (a.has('max')) attrs.max = a.float('max', 0);
        } else {
          const lo = constIn(1, 'min');
          const hi = constIn(2, 'max');
          if (lo) attrs.min = lo.data[0];
          if (hi) attrs.max = hi.data[0];
        }
        return unary('clip', attrs);
      }
      case 'PRelu': {
        const x = shapeOf(req(0));
        const slope = shapeOf(req(1));
        const b = broadcastShapes(n.who, x, slope);
        if (s(b) !== s(x)) throw shapeMismatch(n, `slope ${s(slope)} does not broadcast to the input ${s(x)}`);
        return [this.emit(n, 'prelu', [f(0), f(1)], {}, x, out0)];
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const shape = broadcastShapes(n.who, shapeOf(req(0)), shapeOf(req(1)));
        const type = { Add: 'add', Sub: 'sub', Mul: 'mul', Div: 'div' }[n.opType]!;
        return [this.emit(n, type, [f(0), f(1)], {}, shape, out0)];
      }
      case 'Conv':
        return [this.conv(n, a, rank4(0), shapeOf(req(1)), f(0), f(1), ins[2] ? f(2) : undefined)];
      case 'ConvTranspose':
        return [this.convTranspose(n, a, rank4(0), shapeOf(req(1)), f(0), f(1), ins[2] ? f(2) : undefined)];
      case 'BatchNormalization': {
        const x = shapeOf(req(0));
        const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => constIn(i, ['scale', 'B', 'mean', 'var'][i - 1]));
        if (!scale || !bias || !mean || !variance) throw new FcnkitError('BAD_MODEL', `${n.who}: needs scale, B, mean and var`);
        const c = x[1];
        if (x.length < 2 || [scale, bias, mean, variance].some((v) => v.data.length !== c)) {
          throw shapeMismatch(n, `statistics of ${scale.data.length} channels for input ${s(x)}`);
        }
        const eps = a.float('epsilon', 1e-5);
        const k = new Float32Array(c);
        const sh = new Float32Array(c);
        for (let i = 0; i < c; i++) {
          k[i] = scale.data[i] / Math.sqrt(variance.data[i] + eps);
          sh[i] = bias.data[i] - mean.data[i] * k[i];
        }
        const cshape = [c, ...new Array<number>(Math.max(0, x.length - 2)).fill(1)];
        const scaled = this.emit(n, 'mul', [f(0), this.constName({ kind: 'float', shape: cshape, data: k }, `${out0}#scale`)], {}, x);
        return [this.emit(n, 'add', [(scaled as { name: string }).name, this.constName({ kind: 'float', shape: cshape, data: sh }, `${out0}#shift`)], {}, x, out0)];
      }
      case 'MaxPool':
      case 'AveragePool':
        return [this.pool(n, a, rank4(0), f(0))];
      case 'GlobalAveragePool': {
        const x = rank4(0);
        return [this.emit(n, 'globalAvgPool2d', [f(0)], {}, [x[0], x[1], 1, 1], out0)];
      }
      case 'GlobalMaxPool': {
        const x = rank4(0);
        return [this.emit(n, 'maxPool2d', [f(0)], { kernel: [x[2], x[3]], stride: [1, 1], pads: [0, 0, 0, 0] }, [x[0], x[1], 1, 1], out0)];
      }
      case 'ReduceMean': {
        const x = shapeOf(req(0));
        const axes = opset < 18 ? a.ints('axes') : (ins[1] ? numbers(constIn(1, 'axes')!) : undefined);
        if (x.length !== 4 || !axes || !isSpatialAxes(axes)) {
          throw unsupported(n, opset, `ReduceMean only over H and W of a 4-D input is supported (input ${s(x)}, axes ${axes ? s(axes) : 'all'})`);
        }
        const keep = a.int('keepdims', 1) === 1;
        const pooled = this.emit(n, 'globalAvgPool2d', [f(0)], {}, [x[0], x[1], 1, 1], keep ? out0 : undefined);
        if (keep) return [pooled];
        return [this.emit(n, 'reshape', [(pooled as { name: string }).name], { shape: [x[0], x[1]] }, [x[0], x[1]], out0)];
      }
      case 'Softmax': {
        const x = shapeOf(req(0));
        const r = x.length;
        const axis = normAxis(n.who, a.int('axis', opset < 13 ? 1 : -1), r);
        if (opset >= 13 || axis === r - 1) return [this.emit(n, 'softmax', [f(0)], { axis }, x, out0)];
        // Before opset 13 Softmax normalises over all dims from `axis` on, flattened.
        const flat = [count(x.slice(0, axis)), count(x.slice(axis))];
        const r1 = this.emit(n, 'reshape', [f(0)], { shape: flat }, flat) as { name: string };
        const r2 = this.emit(n, 'softmax', [r1.name], { axis: 1 }, flat) as { name: string };
        return [this.emit(n, 'reshape', [r2.name], { shape: x }, x, out0)];
      }
      case 'ArgMax': {
        const x = shapeOf(req(0));
        const axis = normAxis(n.who, a.int('axis', 0), x.length);
        const keep = a.int('keepdims', 1) === 1;
        const shape = keep ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis);
        return [this.emit(n, 'argmax', [f(0)], { axis, keepDims: keep }, shape, out0, 'int32')];
      }
      case 'Concat': {
        const parts = ins.map((v, i) => ({ v, i })).filter((p): p is { v: Value; i: number } => p.v !== undefined && count(shapeOf(p.v)) > 0);
        if (parts.length === 0) return [{ t: 'const', c: { kind: 'float', shape: shapeOf(req(0)), data: new Float32Array(0) } }];
        const r = shapeOf(parts[0].v).length;
        const axis = normAxis(n.who, a.int('axis', 0), r);
        const shape = [...shapeOf(parts[0].v)];
        shape[axis] = 0;
        for (const p of parts) {
          const sh = shapeOf(p.v);
          if (sh.length !== r || sh.some((d, k) => k !== axis && d !== shape[k])) {
            throw shapeMismatch(n, `inputs ${parts.map((q) => s(shapeOf(q.v))).join(', ')} differ off axis ${axis}`);
          }
          shape[axis] += sh[axis];
        }
        if (parts.length === 1) return alias(parts[0].v);
        return [this.emit(n, 'concat', parts.map((p) => f(p.i)), { axis }, shape, out0)];
      }
      case 'Slice': {
        const v = req(0);
        const x = shapeOf(v);
        let starts: number[] | undefined;
        let ends: number[] | undefined;
        let axes: number[] | undefined;
        let steps: number[] | undefined;
        if (opset < 10) {
          starts = a.ints('starts');
          ends = a.ints('ends');
          axes = a.ints('axes');
        } else {
          starts = ins[1] ? numbers(constIn(1, 'starts')!) : undefined;
          ends = ins[2] ? numbers(constIn(2, 'ends')!) : undefined;
          axes = ins[3] ? numbers(constIn(3, 'axes')!) : undefined;
          steps = ins[4] ? numbers(constIn(4, 'steps')!) : undefined;
        }
        if (!starts || !ends) throw new FcnkitError('BAD_MODEL', `${n.who}: Slice needs starts and ends`);
        const spec = resolveSlice(n.who, x, starts, ends, axes, steps);
        if (spec.every((p, i) => p.start === 0 && p.step === 1 && p.size === x[i])) return alias(v);
        const sizes = spec.map((p) => p.size);
        const dtype = v.t === 'rt' ? v.dtype : 'float32';
        const input = v.t === 'rt' ? v.name : f(0);
        return [this.emit(n, 'slice', [input], { starts: spec.map((p) => p.start), steps: spec.map((p) => p.step), sizes }, sizes, out0, dtype)];
      }
      case 'Pad':
        return [this.pad(n, a, ins, shapeOf(req(0)), f(0), constIn)];
      case 'Resize':
      case 'Upsample':
        return [this.resize(n, a, ins, rank4(0), f(0), constIn)];
      case 'Gemm': {
        const A = shapeOf(req(0));
        const B = shapeOf(req(1));
        if (A.length !== 2 || B.length !== 2) throw shapeMismatch(n, `Gemm takes 2-D operands, got ${s(A)} and ${s(B)}`);
        const tA = a.int('transA', 0) === 1;
        const tB = a.int('transB', 0) === 1;
        const m = tA ? A[1] : A[0];
        const k = tA ? A[0] : A[1];
        const nn = tB ? B[0] : B[1];
        if ((tB ? B[1] : B[0]) !== k) throw shapeMismatch(n, `op(A) is [${m}, ${k}] but op(B) is [${tB ? B[1] : B[0]}, ${nn}]`);
        const inputs = [f(0), f(1)];
        const beta = a.float('beta', 1);
        if (ins[2] && beta !== 0) {
          const C = shapeOf(ins[2]);
          if (s(broadcastShapes(n.who, [m, nn], C)) !== s([m, nn])) throw shapeMismatch(n, `C ${s(C)} does not broadcast to [${m}, ${nn}]`);
          inputs.push(f(2));
        }
        return [this.emit(n, 'gemm', inputs, { transA: tA ? 1 : 0, transB: tB ? 1 : 0, alpha: a.float('alpha', 1), beta }, [m, nn], out0)];
      }
      case 'MatMul':
        return [this.matmul(n, req(0), req(1), shapeOf, f)];
      case 'Flatten': {
        const x = shapeOf(req(0));
        const axis = a.int('axis', 1);
        const ax = axis < 0 ? axis + x.length : axis;
        if (ax < 0 || ax > x.length) throw new FcnkitError('BAD_MODEL', `${n.who}: axis ${axis} is out of range for ${s(x)}`);
        return [this.reshape(n, req(0), [count(x.slice(0, ax)), count(x.slice(ax))], out0)];
      }
      case 'Reshape': {
        const target = opset < 5 ? a.ints('shape') : (ins[1] ? numbers(constIn(1, 'shape')!) : undefined);
        if (!target) throw new FcnkitError('BAD_MODEL', `${n.who}: Reshape needs a shape`);
        return [this.reshape(n, req(0), reshapeTarget(n.who, shapeOf(req(0)), target, a.int('allowzero', 0) === 1), out0)];
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        const x = shapeOf(req(0));
        const axes = opset < 13 ? a.ints('axes') : (ins[1] ? numbers(constIn(1, 'axes')!) : undefined);
        let shape: number[];
        if (n.opType === 'Squeeze') {
          const set = new Set((axes ?? x.flatMap((d, i) => (d === 1 ? [i] : []))).map((ax) => normAxis(n.who, ax, x.length)));
          for (const ax of set) if (x[ax] !== 1) throw shapeMismatch(n, `cannot squeeze axis ${ax} of ${s(x)}`);
          shape = x.filter((_, i) => !set.has(i));
        } else {
          if (!axes) throw new FcnkitError('BAD_MODEL', `${n.who}: Unsqueeze needs axes`);
          const r = x.length + axes.length;
          const set = new Set(axes.map((ax) => normAxis(n.who, ax, r)));
          if (set.size !== axes.length) throw new FcnkitError('BAD_MODEL', `${n.who}: Unsqueeze axes ${s(axes)} name an axis twice`);
          shape = [];
          let k = 0;
          for (let i = 0; i < r; i++) shape.push(set.has(i) ? 1 : x[k++]);
        }
        return [this.reshape(n, req(0), shape, out0)];
      }
      case 'Transpose': {
        const v = req(0);
        const x = shapeOf(v);
        const perm = a.ints('perm') ?? x.map((_, i) => x.length - 1 - i);
        if (perm.length !== x.length || new Set(perm).size !== x.length || perm.some((p) => p < 0 || p >= x.length)) {
          throw new FcnkitError('BAD_MODEL', `${n.who}: perm ${s(perm)} is not a permutation of ${x.length} dims`);
        }
        const shape = perm.map((p) => x[p]);
        // Moving only size-1 dims keeps the element order: a reshape.
        const moved = perm.map((p) => x[p]).filter((d) => d !== 1);
        const orderKept = perm.filter((p) => x[p] !== 1).every((p, i, arr) => i === 0 || arr[i - 1] < p);
        if (orderKept && moved.length === x.filter((d) => d !== 1).length) return [this.reshape(n, v, shape, out0)];
        const input = v.t === 'rt' ? v.name : f(0);
        return [this.emit(n, 'transpose', [input], { perm }, shape, out0, v.t === 'rt' ? v.dtype : 'float32')];
      }
      default:
        if (FOLDABLE.has(n.opType)) {
          throw unsupported(n, opset, `${n.opType} is only supported on constants and shape values; here it takes run-time data`);
        }
        throw unsupported(n, opset, `op ${n.opType} is not supported`);
    }
  }

  private reshape(n: NodeInfo, v: Value, shape: number[], out: string): Value {
    if (v.t === 'const') return { t: 'const', c: { ...v.c, shape } };
    if (s(v.shape) === s(shape)) return v;
    return this.emit(n, 'reshape', [v.name], { shape }, shape, out, v.dtype);
  }

  private convAxes(n: NodeInfo, a: NodeAttrs, kernel: number[]): { stride: number[]; dil: number[] } {
    const stride = a.ints('strides') ?? [1, 1];
    const dil = a.ints('dilations') ?? [1, 1];
    if (stride.length !== 2 || dil.length !== 2 || [...stride, ...dil, ...kernel].some((v) => !Number.isSafeInteger(v) || v < 1)) {
      throw new FcnkitError('BAD_MODEL', `${n.who}: strides ${s(stride)}, dilations ${s(dil)} and kernel ${s(kernel)} must be 2 integers >= 1 each`);
    }
    return { stride, dil };
  }

  /** Explicit [top, left, bottom, right] padding of a Conv / pool for an input H×W. */
  private forwardPads(n: NodeInfo, a: NodeAttrs, hw: number[], kernel: number[], stride: number[], dil: number[]): number[] {
    const mode = a.string('auto_pad', 'NOTSET');
    if (mode === 'VALID') return [0, 0, 0, 0];
    if (mode === 'SAME_UPPER' || mode === 'SAME_LOWER') {
      const begin: number[] = [];
      const end: number[] = [];
      for (let i = 0; i < 2; i++) {
        const out = Math.ceil(hw[i] / stride[i]);
        const total = Math.max(0, (out - 1) * stride[i] + dil[i] * (kernel[i] - 1) + 1 - hw[i]);
        const small = Math.floor(total / 2);
        begin.push(mode === 'SAME_UPPER' ? small : total - small);
        end.push(total - begin[i]);
      }
      return [begin[0], begin[1], end[0], end[1]];
    }
    const pads = a.ints('pads') ?? [0, 0, 0, 0];
    if (pads.length !== 4 || pads.some((p) => !Number.isSafeInteger(p) || p < 0)) throw new FcnkitError('BAD_MODEL', `${n.who}: pads ${s(pads)} must be 4 integers >= 0`);
    return pads;
  }

  private conv(n: NodeInfo, a: NodeAttrs, x: number[], w: number[], xName: string, wName: string, bName: string | undefined): Value {
    if (w.length !== 4) throw unsupported(n, this.opset, `only 2-D convolutions are supported (weight ${s(w)})`);
    const kernel = a.ints('kernel_shape') ?? w.slice(2);
    if (kernel[0] !== w[2] || kernel[1] !== w[3]) throw shapeMismatch(n, `kernel_shape ${s(kernel)} differs from the weight ${s(w)}`);
    const { stride, dil } = this.convAxes(n, a, kernel);
    const groups = a.int('group', 1);
    if (groups < 1 || x[1] % groups !== 0 || w[1] * groups !== x[1] || w[0] % groups !== 0) {
      throw shapeMismatch(n, `input ${s(x)}, weight ${s(w)} and group ${groups} do not fit (weight must be [M, C/group, kH, kW])`);
    }
    const pads = this.forwardPads(n, a, [x[2], x[3]], kernel, stride, dil);
    const outHW = [0, 1].map((i) => {
      const span = dil[i] * (kernel[i] - 1) + 1;
      const padded = x[2 + i] + pads[i] + pads[i + 2];
      if (padded < span) throw shapeMismatch(n, `input ${s(x)} with pads ${s(pads)} is smaller than the kernel's extent ${span}`);
      return Math.floor((padded - span) / stride[i]) + 1;
    });
    const inputs = [xName, wName];
    if (bName) inputs.push(bName);
    return this.emit(n, 'conv2d', inputs, { stride, dilation: dil, groups, pads, activation: n.relu ? 'relu' : 'none' },
      [x[0], w[0], outHW[0], outHW[1]], n.outputs[0]);
  }

  private convTranspose(n: NodeInfo, a: NodeAttrs, x: number[], w: number[], xName: string, wName: string, bName: string | undefined): Value {
    if (w.length !== 4) throw unsupported(n, this.opset, `only 2-D transposed convolutions are supported (weight ${s(w)})`);
    const kernel = a.ints('kernel_shape') ?? w.slice(2);
    if (kernel[0] !== w[2] || kernel[1] !== w[3]) throw shapeMismatch(n, `kernel_shape ${s(kernel)} differs from the weight ${s(w)}`);
    const { stride, dil } = this.convAxes(n, a, kernel);
    const groups = a.int('group', 1);
    if (groups < 1 || x[1] !== w[0] || x[1] % groups !== 0) throw shapeMismatch(n, `input ${s(x)}, weight ${s(w)} and group ${groups} do not fit (weight must be [C, M/group, kH, kW])`);
    const outPad = [...(a.ints('output_padding') ?? [0, 0])];
    if (outPad.length !== 2 || outPad.some((p) => !Number.isSafeInteger(p) || p < 0)) throw new FcnkitError('BAD_MODEL', `${n.who}: output_padding ${s(outPad)} must be 2 integers >= 0`);
    const mode = a.string('auto_pad', 'NOTSET');
    const outShapeAttr = a.ints('output_shape');
    let pads: number[];
    const natural = (i: number): number => (x[2 + i] - 1) * stride[i] + outPad[i] + dil[i] * (kernel[i] - 1) + 1;
    // An odd total padding puts its extra pixel at the end for SAME_UPPER and at the start
    // otherwise (the ONNX text; onnxruntime 1.30 agrees).
    const split = (total: number): [number, number] => {
      const small = Math.floor(total / 2);
      return mode === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
    };
    if (outShapeAttr && outShapeAttr.length > 0) {
      const target = outShapeAttr.slice(-2);
      if (outShapeAttr.length !== 2 && outShapeAttr.length !== 4) throw new FcnkitError('BAD_MODEL', `${n.who}: output_shape ${s(outShapeAttr)} must have 2 or 4 values`);
      const begin: number[] = [];
      const end: number[] = [];
      for (let i = 0; i < 2; i++) {
        const total = natural(i) - target[i];
        if (total >= 0) {
          const [b, e] = split(total);
          begin.push(b);
          end.push(e);
        } else {
          // A larger output than the kernel reaches: the extra rows hold the bias only, which
          // is what output padding gives.
          begin.push(0);
          end.push(0);
          outPad[i] += -total;
          if (outPad[i] >= stride[i] && outPad[i] >= dil[i]) {
            throw unsupported(n, this.opset, `output_shape ${s(target)} exceeds the natural output by more than the stride allows`);
          }
        }
      }
      pads = [begin[0], begin[1], end[0], end[1]];
    } else if (mode === 'SAME_UPPER' || mode === 'SAME_LOWER') {
      const parts = [0, 1].map((i) => split(Math.max(0, natural(i) - x[2 + i] * stride[i])));
      pads = [parts[0][0], parts[1][0], parts[0][1], parts[1][1]];
    } else if (mode === 'VALID') {
      pads = [0, 0, 0, 0];
    } else {
      pads = a.ints('pads') ?? [0, 0, 0, 0];
      if (pads.length !== 4 || pads.some((p) => !Number.isSafeInteger(p) || p < 0)) throw new FcnkitError('BAD_MODEL', `${n.who}: pads ${s(pads)} must be 4 integers >= 0`);
    }
    const outHW = [0, 1].map((i) => natural(i) - pads[i] - pads[i + 2]);
    if (outHW.some((o) => o < 1)) throw shapeMismatch(n, `output size ${s(outHW)} is not positive (input ${s(x)}, pads ${s(pads)})`);
    for (let i = 0; i < 2; i++) {
      if (outPad[i] >= stride[i] && outPad[i] >= dil[i]) throw new FcnkitError('BAD_MODEL', `${n.who}: output_padding ${s(outPad)} must be smaller than the stride or the dilation`);
    }
    const inputs = [xName, wName];
    if (bName) inputs.push(bName);
    return this.emit(n, 'convTranspose2d', inputs,
      { stride, dilation: dil, groups, pads, outputPadding: outPad, activation: n.relu ? 'relu' : 'none' },
      [x[0], w[1] * groups, outHW[0], outHW[1]], n.outputs[0]);
  }

  private pool(n: NodeInfo, a: NodeAttrs, x: number[], xName: string): Value {
    const kernel = a.ints('kernel_shape')!;
    const { stride, dil } = this.convAxes(n, a, kernel);
    const pads = this.forwardPads(n, a, [x[2], x[3]], kernel, stride, dil);
    const ceil = a.int('ceil_mode', 0) === 1;
    if (pads[0] >= kernel[0] || pads[2] >= kernel[0] || pads[1] >= kernel[1] || pads[3] >= kernel[1]) {
      throw unsupported(n, this.opset, `pads ${s(pads)} as large as the kernel ${s(kernel)} are not supported`);
    }
    const outHW = [0, 1].map((i) => {
      const span = dil[i] * (kernel[i] - 1) + 1;
      const padded = x[2 + i] + pads[i] + pads[i + 2];
      if (padded < span) throw shapeMismatch(n, `input ${s(x)} with pads ${s(pads)} is smaller than the window ${span}`);
      let o = ceil ? Math.ceil((padded - span) / stride[i]) + 1 : Math.floor((padded - span) / stride[i]) + 1;
      if (ceil && (o - 1) * stride[i] >= x[2 + i] + pads[i]) o--;
      return o;
    });
    const attrs: NativeAttrs = { kernel, stride, dilation: dil, pads, ceilMode: ceil };
    if (n.opType === 'AveragePool') attrs.countIncludePad = a.int('count_include_pad', 0) === 1;
    return this.emit(n, n.opType === 'MaxPool' ? 'maxPool2d' : 'avgPool2d', [xName], attrs, [x[0], x[1], outHW[0], outHW[1]], n.outputs[0]);
  }

  private pad(n: NodeInfo, a: NodeAttrs, ins: (Value | undefined)[], x: number[], xName: string,
    constIn: (i: number, what: string) => ConstValue | undefined): Value {
    const r = x.length;
    let pads: number[] | undefined;
    let value = 0;
    if (this.opset < 11) {
      pads = a.ints('pads') ?? a.ints('paddings');
      value = a.float('value', 0);
    } else {
      const p = constIn(1, 'pads');
      pads = p ? numbers(p) : undefined;
      const v = constIn(2, 'constant_value');
      if (v && v.data.length) value = v.data[0];
      const axesV = constIn(3, 'axes');
      if (axesV && pads) {
        const axes = numbers(axesV).map((ax) => normAxis(n.who, ax, r));
        if (pads.length !== 2 * axes.length) throw new FcnkitError('BAD_MODEL', `${n.who}: pads ${s(pads)} need 2 values per axis of ${s(axes)}`);
        const full = new Array<number>(2 * r).fill(0);
        axes.forEach((ax, i) => {
          full[ax] = pads![i];
          full[ax + r] = pads![i + axes.length];
        });
        pads = full;
      }
    }
    if (!pads || pads.length !== 2 * r) throw new FcnkitError('BAD_MODEL', `${n.who}: pads ${pads ? s(pads) : 'missing'} must have 2 values per input dim (input ${s(x)})`);
    if (pads.every((p) => p === 0)) return ins[0]!;
    if (r !== 4 || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0) {
      throw unsupported(n, this.opset, `padding ${s(pads)} of a ${s(x)} input: only H and W of a 4-D input can be padded`);
    }
    const mode = a.string('mode', 'constant');
    const p4 = [pads[2], pads[3], pads[6], pads[7]];
    const out = [x[0], x[1], x[2] + p4[0] + p4[2], x[3] + p4[1] + p4[3]];
    if (out[2] < 0 || out[3] < 0) throw shapeMismatch(n, `pads ${s(pads)} crop more than the input ${s(x)}`);
    return this.emit(n, 'pad', [xName], { pads: p4, mode, value }, out, n.outputs[0]);
  }

  private resize(n: NodeInfo, a: NodeAttrs, ins: (Value | undefined)[], x: number[], xName: string,
    constIn: (i: number, what: string) => ConstValue | undefined): Value {
    const opset = this.opset;
    const modeAttr = a.string('mode', 'nearest');
    const mode = modeAttr === 'nearest' ? 'nearest' : 'bilinear';
    let scales: number[] | undefined;
    let sizes: number[] | undefined;
    if (n.opType === 'Upsample') {
      scales = opset < 9 ? a.floats('scales') : (ins[1] ? numbers(constIn(1, 'scales')!) : undefined);
    } else if (opset < 11) {
      scales = ins[1] ? numbers(constIn(1, 'scales')!) : undefined;
    } else {
      const sc = constIn(2, 'scales');
      const sz = constIn(3, 'sizes');
      if (sc && sc.data.length) scales = numbers(sc);
      if (sz && sz.data.length) sizes = numbers(sz);
    }
    // opset 18: scales / sizes may name only some axes.
    const axes = opset >= 18 ? a.ints('axes') : undefined;
    const full = (vals: number[], fill: (i: number) => number): number[] => {
      if (!axes) return vals;
      if (vals.length !== axes.length) throw new FcnkitError('BAD_MODEL', `${n.who}: ${vals.length} values for axes ${s(axes)}`);
      const out = x.map((_, i) => fill(i));
      axes.forEach((ax, i) => { out[normAxis(n.who, ax, 4)] = vals[i]; });
      return out;
    };
    if (scales) scales = full(scales, () => 1);
    if (sizes) sizes = full(sizes, (i) => x[i]);
    if (!scales === !sizes) throw new FcnkitError('BAD_MODEL', `${n.who}: exactly one of scales and sizes must be given`);
    const attrs: NativeAttrs = { mode };
    let outHW: number[];
    if (sizes) {
      if (sizes.length !== 4) throw new FcnkitError('BAD_MODEL', `${n.who}: sizes ${s(sizes)} must have 4 values`);
      const policy = a.string('keep_aspect_ratio_policy', 'stretch');
      if (policy !== 'stretch') {
        const pick = policy === 'not_larger' ? Math.min : Math.max;
        const axesUsed = axes ? axes.map((ax) => normAxis(n.who, ax, 4)) : [0, 1, 2, 3];
        const scale = pick(...axesUsed.map((i) => Math.fround(sizes![i] / x[i])));
        sizes = sizes.map((d, i) => (axesUsed.includes(i) ? Math.round(scale * x[i]) : d));
      }
      if (sizes[0] !== x[0] || sizes[1] !== x[1]) throw unsupported(n, opset, `resizing N or C is not supported (input ${s(x)}, sizes ${s(sizes)})`);
      if (sizes[2] < 1 || sizes[3] < 1) throw shapeMismatch(n, `sizes ${s(sizes)} give an empty output`);
      outHW = [sizes[2], sizes[3]];
      attrs.size = outHW;
    } else {
      const sc = scales!;
      if (sc.length !== 4) throw new FcnkitError('BAD_MODEL', `${n.who}: scales ${s(sc)} must have 4 values`);
      if (sc[0] !== 1 || sc[1] !== 1) throw unsupported(n, opset, `resizing N or C is not supported (scales ${s(sc)})`);
      if (!(sc[2] > 0 && sc[3] > 0 && Number.isFinite(sc[2]) && Number.isFinite(sc[3]))) throw new FcnkitError('BAD_MODEL', `${n.who}: scales ${s(sc)} must be positive`);
      outHW = [0, 1].map((i) => Math.floor(Math.fround(Math.fround(sc[2 + i]) * x[2 + i])));
      if (outHW.some((o) => o < 1)) throw shapeMismatch(n, `scales ${s(sc)} give an empty output for input ${s(x)}`);
      attrs.scale = [sc[2], sc[3]];
    }
    if (n.opType === 'Upsample' || opset < 11) {
      attrs.coordinate = 'asymmetric';
      // Before opset 11 'nearest' truncates when upsampling and rounds up when downsampling.
      const axisScales = [0, 1].map((i) => (scales ? Math.fround(scales[2 + i]) : outHW[i] / x[2 + i]));
      const up = axisScales.filter((v) => v !== 1).every((v) => v > 1);
      const down = axisScales.filter((v) => v !== 1).every((v) => v < 1);
      if (mode === 'nearest' && !up && !down) throw unsupported(n, opset, `nearest resizing that enlarges one axis and shrinks the other (scales ${s(axisScales)}) is not supported before opset 11`);
      attrs.nearestMode = up ? 'floor' : 'ceil';
    } else {
      attrs.coordinate = a.string('coordinate_transformation_mode', 'half_pixel');
      attrs.nearestMode = a.string('nearest_mode', 'round_prefer_floor');
    }
    return this.emit(n, 'resize', [xName], attrs, [x[0], x[1], outHW[0], outHW[1]], n.outputs[0]);
  }

  private matmul(n: NodeInfo, av: Value, bv: Value, shapeOf: (v: Value) => number[], f: (i: number) => string): Value {
    const A = shapeOf(av);
    const B = shapeOf(bv);
    if (A.length === 0 || B.length === 0) throw shapeMismatch(n, 'MatMul operands must have rank >= 1');
    const a2 = A.length === 1 ? [1, A[0]] : A;
    const b2 = B.length === 1 ? [B[0], 1] : B;
    const k = a2[a2.length - 1];
    if (b2[b2.length - 2] !== k) throw shapeMismatch(n, `${s(A)} x ${s(B)}: inner dims differ`);
    const batch = broadcastShapes(n.who, a2.slice(0, -2), b2.slice(0, -2));
    const m = a2[a2.length - 2];
    const nn = b2[b2.length - 1];
    let finalShape = [...batch, m, nn];
    if (A.length === 1) finalShape = finalShape.filter((_, i) => i !== finalShape.length - 2);
    if (B.length === 1) finalShape = finalShape.slice(0, -1);
    const out = n.outputs[0];
    let aName = f(0);
    let bName = f(1);
    // The usual head: b is a 2-D weight; a's leading dims fold into the rows of one gemm.
    if (b2.length === 2) {
      const rows = count(a2.slice(0, -1));
      if (s(a2) !== s([rows, k])) aName = (this.emit(n, 'reshape', [aName], { shape: [rows, k] }, [rows, k]) as { name: string }).name;
      if (B.length === 1) bName = (this.emit(n, 'reshape', [bName], { shape: b2 }, b2) as { name: string }).name;
      const y = [rows, nn];
      if (s(y) === s(finalShape)) return this.emit(n, 'gemm', [aName, bName], {}, y, out);
      const g = this.emit(n, 'gemm', [aName, bName], {}, y) as { name: string };
      return this.emit(n, 'reshape', [g.name], { shape: finalShape }, finalShape, out);
    }
    if (A.length === 1) aName = (this.emit(n, 'reshape', [aName], { shape: a2 }, a2) as { name: string }).name;
    if (B.length === 1) bName = (this.emit(n, 'reshape', [bName], { shape: b2 }, b2) as { name: string }).name;
    const full = [...batch, m, nn];
    if (s(full) === s(finalShape)) return this.emit(n, 'matmul', [aName, bName], {}, full, out);
    const mm = this.emit(n, 'matmul', [aName, bName], {}, full) as { name: string };
    return this.emit(n, 'reshape', [mm.name], { shape: finalShape }, finalShape, out);
  }
}
