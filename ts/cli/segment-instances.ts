/**
 * fcnkit segment --model NET.safetensors, where NET.json beside it says
 * { "architecture": "maskrcnn_resnet50_fpn", "numClasses": 91, "classes": [...], "minSize": 800, ... }:
 * instance segmentation with Mask R-CNN. Formats:
 *   OUT/<name>.instances.png   16-bit grey: 0 background, i = the i-th instance (by score)
 *   OUT/<name>.instances.json  COCO results: category_id, score, bbox [x, y, w, h], segmentation
 *                              (compressed RLE); image_id is the image's name
 *   OUT/<name>.overlay.png     one colour per instance blended on the photo, with its class name
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';
import { loadImage } from '../io/image';
import { makeDirs, readRegularFile } from '../io/safe-file';
import { loadSafetensors } from '../io/safetensors';
import { encodeLabelsPng, sharpLib } from '../io/outputs';
import { MaskRcnn } from '../models/mask-rcnn';
import type { MaskRcnnOptions } from '../models/mask-rcnn';
import type { MaskRcnnArchitecture } from '../models/mask-rcnn-graphs';
import { instanceLabelMap } from '../dense/instances';
import type { Instance } from '../dense/instances';
import { encodeRle } from '../dense/rle';
import { UsageError, boolOpt, intOpt, numberOpt, stringOpt } from './args';
import type { Parsed } from './args';
import { EXIT_OK, EXIT_SOME_FAILED } from './context';
import type { CommandContext } from './context';
import { collectInputs } from './files';

export const MASK_RCNN_ARCHITECTURE = 'maskrcnn_resnet50_fpn';
export const INSTANCE_FORMATS = ['instances', 'overlay'] as const;
export type InstanceFormat = (typeof INSTANCE_FORMATS)[number];

export interface MaskRcnnSidecar extends Omit<MaskRcnnOptions, 'architecture'> {
  architecture: typeof MASK_RCNN_ARCHITECTURE;
  /** Channel plan override for narrow networks (see MaskRcnnArchitecture). */
  channels?: Partial<MaskRcnnArchitecture>;
}

/** NET.json beside NET.safetensors. */
export function sidecarPath(model: string): string {
  return model.replace(/\.safetensors$/i, '') + '.json';
}

/** True when --model names a safetensors file whose sidecar declares a Mask R-CNN. */
export function isMaskRcnnModel(model: string): boolean {
  if (!/\.safetensors$/i.test(model)) return false;
  try {
    const j = JSON.parse(fs.readFileSync(sidecarPath(model), 'utf8')) as { architecture?: unknown };
    return j.architecture === MASK_RCNN_ARCHITECTURE;
  } catch {
    return false;
  }
}

/** The model a sidecar describes, weights loaded. */
export async function loadMaskRcnn(model: string): Promise<{ net: MaskRcnn; sidecar: MaskRcnnSidecar }> {
  const side = sidecarPath(model);
  let sidecar: MaskRcnnSidecar;
  try {
    sidecar = JSON.parse((await readRegularFile(side, { what: 'model sidecar', maxBytes: 1 << 20 })).toString('utf8')) as MaskRcnnSidecar;
  } catch (err) {
    if (err instanceof FcnkitError) throw err;
    throw new FcnkitError('BAD_MODEL', `${side}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof sidecar !== 'object' || sidecar === null || sidecar.architecture !== MASK_RCNN_ARCHITECTURE) {
    throw new FcnkitError('BAD_MODEL', `${side}: expected "architecture": "${MASK_RCNN_ARCHITECTURE}"`);
  }
  const { architecture: _a, channels, ...rest } = sidecar;
  const net = new MaskRcnn({ ...rest, ...(channels ? { architecture: channels } : {}) });
  await net.loadWeights(await loadSafetensors(model));
  return { net, sidecar };
}

/** A distinct, stable colour per instance index (golden-angle hues). */
export function instanceColor(i: number): [number, number, number] {
  const h = (i * 137.508) % 360, s = 0.75, v = 0.95;
  const c = v * s, x = c * (1 - Math.abs(((h / 60) % 2) - 1)), m = v - c;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The photo with each instance's mask blended in its colour and its class name at its box. */
export async function encodeInstanceOverlay(rgb: Uint8Array, width: number, height: number, instances: readonly Instance[]): Promise<Uint8Array> {
  const labels = instanceLabelMap(instances, width, height);
  const out = Uint8Array.from(rgb);
  const colors = instances.map((_, i) => instanceColor(i));
  for (let k = 0; k < labels.length; k++) {
    const l = labels[k];
    if (!l) continue;
    const c = colors[l - 1];
    for (let j = 0; j < 3; j++) out[3 * k + j] = Math.round(0.5 * out[3 * k + j] + 0.5 * c[j]);
  }
  const texts = instances.map((inst, i) => {
    const [x, y] = inst.box;
    const [r, g, b] = colors[i];
    return `<text x="${Math.max(0, x).toFixed(1)}" y="${Math.max(10, y - 2).toFixed(1)}" font-family="sans-serif" font-size="11" fill="rgb(${r},${g},${b})" stroke="black" stroke-width="0.4">${escapeXml(`${inst.className} ${inst.score.toFixed(2)}`)}</text>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts.join('')}</svg>`;
  const sharp = sharpLib();
  return sharp(out, { raw: { width, height, channels: 3 } }).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]).png().toBuffer();
}

/** COCO results entries for one image. */
export function cocoResults(imageId: number | string, width: number, height: number, instances: readonly Instance[]): object[] {
  return instances.map((inst) => {
    const [x1, y1, x2, y2] = inst.box;
    return {
      image_id: imageId, category_id: inst.label, score: Number(inst.score.toFixed(5)),
      bbox: [x1, y1, x2 - x1, y2 - y1].map((v) => Number(v.toFixed(2))),
      segmentation: encodeRle(inst.mask, width, height),
    };
  });
}

function parseFormats(text: string | undefined): InstanceFormat[] {
  if (text === undefined) return ['instances', 'overlay'];
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const f of list) {
    if (!(INSTANCE_FORMATS as readonly string[]).includes(f)) {
      throw new UsageError(`unknown format '${f}' for a Mask R-CNN model (formats: ${INSTANCE_FORMATS.join(', ')})`, 'segment');
    }
  }
  if (list.length === 0) throw new UsageError("option '--format' needs at least one format", 'segment');
  return list as InstanceFormat[];
}

export async function segmentInstancesCommand(p: Parsed, ctx: CommandContext): Promise<number> {
  const model = stringOpt(p, 'model', 'segment')!;
  const formats = parseFormats(stringOpt(p, 'format', 'segment'));
  const outDir = stringOpt(p, 'out', 'segment') ?? 'segmented';
  const threshold = numberOpt(p, 'threshold', 'segment', { min: 0, max: 1 }) ?? 0.5;
  const threads = intOpt(p, 'threads', 'segment', { min: 1, max: 4096 });
  const json = boolOpt(p, 'json');
  if (p.positionals.length === 0) throw new UsageError('no images given (name image files or folders)', 'segment');
  const { inputs, missing } = await collectInputs(p.positionals);
  const { net } = await loadMaskRcnn(model);
  const results: Array<{ input: string; status: 'ok' | 'failed'; instances?: number; error?: string }> = [];
  for (const m of missing) results.push({ input: m.arg, status: 'failed', error: m.message });
  try {
    for (const input of inputs) {
      try {
        const img = await loadImage(input.file);
        const { width, height } = img.original;
        const res = await net.detect(img, { maskThreshold: threshold, ...(threads ? { threads } : {}) });
        const base = path.join(outDir, input.name);
        await makeDirs(path.dirname(base));
        if (formats.includes('instances')) {
          const labels = instanceLabelMap(res.instances, width, height);
          await writeFileAtomic(`${base}.instances.png`, await encodeLabelsPng(Int32Array.from(labels), width, height, 65536));
          const name = path.basename(input.name);
          await writeFileAtomic(`${base}.instances.json`, Buffer.from(JSON.stringify(cocoResults(name, width, height, res.instances))));
        }
        if (formats.includes('overlay')) {
          const rgb = new Uint8Array(width * height * 3);
          const t = img.tensor.data as Float32Array;
          for (let k = 0; k < width * height; k++) for (let c = 0; c < 3; c++) rgb[3 * k + c] = Math.round(Math.min(1, Math.max(0, t[c * width * height + k])) * 255);
          await writeFileAtomic(`${base}.overlay.png`, await encodeInstanceOverlay(rgb, width, height, res.instances));
        }
        results.push({ input: input.file, status: 'ok', instances: res.instances.length });
        if (!json) ctx.out.write(`${input.file}: ${res.instances.length} instances\n`);
      } catch (err) {
        const e = err instanceof FcnkitError ? `${err.code}: ${err.message}` : String(err);
        results.push({ input: input.file, status: 'failed', error: e });
        if (!json) ctx.err.write(`${input.file}: ${e}\n`);
      }
    }
  } finally {
    net.dispose();
  }
  if (json) ctx.out.write(`${JSON.stringify(results)}\n`);
  return results.some((r) => r.status === 'failed') ? EXIT_SOME_FAILED : EXIT_OK;
}
