/**
 * Images in: PNG / JPEG / WebP decoded with sharp into a normalised NCHW float32 tensor, with
 * the model's preprocessing, and the mapping that takes outputs back to the photo's size.
 *
 * Decoding, in order:
 * - EXIF orientation is applied first (sharp's auto-orient); `original` is the upright size;
 * - alpha: 'flatten' (default) composites onto `background` (default white, what a viewer
 *   shows), 'drop' keeps the colour channels as stored under the alpha;
 * - grey and grey + alpha become 3 equal channels; CMYK converts to sRGB (sharp's profile);
 * - 16-bit images stay 16-bit through resizing and are scaled by 1 / 65535 (8-bit by 1 / 255),
 *   so they land on the same value range as 8-bit ones;
 * - resize: 'stretch' to `size` (aspect ratio not kept), 'letterbox' (scaled to fit inside
 *   `size`, centred, the rest filled with `padValue`), or 'none' (native size);
 * - each channel value v in [0, 1] is mapped to `range[0] + v * (range[1] - range[0])`, then
 *   `(x - mean[c]) / std[c]` with `mean`/`std` given in the tensor's channel order.
 *
 * Presets travel with a model: pass them in options, or put a JSON sidecar next to the model
 * file, `<model file>.json` or `<model file without extension>.json`:
 *   { "preprocessing": { "preset": "selfie" } }
 *   { "preprocessing": { "size": [512, 512], "resize": "letterbox", "channelOrder": "bgr",
 *                        "range": [0, 255], "mean": [104.00699, 116.66877, 122.67892] } }
 * ("preset" names a base from PREPROCESSING_PRESETS; the other keys override it.)
 */
import * as path from 'path';
import type { Metadata as SharpMetadata, OutputInfo as SharpOutputInfo, Sharp, SharpConstructor } from 'sharp';
import { FcnkitError, describe, invalidArgument } from '../errors';
import { FILE_LIMITS, readOptionalRegularFile, readRegularFile } from './safe-file';
import { ops } from '../ops';
import { Tensor } from '../tensor';

type SharpFactory = SharpConstructor;
type SharpKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';

export const RESIZE_FITS = ['stretch', 'letterbox', 'none'] as const;
export type ResizeFit = (typeof RESIZE_FITS)[number];

export const CHANNEL_ORDERS = ['rgb', 'bgr'] as const;
export type ChannelOrder = (typeof CHANNEL_ORDERS)[number];

export const ALPHA_MODES = ['flatten', 'drop'] as const;
export type AlphaMode = (typeof ALPHA_MODES)[number];

export const RESIZE_KERNELS = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'] as const;
export type ResizeKernel = (typeof RESIZE_KERNELS)[number];

export const IMAGE_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

type Triple = readonly [number, number, number];

export interface Preprocessing {
  /** Tensor [height, width] for 'stretch' and 'letterbox'. */
  size?: readonly [number, number];
  /** Default: 'stretch' when `size` is given, else 'none'. */
  resize?: ResizeFit;
  /** Channel order of the tensor. Default 'rgb'. */
  channelOrder?: ChannelOrder;
  /** What pixel values 0 and full scale map to before mean/std. Default [0, 1]. */
  range?: readonly [number, number];
  /** Subtracted per channel (tensor channel order), after `range`. Default 0. */
  mean?: Triple;
  /** Divides per channel after the mean. Default 1. */
  std?: Triple;
  /** Letterbox fill, in the 0..255 pixel scale (normalised like the image). Default 0 (black). */
  padValue?: number | Triple;
  /** Default 'flatten'. */
  alpha?: AlphaMode;
  /** Background for alpha 'flatten', 0..255 RGB. Default [255, 255, 255]. */
  background?: Triple;
  /** sharp's resampling kernel. Default 'linear'. */
  kernel?: ResizeKernel;
}

export const PREPROCESSING_PRESETS = Object.freeze({
  /** The Caffe FCN models: BGR, 0..255, the ILSVRC mean pixel subtracted; native size. */
  caffeFcn: Object.freeze({
    channelOrder: 'bgr',
    range: Object.freeze([0, 255]),
    mean: Object.freeze([104.00699, 116.66877, 122.67892]),
  }) as Preprocessing,
  /** torchvision models: RGB in [0, 1], ImageNet mean and std; native size. */
  imagenet: Object.freeze({
    channelOrder: 'rgb',
    range: Object.freeze([0, 1]),
    mean: Object.freeze([0.485, 0.456, 0.406]),
    std: Object.freeze([0.229, 0.224, 0.225]),
  }) as Preprocessing,
  /**
   * MediaPipe selfie segmentation: RGB in [0, 1], stretched to 256 x 256 (no letterbox). From the
   * package's own graph (SelfieSegmentationGpu, as compiled into its wasm):
   * ImageToTensorCalculator with output_tensor_width/height 256, keep_aspect_ratio false,
   * output_tensor_float_range { min: 0 max: 1 }; the mask comes back through
   * TensorsToSegmentationCalculator with activation NONE (the model ends in a sigmoid).
   */
  selfie: Object.freeze({
    size: Object.freeze([256, 256]),
    resize: 'stretch',
    channelOrder: 'rgb',
    range: Object.freeze([0, 1]),
  }) as Preprocessing,
});
export type PresetName = keyof typeof PREPROCESSING_PRESETS;

export interface LoadImageOptions extends Preprocessing {
  /** A named preset to start from; the other options override it. */
  preset?: PresetName;
  /** Refuse images with more pixels (TOO_LARGE), checked from the header before decoding. Default 100 000 000. */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Where the photo lies inside the tensor, so outputs can be mapped back. */
export interface ImageMapping {
  /** The upright photo (EXIF orientation applied). */
  original: { width: number; height: number };
  /** The tensor's spatial size. */
  tensor: { width: number; height: number };
  /** The photo's box inside the tensor: the whole tensor for 'stretch' and 'none'. */
  box: { left: number; top: number; width: number; height: number };
  resize: ResizeFit;
}

export interface LoadedImage {
  /** [1, 3, H, W] float32. */
  tensor: Tensor<Float32Array>;
  original: { width: number; height: number };
  mapping: ImageMapping;
  format: ImageFormat;
}

/** Fully resolved preprocessing. */
interface Resolved {
  size: [number, number] | undefined;
  resize: ResizeFit;
  channelOrder: ChannelOrder;
  range: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
  padValue: [number, number, number];
  alpha: AlphaMode;
  background: [number, number, number];
  kernel: ResizeKernel;
  maxPixels: number;
}

let sharpModule: SharpFactory | undefined;

function loadSharp(): SharpFactory {
  if (!sharpModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      sharpModule = require('sharp') as SharpFactory;
    } catch (err) {
      throw new FcnkitError(
        'BINARY_LOAD_FAILED',
        `image decoding needs the 'sharp' package, which failed to load: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return sharpModule;
}

function finite(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(what, 'a finite number', v);
  return v;
}

function triple(what: string, v: unknown, def: number): [number, number, number] {
  if (v === undefined) return [def, def, def];
  if (typeof v === 'number') return [finite(what, v), v, v];
  if (!Array.isArray(v) || v.length !== 3) throw invalidArgument(what, 'a number or 3 numbers', v);
  return [finite(`${what}[0]`, v[0]), finite(`${what}[1]`, v[1]), finite(`${what}[2]`, v[2])];
}

function choice<T extends string>(what: string, v: unknown, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalidArgument(what, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  }
  return v as T;
}

const PREPROCESSING_KEYS = new Set([
  'preset', 'size', 'resize', 'channelOrder', 'range', 'mean', 'std', 'padValue', 'alpha', 'background', 'kernel', 'maxPixels',
]);

/** Validates options (a preset name, or options with an optional `preset` base) into a full setting. */
export function resolvePreprocessing(options: LoadImageOptions | PresetName = {}): Readonly<Resolved> {
  const given: LoadImageOptions = typeof options === 'string' ? { preset: options } : options;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw invalidArgument('image options', 'an object', options);
  for (const key of Object.keys(given)) {
    if (!PREPROCESSING_KEYS.has(key)) throw new FcnkitError('INVALID_ARGUMENT', `unknown image option '${key}'`);
  }
  let base: Preprocessing = {};
  if (given.preset !== undefined) {
    if (typeof given.preset !== 'string' || !Object.prototype.hasOwnProperty.call(PREPROCESSING_PRESETS, given.preset)) {
      throw invalidArgument('image preset', `one of ${Object.keys(PREPROCESSING_PRESETS).map((k) => `'${k}'`).join(', ')}`, given.preset);
    }
    base = PREPROCESSING_PRESETS[given.preset];
  }
  const o: LoadImageOptions = { ...base };
  for (const [k, v] of Object.entries(given)) if (v !== undefined && k !== 'preset') (o as Record<string, unknown>)[k] = v;

  let size: [number, number] | undefined;
  if (o.size !== undefined) {
    const s: unknown = o.size;
    if (!Array.isArray(s) || s.length !== 2 || !s.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= 65536)) {
      throw invalidArgument('image size', '[height, width] of integers in 1..65536', s);
    }
    size = [s[0], s[1]];
  }
  const resize = choice('image resize', o.resize, RESIZE_FITS, size ? 'stretch' : 'none');
  if (resize !== 'none' && !size) throw new FcnkitError('INVALID_ARGUMENT', `image resize '${resize}' needs a size [height, width]`);
  let range: [number, number] = [0, 1];
  if (o.range !== undefined) {
    const r: unknown = o.range;
    if (!Array.isArray(r) || r.length !== 2) throw invalidArgument('image range', '[low, high]', r);
    range = [finite('image range[0]', r[0]), finite('image range[1]', r[1])];
  }
  const std = triple('image std', o.std, 1);
  if (std.some((s) => s === 0)) throw invalidArgument('image std', 'non-zero numbers', o.std);
  const maxPixels = o.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isSafeInteger(maxPixels) || maxPixels < 1) throw invalidArgument('image maxPixels', 'an integer >= 1', maxPixels);
  // The tensor's size is held to the same limit as the photo's: it is allocated too.
  if (size && size[0] * size[1] > maxPixels) {
    throw new FcnkitError('TOO_LARGE', `image size [${size[0]}, ${size[1]}] is ${size[0] * size[1]} pixels, over maxPixels ${maxPixels} (raise maxPixels to allow it)`);
  }
  const background = triple('image background', o.background, 255);
  const padValue = triple('image padValue', o.padValue, 0);
  return Object.freeze({
    size,
    resize,
    channelOrder: choice('image channelOrder', o.channelOrder, CHANNEL_ORDERS, 'rgb'),
    range,
    mean: triple('image mean', o.mean, 0),
    std,
    padValue,
    alpha: choice('image alpha', o.alpha, ALPHA_MODES, 'flatten'),
    background,
    kernel: choice('image kernel', o.kernel, RESIZE_KERNELS, 'linear'),
    maxPixels,
  });
}

async function readInput(input: unknown): Promise<Buffer> {
  if (typeof input === 'string') {
    return readRegularFile(input, { what: 'image', maxBytes: FILE_LIMITS.image });
  }
  if (input instanceof Uint8Array) return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  throw invalidArgument('image', 'a file path, Buffer or Uint8Array', input);
}

function sharpError(err: unknown, label: string): FcnkitError {
  if (err instanceof FcnkitError) return err;
  const message = (err as Error)?.message ?? String(err);
  if (/pixel limit/i.test(message)) return new FcnkitError('TOO_LARGE', `image ${label}: ${message}`, { cause: err });
  return new FcnkitError('BAD_IMAGE', `image ${label} could not be decoded: ${message}`, { cause: err });
}

/**
 * Decodes an image (path, Buffer or Uint8Array) into a [1, 3, H, W] float32 tensor with the
 * given preprocessing, plus the mapping back to the photo.
 * Errors: IO_ERROR (unreadable path), BAD_IMAGE (corrupt or not PNG/JPEG/WebP), TOO_LARGE
 * (more than maxPixels pixels).
 */
export async function loadImage(input: string | Uint8Array, options: LoadImageOptions | PresetName = {}): Promise<LoadedImage> {
  const p = resolvePreprocessing(options);
  const label = typeof input === 'string' ? `'${input}'` : `(${describe(input)})`;
  const bytes = await readInput(input);
  const sharp = loadSharp();
  const open = (): Sharp => sharp(bytes, { limitInputPixels: p.maxPixels });

  let meta: SharpMetadata;
  try {
    // The header only (no pixels decoded), read without the limit so the size can be reported.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw sharpError(err, label);
  }
  if (!(IMAGE_FORMATS as readonly string[]).includes(meta.format ?? '')) {
    throw new FcnkitError('BAD_IMAGE', `image ${label} is ${meta.format ?? 'of an unknown format'}; fcnkit reads ${IMAGE_FORMATS.join(', ')}`);
  }
  const format = meta.format as ImageFormat;
  const storedW = meta.width ?? 0;
  const storedH = meta.height ?? 0;
  if (storedW < 1 || storedH < 1) throw new FcnkitError('BAD_IMAGE', `image ${label} has no pixels (${storedW}x${storedH})`);
  if (storedW * storedH > p.maxPixels) {
    throw new FcnkitError('TOO_LARGE', `image ${label} is ${storedW}x${storedH} = ${storedW * storedH} pixels, over the limit of ${p.maxPixels}`);
  }
  // Orientations 5..8 swap the axes.
  const swap = (meta.orientation ?? 1) >= 5;
  const original = { width: swap ? storedH : storedW, height: swap ? storedW : storedH };

  let tensorW = original.width;
  let tensorH = original.height;
  let box = { left: 0, top: 0, width: original.width, height: original.height };
  if (p.size && p.resize !== 'none') {
    [tensorH, tensorW] = p.size;
    if (p.resize === 'stretch') box = { left: 0, top: 0, width: tensorW, height: tensorH };
    else {
      const s = Math.min(tensorW / original.width, tensorH / original.height);
      const w = Math.min(tensorW, Math.max(1, Math.round(original.width * s)));
      const h = Math.min(tensorH, Math.max(1, Math.round(original.height * s)));
      box = { left: Math.floor((tensorW - w) / 2), top: Math.floor((tensorH - h) / 2), width: w, height: h };
    }
  }

  const deep = meta.depth === 'ushort' || meta.depth === 'short';
  let pipeline = open().rotate();
  if (meta.hasAlpha) {
    pipeline = p.alpha === 'flatten'
      ? pipeline.flatten({ background: { r: p.background[0], g: p.background[1], b: p.background[2] } })
      : pipeline.removeAlpha();
  }
  if (box.width !== original.width || box.height !== original.height) {
    pipeline = pipeline.resize(box.width, box.height, { fit: 'fill', kernel: p.kernel as SharpKernel });
  }
  pipeline = pipeline.toColourspace(deep ? 'rgb16' : 'srgb');
  let data: Buffer;
  let info: SharpOutputInfo;
  try {
    ({ data, info } = await pipeline.raw(deep ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw sharpError(err, label);
  }
  if (info.width !== box.width || info.height !== box.height || info.channels < 1 || info.channels > 4) {
    throw new FcnkitError('BAD_IMAGE', `image ${label} decoded to ${info.width}x${info.height}x${info.channels}, expected ${box.width}x${box.height}`);
  }
  const channels = info.channels;
  const pixels: Uint8Array | Uint16Array = deep
    ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))
    : data;
  const full = deep ? 65535 : 255;
  if (pixels.length !== box.width * box.height * channels) {
    throw new FcnkitError('BAD_IMAGE', `image ${label}: decoded ${pixels.length} values for ${box.width}x${box.height}x${channels}`);
  }

  // Per tensor channel: value = (lo + v / full * (hi - lo) - mean) / std = v * a + b.
  const [lo, hi] = p.range;
  const srcChannel = p.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  const a = new Float64Array(3);
  const b = new Float64Array(3);
  const fill = new Float32Array(3);
  for (let c = 0; c < 3; c++) {
    a[c] = (hi - lo) / full / p.std[c];
    b[c] = (lo - p.mean[c]) / p.std[c];
    fill[c] = (lo + (p.padValue[srcChannel[c]] / 255) * (hi - lo) - p.mean[c]) / p.std[c];
  }
  const plane = tensorW * tensorH;
  const out = new Float32Array(3 * plane);
  if (box.width !== tensorW || box.height !== tensorH) for (let c = 0; c < 3; c++) out.fill(fill[c], c * plane, (c + 1) * plane);
  // Grey (1 or 2 channels after alpha handling) repeats channel 0.
  const pick = channels >= 3 ? srcChannel : [0, 0, 0];
  for (let y = 0; y < box.height; y++) {
    const row = (box.top + y) * tensorW + box.left;
    for (let x = 0; x < box.width; x++) {
      const s = (y * box.width + x) * channels;
      const d = row + x;
      out[d] = pixels[s + pick[0]] * a[0] + b[0];
      out[plane + d] = pixels[s + pick[1]] * a[1] + b[1];
      out[2 * plane + d] = pixels[s + pick[2]] * a[2] + b[2];
    }
  }
  return {
    tensor: new Tensor(out, [1, 3, tensorH, tensorW]),
    original,
    mapping: { original, tensor: { width: tensorW, height: tensorH }, box, resize: p.resize },
    format,
  };
}

/**
 * Resizes per-pixel scores computed on a loaded image's tensor back to the photo: scores
 * [N, C, h, w] (or [h, w]) at the tensor's size or any other size (an output stride) ->
 * [N, C, original height, original width] (or [H, W]). Bilinear (half-pixel), after cropping the
 * letterbox padding away.
 */
export async function resizeScoresToOriginal(scores: Tensor, mapping: ImageMapping, options: { threads?: number } = {}): Promise<Tensor> {
  if (!(scores instanceof Tensor) || scores.dtype !== 'float32' || (scores.rank !== 4 && scores.rank !== 2)) {
    throw invalidArgument('resizeScoresToOriginal scores', 'a float32 Tensor [N, C, H, W] or [H, W]', scores);
  }
  const m = mapping;
  if (!m || typeof m !== 'object' || !m.original || !m.tensor || !m.box) {
    throw invalidArgument('resizeScoresToOriginal mapping', 'the mapping returned by loadImage', mapping);
  }
  const threads = options.threads;
  const flat = scores.rank === 2;
  let x: Tensor = flat ? scores.reshape([1, 1, scores.shape[0], scores.shape[1]]) : scores;
  const [, , h, w] = x.shape;
  const { box, tensor, original } = m;
  const whole = box.left === 0 && box.top === 0 && box.width === tensor.width && box.height === tensor.height;
  if (!whole) {
    if (h !== tensor.height || w !== tensor.width) {
      x = await ops.resize(x, { size: [tensor.height, tensor.width], mode: 'bilinear', coordinate: 'half_pixel', threads });
    }
    x = await ops.crop(x, { offset: [box.top, box.left], size: [box.height, box.width], threads });
  }
  if (x.shape[2] !== original.height || x.shape[3] !== original.width) {
    x = await ops.resize(x, { size: [original.height, original.width], mode: 'bilinear', coordinate: 'half_pixel', threads });
  }
  return flat ? x.reshape([original.height, original.width]) : x;
}

/**
 * Reads the preprocessing sidecar of a model file: `<model>.json` (e.g. `net.onnx.json`) or
 * `<model minus extension>.json` (e.g. `net.json`), whichever exists first. Its
 * `preprocessing` object is validated (BAD_MODEL when malformed). Undefined when there is none.
 */
export async function loadPreprocessingSidecar(modelPath: string): Promise<LoadImageOptions | undefined> {
  if (typeof modelPath !== 'string') throw invalidArgument('model path', 'a string', modelPath);
  const ext = path.extname(modelPath);
  const candidates = [`${modelPath}.json`];
  if (ext && ext !== '.json') candidates.push(modelPath.slice(0, -ext.length) + '.json');
  for (const file of candidates) {
    const bytes = await readOptionalRegularFile(file, { what: 'preprocessing sidecar', maxBytes: FILE_LIMITS.sidecar });
    if (bytes === undefined) continue;
    return parseSidecar(bytes.toString('utf8'), file);
  }
  return undefined;
}

/** Parses sidecar JSON text ({ "preprocessing": { ... } }); BAD_MODEL when malformed. */
export function parseSidecar(text: string, file = 'sidecar'): LoadImageOptions {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FcnkitError('BAD_MODEL', `preprocessing sidecar '${file}' is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const pre = (json as { preprocessing?: unknown } | null)?.preprocessing;
  if (typeof pre !== 'object' || pre === null || Array.isArray(pre)) {
    throw new FcnkitError('BAD_MODEL', `preprocessing sidecar '${file}' has no "preprocessing" object`);
  }
  try {
    resolvePreprocessing(pre as LoadImageOptions);
  } catch (err) {
    const code = (err as { code?: unknown }).code === 'TOO_LARGE' ? 'TOO_LARGE' : 'BAD_MODEL';
    throw new FcnkitError(code, `preprocessing sidecar '${file}': ${(err as Error).message}`, { cause: err });
  }
  return pre as LoadImageOptions;
}
