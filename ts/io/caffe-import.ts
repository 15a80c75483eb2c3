/**
 * Caffe models: a prototxt (the net) and a .caffemodel (binary NetParameter holding each layer's
 * blobs), imported into the native core as an ImportedGraph, and caffemodel weights mapped onto
 * built-in graphs by layer name.
 *
 * What happens at import: the prototxt is parsed and filtered to the TEST phase; every layer's
 * type and parameters are checked (an unsupported layer is UNSUPPORTED_OP now, not at run time);
 * in-place layers (ReLU top == bottom) are renamed into single-assignment values; conv →
 * BatchNorm → Scale → ReLU chains are planned for folding into one native conv; and shapes are
 * inferred twice: at the prototxt's declared input size (which fixes InnerProduct kernels and
 * checks every blob shape) and with symbolic N, H, W (the shapes ImportedGraph reports, e.g.
 * FCN's score is [N, 21, 'H', 'W']). specFor() infers concrete shapes again and emits nodes with
 * concrete attributes (crop windows, global pooling kernels).
 *
 * Caffe rules kept here (see each layer below): pooling rounds up and then drops a last window
 * that would start in the bottom/right padding; AVE pooling divides by the window clipped to
 * the padded input; Crop keeps bottom[1]'s dims from `axis` on at per-axis offsets;
 * Deconvolution weights are [in, out/group, kh, kw]; BatchNorm's statistics are divided by its
 * third blob (the moving-average scale factor); legacy 4-D blob shapes compare from the end.
 */
import { FcnkitError } from '../errors';
import { Tensor } from '../tensor';
import type { NativeAttrs, NativeTensor } from '../native';
import {
  Dim, DimExpr, dimAdd, dimCeilDiv, dimEquals, dimFloorDiv, dimMin, dimMul, dimSub, GraphBuilder, shapeToString,
  SymbolicTensor,
} from '../graph/builder';
import { Model } from '../graph/model';
import type { GraphSpec, GraphSpecNode } from '../graph/spec';
import type { ImportedGraph, ImportedTensorInfo } from './imported';
import { BlobInfo, blobFits, blobInfo, CaffeMsg, fromText, parseNetBinary, V1_LAYER_TYPES } from './caffe-proto';
import { parsePrototxt } from './caffe-prototxt';

export { encodeCaffemodel } from './caffe-proto';
export type { CaffemodelLayer, EncodeCaffemodelOptions } from './caffe-proto';
export { parsePrototxt };
export type { TextMessage, TextField, TextScalar, TextPos } from './caffe-prototxt';

/** Layer types importCaffe runs (Data-family layers become graph inputs). */
export const CAFFE_LAYER_TYPES = [
  'Input', 'Data', 'ImageData', 'HDF5Data', 'WindowData', 'MemoryData', 'DummyData',
  'Convolution', 'Deconvolution', 'Pooling', 'ReLU', 'Sigmoid', 'TanH', 'Dropout', 'Split', 'Silence', 'Crop',
  'Eltwise', 'Concat', 'Scale', 'Bias', 'BatchNorm', 'InnerProduct', 'Softmax',
] as const;

const DATA_TYPES = new Set(['Data', 'ImageData', 'HDF5Data', 'WindowData']);
const TRAINING_TYPES = new Set([
  'SoftmaxWithLoss', 'Accuracy', 'EuclideanLoss', 'SigmoidCrossEntropyLoss', 'HingeLoss', 'InfogainLoss',
  'MultinomialLogisticLoss', 'ContrastiveLoss',
]);

// =========================================================================================
// Layers and their parameters
// =========================================================================================

type Pair = [number, number];

interface ConvParams { numOutput: number; kernel: Pair; stride: Pair; pad: Pair; dilation: Pair; group: number; bias: boolean; bilinear: boolean }
interface PoolParams { max: boolean; kernel: Pair; stride: Pair; pad: Pair; global: boolean; ceil: boolean }
interface IpParams { numOutput: number; bias: boolean; axis: number; transpose: boolean }

interface LayerIR {
  name: string;
  type: string;
  where: string;
  bottoms: string[];
  tops: string[];
  msg: CaffeMsg;
  blobs: BlobInfo[] | undefined;
  conv?: ConvParams;
  pool?: PoolParams;
  ip?: IpParams;
  slope?: number;
  axis?: number;
  numAxes?: number;
  eltOp?: 'SUM' | 'PROD' | 'MAX';
  coeffs?: number[];
  offsets?: number[];
  eps?: number;
  scaleBias?: boolean;
  /** Scale/Bias without a blob: the filler value (for toModel with no caffemodel). */
  fillerValue?: number;
}

interface InputIR {
  blob: string;
  /** The prototxt's shape, when it gives one. */
  declared?: number[];
  /** Shape with run-time dims as symbols. */
  symbolic: Dim[];
}

/** One node of the single-assignment form: a layer with value ids for its bottoms and tops. */
interface NodeIR {
  layer: LayerIR;
  ins: string[];
  outs: string[];
}

/** A conv (or InnerProduct) with what folds into it. */
interface Chain {
  bn?: NodeIR;
  scale?: NodeIR;
  relu?: NodeIR;
  /** The value the chain produces. */
  out: string;
}

function bad(l: { type: string; name: string }, message: string): FcnkitError {
  return new FcnkitError('BAD_MODEL', `${l.type} layer '${l.name}': ${message}`);
}

function unsupported(l: { type: string; name: string }, message: string): FcnkitError {
  return new FcnkitError('UNSUPPORTED_OP', `${l.type} layer '${l.name}': ${message}`);
}

function mismatch(l: { type: string; name: string }, message: string): FcnkitError {
  return new FcnkitError('SHAPE_MISMATCH', `${l.type} layer '${l.name}': ${message}`);
}

/** Caffe's spatial parameters: `name` (0, 1 or 2 values) or `name_h` + `name_w`. */
function spatial(l: LayerIR, p: CaffeMsg, name: string, def: number | undefined, single = false): Pair | undefined {
  const h = p.get<number>(`${name}_h`);
  const w = p.get<number>(`${name}_w`);
  const list = p.all<number>(name === 'kernel' ? 'kernel_size' : name);
  if (h !== undefined || w !== undefined) {
    if (h === undefined || w === undefined) throw bad(l, `${name}_h and ${name}_w must be given together (at ${p.whereOf(h === undefined ? `${name}_w` : `${name}_h`)})`);
    if (list.length) throw bad(l, `give either ${name === 'kernel' ? 'kernel_size' : name} or ${name}_h/${name}_w, not both`);
    return [h, w];
  }
  if (list.length === 0) return def === undefined ? undefined : [def, def];
  if (list.length === 1 || (single && list.length >= 1)) return [list[0], list[0]];
  if (list.length === 2) return [list[0], list[1]];
  throw unsupported(l, `${list.length} values for ${name} (only 2-D spatial layers are supported)`);
}

function convParams(l: LayerIR): ConvParams {
  const p = l.msg.msg('convolution_param');
  if (!p) throw bad(l, 'convolution_param is missing');
  const numOutput = p.get<number>('num_output') ?? 0;
  if (numOutput < 1) throw bad(l, `num_output must be at least 1, got ${numOutput}`);
  const axis = p.get<number>('axis') ?? 1;
  if (axis !== 1 && axis !== -3) throw unsupported(l, `axis ${axis} (only the channel axis 1 is supported)`);
  const kernel = spatial(l, p, 'kernel', undefined);
  if (!kernel) throw bad(l, 'kernel_size (or kernel_h and kernel_w) is required');
  const stride = spatial(l, p, 'stride', 1)!;
  const pad = spatial(l, p, 'pad', 0)!;
  const dl = p.all<number>('dilation');
  if (dl.length > 2) throw unsupported(l, `${dl.length} dilation values (only 2-D spatial layers are supported)`);
  const dilation: Pair = dl.length === 0 ? [1, 1] : dl.length === 1 ? [dl[0], dl[0]] : [dl[0], dl[1]];
  const group = p.get<number>('group') ?? 1;
  if (kernel.some((k) => k < 1)) throw bad(l, `kernel [${kernel.join(', ')}] must be positive`);
  if (stride.some((s) => s < 1)) throw bad(l, `stride [${stride.join(', ')}] must be positive`);
  if (dilation.some((d) => d < 1)) throw bad(l, `dilation [${dilation.join(', ')}] must be positive`);
  if (group < 1) throw bad(l, 'group must be at least 1');
  if (numOutput % group !== 0) throw bad(l, `num_output ${numOutput} is not a multiple of group ${group}`);
  const filler = p.msg('weight_filler')?.get<string>('type');
  return { numOutput, kernel, stride, pad, dilation, group, bias: p.get<boolean>('bias_term') ?? true, bilinear: filler === 'bilinear' };
}

function poolParams(l: LayerIR): PoolParams {
  const p = l.msg.msg('pooling_param') ?? new CaffeMsg('PoolingParameter', l.where);
  const method = p.get<string>('pool') ?? 'MAX';
  if (method === 'STOCHASTIC') throw unsupported(l, 'STOCHASTIC pooling');
  if (method !== 'MAX' && method !== 'AVE') throw unsupported(l, `pooling method ${method}`);
  const global = p.get<boolean>('global_pooling') ?? false;
  const kernel = spatial(l, p, 'kernel', undefined, true);
  const stride = spatial(l, p, 'stride', 1, true)!;
  const pad = spatial(l, p, 'pad', 0, true)!;
  if (global) {
    if (kernel) throw bad(l, 'global_pooling takes no kernel size');
    if (pad[0] || pad[1] || stride[0] !== 1 || stride[1] !== 1) throw bad(l, 'global_pooling needs pad 0 and stride 1');
  } else {
    if (!kernel) throw bad(l, 'kernel_size (or kernel_h and kernel_w) is required');
    if (kernel.some((k) => k < 1) || stride.some((s) => s < 1)) throw bad(l, `kernel [${kernel.join(', ')}] and stride [${stride.join(', ')}] must be positive`);
    if (pad[0] >= kernel[0] || pad[1] >= kernel[1]) throw bad(l, `pad [${pad.join(', ')}] must be smaller than the kernel [${kernel.join(', ')}]`);
  }
  return { max: method === 'MAX', kernel: kernel ?? [1, 1], stride, pad, global, ceil: (p.get<string>('round_mode') ?? 'CEIL') === 'CEIL' };
}

/** How many blobs a layer carries (undefined: any; those layers take none). */
function blobCount(l: LayerIR): number {
  switch (l.type) {
    case 'Convolution':
    case 'Deconvolution':
      return l.conv!.bias ? 2 : 1;
    case 'InnerProduct':
      return l.ip!.bias ? 2 : 1;
    case 'BatchNorm':
      return 3;
    case 'Scale':
      return l.bottoms.length === 1 ? (l.scaleBias ? 2 : 1) : l.scaleBias ? 1 : 0;
    case 'Bias':
      return l.bottoms.length === 1 ? 1 : 0;
    default:
      return 0;
  }
}

/** Checks a layer's parameters and bottom/top counts; fills the parsed fields. */
function readLayer(l: LayerIR): void {
  const nb = l.bottoms.length;
  const nt = l.tops.length;
  const need = (bMin: number, bMax: number, tMin: number, tMax: number): void => {
    if (nb < bMin || nb > bMax) throw bad(l, `takes ${bMin === bMax ? bMin : `${bMin} to ${bMax === Infinity ? 'any number of' : bMax}`} bottom blobs but has ${nb}`);
    if (nt < tMin || nt > tMax) throw bad(l, `makes ${tMin === tMax ? tMin : `${tMin} to ${tMax === Infinity ? 'any number of' : tMax}`} top blobs but has ${nt}`);
  };
  const m = l.msg;
  switch (l.type) {
    case 'Input':
    case 'DummyData':
      need(0, 0, 1, Infinity);
      break;
    case 'MemoryData':
    case 'Data':
    case 'ImageData':
    case 'HDF5Data':
    case 'WindowData':
      need(0, 0, 1, 2);
      break;
    case 'Convolution':
    case 'Deconvolution':
      need(1, 1, 1, 1);
      l.conv = convParams(l);
      break;
    case 'Pooling':
      need(1, 1, 1, 1);
      l.pool = poolParams(l);
      break;
    case 'ReLU':
      need(1, 1, 1, 1);
      l.slope = m.msg('relu_param')?.get<number>('negative_slope') ?? 0;
      if (!Number.isFinite(l.slope)) throw bad(l, `negative_slope ${l.slope} is not finite`);
      break;
    case 'Sigmoid':
    case 'TanH':
    case 'Dropout':
      need(1, 1, 1, 1);
      break;
    case 'Split':
      need(1, 1, 1, Infinity);
      break;
    case 'Silence':
      need(1, Infinity, 0, 0);
      break;
    case 'Softmax':
      need(1, 1, 1, 1);
      l.axis = m.msg('softmax_param')?.get<number>('axis') ?? 1;
      break;
    case 'Concat': {
      need(1, Infinity, 1, 1);
      const p = m.msg('concat_param');
      l.axis = p?.get<number>('axis') ?? p?.get<number>('concat_dim') ?? 1;
      break;
    }
    case 'Eltwise': {
      need(2, Infinity, 1, 1);
      const p = m.msg('eltwise_param');
      l.eltOp = (p?.get<string>('operation') ?? 'SUM') as LayerIR['eltOp'];
      if (!['SUM', 'PROD', 'MAX'].includes(l.eltOp!)) throw unsupported(l, `operation ${l.eltOp}`);
      l.coeffs = p?.all<number>('coeff') ?? [];
      if (l.coeffs.length && l.eltOp !== 'SUM') throw bad(l, 'coeff is only for operation SUM');
      if (l.coeffs.length && l.coeffs.length !== nb) throw bad(l, `${l.coeffs.length} coeff values for ${nb} bottoms`);
      if (l.eltOp === 'MAX' && nb > 16) throw unsupported(l, `MAX over ${nb} bottoms (at most 16)`);
      break;
    }
    case 'Crop': {
      need(2, 2, 1, 1);
      const p = m.msg('crop_param');
      l.axis = p?.get<number>('axis') ?? 2;
      l.offsets = p?.all<number>('offset') ?? [];
      break;
    }
    case 'BatchNorm': {
      need(1, 1, 1, 1);
      const p = m.msg('batch_norm_param');
      if (p?.get<boolean>('use_global_stats') === false) {
        throw unsupported(l, 'use_global_stats: false normalises with the statistics of each batch; inference needs the stored ones (true, the TEST-phase default)');
      }
      l.eps = p?.get<number>('eps') ?? Math.fround(1e-5);
      if (!(l.eps >= 0) || !Number.isFinite(l.eps)) throw bad(l, `eps ${l.eps} must be a finite number >= 0`);
      break;
    }
    case 'Scale':
    case 'Bias': {
      need(1, 2, 1, 1);
      const p = m.msg(l.type === 'Scale' ? 'scale_param' : 'bias_param');
      l.axis = p?.get<number>('axis') ?? 1;
      l.numAxes = p?.get<number>('num_axes') ?? 1;
      if (l.numAxes < -1) throw bad(l, `num_axes ${l.numAxes} must be -1 or more`);
      l.scaleBias = l.type === 'Scale' ? (p?.get<boolean>('bias_term') ?? false) : false;
      const fv = p?.msg('filler');
      if (fv && (fv.get<string>('type') ?? 'constant') === 'constant') l.fillerValue = fv.get<number>('value') ?? 0;
      else if (!fv) l.fillerValue = l.type === 'Scale' ? 1 : 0;
      break;
    }
    case 'InnerProduct': {
      need(1, 1, 1, 1);
      const p = m.msg('inner_product_param');
      if (!p) throw bad(l, 'inner_product_param is missing');
      const numOutput = p.get<number>('num_output') ?? 0;
      if (numOutput < 1) throw bad(l, `num_output must be at least 1, got ${numOutput}`);
      l.ip = { numOutput, bias: p.get<boolean>('bias_term') ?? true, axis: p.get<number>('axis') ?? 1, transpose: p.get<boolean>('transpose') ?? false };
      break;
    }
    default:
      if (TRAINING_TYPES.has(l.type)) {
        throw unsupported(l, 'a training layer (loss/accuracy); import the deploy prototxt, or mark it include { phase: TRAIN }');
      }
      throw unsupported(l, `layer type '${l.type}' is not supported (supported: ${CAFFE_LAYER_TYPES.join(', ')})`);
  }
}

// =========================================================================================
// Net structure
// =========================================================================================

/** Caffe's NetStateRule check for the TEST phase at level 0 with no stages. */
function ruleMet(rule: CaffeMsg): boolean {
  const phase = rule.get<string>('phase');
  if (phase !== undefined && phase !== 'TEST') return false;
  if ((rule.get<number>('min_level') ?? 0) > 0) return false;
  if ((rule.get<number>('max_level') ?? 0) < 0) return false;
  if (rule.all('stage').length > 0) return false;
  return true;
}

function included(layer: CaffeMsg): boolean {
  const inc = layer.all<CaffeMsg>('include');
  const exc = layer.all<CaffeMsg>('exclude');
  if (inc.length) return inc.some(ruleMet);
  return !exc.some(ruleMet);
}

function shapeOf(m: CaffeMsg | undefined): number[] | undefined {
  if (!m) return undefined;
  return m.all<number>('dim');
}

function checkDims(l: { type: string; name: string }, shape: number[]): number[] {
  if (shape.length === 0 || shape.length > 8 || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw bad(l, `input shape [${shape.join(', ')}] must have 1 to 8 positive dims`);
  }
  return shape;
}

/** caffemodel blobs by layer name (V2 `layer` or legacy V1 `layers`). */
interface WeightLayer {
  name: string;
  type: string;
  blobs: CaffeMsg[];
}

function weightLayers(net: CaffeMsg): WeightLayer[] {
  const out: WeightLayer[] = [];
  for (const l of net.all<CaffeMsg>('layer')) out.push({ name: l.get<string>('name') ?? '', type: l.get<string>('type') ?? '', blobs: l.all<CaffeMsg>('blobs') });
  for (const l of net.all<CaffeMsg>('layers')) {
    const t = l.get<number>('type') ?? 0;
    out.push({ name: l.get<string>('name') ?? '', type: V1_LAYER_TYPES[t] ?? `V1 type ${t}`, blobs: l.all<CaffeMsg>('blobs') });
  }
  return out;
}

// =========================================================================================
// The graph
// =========================================================================================

type Mode = 'declared' | 'symbolic' | 'concrete';

function isNum(d: Dim): d is number {
  return typeof d === 'number';
}

function check(ok: boolean | undefined, err: () => FcnkitError): void {
  if (ok === false) throw err();
}

function ge(a: Dim, b: Dim): boolean | undefined {
  const d = dimSub(a, b);
  return isNum(d) ? d >= 0 : undefined;
}

function allNum(s: readonly Dim[]): s is number[] {
  return s.every(isNum);
}

function canonicalAxis(l: LayerIR, axis: number, rank: number, what = 'axis', allowEnd = false): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a > rank || (a === rank && !allowEnd)) throw bad(l, `${what} ${axis} is out of range for a ${rank}-D blob`);
  return a;
}

class Emitter {
  readonly nodes: GraphSpecNode[] = [];
  readonly constants: Record<string, NativeTensor> = {};

  node(name: string, type: string, inputs: string[], output: string, attrs: NativeAttrs = {}): void {
    this.nodes.push({ name, type, inputs, outputs: [output], attrs });
  }

  constant(name: string, t: NativeTensor): string {
    this.constants[name] = t;
    return name;
  }
}

/** The result of importCaffe: an ImportedGraph with Caffe extras. */
export interface CaffeImportedGraph extends ImportedGraph {
  format: 'caffe';
  /** NetParameter.name. */
  readonly name: string;
  /** Input shapes as the prototxt declares them (Input layer, input_shape, input_dim). */
  readonly declaredShapes: Record<string, number[]>;
  /** Whether the import had weights (a caffemodel, or blobs in the prototxt). */
  readonly hasWeights: boolean;
  /** The final shape of every blob (by Caffe blob name) for these input shapes; no weights needed. */
  inferShapes(inputShapes: Record<string, readonly number[]>): Record<string, number[]>;
  specFor(inputShapes: Record<string, readonly number[]>): GraphSpec;
  /**
   * Present when the graph builder can express every layer: a new Model each call, holding the
   * imported weights (a fresh seeded initialisation when there were none).
   */
  toModel?(): Model;
}

class CaffeGraph {
  readonly format = 'caffe' as const;
  readonly inputs: ImportedTensorInfo[];
  readonly outputs: ImportedTensorInfo[];
  readonly declaredShapes: Record<string, number[]> = {};
  readonly hasWeights: boolean;
  private readonly inputList: InputIR[];
  private readonly nodes: NodeIR[];
  private readonly outputValues: string[];
  private readonly chains = new Map<NodeIR, Chain>();
  private readonly absorbed = new Set<NodeIR>();
  /** InnerProduct over a 4-D input: its kernel, the input's H×W at the declared size. */
  private readonly ipKernel = new Map<string, Pair>();
  private readonly tensors = new Map<string, Tensor<Float32Array>>();
  private readonly finalValue = new Map<string, string>();
  private readonly unavailable = new Set<string>();

  constructor(readonly name: string, layers: LayerIR[], inputs: InputIR[]) {
    this.inputList = inputs;
    this.hasWeights = layers.some((l) => l.blobs !== undefined && l.blobs.length > 0);
    const ssa = this.toSsa(layers);
    this.nodes = ssa.nodes;
    this.outputValues = ssa.outputs;
    this.planChains();
    for (const inp of inputs) if (inp.declared) this.declaredShapes[inp.blob] = [...inp.declared];

    // The declared size fixes InnerProduct kernels and checks every blob at real sizes.
    if (inputs.every((i) => i.declared)) this.run('declared', new Map(inputs.map((i) => [i.blob, i.declared!])));
    const symbolic = this.run('symbolic', new Map(inputs.map((i) => [i.blob, i.symbolic])));
    const report = (d: Dim): number | string | null => (isNum(d) ? d : d.symbolName ?? null);
    this.inputs = inputs.map((i) => ({ name: i.blob, dtype: 'float32', shape: i.symbolic.map(report) }));
    this.outputs = this.outputValues.map((v) => ({ name: v, dtype: 'float32', shape: symbolic.get(v)!.map(report) }));
  }

  // ---- single assignment --------------------------------------------------------------

  private toSsa(layers: LayerIR[]): { nodes: NodeIR[]; outputs: string[] } {
    const inputBlobs = new Set(this.inputList.map((i) => i.blob));
    const defs = new Map<string, number>();
    for (const b of inputBlobs) defs.set(b, 1);
    const isSource = (l: LayerIR): boolean => l.type === 'Input' || l.type === 'DummyData' || l.type === 'MemoryData' || DATA_TYPES.has(l.type);
    for (const l of layers) if (!isSource(l)) for (const t of l.tops) defs.set(t, (defs.get(t) ?? 0) + 1);
    const version = new Map<string, number>();
    const current = new Map<string, string>();
    const valueName = (blob: string, k: number): string => {
      const last = k === defs.get(blob)! - 1;
      if (inputBlobs.has(blob)) return k === 0 ? blob : `${blob}#${k}`;
      return last ? blob : `${blob}#${k}`;
    };
    for (const b of inputBlobs) {
      version.set(b, 0);
      current.set(b, b);
    }
    const nodes: NodeIR[] = [];
    const available = new Set(inputBlobs);
    for (const l of layers) {
      if (isSource(l)) {
        // The tops are graph inputs, set up already, except a data layer's labels (tops after
        // the first): nothing provides those at inference.
        for (const t of l.tops) {
          if (inputBlobs.has(t)) continue;
          const v = `${t}#label`;
          this.unavailable.add(v);
          current.set(t, v);
        }
        continue;
      }
      const ins = l.bottoms.map((b) => {
        const v = current.get(b);
        if (v === undefined) throw bad(l, `reads blob '${b}', which no earlier layer makes`);
        if (this.unavailable.has(v)) {
          throw unsupported(l, `reads '${b}', a training label of a data layer; import the deploy prototxt`);
        }
        return v;
      });
      for (const b of l.bottoms) available.delete(b);
      const outs = l.tops.map((t) => {
        const k = version.has(t) ? version.get(t)! + 1 : 0;
        version.set(t, k);
        const v = valueName(t, k);
        current.set(t, v);
        available.add(t);
        return v;
      });
      nodes.push({ layer: l, ins, outs });
    }
    for (const [blob, v] of current) this.finalValue.set(blob, v);
    const outputs = [...available].map((b) => current.get(b)!).filter((v) => !inputBlobs.has(v) && !this.unavailable.has(v));
    if (outputs.length === 0) throw new FcnkitError('BAD_MODEL', 'Caffe net: no layer output is left unconsumed, so the net has no outputs');
    return { nodes, outputs };
  }

  /** Conv → [BatchNorm] → [Scale] → [ReLU] chains whose intermediate values nothing else reads. */
  private planChains(): void {
    const uses = new Map<string, NodeIR[]>();
    for (const n of this.nodes) for (const v of n.ins) uses.set(v, [...(uses.get(v) ?? []), n]);
    const outputs = new Set(this.outputValues);
    const sole = (v: string): NodeIR | undefined => {
      const u = uses.get(v);
      return u && u.length === 1 && !outputs.has(v) && u[0].ins.length === 1 ? u[0] : undefined;
    };
    const channelScale = (n: NodeIR | undefined): boolean =>
      n !== undefined && n.layer.type === 'Scale' && n.layer.bottoms.length === 1 && (n.layer.axis === 1 || n.layer.axis === -3) && n.layer.numAxes === 1;
    for (const n of this.nodes) {
      if (this.absorbed.has(n)) continue;
      const t = n.layer.type;
      if (t !== 'Convolution' && t !== 'Deconvolution' && t !== 'InnerProduct' && t !== 'BatchNorm') continue;
      const chain: Chain = { out: n.outs[0] };
      if (t === 'Convolution') {
        const bn = sole(chain.out);
        if (bn?.layer.type === 'BatchNorm') {
          chain.bn = bn;
          chain.out = bn.outs[0];
        }
      }
      if (t === 'Convolution' || t === 'BatchNorm') {
        const sc = sole(chain.out);
        if (channelScale(sc)) {
          chain.scale = sc;
          chain.out = sc!.outs[0];
        }
      }
      if (t !== 'BatchNorm') {
        const relu = sole(chain.out);
        if (relu?.layer.type === 'ReLU' && relu.layer.slope === 0) {
          chain.relu = relu;
          chain.out = relu.outs[0];
        }
      }
      for (const m of [chain.bn, chain.scale, chain.relu]) if (m) this.absorbed.add(m);
      this.chains.set(n, chain);
    }
  }

  // ---- weights ------------------------------------------------------------------------

  private blob(l: LayerIR, i: number, want: readonly number[], role: string): Tensor<Float32Array> {
    const key = `${l.name}\u0000${i}`;
    const cached = this.tensors.get(key);
    if (cached && cached.shape.length === want.length && cached.shape.every((d, j) => d === want[j])) return cached;
    if (!l.blobs) {
      throw new FcnkitError('BAD_MODEL', `${l.type} layer '${l.name}' has no weights: importCaffe was given no caffemodel (pass the .caffemodel bytes)`);
    }
    const b = l.blobs[i];
    if (!blobFits(b, want)) {
      throw bad(l, `blob ${i} (${role}) has shape [${b.shape.join(', ')}]${b.legacy ? ' (legacy num/channels/height/width)' : ''} but the layer needs [${want.join(', ')}]`);
    }
    const t = new Tensor(b.payload.read(), [...want]);
    this.tensors.set(key, t);
    return t;
  }

  /** Checks a blob's shape without reading it (when the shape is known and blobs exist). */
  private checkBlob(l: LayerIR, i: number, want: readonly Dim[], role: string): void {
    if (!l.blobs || !allNum(want)) return;
    const b = l.blobs[i];
    if (!blobFits(b, want)) {
      throw bad(l, `blob ${i} (${role}) has shape [${b.shape.join(', ')}]${b.legacy ? ' (legacy num/channels/height/width)' : ''} but the layer needs [${want.join(', ')}]`);
    }
  }

  /** A tensor made from blobs, made once per shape (`shape` keys the cache with `name`). */
  private derived(name: string, shape: readonly number[], make: () => Tensor<Float32Array>): Tensor<Float32Array> {
    const key = `${name}[${shape.join(',')}]`;
    let t = this.tensors.get(key);
    if (!t) {
      t = make();
      this.tensors.set(key, t);
    }
    return t;
  }

  /** BatchNorm [+ Scale] as y = s * x + t per channel (float64 math, float32 result). */
  private affine(bn: LayerIR | undefined, scale: LayerIR | undefined, c: number): { s: Float64Array; t: Float64Array } {
    const s = new Float64Array(c).fill(1);
    const t = new Float64Array(c);
    if (bn) {
      const mean = this.blob(bn, 0, [c], 'mean').data;
      const v = this.blob(bn, 1, [c], 'variance').data;
      const f = this.blob(bn, 2, [1], 'moving-average factor').data[0];
      // Caffe divides the accumulated sums by this factor; 0 means nothing was accumulated.
      const k = f === 0 ? 0 : 1 / f;
      for (let i = 0; i < c; i++) {
        s[i] = 1 / Math.sqrt(v[i] * k + bn.eps!);
        t[i] = -mean[i] * k * s[i];
      }
    }
    if (scale) {
      const g = this.blob(scale, 0, [c], 'scale').data;
      const beta = scale.scaleBias ? this.blob(scale, 1, [c], 'bias').data : undefined;
      for (let i = 0; i < c; i++) {
        s[i] *= g[i];
        t[i] = t[i] * g[i] + (beta ? beta[i] : 0);
      }
    }
    return { s, t };
  }

  // ---- shape inference and emission ---------------------------------------------------

  /** Infers every value's shape; in 'concrete' mode with an emitter, emits the native nodes. */
  private run(mode: Mode, given: Map<string, readonly Dim[]>, emit?: Emitter): Map<string, Dim[]> {
    const shapes = new Map<string, Dim[]>();
    const alias = new Map<string, string>();
    for (const [k, v] of given) shapes.set(k, [...v]);
    const val = (v: string): string => alias.get(v) ?? v;
    const sh = (v: string): Dim[] => shapes.get(v)!;
    for (const n of this.nodes) {
      if (this.absorbed.has(n)) continue;
      const l = n.layer;
      const chain = this.chains.get(n);
      const out = chain?.out ?? n.outs[0];
      const xs = n.ins.map(sh);
      const x = xs[0];
      const set = (s: Dim[], v = out): void => {
        shapes.set(v, s);
        // Values inside a folded chain have the same shape.
        if (chain) for (const m of [chain.bn, chain.scale, chain.relu]) if (m) shapes.set(m.outs[0], s);
        if (v === out) shapes.set(n.outs[0], s);
      };
      const need4 = (what = 'a 4-D input [N, C, H, W]'): void => {
        if (x.length !== 4) throw unsupported(l, `expects ${what} but bottom '${l.bottoms[0]}' is ${shapeToString(x)}`);
      };
      switch (l.type) {
        case 'Convolution':
        case 'Deconvolution': {
          need4();
          const p = l.conv!;
          const c = x[1];
          const deconv = l.type === 'Deconvolution';
          if (isNum(c) && c % p.group !== 0) throw mismatch(l, `group ${p.group} does not divide the ${c} input channels (bottom ${shapeToString(x)})`);
          const wShape: Dim[] = deconv
            ? [c, p.numOutput / p.group, ...p.kernel]
            : [p.numOutput, isNum(c) ? c / p.group : c, ...p.kernel];
          if (mode !== 'concrete') {
            this.checkBlob(l, 0, wShape, 'weight');
            if (p.bias) this.checkBlob(l, 1, [p.numOutput], 'bias');
          }
          const hw = [0, 1].map((i) => {
            const d = x[2 + i];
            const ext = p.dilation[i] * (p.kernel[i] - 1) + 1;
            const o = deconv
              ? dimAdd(dimMul(dimSub(d, 1), p.stride[i]), ext - 2 * p.pad[i])
              : dimAdd(dimFloorDiv(dimAdd(d, 2 * p.pad[i] - ext), p.stride[i]), 1);
            check(ge(o, 1), () => mismatch(l, `output ${i ? 'width' : 'height'} ${String(o)} is not positive (bottom ${shapeToString(x)}, kernel ${p.kernel.join('×')}, pad ${p.pad.join('/')})`));
            if (!deconv) check(ge(dimAdd(d, 2 * p.pad[i]), ext), () => mismatch(l, `the padded input ${String(dimAdd(d, 2 * p.pad[i]))} is smaller than the kernel extent ${ext} (bottom ${shapeToString(x)})`));
            return o;
          });
          if (chain?.bn || chain?.scale) this.checkChain(mode, chain, p.numOutput);
          set([x[0], p.numOutput, ...hw]);
          if (emit) {
            const w = this.blob(l, 0, wShape as number[], 'weight');
            const b = p.bias ? this.blob(l, 1, [p.numOutput], 'bias') : undefined;
            const inputs = [val(n.ins[0])];
            if (chain?.bn || chain?.scale) {
              const fw = this.derived(`${l.name}#folded_weight`, w.shape, () => {
                const { s } = this.affine(chain.bn?.layer, chain.scale?.layer, p.numOutput);
                const per = w.data.length / p.numOutput;
                const d = new Float32Array(w.data.length);
                for (let o = 0; o < p.numOutput; o++) for (let j = 0; j < per; j++) d[o * per + j] = w.data[o * per + j] * s[o];
                return new Tensor(d, w.shape);
              });
              const fb = this.derived(`${l.name}#folded_bias`, w.shape, () => {
                const { s, t } = this.affine(chain.bn?.layer, chain.scale?.layer, p.numOutput);
                const d = new Float32Array(p.numOutput);
                for (let o = 0; o < p.numOutput; o++) d[o] = (b ? b.data[o] : 0) * s[o] + t[o];
                return new Tensor(d, [p.numOutput]);
              });
              inputs.push(emit.constant(`${l.name}#folded_weight`, fw), emit.constant(`${l.name}#folded_bias`, fb));
            } else {
              inputs.push(emit.constant(`${l.name}.weight`, w));
              if (b) inputs.push(emit.constant(`${l.name}.bias`, b));
            }
            const attrs: NativeAttrs = {
              stride: [...p.stride], dilation: [...p.dilation], groups: p.group, pads: [p.pad[0], p.pad[1], p.pad[0], p.pad[1]],
              activation: chain?.relu ? 'relu' : 'none',
            };
            if (deconv) attrs.outputPadding = [0, 0];
            emit.node(l.name, deconv ? 'convTranspose2d' : 'conv2d', inputs, out, attrs);
          }
          break;
        }
        case 'InnerProduct': {
          const p = l.ip!;
          const axis = canonicalAxis(l, p.axis, x.length);
          if (axis !== 1) throw unsupported(l, `axis ${p.axis} (only axis 1, everything after the batch, is supported)`);
          if (x.length === 4) {
            // Convolutionalised: the weight [out, C*H*W] is an H×W kernel over the input the layer
            // was made for; a larger input slides it (FCN's fc6).
            let k = this.ipKernel.get(l.name);
            if (!k && mode === 'declared' && isNum(x[2]) && isNum(x[3])) this.ipKernel.set(l.name, (k = [x[2], x[3]]));
            if (!k) throw unsupported(l, `an InnerProduct over a 4-D blob needs the prototxt to declare the input size (its kernel is the blob's H×W at that size); bottom is ${shapeToString(x)}`);
            const c = x[1];
            const kk = isNum(c) ? c * k[0] * k[1] : undefined;
            if (mode !== 'concrete' && kk !== undefined) {
              this.checkBlob(l, 0, p.transpose ? [kk, p.numOutput] : [p.numOutput, kk], 'weight');
              if (p.bias) this.checkBlob(l, 1, [p.numOutput], 'bias');
            }
            const hw = [0, 1].map((i) => {
              const o = dimAdd(x[2 + i], 1 - k![i]);
              check(ge(o, 1), () => mismatch(l, `bottom ${shapeToString(x)} is smaller than the ${k!.join('×')} input the layer was made for`));
              return o;
            });
            set([x[0], p.numOutput, ...hw]);
            if (emit) {
              const cc = c as number;
              const w = this.blob(l, 0, p.transpose ? [kk!, p.numOutput] : [p.numOutput, kk!], 'weight');
              const cw = this.derived(`${l.name}#conv_weight`, [p.numOutput, cc, k![0], k![1]], () => {
                if (!p.transpose) return w.reshape([p.numOutput, cc, k![0], k![1]]);
                const d = new Float32Array(w.data.length);
                for (let i = 0; i < kk!; i++) for (let o = 0; o < p.numOutput; o++) d[o * kk! + i] = w.data[i * p.numOutput + o];
                return new Tensor(d, [p.numOutput, cc, k![0], k![1]]);
              });
              const inputs = [val(n.ins[0]), emit.constant(`${l.name}#conv_weight`, cw)];
              if (p.bias) inputs.push(emit.constant(`${l.name}.bias`, this.blob(l, 1, [p.numOutput], 'bias')));
              emit.node(l.name, 'conv2d', inputs, out, {
                stride: [1, 1], dilation: [1, 1], groups: 1, pads: [0, 0, 0, 0], activation: chain?.relu ? 'relu' : 'none',
              });
            }
          } else if (x.length === 2) {
            const kk = x[1];
            if (mode !== 'concrete' && isNum(kk)) {
              this.checkBlob(l, 0, p.transpose ? [kk, p.numOutput] : [p.numOutput, kk], 'weight');
              if (p.bias) this.checkBlob(l, 1, [p.numOutput], 'bias');
            }
            set([x[0], p.numOutput]);
            if (emit) {
              const w = this.blob(l, 0, p.transpose ? [kk as number, p.numOutput] : [p.numOutput, kk as number], 'weight');
              const inputs = [val(n.ins[0]), emit.constant(`${l.name}.weight`, w)];
              if (p.bias) inputs.push(emit.constant(`${l.name}.bias`, this.blob(l, 1, [p.numOutput], 'bias')));
              const gemmOut = chain?.relu ? `${out}#gemm` : out;
              emit.node(l.name, 'gemm', inputs, gemmOut, { transA: 0, transB: p.transpose ? 0 : 1, alpha: 1, beta: 1 });
              if (chain?.relu) emit.node(chain.relu.layer.name, 'relu', [gemmOut], out);
            }
          } else throw unsupported(l, `an InnerProduct over a ${x.length}-D blob ${shapeToString(x)} (2-D and 4-D are supported)`);
          break;
        }
        case 'Pooling': {
          need4();
          const p = l.pool!;
          if (p.global) {
            set([x[0], x[1], 1, 1]);
            if (emit) {
              if (p.max) {
                emit.node(l.name, 'maxPool2d', [val(n.ins[0])], out, {
                  kernel: [x[2] as number, x[3] as number], stride: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0], ceilMode: false,
                });
              } else emit.node(l.name, 'globalAvgPool2d', [val(n.ins[0])], out);
            }
            break;
          }
          const hw = [0, 1].map((i) => {
            const d = x[2 + i];
            const k = p.kernel[i];
            const s = p.stride[i];
            const pad = p.pad[i];
            check(ge(dimAdd(d, 2 * pad), k), () => mismatch(l, `bottom ${shapeToString(x)} with pad ${pad} is smaller than the ${k}-wide window on axis ${i ? 'W' : 'H'}`));
            if (!p.ceil) return dimAdd(dimFloorDiv(dimAdd(d, 2 * pad - k), s), 1);
            let o = dimAdd(dimCeilDiv(dimAdd(d, 2 * pad - k), s), 1);
            if (pad > 0) {
              // Caffe: with padding, a last window starting in the bottom/right padding is dropped.
              o = dimMin(o, dimCeilDiv(dimAdd(d, pad), s));
            } else {
              // Without padding Caffe keeps it even when it starts past the input (kernel < stride).
              check(ge(dimSub(d, 1), dimMul(dimSub(o, 1), s)), () => unsupported(l,
                `its last ${k}-wide window (stride ${s}) would start past the input's ${String(d)} pixels on axis ${i ? 'W' : 'H'}; Caffe pools an empty window there`));
            }
            return o;
          });
          set([x[0], x[1], ...hw]);
          if (emit) {
            const attrs: NativeAttrs = {
              kernel: [...p.kernel], stride: [...p.stride], dilation: [1, 1], pads: [p.pad[0], p.pad[1], p.pad[0], p.pad[1]], ceilMode: p.ceil,
            };
            // Caffe AVE divides by the window clipped to the padded input: padding counts.
            if (!p.max) attrs.countIncludePad = true;
            emit.node(l.name, p.max ? 'maxPool2d' : 'avgPool2d', [val(n.ins[0])], out, attrs);
          }
          break;
        }
        case 'ReLU':
        case 'Sigmoid':
        case 'TanH':
          set([...x]);
          if (emit) {
            if (l.type === 'ReLU') {
              if (l.slope === 0) emit.node(l.name, 'relu', [val(n.ins[0])], out);
              else emit.node(l.name, 'leakyRelu', [val(n.ins[0])], out, { alpha: l.slope });
            } else emit.node(l.name, l.type === 'Sigmoid' ? 'sigmoid' : 'tanh', [val(n.ins[0])], out);
          }
          break;
        case 'Dropout':
        case 'Split':
          // Identity at inference: the tops are the bottom.
          for (const o of n.outs) {
            shapes.set(o, [...x]);
            alias.set(o, val(n.ins[0]));
          }
          break;
        case 'Silence':
          break;
        case 'Softmax': {
          const axis = canonicalAxis(l, l.axis!, x.length);
          set([...x]);
          if (emit) emit.node(l.name, 'softmax', [val(n.ins[0])], out, { axis });
          break;
        }
        case 'Concat': {
          const r = x.length;
          const axis = canonicalAxis(l, l.axis!, r);
          let total: Dim = 0;
          xs.forEach((s, j) => {
            if (s.length !== r) throw mismatch(l, `bottom ${j} '${l.bottoms[j]}' ${shapeToString(s)} has another rank than bottom 0 ${shapeToString(x)}`);
            for (let i = 0; i < r; i++) {
              if (i !== axis) check(dimEquals(s[i], x[i]), () => mismatch(l, `bottom ${j} '${l.bottoms[j]}' ${shapeToString(s)} differs from bottom 0 ${shapeToString(x)} on axis ${i} (only axis ${axis} may differ)`));
            }
            total = dimAdd(total, s[axis]);
          });
          const y = [...x];
          y[axis] = total;
          set(y);
          if (emit) emit.node(l.name, 'concat', n.ins.map(val), out, { axis });
          break;
        }
        case 'Eltwise': {
          xs.forEach((s, j) => {
            const same = s.length === x.length && s.every((d, i) => dimEquals(d, x[i]) !== false);
            if (!same) throw mismatch(l, `bottom ${j} '${l.bottoms[j]}' ${shapeToString(s)} differs from bottom 0 ${shapeToString(x)} (Eltwise needs equal shapes)`);
          });
          set([...x]);
          if (emit) this.emitEltwise(emit, l, n.ins.map(val), out);
          break;
        }
        case 'Crop':
          set(this.crop(l, x, xs[1], emit, val(n.ins[0]), out));
          break;
        case 'BatchNorm': {
          if (x.length < 2) throw unsupported(l, `expects a blob [N, C, ...] but bottom is ${shapeToString(x)}`);
          const c = x[1];
          if (!isNum(c)) {
            if (mode === 'concrete') throw mismatch(l, `unknown channel count in ${shapeToString(x)}`);
          } else {
            if (mode !== 'concrete') this.checkChain(mode, { bn: n, scale: chain?.scale, out }, c);
          }
          set([...x]);
          if (emit) {
            const cc = c as number;
            const bshape = [cc, ...new Array<number>(x.length - 2).fill(1)];
            const s = this.derived(`${l.name}#scale`, bshape, () => new Tensor(Float32Array.from(this.affine(l, chain?.scale?.layer, cc).s), bshape));
            const t = this.derived(`${l.name}#shift`, bshape, () => new Tensor(Float32Array.from(this.affine(l, chain?.scale?.layer, cc).t), bshape));
            emit.node(`${l.name}#mul`, 'mul', [val(n.ins[0]), emit.constant(`${l.name}#scale`, s)], `${out}#scaled`);
            emit.node(l.name, 'add', [`${out}#scaled`, emit.constant(`${l.name}#shift`, t)], out);
          }
          break;
        }
        case 'Scale':
        case 'Bias':
          set([...x]);
          this.scaleOrBias(mode, l, xs, emit, n.ins.map(val), out);
          break;
        default:
          throw unsupported(l, `layer type '${l.type}' is not supported`);
      }
    }
    // A returned value that is another's alias (a net ending in Dropout) still needs its own node.
    if (emit) {
      for (const v of this.outputValues) {
        if (!alias.has(v)) continue;
        const one = this.derived('#one', [1], () => new Tensor(new Float32Array([1]), [1]));
        emit.node(`${v}#copy`, 'mul', [alias.get(v)!, emit.constant('#one', one)], v);
      }
    }
    return shapes;
  }

  /** Blob checks for BatchNorm/Scale folded onto `c` channels (shape-only modes). */
  private checkChain(mode: Mode, chain: Chain, c: number): void {
    if (mode === 'concrete') return;
    if (chain.bn) {
      const l = chain.bn.layer;
      this.checkBlob(l, 0, [c], 'mean');
      this.checkBlob(l, 1, [c], 'variance');
      this.checkBlob(l, 2, [1], 'moving-average factor');
    }
    if (chain.scale) {
      const l = chain.scale.layer;
      this.checkBlob(l, 0, [c], 'scale');
      if (l.scaleBias) this.checkBlob(l, 1, [c], 'bias');
    }
  }

  private emitEltwise(emit: Emitter, l: LayerIR, ins: string[], out: string): void {
    if (l.eltOp === 'MAX') {
      emit.node(l.name, 'max', ins, out);
      return;
    }
    let terms = ins;
    if (l.eltOp === 'SUM' && l.coeffs!.length) {
      terms = ins.map((v, i) => {
        const c = l.coeffs![i];
        if (c === 1) return v;
        const k = this.derived(`${l.name}#coeff${i}`, [1], () => new Tensor(new Float32Array([c]), [1]));
        emit.node(`${l.name}#scale${i}`, 'mul', [v, emit.constant(`${l.name}#coeff${i}`, k)], `${out}#term${i}`);
        return `${out}#term${i}`;
      });
    }
    const op = l.eltOp === 'SUM' ? 'add' : 'mul';
    let acc = terms[0];
    for (let i = 1; i < terms.length; i++) {
      const last = i === terms.length - 1;
      const o = last ? out : `${out}#acc${i}`;
      emit.node(last ? l.name : `${l.name}#${op}${i}`, op, [acc, terms[i]], o);
      acc = o;
    }
  }

  /**
   * Caffe Crop: dims before `axis` stay; from `axis` on, bottom[0] is cut to bottom[1]'s size at
   * `offset` (one value for every cropped axis, or one per axis; none means 0).
   */
  private crop(l: LayerIR, x: Dim[], ref: Dim[], emit: Emitter | undefined, input: string, out: string): Dim[] {
    const r = x.length;
    if (ref.length !== r) throw mismatch(l, `bottom 1 '${l.bottoms[1]}' ${shapeToString(ref)} must have the rank of bottom 0 ${shapeToString(x)}`);
    const axis = canonicalAxis(l, l.axis!, r);
    const offs = l.offsets!;
    if (offs.length > 1 && offs.length !== r - axis) {
      throw bad(l, `${offs.length} offsets for the ${r - axis} axes cropped from axis ${axis} (give one, or one per axis)`);
    }
    const y: Dim[] = [];
    const starts: number[] = [];
    for (let i = 0; i < r; i++) {
      if (i < axis) {
        y.push(x[i]);
        starts.push(0);
        continue;
      }
      const o = offs.length === 0 ? 0 : offs.length === 1 ? offs[0] : offs[i - axis];
      check(ge(x[i], dimAdd(ref[i], o)), () => mismatch(l,
        `offset ${o} + size ${String(ref[i])} on axis ${i} reaches ${String(dimAdd(ref[i], o))}, beyond bottom 0 ${shapeToString(x)} (reference ${shapeToString(ref)})`));
      y.push(ref[i]);
      starts.push(o);
    }
    if (emit) {
      const ys = y as number[];
      const xs = x as number[];
      const spatialOnly = r === 4 && starts[0] === 0 && starts[1] === 0 && ys[0] === xs[0] && ys[1] === xs[1];
      if (spatialOnly) emit.node(l.name, 'crop', [input], out, { offset: [starts[2], starts[3]], size: [ys[2], ys[3]] });
      else emit.node(l.name, 'slice', [input], out, { starts, steps: new Array<number>(r).fill(1), sizes: ys });
    }
    return y;
  }

  /** Scale (y = x * s [+ b]) and Bias (y = x + b) along axes [axis, axis + num_axes). */
  private scaleOrBias(mode: Mode, l: LayerIR, xs: Dim[][], emit: Emitter | undefined, ins: string[], out: string): void {
    const x = xs[0];
    const r = x.length;
    const axis = canonicalAxis(l, l.axis!, r, 'axis', true);
    const scale = l.type === 'Scale';
    let pShape: Dim[];
    if (xs.length === 2) {
      const p = xs[1];
      pShape = p;
      if (axis + p.length > r || p.some((d, i) => dimEquals(d, x[axis + i]) === false)) {
        throw mismatch(l, `bottom 1 '${l.bottoms[1]}' ${shapeToString(p)} does not match bottom 0 ${shapeToString(x)} from axis ${axis}`);
      }
    } else {
      const n = l.numAxes === -1 ? r - axis : l.numAxes!;
      if (axis + n > r) throw bad(l, `axis ${axis} + num_axes ${n} exceed the ${r} axes of bottom ${shapeToString(x)}`);
      pShape = x.slice(axis, axis + n);
    }
    const trailing = new Array<number>(r - axis - pShape.length).fill(1);
    if (xs.length === 1 && allNum(pShape) && mode !== 'concrete') {
      this.checkBlob(l, 0, pShape, scale ? 'scale' : 'bias');
      if (scale && l.scaleBias) this.checkBlob(l, 1, pShape, 'bias');
    }
    if (xs.length === 2 && scale && l.scaleBias && allNum(pShape) && mode !== 'concrete') this.checkBlob(l, 0, pShape, 'bias');
    if (!emit) return;
    const ps = pShape as number[];
    const bshape = [...ps, ...trailing];
    let operand: string;
    if (xs.length === 2) {
      operand = ins[1];
      if (trailing.length) {
        emit.node(`${l.name}#reshape`, 'reshape', [ins[1]], `${out}#operand`, { shape: bshape });
        operand = `${out}#operand`;
      }
    } else {
      const t = this.derived(`${l.name}#param`, bshape, () => this.blob(l, 0, ps, scale ? 'scale' : 'bias').reshape(bshape));
      operand = emit.constant(`${l.name}#param`, t);
    }
    const biasIndex = xs.length === 2 ? 0 : 1;
    if (!scale) {
      emit.node(l.name, 'add', [ins[0], operand], out);
      return;
    }
    if (!l.scaleBias) {
      emit.node(l.name, 'mul', [ins[0], operand], out);
      return;
    }
    const b = this.derived(`${l.name}#bias`, bshape, () => this.blob(l, biasIndex, ps, 'bias').reshape(bshape));
    emit.node(`${l.name}#mul`, 'mul', [ins[0], operand], `${out}#scaled`);
    emit.node(l.name, 'add', [`${out}#scaled`, emit.constant(`${l.name}#bias`, b)], out);
  }

  // ---- public -------------------------------------------------------------------------

  private concreteInputs(inputShapes: Record<string, readonly number[]>): Map<string, number[]> {
    if (typeof inputShapes !== 'object' || inputShapes === null || Array.isArray(inputShapes)) {
      throw new FcnkitError('INVALID_ARGUMENT', `Expected an object of input shapes by name (${this.inputList.map((i) => `'${i.blob}'`).join(', ')}) but received ${Array.isArray(inputShapes) ? 'an array' : String(inputShapes)}`);
    }
    for (const k of Object.keys(inputShapes)) {
      if (!this.inputList.some((i) => i.blob === k)) {
        throw new FcnkitError('INVALID_ARGUMENT', `Caffe net has no input '${k}' (its inputs are ${this.inputList.map((i) => `'${i.blob}'`).join(', ')})`);
      }
    }
    const out = new Map<string, number[]>();
    for (const inp of this.inputList) {
      const s = inputShapes[inp.blob];
      if (!Array.isArray(s) || s.some((d) => !Number.isSafeInteger(d) || d < 1)) {
        throw new FcnkitError('INVALID_ARGUMENT', `Expected an array of positive integers for the shape of input '${inp.blob}' but received ${s === undefined ? 'nothing' : JSON.stringify(s)}`);
      }
      const ok = s.length === inp.symbolic.length && inp.symbolic.every((d, i) => !isNum(d) || d === s[i]);
      if (!ok) throw new FcnkitError('SHAPE_MISMATCH', `input '${inp.blob}': expected shape ${shapeToString(inp.symbolic)} but received [${s.join(', ')}]`);
      out.set(inp.blob, [...s]);
    }
    return out;
  }

  inferShapes(inputShapes: Record<string, readonly number[]>): Record<string, number[]> {
    const shapes = this.run('concrete', this.concreteInputs(inputShapes));
    const out: Record<string, number[]> = {};
    for (const [blob, v] of this.finalValue) {
      const s = shapes.get(v);
      if (s) out[blob] = s as number[];
    }
    return out;
  }

  specFor(inputShapes: Record<string, readonly number[]>): GraphSpec {
    const given = this.concreteInputs(inputShapes);
    const emit = new Emitter();
    this.run('concrete', given, emit);
    return {
      inputs: this.inputList.map((i) => ({ name: i.blob, shape: given.get(i.blob)! })),
      constants: emit.constants,
      nodes: emit.nodes,
      outputs: [...this.outputValues],
    };
  }

  /**
   * The net as a GraphBuilder Model (with the imported weights when there are any), or undefined
   * where the builder cannot express a layer. `withWeights` false: the architecture only.
   */
  toModel(withWeights = this.hasWeights): Model | undefined {
    try {
      return this.buildModel(withWeights);
    } catch (err) {
      if (err instanceof NotExpressible) return undefined;
      if (err instanceof FcnkitError && (err.code === 'INVALID_ARGUMENT' || err.code === 'SHAPE_MISMATCH')) return undefined;
      throw err;
    }
  }

  private buildModel(useWeights: boolean): Model {
    const g = new GraphBuilder();
    const t = new Map<string, SymbolicTensor>();
    const weights: Record<string, Tensor> = {};
    for (const inp of this.inputList) {
      if (!inp.declared) throw new NotExpressible();
      const shape = inp.declared.length === 4 ? [null, inp.declared[1], null, null] : [null, ...inp.declared.slice(1)];
      t.set(inp.blob, g.input(inp.blob, shape));
    }
    const get = (v: string): SymbolicTensor => {
      const s = t.get(v);
      if (!s) throw new NotExpressible();
      return s;
    };
    for (const n of this.nodes) {
      if (this.absorbed.has(n)) continue;
      const l = n.layer;
      const chain = this.chains.get(n);
      const x = () => get(n.ins[0]);
      let y: SymbolicTensor;
      switch (l.type) {
        case 'Convolution':
        case 'Deconvolution': {
          const p = l.conv!;
          const deconv = l.type === 'Deconvolution';
          const xin = x();
          const c = xin.shape[1] as number;
          const opts = {
            outChannels: p.numOutput, kernel: p.kernel, stride: p.stride, dilation: p.dilation, groups: p.group, bias: p.bias,
            padding: p.pad,
          };
          if (deconv) {
            const bilinearOk = p.bilinear && p.kernel[0] === p.kernel[1] && ((p.group === 1 && c === p.numOutput) || (p.group === c && p.numOutput === c));
            y = g.convTranspose2d(l.name, xin, { ...opts, init: bilinearOk && !useWeights ? 'bilinear' : 'he' });
            if (useWeights) {
              weights[`${l.name}.weight`] = this.blob(l, 0, [c, p.numOutput / p.group, ...p.kernel], 'weight');
              if (p.bias) weights[`${l.name}.bias`] = this.blob(l, 1, [p.numOutput], 'bias');
            }
          } else {
            y = g.conv2d(l.name, xin, opts);
            if (useWeights) {
              weights[`${l.name}.weight`] = this.blob(l, 0, [p.numOutput, c / p.group, ...p.kernel], 'weight');
              if (p.bias) weights[`${l.name}.bias`] = this.blob(l, 1, [p.numOutput], 'bias');
            }
          }
          y = this.modelChain(g, chain, y, p.numOutput, weights, useWeights);
          break;
        }
        case 'InnerProduct': {
          const p = l.ip!;
          const k = this.ipKernel.get(l.name);
          const xin = x();
          if (!k || xin.rank !== 4) throw new NotExpressible();
          const c = xin.shape[1] as number;
          y = g.conv2d(l.name, xin, { outChannels: p.numOutput, kernel: k, bias: p.bias });
          if (useWeights) {
            const kk = c * k[0] * k[1];
            const w = this.blob(l, 0, p.transpose ? [kk, p.numOutput] : [p.numOutput, kk], 'weight');
            let d = w.data;
            if (p.transpose) {
              d = new Float32Array(w.data.length);
              for (let i = 0; i < kk; i++) for (let o = 0; o < p.numOutput; o++) d[o * kk + i] = w.data[i * p.numOutput + o];
            }
            weights[`${l.name}.weight`] = new Tensor(d, [p.numOutput, c, k[0], k[1]]);
            if (p.bias) weights[`${l.name}.bias`] = this.blob(l, 1, [p.numOutput], 'bias');
          }
          y = this.modelChain(g, chain, y, p.numOutput, weights, useWeights);
          break;
        }
        case 'Pooling': {
          const p = l.pool!;
          if (p.global) throw new NotExpressible();
          const o = { kernel: p.kernel, stride: p.stride, padding: p.pad, ceilMode: p.ceil };
          y = p.max ? g.maxPool2d(l.name, x(), o) : g.avgPool2d(l.name, x(), { ...o, countIncludePad: true });
          break;
        }
        case 'ReLU':
          if (l.slope !== 0) throw new NotExpressible();
          y = g.relu(l.name, x());
          break;
        case 'Dropout':
          y = g.dropout(l.name, x());
          for (const o of n.outs) t.set(o, y);
          continue;
        case 'Split':
          for (const o of n.outs) t.set(o, x());
          continue;
        case 'Softmax':
          y = g.softmax(l.name, x(), canonicalAxis(l, l.axis!, x().rank));
          break;
        case 'Concat':
          y = g.concat(l.name, n.ins.map(get), canonicalAxis(l, l.axis!, x().rank));
          break;
        case 'Eltwise':
          if (n.ins.length !== 2 || l.eltOp === 'MAX' || l.coeffs!.some((c) => c !== 1)) throw new NotExpressible();
          y = l.eltOp === 'SUM' ? g.add(l.name, get(n.ins[0]), get(n.ins[1])) : g.mul(l.name, get(n.ins[0]), get(n.ins[1]));
          break;
        case 'Crop': {
          const xin = x();
          const ref = get(n.ins[1]);
          if (xin.rank !== 4 || canonicalAxis(l, l.axis!, 4) !== 2) throw new NotExpressible();
          const offs = l.offsets!;
          const offset: [number, number] = offs.length === 0 ? [0, 0] : offs.length === 1 ? [offs[0], offs[0]] : [offs[0], offs[1]];
          y = g.crop(l.name, xin, { like: ref, offset });
          break;
        }
        case 'BatchNorm': {
          const xin = x();
          const c = xin.shape[1];
          if (typeof c !== 'number') throw new NotExpressible();
          y = this.modelBatchNorm(g, l.name, xin, n, chain?.scale, c, weights, useWeights);
          break;
        }
        case 'Scale': {
          const xin = x();
          const c = xin.shape[1];
          if (n.ins.length !== 1 || typeof c !== 'number' || canonicalAxis(l, l.axis!, xin.rank, 'axis', true) !== 1 || l.numAxes !== 1) throw new NotExpressible();
          // A uniform factor (FCN-8s-atonce's pool scaling) is the builder's scale; a per-channel
          // affine is a batchNorm with mean 0, variance 1 and eps 0 (exact: it divides by 1).
          const values = useWeights ? this.blob(l, 0, [c], 'scale').data : undefined;
          const uniform = values ? values.every((v) => v === values[0]) : l.fillerValue !== undefined;
          if (!l.scaleBias && uniform) {
            y = g.scale(l.name, xin, values ? values[0] : l.fillerValue!);
          } else {
            y = this.modelBatchNorm(g, l.name, xin, undefined, n, c, weights, useWeights);
          }
          break;
        }
        default:
          throw new NotExpressible();
      }
      t.set(chain?.out ?? n.outs[0], y);
      t.set(n.outs[0], y);
    }
    for (const v of this.outputValues) g.output(v, get(v));
    return new Model(g, useWeights ? { weights } : {});
  }

  /** A conv's folded BatchNorm/Scale and ReLU, as builder layers. */
  private modelChain(g: GraphBuilder, chain: Chain | undefined, y: SymbolicTensor, c: number, weights: Record<string, Tensor>, useWeights: boolean): SymbolicTensor {
    if (!chain) return y;
    if (chain.bn) y = this.modelBatchNorm(g, chain.bn.layer.name, y, chain.bn, chain.scale, c, weights, useWeights);
    else if (chain.scale) y = this.modelBatchNorm(g, chain.scale.layer.name, y, undefined, chain.scale, c, weights, useWeights);
    if (chain.relu) y = g.relu(chain.relu.layer.name, y);
    return y;
  }

  private modelBatchNorm(g: GraphBuilder, name: string, x: SymbolicTensor, bn: NodeIR | undefined, scale: NodeIR | undefined,
    c: number, weights: Record<string, Tensor>, useWeights: boolean): SymbolicTensor {
    const y = g.batchNorm(name, x, { eps: bn ? bn.layer.eps! : 0 });
    if (useWeights) {
      const ones = new Float32Array(c).fill(1);
      let mean = new Float32Array(c);
      let variance = ones;
      if (bn) {
        const f = this.blob(bn.layer, 2, [1], 'moving-average factor').data[0];
        const k = f === 0 ? 0 : 1 / f;
        mean = this.blob(bn.layer, 0, [c], 'mean').data.map((v) => v * k);
        variance = this.blob(bn.layer, 1, [c], 'variance').data.map((v) => v * k);
      }
      const sl = scale?.layer;
      weights[`${name}.running_mean`] = new Tensor(mean, [c]);
      weights[`${name}.running_var`] = new Tensor(Float32Array.from(variance), [c]);
      weights[`${name}.weight`] = sl ? this.blob(sl, 0, [c], 'scale') : new Tensor(Float32Array.from(ones), [c]);
      weights[`${name}.bias`] = sl?.scaleBias ? this.blob(sl, 1, [c], 'bias') : new Tensor(new Float32Array(c), [c]);
    }
    return y;
  }
}

class NotExpressible extends Error {}

// =========================================================================================
// Entry points
// =========================================================================================

function netFrom(prototxt: string | Uint8Array | null | undefined, model: CaffeMsg | undefined): CaffeMsg {
  if (prototxt === null || prototxt === undefined || (typeof prototxt === 'string' && prototxt.trim() === '')) {
    if (!model) throw new FcnkitError('INVALID_ARGUMENT', 'importCaffe needs a prototxt (the net) or at least a caffemodel');
    return model;
  }
  const text = prototxt instanceof Uint8Array ? new TextDecoder('utf-8').decode(prototxt) : prototxt;
  if (typeof text !== 'string') {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a string or Uint8Array for the prototxt but received ${typeof prototxt}`);
  }
  const tree = parsePrototxt(text);
  // V1 nets name layer types by enum (CONVOLUTION): refused before their fields are typed.
  if (tree.fields.some((f) => f.name === 'layers') && !tree.fields.some((f) => f.name === 'layer')) throw v1Refusal();
  return fromText(tree, 'NetParameter');
}

function v1Refusal(): FcnkitError {
  return new FcnkitError('UNSUPPORTED_OP', "Caffe net uses the legacy V1 `layers` format; upgrade it with Caffe's upgrade_net_proto_text (or _binary) first");
}

/**
 * Imports a Caffe net: `prototxt` (text, e.g. deploy.prototxt) and optionally the `.caffemodel`
 * bytes whose blobs are matched to layers by name. Without a caffemodel the graph reports shapes
 * and toModel() gives a freshly initialised Model, but specFor() needs weights (BAD_MODEL).
 * With an empty prototxt the net's structure is read from the caffemodel itself.
 *
 * Errors: BAD_MODEL (malformed text or binary, with line:column or byte offset; blobs missing or
 * of the wrong shape, naming the layer and both shapes), UNSUPPORTED_OP (a layer type or option
 * fcnkit does not run, naming the layer), SHAPE_MISMATCH (layers that don't fit together at the
 * declared input size).
 */
export function importCaffe(prototxt: string | Uint8Array | null | undefined, caffemodel?: Uint8Array): CaffeImportedGraph {
  const model = caffemodel === undefined ? undefined : parseNetBinary(caffemodel);
  const net = netFrom(prototxt, model);
  if (net.all('layers').length && !net.all('layer').length) throw v1Refusal();
  // Blobs by layer name: the caffemodel's, else those written in the prototxt itself.
  const blobsByName = new Map<string, { type: string; blobs: CaffeMsg[] }>();
  if (model) {
    for (const wl of weightLayers(model)) {
      if (!wl.name) continue;
      if (blobsByName.has(wl.name) && blobsByName.get(wl.name)!.blobs.length && wl.blobs.length) {
        throw new FcnkitError('BAD_MODEL', `caffemodel: layer name '${wl.name}' occurs twice with blobs`);
      }
      if (!blobsByName.has(wl.name) || wl.blobs.length) blobsByName.set(wl.name, wl);
    }
  }

  const inputs: InputIR[] = [];
  const layers: LayerIR[] = [];
  const names = new Set<string>();
  // An input without a declared shape (a data layer) is taken as 4-D [N, C, H, W].
  const addInput = (l: { type: string; name: string }, blob: string, declared: number[] | undefined): void => {
    if (inputs.some((i) => i.blob === blob)) throw bad(l, `input blob '${blob}' is declared twice`);
    const k = inputs.length;
    const rank = declared?.length ?? 4;
    const base = rank === 4 ? ['N', 'C', 'H', 'W'] : Array.from({ length: rank }, (_, i) => `d${i}`);
    const syms = k === 0 ? base : base.map((b) => `${blob}_${b}`);
    const symbolic: Dim[] = Array.from({ length: rank }, (_, i) => {
      // Caffe nets reshape to any batch and (for 4-D blobs) any H and W; channels stay.
      const dynamic = !declared || i === 0 || (rank === 4 && i >= 2);
      return dynamic ? DimExpr.symbol(syms[i]) : declared[i];
    });
    inputs.push({ blob, declared: declared ? checkDims(l, declared) : undefined, symbolic });
  };

  // Net-level inputs (deprecated in Caffe, still common in deploy files).
  const netInputs = net.all<string>('input');
  const inputShapes = net.all<CaffeMsg>('input_shape');
  const inputDims = net.all<number>('input_dim');
  if (netInputs.length) {
    const who = { type: 'Net', name: net.get<string>('name') ?? '' };
    if (inputShapes.length && inputShapes.length !== netInputs.length) throw bad(who, `${inputShapes.length} input_shape for ${netInputs.length} inputs`);
    if (inputDims.length && inputDims.length !== 4 * netInputs.length) throw bad(who, `${inputDims.length} input_dim values for ${netInputs.length} inputs (4 each)`);
    netInputs.forEach((b, i) => {
      const declared = inputShapes.length ? shapeOf(inputShapes[i]) : inputDims.length ? inputDims.slice(4 * i, 4 * i + 4) : undefined;
      addInput({ type: 'Input', name: b }, b, declared);
    });
  } else if (inputShapes.length || inputDims.length) {
    throw new FcnkitError('BAD_MODEL', 'Caffe net: input_shape / input_dim given without input names');
  }

  for (const m of net.all<CaffeMsg>('layer')) {
    if (!included(m)) continue;
    const name = m.get<string>('name') ?? '';
    const type = m.get<string>('type') ?? '';
    if (!type) throw new FcnkitError('BAD_MODEL', `Caffe layer '${name}' has no type (at ${m.where})`);
    if (names.has(name) && name !== '') throw new FcnkitError('BAD_MODEL', `Caffe layer name '${name}' is used twice (at ${m.where})`);
    names.add(name);
    const l: LayerIR = {
      name, type, where: m.where, bottoms: m.all<string>('bottom'), tops: m.all<string>('top'), msg: m, blobs: undefined,
    };
    readLayer(l);
    // Inputs.
    if (type === 'Input' || type === 'DummyData') {
      const p = m.msg(type === 'Input' ? 'input_param' : 'dummy_data_param');
      let shapes = p?.all<CaffeMsg>('shape').map((s) => shapeOf(s)!) ?? [];
      if (type === 'DummyData' && !shapes.length && p?.has('num')) {
        const [ns, cs, hs, ws] = ['num', 'channels', 'height', 'width'].map((k) => p.all<number>(k));
        shapes = l.tops.map((_, i) => [ns, cs, hs, ws].map((a) => (a.length === 1 ? a[0] : a[i])));
      }
      if (shapes.length > 1 && shapes.length !== l.tops.length) throw bad(l, `${shapes.length} shapes for ${l.tops.length} tops (give one, or one per top)`);
      l.tops.forEach((t, i) => addInput(l, t, shapes.length === 0 ? undefined : shapes[shapes.length === 1 ? 0 : i]));
    } else if (type === 'MemoryData') {
      const p = m.msg('memory_data_param');
      const d = ['batch_size', 'channels', 'height', 'width'].map((k) => p?.get<number>(k) ?? 0);
      addInput(l, l.tops[0], d);
    } else if (DATA_TYPES.has(type)) {
      addInput(l, l.tops[0], undefined);
    }
    // Weights.
    const count = blobCount(l);
    const own = m.all<CaffeMsg>('blobs');
    const src = model ? blobsByName.get(name)?.blobs ?? [] : own;
    if (count > 0 && (model || own.length)) {
      if (src.length === 0) throw bad(l, `the ${model ? 'caffemodel' : 'prototxt'} has no weights for this layer (it needs ${count} blob${count > 1 ? 's' : ''})`);
      if (src.length !== count) throw bad(l, `has ${src.length} blobs in the ${model ? 'caffemodel' : 'prototxt'} but needs ${count}`);
      l.blobs = src.map((b, i) => blobInfo(b, `${type} layer '${name}' blob ${i}`));
    } else if (count === 0 && src.length > 0 && !TRAINING_TYPES.has(type)) {
      throw bad(l, `has ${src.length} blobs but takes none`);
    }
    layers.push(l);
  }
  if (inputs.length === 0) throw new FcnkitError('BAD_MODEL', 'Caffe net declares no input (an Input layer, a data layer, or net-level input)');
  const g = new CaffeGraph(net.get<string>('name') ?? '', layers, inputs);
  const imported: CaffeImportedGraph = {
    format: 'caffe',
    name: g.name,
    inputs: g.inputs,
    outputs: g.outputs,
    declaredShapes: g.declaredShapes,
    hasWeights: g.hasWeights,
    inferShapes: (s) => g.inferShapes(s),
    specFor: (s) => g.specFor(s),
  };
  // Decided now, cheaply: the architecture alone (a Model allocates weights on first use).
  if (g.toModel(false) !== undefined) imported.toModel = () => g.toModel()!;
  return imported;
}

/**
 * The blobs of a caffemodel as parameters by layer name, for Model.loadWeights:
 * - Convolution, Deconvolution, InnerProduct: `<layer>.weight` (Deconvolution's in Caffe's
 *   [in, out/group, kh, kw] layout, as the builder's convTranspose2d), `<layer>.bias`;
 * - BatchNorm: `<layer>.running_mean`, `<layer>.running_var`, already divided by the stored
 *   moving-average factor;
 * - Scale: `<layer>.weight` and, with a bias, `<layer>.bias`; Bias: `<layer>.bias`;
 * - any other layer with blobs: `<layer>.weight`, `<layer>.bias`, then `<layer>.blob<i>`.
 * Legacy 4-D blob shapes are reduced the way Caffe reads them (a bias 1×1×1×N is [N], an
 * InnerProduct weight 1×1×M×K is [M, K]). No allocation beyond what the file's values back.
 */
export function loadCaffeWeights(caffemodel: Uint8Array): Record<string, Tensor> {
  const net = parseNetBinary(caffemodel);
  const out: Record<string, Tensor> = {};
  const put = (name: string, t: Tensor): void => {
    if (name in out) throw new FcnkitError('BAD_MODEL', `caffemodel: parameter '${name}' occurs twice (two layers named alike)`);
    out[name] = t;
  };
  for (const wl of weightLayers(net)) {
    if (!wl.blobs.length) continue;
    const infos = wl.blobs.map((b, i) => blobInfo(b, `${wl.type} layer '${wl.name}' blob ${i}`));
    const shapeFor = (b: BlobInfo, keep: number): number[] => {
      if (!b.legacy) return b.shape;
      // Legacy blobs pad their real shape with leading 1s to four dims.
      return b.shape.slice(4 - keep);
    };
    const tensor = (b: BlobInfo, shape: number[]): Tensor<Float32Array> => new Tensor(b.payload.read(), shape);
    switch (wl.type) {
      case 'Convolution':
      case 'Deconvolution':
      case 'InnerProduct':
        put(`${wl.name}.weight`, tensor(infos[0], shapeFor(infos[0], wl.type === 'InnerProduct' ? 2 : 4)));
        if (infos[1]) put(`${wl.name}.bias`, tensor(infos[1], shapeFor(infos[1], 1)));
        if (infos.length > 2) throw new FcnkitError('BAD_MODEL', `caffemodel: ${wl.type} layer '${wl.name}' has ${infos.length} blobs (at most 2)`);
        break;
      case 'BatchNorm': {
        if (infos.length !== 3) throw new FcnkitError('BAD_MODEL', `caffemodel: BatchNorm layer '${wl.name}' has ${infos.length} blobs (needs 3: mean, variance, factor)`);
        if (infos[2].count !== 1) throw new FcnkitError('BAD_MODEL', `caffemodel: BatchNorm layer '${wl.name}' blob 2 (the moving-average factor) has ${infos[2].count} values, not 1`);
        const f = infos[2].payload.read()[0];
        const k = f === 0 ? 0 : 1 / f;
        const c = infos[0].count;
        if (infos[1].count !== c) throw new FcnkitError('BAD_MODEL', `caffemodel: BatchNorm layer '${wl.name}': mean has ${c} values but variance ${infos[1].count}`);
        put(`${wl.name}.running_mean`, new Tensor(infos[0].payload.read().map((v) => v * k), [c]));
        put(`${wl.name}.running_var`, new Tensor(infos[1].payload.read().map((v) => v * k), [c]));
        break;
      }
      case 'Bias':
        put(`${wl.name}.bias`, tensor(infos[0], shapeFor(infos[0], 1)));
        break;
      case 'Scale':
        put(`${wl.name}.weight`, tensor(infos[0], shapeFor(infos[0], 1)));
        if (infos[1]) put(`${wl.name}.bias`, tensor(infos[1], shapeFor(infos[1], 1)));
        break;
      default:
        infos.forEach((b, i) => put(`${wl.name}.${i === 0 ? 'weight' : i === 1 ? 'bias' : `blob${i}`}`, tensor(b, b.shape)));
    }
  }
  return out;
}

/**
 * Whether `text` looks like a Caffe prototxt, cheaply (format detection; nothing is parsed): a
 * NetParameter field at the start of a line, and a layer or an input among them.
 */
export function looksLikeCaffePrototxt(text: string): boolean {
  const head = text.slice(0, 65536).replace(/#[^\n]*/g, '');
  return /^\s*(name|input|input_dim|input_shape|layers?|force_backward|state|debug_info)\s*[:{<]/.test(head) &&
    /(^|\n)\s*(layers?\s*[{<:]|input\s*:)/.test(head);
}
