/**
 * Mask R-CNN as torchvision's maskrcnn_resnet50_fpn, inference only:
 *   GeneralizedRCNNTransform (ImageNet mean/std on RGB in [0, 1], bilinear resize so the short side
 *   is minSize unless the long side would pass maxSize, zero padding to a multiple of 32)
 *   -> [native graph] ResNet-50 body, FPN (P2..P5 + max-pool P6), RPN head on every level
 *   -> RPN proposals: per level top-k objectness, BoxCoder decode, clip, small-box removal,
 *      NMS batched by level, the best rpnPostNmsTopN        (native ops between graphs)
 *   -> MultiScaleRoIAlign 7×7 -> [native graph] box head -> softmax, class-wise decode (10, 10, 5, 5),
 *      clip, score > boxScoreThresh, class-batched NMS, detectionsPerImage
 *   -> MultiScaleRoIAlign 14×14 -> [native graph] mask head -> sigmoid of the label's channel
 *   -> boxes scaled back, masks pasted into the image (paste_masks_in_image) and thresholded.
 */
import { FcnkitError, invalidArgument } from '../errors';
import { loadImage } from '../io/image';
import type { LoadedImage } from '../io/image';
import { Tensor } from '../tensor';
import { CompiledGraph } from '../graph/compiled';
import { ops } from '../ops';
import { instanceLabelMap, pasteMask } from '../dense/instances';
import type { Instance } from '../dense/instances';
import { buildSpecs, checkWeights, maskRcnnParameters, RESNET50_FPN } from './mask-rcnn-graphs';
import type { MaskRcnnArchitecture, ParamInfo } from './mask-rcnn-graphs';

export const MASK_RCNN_BACKBONES = ['resnet50-fpn'] as const;
export type MaskRcnnBackbone = (typeof MASK_RCNN_BACKBONES)[number];

export interface MaskRcnnOptions {
  /** Classes including background (COCO: 91). */
  numClasses: number;
  backbone?: MaskRcnnBackbone;
  /** Channel plan override (narrow test networks); default ResNet-50-FPN's. */
  architecture?: Partial<MaskRcnnArchitecture>;
  minSize?: number;
  maxSize?: number;
  boxScoreThresh?: number;
  boxNmsThresh?: number;
  detectionsPerImage?: number;
  rpnPreNmsTopN?: number;
  rpnPostNmsTopN?: number;
  rpnNmsThresh?: number;
  /** Class names by label (index 0 = background). */
  classes?: readonly string[];
  /**
   * FrozenBatchNorm epsilon. Default 0, as maskrcnn_resnet50_fpn sets for its COCO checkpoint
   * (overwrite_eps); a network built with FrozenBatchNorm2d's default uses 1e-5.
   */
  bnEps?: number;
}

export interface DetectOptions {
  /** Instances scoring below are dropped (after the model's own boxScoreThresh). Default 0. */
  scoreThreshold?: number;
  /** Mask probability threshold. Default 0.5. */
  maskThreshold?: number;
  signal?: AbortSignal;
  threads?: number;
}

export interface DetectResult {
  width: number;
  height: number;
  instances: Instance[];
}

const ANCHOR_SIZES = [32, 64, 128, 256, 512];
const ASPECT_RATIOS = [0.5, 1, 2];
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const BOX_WEIGHTS = [10, 10, 5, 5] as const;
const FPN_SCALES = [1 / 4, 1 / 8, 1 / 16, 1 / 32];
/** The most bytes of instance masks one detect() returns (2 GiB). */
const MAX_MASK_BYTES = 2 ** 31;

function posInt(what: string, v: unknown, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalidArgument(`maskRcnn ${what}`, 'an integer >= 1', v);
  return v;
}

function unitNumber(what: string, v: unknown, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw invalidArgument(what, 'a number in [0, 1]', v);
  return v;
}

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new FcnkitError('ABORTED', 'maskRcnn detect aborted');
}

interface Graphs {
  backbone: CompiledGraph;
  boxHead: CompiledGraph;
  maskHead: CompiledGraph;
}

export class MaskRcnn {
  readonly numClasses: number;
  readonly architecture: MaskRcnnArchitecture;
  readonly minSize: number;
  readonly maxSize: number;
  readonly boxScoreThresh: number;
  readonly boxNmsThresh: number;
  readonly detectionsPerImage: number;
  readonly rpnPreNmsTopN: number;
  readonly rpnPostNmsTopN: number;
  readonly rpnNmsThresh: number;
  readonly classes: readonly string[] | undefined;
  readonly bnEps: number;
  private graphs: Graphs | undefined;

  constructor(options: MaskRcnnOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('maskRcnn options', 'an object', options);
    this.numClasses = posInt('numClasses', options.numClasses, NaN);
    if (Number.isNaN(this.numClasses) || this.numClasses < 2) throw invalidArgument('maskRcnn numClasses', 'an integer >= 2 (background included)', options.numClasses);
    const backbone = options.backbone ?? 'resnet50-fpn';
    if (!(MASK_RCNN_BACKBONES as readonly unknown[]).includes(backbone)) throw invalidArgument('maskRcnn backbone', "'resnet50-fpn'", backbone);
    this.architecture = Object.freeze({ ...RESNET50_FPN, ...(options.architecture ?? {}) });
    this.minSize = posInt('minSize', options.minSize, 800);
    this.maxSize = posInt('maxSize', options.maxSize, 1333);
    this.boxScoreThresh = unitNumber('maskRcnn boxScoreThresh', options.boxScoreThresh, 0.05);
    this.boxNmsThresh = unitNumber('maskRcnn boxNmsThresh', options.boxNmsThresh, 0.5);
    this.detectionsPerImage = posInt('detectionsPerImage', options.detectionsPerImage, 100);
    this.rpnPreNmsTopN = posInt('rpnPreNmsTopN', options.rpnPreNmsTopN, 1000);
    this.rpnPostNmsTopN = posInt('rpnPostNmsTopN', options.rpnPostNmsTopN, 1000);
    this.rpnNmsThresh = unitNumber('maskRcnn rpnNmsThresh', options.rpnNmsThresh, 0.7);
    if (options.classes !== undefined) {
      if (!Array.isArray(options.classes) || options.classes.length !== this.numClasses || options.classes.some((c) => typeof c !== 'string')) {
        throw invalidArgument('maskRcnn classes', `${this.numClasses} class names`, options.classes);
      }
      this.classes = Object.freeze([...options.classes]);
    }
    const eps = options.bnEps ?? 0;
    if (typeof eps !== 'number' || !(eps >= 0)) throw invalidArgument('maskRcnn bnEps', 'a number >= 0', eps);
    this.bnEps = eps;
  }

  /** torchvision's parameter names and shapes (checkpoint form), FrozenBatchNorm buffers included. */
  parameters(): ParamInfo[] {
    return maskRcnnParameters(this.architecture, this.numClasses);
  }

  /** Loads a torchvision state dict (either naming form); BN is folded now. Returns names not used. */
  async loadWeights(map: Record<string, Tensor>): Promise<{ unused: string[] }> {
    const { weights, unused } = checkWeights(map, this.architecture, this.numClasses);
    const specs = buildSpecs(this.architecture, this.numClasses, weights, this.bnEps);
    const graphs: Graphs = {
      backbone: new CompiledGraph(specs.backbone, { maxPlans: 4 }),
      boxHead: new CompiledGraph(specs.boxHead, { maxPlans: 4 }),
      maskHead: new CompiledGraph(specs.maskHead, { maxPlans: 4 }),
    };
    this.dispose();
    this.graphs = graphs;
    return { unused };
  }

  get loaded(): boolean {
    return this.graphs !== undefined;
  }

  dispose(): void {
    if (!this.graphs) return;
    for (const g of Object.values(this.graphs)) g.dispose();
    this.graphs = undefined;
  }

  /** The padded network input size for an image: torchvision's resize then padding to 32. */
  inputSize(width: number, height: number): { resized: [number, number]; padded: [number, number]; scale: number } {
    const minDim = Math.fround(Math.min(width, height)), maxDim = Math.fround(Math.max(width, height));
    const scale = Math.min(Math.fround(this.minSize / minDim), Math.fround(this.maxSize / maxDim));
    const rh = Math.floor(height * scale), rw = Math.floor(width * scale);
    return { resized: [rh, rw], padded: [roundUp(rh, 32), roundUp(rw, 32)], scale };
  }

  /** Instances in an image (a path, encoded bytes, a loadImage result, or an RGB Tensor in [0, 1]). */
  async detect(input: string | Uint8Array | LoadedImage | Tensor, options: DetectOptions = {}): Promise<DetectResult> {
    if (typeof options !== 'object' || options === null) throw invalidArgument('detect options', 'an object', options);
    const scoreThreshold = unitNumber('detect scoreThreshold', options.scoreThreshold, 0);
    const maskThreshold = unitNumber('detect maskThreshold', options.maskThreshold, 0.5);
    const { signal, threads } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument('detect signal', 'an AbortSignal', signal);
    if (threads !== undefined && (!Number.isSafeInteger(threads) || threads < 1)) throw invalidArgument('detect threads', 'an integer >= 1', threads);
    const g = this.graphs;
    if (!g) throw new FcnkitError('INVALID_ARGUMENT', 'maskRcnn: call loadWeights() before detect()');
    const image = await toImageTensor(input);
    const [, , height, width] = image.shape;
    aborted(signal);
    const run = { signal, threads };

    // ---- transform ----------------------------------------------------------------------------
    const { resized: [rh, rw], padded: [ph, pw] } = this.inputSize(width, height);
    const norm = new Float32Array(3 * height * width);
    for (let c = 0; c < 3; c++) {
      const m = Math.fround(MEAN[c]), s = Math.fround(STD[c]);
      for (let i = 0, o = c * height * width; i < height * width; i++) norm[o + i] = (image.data[o + i] - m) / s;
    }
    const resized = await ops.resize(new Tensor(norm, [1, 3, height, width]), {
      size: [rh, rw], mode: 'bilinear', coordinate: 'pytorch_half_pixel', ...(threads ? { threads } : {}),
    });
    const batch = new Float32Array(3 * ph * pw);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < rh; y++) {
        batch.set((resized.data as Float32Array).subarray((c * rh + y) * rw, (c * rh + y + 1) * rw), (c * ph + y) * pw);
      }
    }
    aborted(signal);

    // ---- backbone, FPN, RPN head: one native call --------------------------------------------
    const outs = (await g.backbone.run({ image: new Tensor(batch, [1, 3, ph, pw]) }, run)) as Record<string, Tensor>;
    const feats = [0, 1, 2, 3].map((i) => outs[`fpn.p${i + 2}`] as Tensor<Float32Array>);

    // ---- proposals -----------------------------------------------------------------------------
    const A = this.architecture.anchorsPerLocation;
    const propBoxes: number[] = [];
    const propScores: number[] = [];
    const propLevels: number[] = [];
    for (let l = 0; l < 5; l++) {
      const obj = outs[`rpn.objectness${l}`] as Tensor<Float32Array>;
      const del = outs[`rpn.deltas${l}`] as Tensor<Float32Array>;
      const [, , gh, gw] = obj.shape;
      const n = gh * gw * A;
      // torchvision's order: (y, x, anchor); the head's is (anchor, y, x).
      const o = new Float32Array(n);
      for (let a = 0; a < A; a++) for (let p = 0; p < gh * gw; p++) o[p * A + a] = obj.data[a * gh * gw + p];
      const top = await ops.topk(new Tensor(o, [n]), Math.min(this.rpnPreNmsTopN, n), run.threads ? { threads } : {});
      const k = top.indices.shape[0];
      const anchors = await this.anchorsFor(l, gh, gw, Math.floor(ph / gh), Math.floor(pw / gw));
      const selA = new Float32Array(k * 4);
      const selD = new Float32Array(k * 4);
      for (let i = 0; i < k; i++) {
        const idx = top.indices.data[i];
        const p = Math.floor(idx / A), a = idx % A;
        for (let c = 0; c < 4; c++) {
          selA[i * 4 + c] = anchors.data[idx * 4 + c];
          selD[i * 4 + c] = del.data[(a * 4 + c) * gh * gw + p];
        }
      }
      const boxes = await ops.boxDecode(new Tensor(selD, [k, 4]), new Tensor(selA, [k, 4]));
      for (let i = 0; i < k; i++) {
        const b = clipBox(boxes.data, i, rw, rh);
        if (!(b[2] - b[0] >= 1e-3 && b[3] - b[1] >= 1e-3)) continue;
        const score = Math.fround(1 / (1 + Math.exp(-top.values.data[i])));
        if (!(score >= 0)) continue;
        propBoxes.push(...b);
        propScores.push(score);
        propLevels.push(l);
      }
    }
    aborted(signal);
    const np = propScores.length;
    const keepP = await ops.nms(new Tensor(Float32Array.from(propBoxes), [np, 4]), new Tensor(Float32Array.from(propScores), [np]), {
      iouThreshold: this.rpnNmsThresh, idxs: new Tensor(Int32Array.from(propLevels), [np]),
    });
    const R = Math.min(keepP.shape[0], this.rpnPostNmsTopN);
    const rois = new Float32Array(R * 5);
    for (let i = 0; i < R; i++) {
      const j = keepP.data[i];
      rois.set([0, propBoxes[j * 4], propBoxes[j * 4 + 1], propBoxes[j * 4 + 2], propBoxes[j * 4 + 3]], i * 5);
    }
    if (R === 0) return { width, height, instances: [] };

    // ---- box head ------------------------------------------------------------------------------
    const boxFeats = await ops.roiAlignMultiLevel(new Tensor(rois, [R, 5]), feats, { outputSize: 7, samplingRatio: 2, scales: FPN_SCALES });
    const flat = new Tensor(boxFeats.data, [R, boxFeats.shape[1] * boxFeats.shape[2] * boxFeats.shape[3]]);
    const { scores, deltas } = (await g.boxHead.run({ rois: padRows(flat, 64) }, run)) as Record<string, Tensor<Float32Array>>;
    const C = this.numClasses;
    const propOnly = new Float32Array(R * 4);
    for (let i = 0; i < R; i++) propOnly.set(rois.subarray(i * 5 + 1, i * 5 + 5), i * 4);
    const decoded = await ops.boxDecode(new Tensor(deltas.data.slice(0, R * 4 * C), [R, 4 * C]), new Tensor(propOnly, [R, 4]), { weights: BOX_WEIGHTS });
    const detBoxes: number[] = [];
    const detScores: number[] = [];
    const detLabels: number[] = [];
    for (let i = 0; i < R; i++) {
      for (let c = 1; c < C; c++) {
        const s = scores.data[i * C + c];
        if (!(s > this.boxScoreThresh)) continue;
        const b = clipBox(decoded.data, i * C + c, rw, rh);
        if (!(b[2] - b[0] >= 1e-2 && b[3] - b[1] >= 1e-2)) continue;
        detBoxes.push(...b);
        detScores.push(s);
        detLabels.push(c);
      }
    }
    const nd = detScores.length;
    const keepD = await ops.nms(new Tensor(Float32Array.from(detBoxes), [nd, 4]), new Tensor(Float32Array.from(detScores), [nd]), {
      iouThreshold: this.boxNmsThresh, idxs: new Tensor(Int32Array.from(detLabels), [nd]),
    });
    const D = Math.min(keepD.shape[0], this.detectionsPerImage);
    if (D === 0) return { width, height, instances: [] };
    // Each instance's mask is width·height bytes: bound the total before allocating any.
    let kept = 0;
    for (let i = 0; i < D; i++) if (detScores[keepD.data[i]] >= scoreThreshold) kept++;
    if (kept * width * height > MAX_MASK_BYTES) {
      throw new FcnkitError('TOO_LARGE', `detect: ${kept} instance masks of ${width}×${height} would take ${kept * width * height} bytes ` +
        `(limit ${MAX_MASK_BYTES}); raise scoreThreshold or lower detectionsPerImage`);
    }
    const det = new Float32Array(D * 5);
    for (let i = 0; i < D; i++) {
      const j = keepD.data[i];
      det.set([0, detBoxes[j * 4], detBoxes[j * 4 + 1], detBoxes[j * 4 + 2], detBoxes[j * 4 + 3]], i * 5);
    }
    aborted(signal);

    // ---- mask head -------------------------------------------------------------------------------
    const maskFeats = await ops.roiAlignMultiLevel(new Tensor(det, [D, 5]), feats, { outputSize: 14, samplingRatio: 2, scales: FPN_SCALES });
    const { mask_probs: probs } = (await g.maskHead.run({ rois: padRows(maskFeats, 8) }, run)) as Record<string, Tensor<Float32Array>>;
    const M = probs.shape[2];

    // ---- back to the image -------------------------------------------------------------------------
    const ratioW = Math.fround(Math.fround(width) / Math.fround(rw));
    const ratioH = Math.fround(Math.fround(height) / Math.fround(rh));
    const instances: Instance[] = [];
    for (let i = 0; i < D; i++) {
      const j = keepD.data[i];
      const score = detScores[j];
      if (score < scoreThreshold) continue;
      const label = detLabels[j];
      const box: [number, number, number, number] = [
        Math.fround(det[i * 5 + 1] * ratioW), Math.fround(det[i * 5 + 2] * ratioH),
        Math.fround(det[i * 5 + 3] * ratioW), Math.fround(det[i * 5 + 4] * ratioH),
      ];
      const mask = new Uint8Array(width * height);
      pasteMask(probs.data.subarray((i * C + label) * M * M, (i * C + label + 1) * M * M), M, box, width, height, maskThreshold, mask);
      instances.push({ label, className: this.classes?.[label] ?? String(label), score, box, mask });
    }
    return { width, height, instances };
  }

  private readonly anchorCache = new Map<string, Tensor<Float32Array>>();

  /** One FPN level's anchors (AnchorGenerator), kept for the last few image sizes. */
  private async anchorsFor(level: number, gh: number, gw: number, sh: number, sw: number): Promise<Tensor<Float32Array>> {
    const key = `${level}:${gh}x${gw}:${sh}x${sw}`;
    let a = this.anchorCache.get(key);
    if (!a) {
      a = await ops.anchors({ sizes: [ANCHOR_SIZES[level]], aspectRatios: ASPECT_RATIOS, gridSize: [gh, gw], stride: [sh, sw] });
      if (this.anchorCache.size >= 20) this.anchorCache.delete(this.anchorCache.keys().next().value as string);
      this.anchorCache.set(key, a);
    }
    return a;
  }

  /** instanceLabelMap of a detect result. */
  static labelMap(result: DetectResult): Uint16Array {
    if (typeof result !== 'object' || result === null) throw invalidArgument('MaskRcnn.labelMap result', 'a detect() result', result);
    return instanceLabelMap(result.instances, result.width, result.height);
  }
}

function clipBox(d: Float32Array, i: number, w: number, h: number): [number, number, number, number] {
  const c = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  return [c(d[i * 4], w), c(d[i * 4 + 1], h), c(d[i * 4 + 2], w), c(d[i * 4 + 3], h)];
}

/** Rows padded with zeros to a multiple of `m`, so the head's plans are reused across images. */
function padRows(t: Tensor, m: number): Tensor {
  const [r, ...rest] = t.shape;
  const rr = roundUp(Math.max(r, 1), m);
  if (rr === r) return t;
  const per = rest.reduce((a, b) => a * b, 1);
  const data = new Float32Array(rr * per);
  data.set(t.data as Float32Array);
  return new Tensor(data, [rr, ...rest]);
}

async function toImageTensor(input: unknown): Promise<Tensor<Float32Array>> {
  let t: Tensor | undefined;
  if (typeof input === 'string' || input instanceof Uint8Array) t = (await loadImage(input)).tensor;
  else if (input instanceof Tensor) t = input;
  else if (typeof input === 'object' && input !== null && (input as LoadedImage).tensor instanceof Tensor) t = (input as LoadedImage).tensor;
  if (!t) throw invalidArgument('detect input', 'a path, image bytes, a loadImage result or a Tensor [1, 3, H, W]', input);
  const shape = t.shape.length === 3 ? [1, ...t.shape] : [...t.shape];
  if (shape.length !== 4 || shape[0] !== 1 || shape[1] !== 3 || !(t.data instanceof Float32Array) || shape[2] < 1 || shape[3] < 1) {
    throw new FcnkitError('SHAPE_MISMATCH', `detect: expected an RGB float32 image [1, 3, H, W] but received ${t.dtype} [${t.shape.join(', ')}]`);
  }
  return new Tensor(t.data, shape);
}

/** Mask R-CNN (torchvision maskrcnn_resnet50_fpn); load weights with loadWeights(). */
export function maskRcnn(options: MaskRcnnOptions): MaskRcnn {
  return new MaskRcnn(options);
}
