/**
 * Segmentation scores exactly as the FCN reference evaluation (score.py: fast_hist,
 * compute_hist and the printout of seg_tests):
 *
 *   hist[gt][pred] counts pixels, over pixels whose ground truth is a class (0 <= gt < n: the
 *   ignore label 255 and anything else outside is skipped);
 *   pixel accuracy      = sum(diag) / sum(hist)
 *   mean accuracy       = nanmean(diag / rowSum)                        (rowSum: pixels of the class in gt)
 *   per-class IU        = diag / (rowSum + colSum - diag)               (colSum: pixels predicted as it)
 *   mean IU             = nanmean(IU)
 *   frequency-weighted  = sum over classes with rowSum > 0 of (rowSum / sum(hist)) * IU
 *
 * NaN follows numpy: a class absent from the ground truth has accuracy 0/0 = NaN; absent from
 * both the ground truth and the prediction it has IU NaN (present only in the prediction: IU 0);
 * nanmean leaves NaNs out (and is NaN when all are). With no counted pixel at all the
 * accuracies and mean IU are NaN and the frequency-weighted IU is 0 (the sum of an empty selection).
 */
import { FcnkitError, invalidArgument } from '../errors';
import { Tensor } from '../tensor';

/** Labels as a typed array or an int32 Tensor (its data, any shape). */
export type LabelArray = Int32Array | Uint8Array | Uint16Array | Tensor;

export interface ConfusionMatrixOptions {
  /**
   * A ground-truth label to skip (default 255, VOC's "void"); null for none. Labels outside
   * [0, numClasses) are skipped in any case, as in the reference.
   */
  ignore?: number | null;
}

export interface SegmentationMetrics {
  pixelAccuracy: number;
  meanAccuracy: number;
  meanIU: number;
  frequencyWeightedIU: number;
  /** By class; NaN where the class is in neither the ground truth nor the prediction. */
  perClassIU: number[];
  /** By class; NaN where the class is not in the ground truth. */
  perClassAccuracy: number[];
}

function labelData(what: string, v: unknown): Int32Array | Uint8Array | Uint16Array {
  if (v instanceof Tensor) {
    if (v.dtype !== 'int32') throw invalidArgument(what, 'an int32 Tensor or an Int32Array / Uint8Array / Uint16Array', v.toString());
    return v.data as Int32Array;
  }
  if (v instanceof Int32Array || v instanceof Uint8Array || v instanceof Uint16Array) return v;
  throw invalidArgument(what, 'an Int32Array, Uint8Array, Uint16Array or int32 Tensor', v);
}

function classesArg(what: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > 65536) throw invalidArgument(what, 'an integer from 1 to 65536', n);
  return n;
}

function ignoreArg(options: unknown): number | null {
  if (typeof options !== 'object' || options === null) throw invalidArgument('confusionMatrix options', 'an object', options);
  const ignore = (options as ConfusionMatrixOptions).ignore;
  if (ignore === undefined) return 255;
  if (ignore === null) return null;
  if (typeof ignore !== 'number' || !Number.isSafeInteger(ignore)) throw invalidArgument('confusionMatrix ignore', 'an integer or null', ignore);
  return ignore;
}

/** Adds the pixels of one prediction into hist (n×n, row = ground truth, column = prediction). */
function accumulate(hist: Float64Array, n: number, pred: ArrayLike<number>, gt: ArrayLike<number>, ignore: number | null): void {
  if (pred.length !== gt.length) {
    throw new FcnkitError('SHAPE_MISMATCH', `confusionMatrix: prediction has ${pred.length} pixels but ground truth has ${gt.length}`);
  }
  for (let i = 0; i < gt.length; i++) {
    const g = gt[i];
    if (g < 0 || g >= n || g === ignore) continue;
    const p = pred[i];
    // The reference would count such a pixel in the wrong cell (or fail to reshape): refuse.
    if (!(p >= 0 && p < n)) {
      throw new FcnkitError('INVALID_ARGUMENT', `confusionMatrix: prediction ${p} at pixel ${i} is not a class in [0, ${n})`);
    }
    hist[g * n + p] += 1;
  }
}

/**
 * The confusion matrix of one prediction against its ground truth (same number of pixels), as
 * score.py's fast_hist(gt, pred, n): a Float64Array n×n, row-major, hist[gt * n + pred] = pixels.
 * A predicted label outside [0, n) is an INVALID_ARGUMENT.
 */
export function confusionMatrix(pred: LabelArray, gt: LabelArray, numClasses: number, options: ConfusionMatrixOptions = {}): Float64Array {
  const n = classesArg('confusionMatrix numClasses', numClasses);
  const ignore = ignoreArg(options);
  const hist = new Float64Array(n * n);
  accumulate(hist, n, labelData('confusionMatrix pred', pred), labelData('confusionMatrix gt', gt), ignore);
  return hist;
}

function nanmean(xs: readonly number[]): number {
  let sum = 0;
  let count = 0;
  for (const x of xs) {
    if (Number.isNaN(x)) continue;
    sum += x;
    count++;
  }
  return count === 0 ? NaN : sum / count;
}

/** The reference's scores from a confusion matrix (n×n, rows = ground truth): see the file comment. */
export function segmentationMetrics(hist: Float64Array | ArrayLike<number>): SegmentationMetrics {
  const len = (hist as ArrayLike<number>)?.length;
  const n = Math.round(Math.sqrt(typeof len === 'number' ? len : -1));
  if (typeof len !== 'number' || len < 1 || n * n !== len) {
    throw invalidArgument('segmentationMetrics hist', 'a square confusion matrix (n×n numbers, row-major)', hist);
  }
  const rows = new Array<number>(n).fill(0);
  const cols = new Array<number>(n).fill(0);
  const diag = new Array<number>(n);
  let total = 0;
  for (let g = 0; g < n; g++) {
    for (let p = 0; p < n; p++) {
      const v = hist[g * n + p];
      rows[g] += v;
      cols[p] += v;
      total += v;
    }
    diag[g] = hist[g * n + g];
  }
  let diagSum = 0;
  for (const d of diag) diagSum += d;
  const perClassAccuracy = diag.map((d, c) => d / rows[c]);
  const perClassIU = diag.map((d, c) => d / (rows[c] + cols[c] - d));
  let fw = 0;
  for (let c = 0; c < n; c++) if (rows[c] / total > 0) fw += (rows[c] / total) * perClassIU[c];
  return {
    pixelAccuracy: diagSum / total,
    meanAccuracy: nanmean(perClassAccuracy),
    meanIU: nanmean(perClassIU),
    // With no pixels at all freq is 0/0 = NaN, no class passes freq > 0, and numpy sums the
    // empty selection to 0: so does this.
    frequencyWeightedIU: fw,
    perClassIU,
    perClassAccuracy,
  };
}

/** Accumulates confusion matrices over a dataset (compute_hist's loop); result() scores the total. */
export class SegmentationEvaluator {
  readonly numClasses: number;
  readonly ignore: number | null;
  private readonly counts: Float64Array;
  private images = 0;

  constructor(numClasses: number, options: ConfusionMatrixOptions = {}) {
    this.numClasses = classesArg('SegmentationEvaluator numClasses', numClasses);
    this.ignore = ignoreArg(options);
    if (this.numClasses > 16384) throw new FcnkitError('TOO_LARGE', `SegmentationEvaluator: a confusion matrix of ${this.numClasses} classes takes ${this.numClasses ** 2 * 8} bytes; at most 16384 classes`);
    this.counts = new Float64Array(this.numClasses * this.numClasses);
  }

  /** Adds one image's prediction and ground truth (checked before anything is counted). */
  add(pred: LabelArray, gt: LabelArray): this {
    const one = new Float64Array(this.counts.length);
    accumulate(one, this.numClasses, labelData('SegmentationEvaluator pred', pred), labelData('SegmentationEvaluator gt', gt), this.ignore);
    for (let i = 0; i < one.length; i++) this.counts[i] += one[i];
    this.images++;
    return this;
  }

  /** How many images were added. */
  get count(): number {
    return this.images;
  }

  /** A copy of the accumulated confusion matrix (rows = ground truth). */
  get hist(): Float64Array {
    return new Float64Array(this.counts);
  }

  result(): SegmentationMetrics {
    return segmentationMetrics(this.counts);
  }

  reset(): void {
    this.counts.fill(0);
    this.images = 0;
  }
}
