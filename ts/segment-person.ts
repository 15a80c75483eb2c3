/**
 * segmentPerson: fcnkit's embedded default model, MediaPipe's selfie segmentation
 * (models/selfie_segmentation.tflite, Apache-2.0, see models/NOTICE), shipped in the package so
 * it works after `npm install` with no download.
 *
 * The photo is decoded upright (EXIF), stretched to 256 x 256 RGB in [0, 1] (the model's own
 * preprocessing, read from models/selfie_segmentation.json), run through the model (its last
 * op is a sigmoid: one channel, the probability that a pixel shows a person), and the
 * probability map is resized bilinearly back to the photo's size.
 */
import * as path from 'path';
import { FcnkitError, invalidArgument, toFcnkitError } from './errors';
import { FILE_LIMITS, readRegularFile } from './io/safe-file';
import { checkCpuPrecision, CompiledGraph } from './graph/compiled';
import { loadImage, loadPreprocessingSidecar, LoadImageOptions, PREPROCESSING_PRESETS, resizeScoresToOriginal } from './io/image';
import { importTflite } from './io/tflite-import';
import { Tensor } from './tensor';

/** Where the embedded model lives (the package's models/ folder). */
export const SELFIE_MODEL_PATH = path.join(__dirname, '..', 'models', 'selfie_segmentation.tflite');

export interface SegmentPersonOptions {
  /** Caps the core's threads for this run (default: all). */
  threads?: number;
  /** Aborting rejects with FcnkitError ABORTED. */
  signal?: AbortSignal;
  /**
   * 'fp32' (default) or 'bf16': the model's convolutions with bfloat16 products on a CPU with
   * AVX512-BF16 (INVALID_ARGUMENT elsewhere); see CompiledGraphOptions.precision.
   */
  precision?: 'fp32' | 'bf16';
}

export interface PersonSegmentation {
  /** [height, width] float32 in [0, 1] at the photo's (upright) size: P(person) per pixel. */
  probability: Tensor<Float32Array>;
  /** height * width bytes, row-major: 1 where probability > 0.5, else 0. */
  mask: Uint8Array;
  width: number;
  height: number;
}

interface SelfieModel {
  graph: CompiledGraph;
  inputName: string;
  outputName: string;
  preprocessing: LoadImageOptions;
}

const cached = new Map<'fp32' | 'bf16', Promise<SelfieModel>>();

async function loadSelfieModel(precision: 'fp32' | 'bf16'): Promise<SelfieModel> {
  const bytes = await readRegularFile(SELFIE_MODEL_PATH, { what: 'embedded model', maxBytes: FILE_LIMITS.model });
  const preprocessing = (await loadPreprocessingSidecar(SELFIE_MODEL_PATH)) ?? PREPROCESSING_PRESETS.selfie;
  const imported = importTflite(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { preprocessing });
  const input = imported.inputs[0];
  const graph = new CompiledGraph(imported.specFor({ [input.name]: input.shape.map((d) => (typeof d === 'number' ? d : 1)) }), { precision });
  return { graph, inputName: input.name, outputName: imported.outputs[0].name, preprocessing };
}

/** The embedded model, imported and compiled once per process (a failed load is retried next call). */
function selfieModel(precision: 'fp32' | 'bf16'): Promise<SelfieModel> {
  let model = cached.get(precision);
  if (!model) {
    model = loadSelfieModel(precision);
    cached.set(precision, model);
    model.catch(() => {
      cached.delete(precision);
    });
  }
  return model;
}

/**
 * Person segmentation of a photo (path, Buffer or Uint8Array of a PNG, JPEG or WebP):
 * `{ probability [H, W], mask (probability > 0.5), width, height }` at the photo's size.
 */
export async function segmentPerson(image: string | Uint8Array, options: SegmentPersonOptions = {}): Promise<PersonSegmentation> {
  const callSite = new Error();
  try {
    if (options === null || typeof options !== 'object') throw invalidArgument('segmentPerson options', 'an object', options);
    const { threads, signal } = options;
    const precision = options.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'bf16') throw invalidArgument('segmentPerson precision', "'fp32' or 'bf16'", precision);
    checkCpuPrecision(precision);
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument('segmentPerson signal', 'an AbortSignal', signal);
    if (signal?.aborted) throw new FcnkitError('ABORTED', 'segmentPerson aborted before it started');
    const model = await selfieModel(precision);
    const img = await loadImage(image, model.preprocessing);
    if (signal?.aborted) throw new FcnkitError('ABORTED', 'segmentPerson aborted');
    const outputs = await model.graph.run({ [model.inputName]: img.tensor }, { threads, signal });
    const scores = outputs[model.outputName];
    const [, , h, w] = scores.shape;
    const probs = await resizeScoresToOriginal(scores.reshape([h, w]), img.mapping, { threads });
    const probability = probs as Tensor<Float32Array>;
    const mask = new Uint8Array(probability.size);
    const data = probability.data;
    for (let i = 0; i < data.length; i++) mask[i] = data[i] > 0.5 ? 1 : 0;
    return { probability, mask, width: img.original.width, height: img.original.height };
  } catch (err) {
    throw toFcnkitError(err, callSite);
  }
}
