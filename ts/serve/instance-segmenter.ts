/**
 * A Mask R-CNN behind `fcnkit serve` (--model NET.safetensors with its NET.json sidecar, as
 * `fcnkit segment` takes it): the same outputs as the CLI's instance formats.
 *   labels   16-bit grey PNG: 0 background, i = the i-th instance (by score)
 *   overlay  one colour per instance blended on the photo, with class names
 *   json     { model, width, height, instances: COCO results (category_id, score, bbox, RLE) }
 * color and cutout have no meaning for instances: INVALID_ARGUMENT.
 */
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import { loadImage } from '../io/image';
import { encodeLabelsPng } from '../io/outputs';
import { instanceLabelMap } from '../dense/instances';
import { cocoResults, encodeInstanceOverlay, loadMaskRcnn } from '../cli/segment-instances';
import type { MaskRcnn } from '../models/mask-rcnn';
import type { MaskRcnnSidecar } from '../cli/segment-instances';
import { SEGMENT_FORMATS } from './segmenter';
import type { ModelInfo, SegmentFormat, SegmentReply, ServedModel } from './segmenter';

export interface InstanceSegmenterOptions {
  model: string;
  threads: number;
  /** Mask probability threshold. */
  threshold: number;
  maxPixels: number;
  onRun?: (seconds: number) => void;
}

export class InstanceSegmenter implements ServedModel {
  private readonly controllers = new Set<AbortController>();
  /** detect() calls one after another: the network's plans are not shared between runs. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly net: MaskRcnn,
    private readonly sidecar: MaskRcnnSidecar,
    private readonly opts: InstanceSegmenterOptions,
  ) {}

  static async load(opts: InstanceSegmenterOptions): Promise<InstanceSegmenter> {
    const { net, sidecar } = await loadMaskRcnn(opts.model);
    return new InstanceSegmenter(net, sidecar, opts);
  }

  get name(): string {
    return this.opts.model;
  }

  info(): ModelInfo {
    const classes = Array.isArray(this.sidecar.classes) ? this.sidecar.classes.length : (this.sidecar.numClasses ?? null);
    return {
      name: this.opts.model,
      file: path.basename(this.opts.model),
      format: 'safetensors (Mask R-CNN)',
      device: 'cpu',
      inputs: [{ name: 'image', dtype: 'float32', shape: [1, 3, 'H', 'W'] }],
      outputs: [],
      classes: typeof classes === 'number' ? classes : null,
      binary: false,
      inputSize: [this.sidecar.minSize ?? 800, this.sidecar.maxSize ?? 1333],
      preprocessing: { range: [0, 1], maxPixels: this.opts.maxPixels, resize: 'shorter side to minSize, longer at most maxSize' },
      preprocessingFrom: 'the Mask R-CNN sidecar JSON',
      threshold: this.opts.threshold,
      formats: ['labels', 'overlay', 'json'],
      instances: true,
    };
  }

  async segment(bytes: Buffer, format: SegmentFormat, signal: AbortSignal): Promise<SegmentReply> {
    if (!(SEGMENT_FORMATS as readonly string[]).includes(format) || format === 'color' || format === 'cutout') {
      throw new FcnkitError('INVALID_ARGUMENT', `format '${format}' does not apply to an instance model (formats: labels, overlay, json)`);
    }
    const image = await loadImage(bytes, { maxPixels: this.opts.maxPixels }).catch((err: unknown) => {
      if (err instanceof FcnkitError) throw new FcnkitError(err.code, err.message.replace(/^image \((?:[^()]|\([^()]*\))*\) /, ''), { cause: err });
      throw err;
    });
    const { width, height } = image.original;
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.controllers.add(controller);
    const run = this.chain.then(async () => {
      const t0 = performance.now();
      try {
        return await this.net.detect(image, { maskThreshold: this.opts.threshold, threads: this.opts.threads, signal: controller.signal });
      } finally {
        this.opts.onRun?.((performance.now() - t0) / 1000);
      }
    });
    this.chain = run.catch(() => undefined);
    let instances;
    try {
      ({ instances } = await run);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.controllers.delete(controller);
    }
    if (format === 'json') {
      return { contentType: 'application/json', body: { model: this.name, width, height, instances: cocoResults('image', width, height, instances) }, width, height };
    }
    if (format === 'labels') {
      const labels = instanceLabelMap(instances, width, height);
      return { contentType: 'image/png', body: await encodeLabelsPng(Int32Array.from(labels), width, height, 65536), width, height };
    }
    // The photo as the CLI's overlay draws it: the decoded [0, 1] tensor back to 8-bit RGB.
    const rgb = new Uint8Array(width * height * 3);
    const t = image.tensor.data;
    for (let k = 0; k < width * height; k++) for (let c = 0; c < 3; c++) rgb[3 * k + c] = Math.round(Math.min(1, Math.max(0, t[c * width * height + k])) * 255);
    return { contentType: 'image/png', body: await encodeInstanceOverlay(rgb, width, height, instances), width, height };
  }

  abort(): void {
    for (const c of this.controllers) c.abort();
  }

  release(): void {
    this.net.dispose();
  }
}
