/**
 * One image through `fcnkit segment`: decode with the model's preprocessing, run, map the scores
 * back to the photo's size, write the outputs. Runs in a worker thread (or the main thread with
 * --workers 0); the model it runs is a NativeSharedModel shared by all of them.
 */
import { FcnkitError } from '../errors';
import { FILE_LIMITS, readRegularFile } from '../io/safe-file';
import { loadImage, resizeScoresToOriginal, resolvePreprocessing } from '../io/image';
import type { LoadImageOptions } from '../io/image';
import { labelsFromScores, sharpLib, writeOutputs } from '../io/outputs';
import type { LabelResult, OutputFormat, Photo } from '../io/outputs';
import { Tensor } from '../tensor';

export interface SegmentConfig {
  outDir: string;
  formats: OutputFormat[];
  threshold: number;
  /** Threads per model run (of the core's pool). */
  threads: number;
  preprocessing: LoadImageOptions;
  /** Run in tiles of this size (input pixels), stitched. */
  tile?: number;
  /** Which model output holds the scores (default: the first). */
  output?: string;
}

export interface SegmentTask {
  id: number;
  file: string;
  name: string;
  /** This task's settings where they differ from the engine's (queue jobs carry their own). */
  config?: SegmentConfig;
}

export interface SegmentDone {
  id: number;
  outputs: string[];
  width: number;
  height: number;
  /** Classes of the label map. */
  classes: number;
  ms: number;
}

/** One photo segmented, at the photo's (upright) size. */
export interface Segmentation {
  /** Scores [1, K, H, W] resized to the photo. */
  scores: Tensor<Float32Array>;
  labels: LabelResult;
  /** The decoded photo, when asked for. */
  photo?: Photo;
}

/** What SegmentEngine runs: the CPU's NativeSharedModel, or CudaSegmentModel on the GPU. */
export interface SegmentModel {
  run(inputs: Tensor[], threads?: number, ticket?: number): Promise<Array<{ name: string; data: Float32Array | Int32Array; shape: readonly number[] }>>;
  /** Stops the run with that ticket (every run when none is given). */
  abort(ticket?: number): void;
}

let tickets = 0;

/** Runs the shared model on one input, stoppable by `signal` (FcnkitError ABORTED). */
export async function runShared(
  model: SegmentModel,
  input: Tensor,
  threads: number,
  signal: AbortSignal | undefined,
): Promise<Array<{ name: string; data: Float32Array | Int32Array; shape: readonly number[] }>> {
  if (signal?.aborted) throw new FcnkitError('ABORTED', 'run aborted before it started');
  const ticket = ++tickets;
  const onAbort = (): void => model.abort(ticket);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await model.run([input], threads, ticket);
  } catch (err) {
    const e = err as Error & { code?: string };
    throw e instanceof FcnkitError ? e : new FcnkitError((e.code as 'ABORTED') ?? 'INVALID_ARGUMENT', e.message);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Evenly spread tile origins covering `size` with tiles of `tile` (one at 0 when it fits). */
export function tileOrigins(size: number, tile: number, overlap: number): number[] {
  if (size <= tile) return [0];
  const stride = Math.max(1, tile - overlap);
  const n = Math.ceil((size - tile) / stride) + 1;
  return Array.from({ length: n }, (_, k) => Math.round((k * (size - tile)) / (n - 1)));
}

/** Per tile along one axis, the output range [from, to) it contributes: split at overlap midpoints. */
function tileRanges(origins: number[], tile: number, size: number): Array<[number, number]> {
  return origins.map((p, k) => {
    const from = k === 0 ? 0 : Math.floor((p + origins[k - 1] + tile) / 2);
    const to = k === origins.length - 1 ? size : Math.floor((origins[k + 1] + p + tile) / 2);
    return [from, to];
  });
}

export class SegmentEngine {
  private inferring: Promise<void> = Promise.resolve();

  constructor(
    private readonly cfg: SegmentConfig,
    private readonly model: SegmentModel,
    /** Makes sure the shared model has a graph for this input shape (the main thread builds it). */
    private readonly ensureSpec: (shape: number[]) => Promise<void>,
  ) {}

  /** Runs one at a time per engine: decoding of the next image overlaps this one's run. */
  private async infer(cfg: SegmentConfig, input: Tensor, signal: AbortSignal): Promise<Tensor<Float32Array> | Tensor<Int32Array>> {
    const previous = this.inferring;
    let release!: () => void;
    this.inferring = new Promise<void>((r) => (release = r));
    try {
      await previous;
      if (signal.aborted) throw new FcnkitError('ABORTED', 'stopped');
      return cfg.tile ? await this.tiled(cfg, input, cfg.tile, signal) : await this.whole(cfg, input, signal);
    } finally {
      release();
    }
  }

  private pick(cfg: SegmentConfig, outs: Array<{ name: string; data: Float32Array | Int32Array; shape: readonly number[] }>): Tensor<Float32Array> | Tensor<Int32Array> {
    const o = cfg.output ? outs.find((x) => x.name === cfg.output) : outs[0];
    if (!o) throw new FcnkitError('INVALID_ARGUMENT', `the model has no output '${cfg.output}' (its outputs: ${outs.map((x) => x.name).join(', ')})`);
    return new Tensor(o.data, o.shape) as Tensor<Float32Array> | Tensor<Int32Array>;
  }

  private async whole(cfg: SegmentConfig, input: Tensor, signal: AbortSignal): Promise<Tensor<Float32Array> | Tensor<Int32Array>> {
    await this.ensureSpec([...input.shape]);
    return this.pick(cfg, await runShared(this.model, input, cfg.threads, signal));
  }

  /** Tiles of tile×tile (one shape, so one compiled plan), overlapping by a quarter, stitched. */
  private async tiled(cfg: SegmentConfig, input: Tensor, tile: number, signal: AbortSignal): Promise<Tensor<Float32Array>> {
    const [n, c, h, w] = input.shape;
    const th = Math.min(tile, h);
    const tw = Math.min(tile, w);
    const ys = tileOrigins(h, th, Math.floor(th / 4));
    const xs = tileOrigins(w, tw, Math.floor(tw / 4));
    const yr = tileRanges(ys, th, h);
    const xr = tileRanges(xs, tw, w);
    await this.ensureSpec([n, c, th, tw]);
    const src = input.data as Float32Array;
    let out: Float32Array | undefined;
    let k = 0;
    for (let iy = 0; iy < ys.length; iy++) {
      for (let ix = 0; ix < xs.length; ix++) {
        const patch = new Float32Array(n * c * th * tw);
        for (let b = 0; b < n * c; b++) {
          for (let y = 0; y < th; y++) {
            const from = (b * h + ys[iy] + y) * w + xs[ix];
            patch.set(src.subarray(from, from + tw), (b * th + y) * tw);
          }
        }
        const scores = this.pick(cfg, await runShared(this.model, new Tensor(patch, [n, c, th, tw]), cfg.threads, signal));
        if (scores.dtype !== 'float32' || scores.rank !== 4 || scores.shape[2] !== th || scores.shape[3] !== tw) {
          throw new FcnkitError('SHAPE_MISMATCH', `--tile needs a model whose scores have its input's size: a ${th}×${tw} tile gave [${scores.shape.join(', ')}]`);
        }
        k = scores.shape[1];
        out ??= new Float32Array(n * k * h * w);
        const s = scores.data as Float32Array;
        for (let b = 0; b < n * k; b++) {
          for (let y = yr[iy][0]; y < yr[iy][1]; y++) {
            const ty = y - ys[iy];
            const from = (b * th + ty) * tw + (xr[ix][0] - xs[ix]);
            out.set(s.subarray(from, from + (xr[ix][1] - xr[ix][0])), (b * h + y) * w + xr[ix][0]);
          }
        }
      }
    }
    return new Tensor(out as Float32Array, [n, k, h, w]);
  }

  async process(task: SegmentTask, signal: AbortSignal): Promise<SegmentDone> {
    const t0 = Date.now();
    const cfg = task.config ?? this.cfg;
    const bytes = await readRegularFile(task.file, { what: 'image', maxBytes: FILE_LIMITS.image });
    const needPhoto = cfg.formats.includes('overlay') || cfg.formats.includes('cutout');
    const { scores, labels, photo } = await this.segment(bytes, signal, needPhoto, cfg);
    const outputs = await writeOutputs(scores, photo, labels, { outDir: cfg.outDir, name: task.name, formats: cfg.formats });
    return { id: task.id, outputs, width: labels.width, height: labels.height, classes: labels.numClasses, ms: Date.now() - t0 };
  }

  /**
   * One photo's bytes -> scores and labels at the photo's size, and the photo itself (decoded
   * upright, for overlays and cutouts) when asked. A photo whose header claims more than the
   * preprocessing's maxPixels is TOO_LARGE before any pixel is decoded.
   */
  async segment(bytes: Buffer, signal: AbortSignal, needPhoto: boolean, cfg: SegmentConfig = this.cfg): Promise<Segmentation> {
    // The caller names the input in its messages: drop loadImage's description of the buffer.
    const loading = loadImage(bytes, cfg.preprocessing).catch((err: unknown) => {
      if (err instanceof FcnkitError) throw new FcnkitError(err.code, err.message.replace(/^image \((?:[^()]|\([^()]*\))*\) /, ''), { cause: err });
      throw err;
    });
    const maxPixels = resolvePreprocessing(cfg.preprocessing).maxPixels;
    const [image, photo] = await Promise.all([loading, needPhoto ? decodePhoto(bytes, maxPixels) : undefined]);
    if (signal.aborted) throw new FcnkitError('ABORTED', 'stopped');
    const result = await this.infer(cfg, image.tensor, signal);
    let scores: Tensor<Float32Array>;
    if (result.dtype === 'int32') {
      scores = labelsToOneHot(result as Tensor<Int32Array>);
    } else {
      if (result.rank !== 4 || result.shape[0] !== 1) {
        throw new FcnkitError('SHAPE_MISMATCH', `expected scores [1, K, H, W] from the model but received [${result.shape.join(', ')}]`);
      }
      scores = result as Tensor<Float32Array>;
    }
    const full = (await resizeScoresToOriginal(scores, image.mapping, { threads: cfg.threads })) as Tensor<Float32Array>;
    if (signal.aborted) throw new FcnkitError('ABORTED', 'stopped');
    const labels = await labelsFromScores(full, { threshold: cfg.threshold, threads: cfg.threads });
    if (photo && (photo.width !== labels.width || photo.height !== labels.height)) {
      throw new FcnkitError('BAD_IMAGE', `decoded ${photo.width}×${photo.height} but the scores are ${labels.width}×${labels.height}`);
    }
    return { scores: full, labels, photo };
  }
}

/** A label map from the model ([1, H, W] or [1, 1, H, W] int32) as one-hot scores, so it maps
 *  back to the photo like scores do (bilinear of one-hot, then argmax: nearest-like). */
function labelsToOneHot(labels: Tensor<Int32Array>): Tensor<Float32Array> {
  const s = labels.shape;
  const h = s[s.length - 2];
  const w = s[s.length - 1];
  if (s.length < 2 || s.slice(0, -2).some((d) => d !== 1)) {
    throw new FcnkitError('SHAPE_MISMATCH', `expected labels [1, H, W] from the model but received [${s.join(', ')}]`);
  }
  let k = 1;
  for (const l of labels.data) if (l + 1 > k) k = l + 1;
  if (k > 4096) throw new FcnkitError('INVALID_ARGUMENT', `the model's label output holds label ${k - 1}: too many classes`);
  const out = new Float32Array(k * h * w);
  labels.data.forEach((l, i) => {
    if (l >= 0) out[l * h * w + i] = 1;
  });
  return new Tensor(out, [1, k, h, w]);
}

/** The photo as 8-bit RGB at its upright size, as the outputs show it. */
async function decodePhoto(bytes: Buffer, maxPixels: number): Promise<Photo> {
  try {
    // sharp checks the header's size against the limit before it decodes anything.
    const { data, info } = await sharpLib()(bytes, { limitInputPixels: maxPixels })
      .rotate()
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new FcnkitError('BAD_IMAGE', `decoded ${info.channels} channels where 3 were asked for`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new FcnkitError('TOO_LARGE', `over the limit of ${maxPixels} pixels (${message})`);
    throw new FcnkitError('BAD_IMAGE', `cannot decode: ${message}`);
  }
}
