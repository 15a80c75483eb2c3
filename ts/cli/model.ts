/**
 * Model loading for the commands: a file (ONNX, Caffe prototxt + caffemodel, TFLite, format from
 * the content) or 'default', the embedded person segmenter; its preprocessing from a sidecar
 * JSON, --preset, or the format's usual one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import { FILE_LIMITS, readRegularFile } from '../io/safe-file';
import type { ImportedGraph, ModelFormat } from '../io/imported';
import { loadPreprocessingSidecar, PREPROCESSING_PRESETS, resolvePreprocessing } from '../io/image';
import type { LoadImageOptions, PresetName } from '../io/image';
import { importCaffe } from '../io/caffe-import';
import { importOnnx } from '../io/onnx-import';
import { importTflite } from '../io/tflite-import';
import { detectModelFormat } from '../session';

/** The embedded default model: MediaPipe selfie segmentation (one sigmoid channel: person). */
export const DEFAULT_MODEL_FILE = path.join(__dirname, '..', '..', 'models', 'selfie_segmentation.tflite');
export const DEFAULT_MODEL_NAME = 'default (MediaPipe selfie segmentation, person vs background)';

export const PRESET_NAMES = Object.keys(PREPROCESSING_PRESETS) as PresetName[];

export interface CliModel {
  /** What the user named: a path, or DEFAULT_MODEL_NAME. */
  source: string;
  file: string;
  format: ModelFormat;
  imported: ImportedGraph;
  /** How photos are turned into the model's input. */
  preprocessing: LoadImageOptions;
  /** Where the preprocessing came from, for messages. */
  preprocessingFrom: string;
}

export function isDefaultModel(model: string | undefined): boolean {
  return model === undefined || model === 'default';
}

async function readModelBytes(file: string): Promise<Uint8Array> {
  const b = await readRegularFile(file, { what: 'model', maxBytes: FILE_LIMITS.model });
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The Caffe weights beside a prototxt: <same name>.caffemodel, or the only .caffemodel there. */
async function caffeWeightsFor(prototxt: string): Promise<string> {
  const dir = path.dirname(prototxt);
  const base = path.basename(prototxt).replace(/\.prototxt$/i, '');
  const same = path.join(dir, `${base}.caffemodel`);
  if (fs.existsSync(same)) return same;
  const all = (await fs.promises.readdir(dir)).filter((f) => f.endsWith('.caffemodel'));
  if (all.length === 1) return path.join(dir, all[0]);
  throw new FcnkitError('IO_ERROR', `Caffe model '${prototxt}': no weights found (expected ${same}, or one .caffemodel in ${dir}); name both as --model NET.prototxt:WEIGHTS.caffemodel`);
}

/** Imports a model file (format from the content); `file` may be `NET.prototxt:WEIGHTS.caffemodel`. */
export async function importModelFile(file: string): Promise<{ imported: ImportedGraph; format: ModelFormat; file: string }> {
  let modelFile = file;
  let weightsFile: string | undefined;
  const m = /^(.*\.prototxt):(.+)$/i.exec(file);
  if (m && !fs.existsSync(file)) {
    modelFile = m[1];
    weightsFile = m[2];
  }
  const bytes = await readModelBytes(modelFile);
  const format = weightsFile ? 'caffe' : (detectModelFormat(bytes) ?? (/\.prototxt$/i.test(modelFile) ? 'caffe' : undefined));
  switch (format) {
    case 'tflite':
      return { imported: importTflite(bytes), format, file: modelFile };
    case 'caffe': {
      const weights = await readModelBytes(weightsFile ?? (await caffeWeightsFor(modelFile)));
      return { imported: importCaffe(Buffer.from(bytes).toString('utf8'), weights), format, file: modelFile };
    }
    case 'onnx':
      return { imported: importOnnx(bytes, { baseDir: path.dirname(path.resolve(modelFile)) }), format, file: modelFile };
    default:
      throw new FcnkitError('BAD_MODEL', `'${modelFile}' is not a model fcnkit recognises (ONNX, Caffe prototxt + caffemodel, or TFLite)`);
  }
}

/** The format's usual preprocessing when the model says nothing. */
const FORMAT_PRESET: Record<ModelFormat, PresetName> = { caffe: 'caffeFcn', onnx: 'imagenet', tflite: 'selfie' };

/** Loads the model for `segment`: file or default, with its preprocessing. */
export async function loadCliModel(model: string | undefined, preset?: PresetName): Promise<CliModel> {
  if (isDefaultModel(model)) {
    const bytes = await readModelBytes(DEFAULT_MODEL_FILE);
    const sidecar = preset ? undefined : await loadPreprocessingSidecar(DEFAULT_MODEL_FILE);
    return {
      source: DEFAULT_MODEL_NAME,
      file: DEFAULT_MODEL_FILE,
      format: 'tflite',
      imported: importTflite(bytes),
      preprocessing: sidecar ?? { preset: preset ?? 'selfie' },
      preprocessingFrom: preset ? `--preset ${preset}` : sidecar ? "the default model's sidecar JSON" : "the default model's ('selfie')",
    };
  }
  const { imported, format, file } = await importModelFile(model as string);
  let preprocessing: LoadImageOptions | undefined;
  let from = '';
  if (preset) {
    preprocessing = { preset };
    from = `--preset ${preset}`;
  } else {
    preprocessing = await loadPreprocessingSidecar(file);
    if (preprocessing) from = 'the sidecar JSON';
    else if (imported.preprocessing && typeof imported.preprocessing === 'object') {
      preprocessing = imported.preprocessing as LoadImageOptions;
      from = 'the model file';
    } else {
      preprocessing = { preset: FORMAT_PRESET[format] };
      from = `the ${format} default ('${FORMAT_PRESET[format]}'; --preset or a sidecar JSON changes it)`;
    }
  }
  return { source: model as string, file, format, imported, preprocessing, preprocessingFrom: from };
}

/** The model's image input: the first input, [N, C, H, W]. */
export function imageInput(imported: ImportedGraph): { name: string; channels: number | null; height: number | null; width: number | null } {
  const input = imported.inputs[0];
  if (!input) throw new FcnkitError('BAD_MODEL', 'the model has no inputs');
  if (imported.inputs.length !== 1) {
    throw new FcnkitError('INVALID_ARGUMENT', `segment takes models with one image input; this one has ${imported.inputs.length} (${imported.inputs.map((i) => i.name).join(', ')}); use 'fcnkit run' with NPY inputs`);
  }
  if (input.shape.length !== 4) {
    throw new FcnkitError('INVALID_ARGUMENT', `segment takes an image input [N, C, H, W]; input '${input.name}' has shape [${input.shape.join(', ')}]`);
  }
  const num = (d: unknown): number | null => (typeof d === 'number' ? d : null);
  return { name: input.name, channels: num(input.shape[1]), height: num(input.shape[2]), width: num(input.shape[3]) };
}

/** A fixed-size model takes its own size, whatever the preset says (stretched unless it letterboxes). */
export function fitFixedInput(preprocessing: LoadImageOptions, input: { height: number | null; width: number | null }): LoadImageOptions {
  if (input.height === null || input.width === null) return preprocessing;
  const r = resolvePreprocessing(preprocessing);
  if (r.size && r.size[0] === input.height && r.size[1] === input.width) return preprocessing;
  return { ...preprocessing, size: [input.height, input.width], resize: r.resize === 'none' ? 'stretch' : r.resize };
}
