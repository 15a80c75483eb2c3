/**
 * fcnkit eval --instances --gt annotations.json --pred DIR|results.json: COCO mask and box AP
 * (AP, AP50, AP75, AP small/medium/large) of instance predictions against COCO annotations.
 * --pred is a folder of `fcnkit segment` outputs (<name>.instances.json, matched to the ground
 * truth image whose file_name has that base name) or one COCO results file (image_id as in --gt).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import { readRegularFile } from '../io/safe-file';
import { cocoEvaluate } from '../dense/coco-eval';
import type { CocoAnnotation, CocoGroundTruth, CocoMetrics } from '../dense/coco-eval';
import { UsageError, boolOpt, stringOpt } from './args';
import type { Parsed } from './args';
import type { CommandContext } from './context';
import { walk } from './files';

const MAX_JSON = 2 ** 30;

async function readJson(file: string, what: string): Promise<unknown> {
  const buf = await readRegularFile(file, { what, maxBytes: MAX_JSON });
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new FcnkitError('INVALID_ARGUMENT', `${file}: not valid JSON (${(err as Error).message})`);
  }
}

function stem(file: string): string {
  return path.basename(file).replace(/\.[^.]*$/, '');
}

export async function evalInstancesCommand(p: Parsed, ctx: CommandContext): Promise<number> {
  const gtFile = stringOpt(p, 'gt', 'eval');
  const pred = stringOpt(p, 'pred', 'eval');
  if (!gtFile) throw new UsageError('missing --gt annotations.json', 'eval');
  if (!pred) throw new UsageError('missing --pred DIR or results.json', 'eval');
  const gt = (await readJson(gtFile, 'COCO annotations')) as CocoGroundTruth;
  if (typeof gt !== 'object' || gt === null || !Array.isArray(gt.images) || !Array.isArray(gt.annotations)) {
    throw new FcnkitError('INVALID_ARGUMENT', `${gtFile}: expected COCO annotations { images, annotations, categories }`);
  }
  const dets: CocoAnnotation[] = [];
  const st = await fs.promises.stat(pred).catch(() => undefined);
  if (!st) throw new UsageError(`--pred '${pred}' does not exist`, 'eval');
  if (st.isDirectory()) {
    const byStem = new Map<string, number>();
    for (const img of gt.images) if (img.file_name) byStem.set(stem(img.file_name), img.id);
    for (const f of await walk(pred, (x) => x.endsWith('.instances.json'))) {
      const id = byStem.get(path.basename(f).slice(0, -'.instances.json'.length));
      if (id === undefined) continue;
      const list = (await readJson(f, 'instances')) as CocoAnnotation[];
      if (!Array.isArray(list)) throw new FcnkitError('INVALID_ARGUMENT', `${f}: expected a list of COCO results`);
      for (const d of list) dets.push({ ...d, image_id: id });
    }
  } else {
    const list = (await readJson(pred, 'COCO results')) as CocoAnnotation[];
    if (!Array.isArray(list)) throw new FcnkitError('INVALID_ARGUMENT', `${pred}: expected a list of COCO results`);
    dets.push(...list);
  }
  const segm = cocoEvaluate(gt, dets, 'segm');
  const bbox = cocoEvaluate(gt, dets, 'bbox');
  if (boolOpt(p, 'json')) {
    ctx.out.write(`${JSON.stringify({ images: gt.images.length, detections: dets.length, segm, bbox }, null, 2)}\n`);
  } else {
    const f = (x: number): string => (x < 0 ? '   -  ' : x.toFixed(4));
    const row = (name: string, m: CocoMetrics): string =>
      `${name.padEnd(6)}${[m.AP, m.AP50, m.AP75, m.APs, m.APm, m.APl].map((v) => f(v).padStart(8)).join('')}`;
    ctx.out.write([
      `images ${gt.images.length}, detections ${dets.length}`,
      `${''.padEnd(6)}${['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'].map((h) => h.padStart(8)).join('')}`,
      row('mask', segm),
      row('box', bbox),
    ].join('\n') + '\n');
  }
  return 0;
}
