/**
 * What `fcnkit segment` writes for each image, at the photo's original size:
 *
 *   <name>.labels.png   the class index of each pixel: 8-bit grey up to 256 classes, 16-bit above
 *   <name>.color.png    the labels in a palette's colours (VOC by default): an indexed PNG whose
 *                       index is the label (as VOC's own ground truth), RGB above 256 classes
 *   <name>.overlay.png  the photo with the colours of every non-background label (label > 0)
 *                       blended on at alpha 0.5
 *   <name>.cutout.png   binary models: the photo with alpha = the foreground probability
 *   <name>.scores.npy   the raw scores, float32 [1, K, H, W]
 *
 * Binary models: one sigmoid channel (labels: probability > threshold, default 0.5), or two
 * softmax channels (background, foreground). A single channel whose values leave [0, 1] is taken
 * as a logit and passed through the sigmoid first.
 *
 * Every file is written atomically (temp file in the same folder + rename).
 */
import * as path from 'node:path';
import type { SharpConstructor } from 'sharp';
import { FcnkitError, invalidArgument } from '../errors';
import { FILE_LIMITS, makeDirs, readRegularFile } from './safe-file';
import { Tensor } from '../tensor';
import { argmaxLabels, vocPalette } from '../dense/labels';
import type { Rgb } from '../dense/labels';
import { writeFileAtomic } from './atomic-write';
import { encodeNpy } from './npy';
import { decodeIndexedPng, encodeIndexedPng, pngInfo } from './png-indexed';

export const OUTPUT_FORMATS = ['labels', 'color', 'overlay', 'cutout', 'npy'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const DEFAULT_FORMATS: readonly OutputFormat[] = ['labels', 'overlay'];

/** The file name of one output: `<name>.<format>.png`, scores `<name>.scores.npy`. */
export function outputFileName(name: string, format: OutputFormat): string {
  return format === 'npy' ? `${name}.scores.npy` : `${name}.${format}.png`;
}

/** An interleaved 8-bit image (RGB or RGBA), row-major. */
export interface Photo {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

export interface LabelResult {
  /** One label per pixel, row-major [H, W]. */
  labels: Int32Array;
  width: number;
  height: number;
  /** Classes the labels range over (2 for a one-channel model). */
  numClasses: number;
  /** Binary models: the foreground probability of each pixel. */
  probability?: Float32Array;
}

export interface LabelOptions {
  /** One-channel models: label 1 where the probability is above this (default 0.5). */
  threshold?: number;
  threads?: number;
}

function scoresArg(scores: unknown): Tensor<Float32Array> {
  if (!(scores instanceof Tensor) || scores.dtype !== 'float32' || scores.rank !== 4 || scores.shape[0] !== 1) {
    throw invalidArgument('scores', 'a float32 Tensor [1, K, H, W]', scores instanceof Tensor ? scores.toString() : scores);
  }
  return scores as Tensor<Float32Array>;
}

/** Whether a model with this many output channels has a foreground probability (cutout). */
export function isBinary(numChannels: number): boolean {
  return numChannels === 1 || numChannels === 2;
}

/** The foreground probability of a binary model's scores [1, 1 or 2, H, W]. */
export function foregroundProbability(scores: Tensor): Float32Array {
  const s = scoresArg(scores);
  const [, k, h, w] = s.shape;
  const n = h * w;
  const d = s.data;
  const out = new Float32Array(n);
  if (k === 1) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (d[i] < lo) lo = d[i];
      if (d[i] > hi) hi = d[i];
    }
    if (lo >= 0 && hi <= 1) out.set(d.subarray(0, n));
    else for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-d[i]));
    return out;
  }
  if (k !== 2) throw new FcnkitError('INVALID_ARGUMENT', `a foreground probability needs a binary model (1 or 2 score channels) but this one has ${k}`);
  // Already probabilities (a softmax in the model) when each pixel's pair sums to 1.
  let probs = true;
  for (let i = 0; i < n && probs; i += Math.max(1, Math.floor(n / 997))) {
    const a = d[i];
    const b = d[n + i];
    probs = a >= 0 && b >= 0 && Math.abs(a + b - 1) < 1e-3;
  }
  for (let i = 0; i < n; i++) out[i] = probs ? d[n + i] : 1 / (1 + Math.exp(d[i] - d[n + i]));
  return out;
}

/** Labels from scores [1, K, H, W]: argmax over K, or probability > threshold for one channel. */
export async function labelsFromScores(scores: Tensor, options: LabelOptions = {}): Promise<LabelResult> {
  const s = scoresArg(scores);
  const threshold = options.threshold ?? 0.5;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw invalidArgument('threshold', 'a number from 0 to 1', threshold);
  const [, k, height, width] = s.shape;
  if (k === 1) {
    const probability = foregroundProbability(s);
    const labels = new Int32Array(probability.length);
    for (let i = 0; i < labels.length; i++) labels[i] = probability[i] > threshold ? 1 : 0;
    return { labels, width, height, numClasses: 2, probability };
  }
  const labels = (await argmaxLabels(s, { threads: options.threads })).data;
  return { labels, width, height, numClasses: k, probability: k === 2 ? foregroundProbability(s) : undefined };
}

export interface WriteOutputsOptions {
  outDir: string;
  /** The image's name: outputs are `<outDir>/<name>.<format>.png`. May contain '/' (sub-folders). */
  name: string;
  formats: readonly OutputFormat[];
  /** VOC's 256 colours by default. */
  palette?: ReadonlyArray<Rgb>;
  /** Opacity of the colours in the overlay (default 0.5). */
  overlayAlpha?: number;
}

const VOC = vocPalette(256) as ReadonlyArray<Rgb>;

let sharpModule: SharpConstructor | undefined;

/** sharp, loaded on first use (as ts/io/image.ts does), so importing fcnkit does not load it. */
export function sharpLib(): SharpConstructor {
  if (!sharpModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      sharpModule = require('sharp') as SharpConstructor;
    } catch (err) {
      throw new FcnkitError('BINARY_LOAD_FAILED', `writing images needs the 'sharp' package, which failed to load: ${(err as Error).message}`, { cause: err });
    }
  }
  return sharpModule;
}

function checkPhoto(photo: Photo | undefined, width: number, height: number, format: string): Photo {
  if (!photo) throw new FcnkitError('INVALID_ARGUMENT', `the ${format} output needs the photo`);
  if (photo.width !== width || photo.height !== height) {
    throw new FcnkitError('SHAPE_MISMATCH', `${format}: the photo is ${photo.width}×${photo.height} but the labels are ${width}×${height}`);
  }
  return photo;
}

/** The label map as a PNG: 8-bit grey up to 256 classes, 16-bit grey above. */
export async function encodeLabelsPng(labels: Int32Array, width: number, height: number, numClasses: number): Promise<Uint8Array> {
  if (numClasses <= 256) {
    const px = new Uint8Array(labels.length);
    for (let i = 0; i < px.length; i++) px[i] = labels[i];
    return sharpLib()(px, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  }
  if (numClasses > 65536) throw new FcnkitError('INVALID_ARGUMENT', `a label PNG holds at most 65536 classes, not ${numClasses}`);
  const px = new Uint16Array(labels.length);
  for (let i = 0; i < px.length; i++) px[i] = labels[i];
  return sharpLib()(px, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
}

/** The colour picture of labels: indexed PNG up to 256 classes, RGB above. */
export async function encodeColorPng(labels: Int32Array, width: number, height: number, numClasses: number, palette: ReadonlyArray<Rgb> = VOC): Promise<Uint8Array> {
  if (numClasses <= 256 && palette.length >= numClasses) {
    const px = new Uint8Array(labels.length);
    for (let i = 0; i < px.length; i++) px[i] = labels[i];
    return encodeIndexedPng(px, width, height, palette.slice(0, Math.max(numClasses, 1)));
  }
  const rgb = new Uint8Array(labels.length * 3);
  for (let i = 0; i < labels.length; i++) {
    const c = palette[labels[i]];
    if (c) rgb.set(c, 3 * i);
  }
  return sharpLib()(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The photo with the colours of labels > 0 blended on at `alpha`. */
export async function encodeOverlayPng(photo: Photo, labels: Int32Array, palette: ReadonlyArray<Rgb> = VOC, alpha = 0.5): Promise<Uint8Array> {
  const { width, height, channels } = photo;
  const out = new Uint8Array(width * height * 3);
  const src = photo.data;
  const keep = 1 - alpha;
  for (let i = 0; i < labels.length; i++) {
    const r = src[i * channels];
    const g = src[i * channels + 1];
    const b = src[i * channels + 2];
    const c = labels[i] > 0 ? palette[labels[i]] : undefined;
    if (c) {
      out[3 * i] = Math.round(keep * r + alpha * c[0]);
      out[3 * i + 1] = Math.round(keep * g + alpha * c[1]);
      out[3 * i + 2] = Math.round(keep * b + alpha * c[2]);
    } else {
      out[3 * i] = r;
      out[3 * i + 1] = g;
      out[3 * i + 2] = b;
    }
  }
  return sharpLib()(out, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The photo with alpha = the foreground probability (RGBA PNG). */
export async function encodeCutoutPng(photo: Photo, probability: Float32Array): Promise<Uint8Array> {
  const { width, height, channels } = photo;
  const out = new Uint8Array(width * height * 4);
  const src = photo.data;
  for (let i = 0; i < probability.length; i++) {
    out[4 * i] = src[i * channels];
    out[4 * i + 1] = src[i * channels + 1];
    out[4 * i + 2] = src[i * channels + 2];
    const p = probability[i];
    out[4 * i + 3] = p > 0 ? (p < 1 ? Math.round(p * 255) : 255) : 0;
  }
  return sharpLib()(out, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/**
 * One output of one image as bytes (a PNG, or NPY for 'npy'). `scores` [1, K, H, W] and `photo`
 * are at the original size; `labels` are the labels of those scores.
 */
export async function encodeOutput(
  format: OutputFormat,
  scores: Tensor,
  photo: Photo | undefined,
  labels: LabelResult,
  options: { palette?: ReadonlyArray<Rgb>; overlayAlpha?: number } = {},
): Promise<Uint8Array> {
  const s = scoresArg(scores);
  const { width, height, numClasses } = labels;
  const palette = options.palette ?? VOC;
  switch (format) {
    case 'labels':
      return encodeLabelsPng(labels.labels, width, height, numClasses);
    case 'color':
      return encodeColorPng(labels.labels, width, height, numClasses, palette);
    case 'overlay':
      return encodeOverlayPng(checkPhoto(photo, width, height, 'overlay'), labels.labels, palette, options.overlayAlpha ?? 0.5);
    case 'cutout':
      if (!labels.probability) {
        throw new FcnkitError('INVALID_ARGUMENT', `the cutout output needs a binary model (1 or 2 score channels) but this one has ${s.shape[1]}`);
      }
      return encodeCutoutPng(checkPhoto(photo, width, height, 'cutout'), labels.probability);
    case 'npy':
      return encodeNpy({ dtype: 'float32', shape: [...s.shape], data: s.data });
    default:
      throw invalidArgument('output format', OUTPUT_FORMATS.join(', '), format);
  }
}

/**
 * Writes the chosen outputs of one image. `scores` [1, K, H, W] and `photo` are at the original
 * size. Returns the paths written, in `formats` order.
 */
export async function writeOutputs(
  scores: Tensor,
  photo: Photo | undefined,
  labelsOrOptions: LabelResult | LabelOptions,
  options: WriteOutputsOptions,
): Promise<string[]> {
  const s = scoresArg(scores);
  const lr = 'labels' in labelsOrOptions ? labelsOrOptions : await labelsFromScores(s, labelsOrOptions);
  const written: string[] = [];
  const target = (format: OutputFormat): string => path.join(options.outDir, outputFileName(options.name, format));
  if (typeof options.name !== 'string' || options.name === '' || path.isAbsolute(options.name) || options.name.split(/[\\/]/).some((part) => part === '..' || part === '')) {
    throw invalidArgument('writeOutputs name', 'a relative name inside outDir (no "..", no empty parts)', options.name);
  }
  if (options.name.includes('/') || options.name.includes(path.sep)) await makeDirs(path.dirname(target('labels')), 'output folder');
  for (const format of options.formats) {
    const bytes = await encodeOutput(format, s, photo, lr, options);
    const file = target(format);
    await writeFileAtomic(file, bytes);
    written.push(file);
  }
  return written;
}

/**
 * Reads a label image (ground truth or a prediction) as class indices: an indexed PNG gives its
 * palette indices (VOC's SegmentationClass files, our colour output), a grey PNG or other grey
 * image its values (8 or 16 bit: our label output). Colour images are refused: their colours
 * would have to be mapped back to classes.
 */
export async function readLabelImage(file: string): Promise<{ labels: Uint8Array | Uint16Array; width: number; height: number }> {
  const bytes = await readRegularFile(file, { what: 'label image', maxBytes: FILE_LIMITS.image });
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const png = pngInfo(u8);
  if (png && png.colorType === 3 && !png.interlaced) {
    const { indices, width, height } = decodeIndexedPng(u8, file);
    return { labels: indices, width, height };
  }
  let meta: Awaited<ReturnType<ReturnType<SharpConstructor>['metadata']>>;
  try {
    meta = await sharpLib()(bytes, { limitInputPixels: 1 << 28 }).metadata();
  } catch (err) {
    throw new FcnkitError('BAD_IMAGE', `${file}: cannot decode (${(err as Error).message})`);
  }
  const channels = meta.channels ?? 0;
  const grey = meta.space === 'b-w' || meta.space === 'grey16' || channels === 1 || (channels === 2 && meta.hasAlpha);
  if (meta.isPalette) {
    throw new FcnkitError('BAD_IMAGE', `${file}: indexed images other than non-interlaced PNG are not supported as label images; save it as a PNG without interlacing`);
  }
  if (!grey) {
    throw new FcnkitError('BAD_IMAGE', `${file}: a label image must be greyscale (class = value) or indexed (class = palette index), not ${meta.space} with ${channels} channels`);
  }
  try {
    if (meta.depth === 'ushort') {
      const { data, info } = await sharpLib()(bytes).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const labels = new Uint16Array(info.width * info.height);
      labels.set(new Uint16Array(data.buffer, data.byteOffset, labels.length));
      return { labels, width: info.width, height: info.height };
    }
    const { data, info } = await sharpLib()(bytes).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    return { labels: new Uint8Array(data.buffer, data.byteOffset, info.width * info.height), width: info.width, height: info.height };
  } catch (err) {
    throw new FcnkitError('BAD_IMAGE', `${file}: cannot decode (${(err as Error).message})`);
  }
}
