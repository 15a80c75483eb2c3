/**
 * The one model a server runs: loaded once (as `fcnkit segment` loads it), compiled for one input
 * shape (a fixed-size model's own, else photos letterboxed into --size), and run off the event
 * loop: the CPU's NativeSharedModel runs in the core's threads, CudaSegmentModel on the GPU;
 * decoding and PNG encoding run in libuv's pool (sharp).
 */
import * as path from 'node:path';
import type { ResolvedDevice } from '../device';
import { FcnkitError } from '../errors';
import { resolvePreprocessing } from '../io/image';
import type { LoadImageOptions, PresetName } from '../io/image';
import type { ImportedTensorInfo } from '../io/imported';
import { OUTPUT_FORMATS, encodeOutput, isBinary } from '../io/outputs';
import { native } from '../native';
import type { NativeSharedModel } from '../native';
import { Tensor } from '../tensor';
import { CudaSegmentModel } from '../cli/cuda-model';
import { fitFixedInput, imageInput, loadCliModel } from '../cli/model';
import type { CliModel } from '../cli/model';
import { specService } from '../cli/segment';
import { SegmentEngine } from '../cli/segment-core';
import type { SegmentConfig, SegmentModel } from '../cli/segment-core';

/** What POST /v1/segment answers with: one of the images, or a JSON summary. */
export const SEGMENT_FORMATS = ['labels', 'color', 'overlay', 'cutout', 'json'] as const;
export type SegmentFormat = (typeof SEGMENT_FORMATS)[number];

export interface SegmenterOptions {
  /** A model file, or 'default' / undefined for the embedded person segmenter. */
  model?: string;
  preset?: PresetName;
  /** Variable-size models: photos are letterboxed into size×size (one compiled plan). */
  size: number;
  threads: number;
  /** One-channel models: label 1 where the probability is above this. */
  threshold: number;
  /** Photos whose header claims more pixels are refused before decoding (TOO_LARGE). */
  maxPixels: number;
  /** The model output that holds the scores (default: the first). */
  output?: string;
  device: ResolvedDevice;
  /** Told the seconds of each model run. */
  onRun?: (seconds: number) => void;
}

export interface SegmentSummary {
  model: string;
  width: number;
  height: number;
  classes: number;
  /** Pixels of each class, index = class. */
  counts: number[];
  /** Binary models: the share of pixels labelled foreground (class 1). */
  foregroundFraction?: number;
}

export interface SegmentReply {
  contentType: 'image/png' | 'application/json';
  /** PNG bytes, or the JSON answer (SegmentSummary; an instance model's own). */
  body: Uint8Array | object;
  width: number;
  height: number;
}

export interface ModelInfo {
  name: string;
  file: string;
  format: string;
  device: string;
  precision?: string;
  inputs: ImportedTensorInfo[];
  outputs: ImportedTensorInfo[];
  /** Classes the labels range over (2 for a one-channel model); null when the model does not say. */
  classes: number | null;
  binary: boolean | null;
  /** The input the model runs at: [height, width]. */
  inputSize: [number, number];
  preprocessing: Record<string, unknown>;
  preprocessingFrom: string;
  threshold: number;
  formats: readonly string[];
  /** An instance model (Mask R-CNN): labels are instance indices, json holds the instances. */
  instances?: boolean;
}

/** What the server runs: a semantic model (Segmenter) or an instance model (InstanceSegmenter). */
export interface ServedModel {
  readonly name: string;
  info(): ModelInfo;
  /** One photo -> the chosen output. Errors: BAD_IMAGE, TOO_LARGE, INVALID_ARGUMENT, ABORTED. */
  segment(bytes: Buffer, format: SegmentFormat, signal: AbortSignal): Promise<SegmentReply>;
  /** Stops runs in progress (they reject ABORTED). */
  abort(): void;
  release(): void;
}

export class Segmenter implements ServedModel {
  private constructor(
    private readonly model: CliModel,
    private readonly runner: SegmentModel & { release(): void },
    private readonly ensureSpec: (shape: number[]) => Promise<void>,
    private readonly config: SegmentConfig,
    private readonly opts: SegmenterOptions,
    private readonly inputShape: number[],
  ) {}

  static async load(opts: SegmenterOptions): Promise<Segmenter> {
    const model = await loadCliModel(opts.model, opts.preset);
    const input = imageInput(model.imported);
    const fixed = input.height !== null && input.width !== null;
    let preprocessing: LoadImageOptions = fixed
      ? fitFixedInput(model.preprocessing, input)
      : { ...model.preprocessing, size: [opts.size, opts.size], resize: 'letterbox' };
    preprocessing = { ...preprocessing, maxPixels: opts.maxPixels };
    const [h, w] = resolvePreprocessing(preprocessing).size as [number, number];
    const shape = [1, input.channels ?? 3, h, w];

    const target = opts.device.device === 'cuda' ? opts.device : undefined;
    const cuda = target ? new CudaSegmentModel(model.imported, input.name, target) : undefined;
    const shared = cuda ?? new (native().SharedModel)();
    const cpuPrecision = opts.device.precision === 'bf16' ? 'bf16' : 'fp32';
    const ensureSpec = cuda ? (s: number[]) => cuda.ensure(s) : specService(model, shared as NativeSharedModel, input.name, cpuPrecision);
    const onRun = opts.onRun;
    const timed: SegmentModel & { release(): void } = {
      async run(inputs, threads, ticket) {
        const t0 = performance.now();
        try {
          return await shared.run(inputs, threads, ticket);
        } finally {
          onRun?.((performance.now() - t0) / 1000);
        }
      },
      abort: (ticket) => shared.abort(ticket),
      release: () => shared.release(),
    };
    const config: SegmentConfig = { outDir: '', formats: [], threshold: opts.threshold, threads: opts.threads, preprocessing, output: opts.output };
    const segmenter = new Segmenter(model, timed, ensureSpec, config, opts, shape);
    try {
      // Compile and run once now, so that the first request does not pay for it.
      await ensureSpec(shape);
      await shared.run([new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape)], opts.threads);
    } catch (err) {
      shared.release();
      throw err;
    }
    return segmenter;
  }

  get name(): string {
    return this.model.source;
  }

  info(): ModelInfo {
    const out = this.model.imported.outputs.find((o) => !this.opts.output || o.name === this.opts.output) ?? this.model.imported.outputs[0];
    const k = out && out.dtype === 'float32' && typeof out.shape[1] === 'number' ? out.shape[1] : null;
    const r = resolvePreprocessing(this.config.preprocessing);
    return {
      name: this.model.source,
      file: path.basename(this.model.file),
      format: this.model.format,
      device: this.opts.device.device,
      precision: this.opts.device.device === 'cuda' || this.opts.device.precision === 'bf16' ? this.opts.device.precision : undefined,
      inputs: this.model.imported.inputs,
      outputs: this.model.imported.outputs,
      classes: k === null ? null : k === 1 ? 2 : k,
      binary: k === null ? null : isBinary(k),
      inputSize: [this.inputShape[2], this.inputShape[3]],
      preprocessing: { ...r },
      preprocessingFrom: this.model.preprocessingFrom,
      threshold: this.opts.threshold,
      formats: SEGMENT_FORMATS,
    };
  }

  /** One photo -> the chosen output. Errors: BAD_IMAGE, TOO_LARGE, INVALID_ARGUMENT, ABORTED. */
  async segment(bytes: Buffer, format: SegmentFormat, signal: AbortSignal): Promise<SegmentReply> {
    if (!(SEGMENT_FORMATS as readonly string[]).includes(format)) {
      throw new FcnkitError('INVALID_ARGUMENT', `unknown format '${format}' (formats: ${SEGMENT_FORMATS.join(', ')})`);
    }
    // One engine per request: it only orders the runs of one caller; the limiter bounds them all.
    const engine = new SegmentEngine(this.config, this.runner, this.ensureSpec);
    const needPhoto = format === 'overlay' || format === 'cutout';
    const { scores, labels, photo } = await engine.segment(bytes, signal, needPhoto);
    const { width, height } = labels;
    if (format === 'json') {
      const counts = new Array<number>(labels.numClasses).fill(0);
      for (const l of labels.labels) if (l >= 0 && l < counts.length) counts[l]++;
      const summary: SegmentSummary = { model: this.model.source, width, height, classes: labels.numClasses, counts };
      if (labels.probability) summary.foregroundFraction = counts[1] / (width * height);
      return { contentType: 'application/json', body: summary, width, height };
    }
    if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) throw new FcnkitError('INVALID_ARGUMENT', `unknown format '${format}'`);
    const png = await encodeOutput(format, scores, photo, labels);
    return { contentType: 'image/png', body: png, width, height };
  }

  /** Stops runs in progress (they reject ABORTED). */
  abort(): void {
    this.runner.abort();
  }

  release(): void {
    this.runner.release();
  }
}
