/**
 * Detection ops (Mask R-CNN's dynamic parts), native and off the JS thread, with torchvision's
 * semantics: roiAlign (torchvision.ops.roi_align; aligned = ONNX RoiAlign-16 half_pixel),
 * roiAlignMultiLevel (MultiScaleRoIAlign's FPN level mapping), nms (torchvision.ops.nms, or
 * batched_nms with `idxs`), boxDecode (BoxCoder.decode_single), anchors (AnchorGenerator, one
 * feature map) and topk (values and indices along the last axis).
 */
import { FcnkitError, invalidArgument, toFcnkitError } from '../errors';
import { native, NativeAttrs } from '../native';
import { Tensor } from '../tensor';
import { CommonOptions, float32Arg, intArg, numberArg, optionsArg, pairArg, Pair, tensorArg, threadsArg } from './define';

export interface RoiAlignOptions extends CommonOptions {
  /** Output [h, w] (or one number for both). Default 7. */
  outputSize?: Pair;
  /** Image-to-map scale (1/stride). Default 1. */
  spatialScale?: number;
  /** Samples per bin side; 0 (default) = adaptive, ceil(roi size / output size). */
  samplingRatio?: number;
  /** Half-pixel offset (torchvision aligned=True, ONNX half_pixel). Default true. */
  aligned?: boolean;
}

/** As RoiAlignOptions, but `aligned` defaults to false: MultiScaleRoIAlign calls roi_align so. */
export interface RoiAlignMultiLevelOptions extends Omit<RoiAlignOptions, 'spatialScale'> {
  /** One scale per feature map, halving: [1/4, 1/8, 1/16, 1/32] for P2..P5. */
  scales: readonly number[];
  /** LevelMapper's canonical box size and level. Defaults 224 and 4. */
  canonicalSize?: number;
  canonicalLevel?: number;
}

export interface NmsOptions extends CommonOptions {
  /** Boxes whose IoU with a higher-scoring kept box is above this are dropped. Default 0.5. */
  iouThreshold?: number;
  /** Class (or image) ids [K]: only boxes with the same id suppress each other (batched_nms). */
  idxs?: Tensor;
}

export interface BoxDecodeOptions extends CommonOptions {
  /** BoxCoder weights (wx, wy, ww, wh). Default [1, 1, 1, 1] (RPN); Fast R-CNN uses [10, 10, 5, 5]. */
  weights?: readonly [number, number, number, number];
  /** dw and dh are clamped at this before exp. Default log(1000 / 16). */
  clip?: number;
}

export interface AnchorsOptions extends CommonOptions {
  /** Anchor sizes (square side, pixels) for this map, e.g. [32]. */
  sizes: readonly number[];
  /** Height / width ratios. Default [0.5, 1, 2]. */
  aspectRatios?: readonly number[];
  /** The feature map's [h, w]. */
  gridSize: Pair;
  /** Pixels between cells, [h, w]: torchvision uses padded image size // grid size. */
  stride: Pair;
}

function numbers(op: string, what: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0) throw invalidArgument(`${op} ${what}`, 'a non-empty array of numbers', v);
  return v.map((x, i) => numberArg(op, `${what}[${i}]`, x));
}

function roiAttrs(op: string, o: Partial<RoiAlignOptions>, alignedDefault: boolean): NativeAttrs {
  const size = pairArg(op, 'outputSize', o.outputSize, 7, 1);
  const sampling = o.samplingRatio === undefined ? 0 : intArg(op, 'samplingRatio', o.samplingRatio, 0);
  if (o.aligned !== undefined && typeof o.aligned !== 'boolean') throw invalidArgument(`${op} aligned`, 'a boolean', o.aligned);
  return { outputSize: size, samplingRatio: sampling, aligned: (o.aligned ?? alignedDefault) ? 1 : 0 };
}

interface Call {
  type: string;
  inputs: Tensor[];
  attrs: NativeAttrs;
  threads?: number;
}

const defs = {
  /** roiAlign(x [N, C, H, W], rois [K, 5] (batch index, x1, y1, x2, y2)) -> [K, C, oh, ow]. */
  roiAlign(x: Tensor, rois: Tensor, options: RoiAlignOptions = {}): Call {
    const op = 'roiAlign';
    const o = optionsArg<RoiAlignOptions>(op, options);
    const scale = o.spatialScale === undefined ? 1 : numberArg(op, 'spatialScale', o.spatialScale);
    return {
      type: op, inputs: [float32Arg(op, 'input', x), float32Arg(op, 'rois', rois)],
      attrs: { ...roiAttrs(op, o, true), spatialScale: scale }, threads: threadsArg(op, o.threads),
    };
  },
  /** roiAlignMultiLevel(rois [K, 5], [P2, P3, ...]) -> [K, C, oh, ow], each RoI from its FPN level. */
  roiAlignMultiLevel(rois: Tensor, features: readonly Tensor[], options: RoiAlignMultiLevelOptions): Call {
    const op = 'roiAlignMultiLevel';
    const o = optionsArg<RoiAlignMultiLevelOptions>(op, options);
    if (!Array.isArray(features) || features.length === 0) throw invalidArgument(`${op} features`, 'a non-empty array of Tensors', features);
    const attrs: NativeAttrs = { ...roiAttrs(op, o, false), scales: numbers(op, 'scales', o.scales) };
    if (o.canonicalSize !== undefined) attrs.canonicalSize = numberArg(op, 'canonicalSize', o.canonicalSize);
    if (o.canonicalLevel !== undefined) attrs.canonicalLevel = numberArg(op, 'canonicalLevel', o.canonicalLevel);
    return {
      type: op, inputs: [float32Arg(op, 'rois', rois), ...features.map((f, i) => float32Arg(op, `features[${i}]`, f))],
      attrs, threads: threadsArg(op, o.threads),
    };
  },
  /** boxDecode(deltas [K, 4·C], boxes [K, 4]) -> [K, 4·C]. */
  boxDecode(deltas: Tensor, boxes: Tensor, options: BoxDecodeOptions = {}): Call {
    const op = 'boxDecode';
    const o = optionsArg<BoxDecodeOptions>(op, options);
    const attrs: NativeAttrs = {};
    if (o.weights !== undefined) attrs.weights = numbers(op, 'weights', o.weights);
    if (o.clip !== undefined) attrs.clip = numberArg(op, 'clip', o.clip);
    return { type: op, inputs: [float32Arg(op, 'deltas', deltas), float32Arg(op, 'boxes', boxes)], attrs, threads: threadsArg(op, o.threads) };
  },
  /** anchors({ sizes, aspectRatios, gridSize, stride }) -> [gh·gw·A, 4]. */
  anchors(options: AnchorsOptions): Call {
    const op = 'anchors';
    const o = optionsArg<AnchorsOptions>(op, options);
    return {
      type: op, inputs: [],
      attrs: {
        sizes: numbers(op, 'sizes', o.sizes), aspectRatios: numbers(op, 'aspectRatios', o.aspectRatios ?? [0.5, 1, 2]),
        gridSize: pairArg(op, 'gridSize', o.gridSize ?? -1, 0, 0), stride: pairArg(op, 'stride', o.stride ?? -1, 0, 0),
      },
      threads: threadsArg(op, o.threads),
    };
  },
};

function nmsCall(boxes: Tensor, scores: Tensor, options: NmsOptions = {}): Call {
  const op = 'nms';
  const o = optionsArg<NmsOptions>(op, options);
  const inputs = [float32Arg(op, 'boxes', boxes), float32Arg(op, 'scores', scores)];
  if (o.idxs !== undefined) inputs.push(tensorArg(op, 'idxs', o.idxs));
  const thr = o.iouThreshold === undefined ? 0.5 : numberArg(op, 'iouThreshold', o.iouThreshold);
  return { type: op, inputs, attrs: { iouThreshold: thr }, threads: threadsArg(op, o.threads) };
}

function topkCall(x: Tensor, k: number, options: CommonOptions = {}): Call {
  const op = 'topk';
  const o = optionsArg<CommonOptions>(op, options);
  return { type: op, inputs: [float32Arg(op, 'input', x)], attrs: { k: intArg(op, 'k', k, 0) }, threads: threadsArg(op, o.threads) };
}

/** Kept indices: the native op pads its [K] output with -1. */
function trimKeep(t: { data: Float32Array | Int32Array }): Tensor<Int32Array> {
  const d = t.data as Int32Array;
  let m = d.indexOf(-1);
  if (m < 0) m = d.length;
  return new Tensor(d.slice(0, m), [m]);
}

type Defs = typeof defs;
type Async = { [K in keyof Defs]: (...a: Parameters<Defs[K]>) => Promise<Tensor<Float32Array>> };
type Sync = { [K in keyof Defs]: (...a: Parameters<Defs[K]>) => Tensor<Float32Array> };

async function runAsync(build: () => Call): Promise<Array<{ data: Float32Array | Int32Array; shape: readonly number[] }>> {
  const callSite = new Error();
  try {
    const c = build();
    return await native().runOp(c.type, c.inputs, c.attrs, c.threads);
  } catch (err) {
    throw toFcnkitError(err, callSite);
  }
}

function runSync(build: () => Call): Array<{ data: Float32Array | Int32Array; shape: readonly number[] }> {
  try {
    const c = build();
    return native().runOpSync(c.type, c.inputs, c.attrs, c.threads);
  } catch (err) {
    throw toFcnkitError(err);
  }
}

const asyncOps: Record<string, unknown> = {};
const syncOps: Record<string, unknown> = {};
for (const [name, def] of Object.entries(defs)) {
  const f = def as (...a: unknown[]) => Call;
  asyncOps[name] = async (...a: unknown[]) => {
    const [y] = await runAsync(() => f(...a));
    return new Tensor(y.data, y.shape);
  };
  syncOps[name] = (...a: unknown[]) => {
    const [y] = runSync(() => f(...a));
    return new Tensor(y.data, y.shape);
  };
}

export interface TopkResult {
  values: Tensor<Float32Array>;
  indices: Tensor<Int32Array>;
}

/** Async detection ops. */
export const detectionOps = {
  ...(asyncOps as Async),
  /** nms(boxes [K, 4], scores [K], { iouThreshold, idxs }) -> kept indices int32 [M], by decreasing score. */
  async nms(boxes: Tensor, scores: Tensor, options?: NmsOptions): Promise<Tensor<Int32Array>> {
    return trimKeep((await runAsync(() => nmsCall(boxes, scores, options)))[0]);
  },
  /** topk(x [..., n], k) -> the k largest along the last axis, decreasing, ties in index order. */
  async topk(x: Tensor, k: number, options?: CommonOptions): Promise<TopkResult> {
    const [v, i] = await runAsync(() => topkCall(x, k, options));
    return { values: new Tensor(v.data as Float32Array, v.shape), indices: new Tensor(i.data as Int32Array, i.shape) };
  },
};

/** The same, computed on the calling thread. */
export const detectionOpsSync = {
  ...(syncOps as Sync),
  nms(boxes: Tensor, scores: Tensor, options?: NmsOptions): Tensor<Int32Array> {
    return trimKeep(runSync(() => nmsCall(boxes, scores, options))[0]);
  },
  topk(x: Tensor, k: number, options?: CommonOptions): TopkResult {
    const [v, i] = runSync(() => topkCall(x, k, options));
    return { values: new Tensor(v.data as Float32Array, v.shape), indices: new Tensor(i.data as Int32Array, i.shape) };
  },
};

