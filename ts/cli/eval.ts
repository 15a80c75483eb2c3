/**
 * fcnkit eval --pred DIR --gt DIR --classes N [--ignore 255] [--json]
 *
 * The FCN reference evaluation (score.py) over a folder of predictions against a folder of
 * ground truth, files paired by name: ground truth `a/b.png` pairs with a prediction `a/b.*` or
 * `a/b.labels.png` (what `fcnkit segment` writes), or `a/b.color.png` (an indexed PNG).
 */
import * as fs from 'node:fs';
import { FcnkitError } from '../errors';
import { SegmentationEvaluator } from '../dense/metrics';
import { VOC_CLASSES } from '../dense/labels';
import { readLabelImage } from '../io/outputs';
import { UsageError, intOpt, parseCommand, stringOpt, boolOpt } from './args';
import type { OptionSpecs } from './args';
import { isImageFile, relativeStem, walk } from './files';
import { Progress } from './progress';
import type { CommandContext } from './context';

export const EVAL_USAGE = `Usage: fcnkit eval --pred DIR --gt DIR --classes N [options]

Scores predicted label maps against ground truth as the FCN reference does (score.py):
pixel accuracy, mean accuracy, mean IU, frequency-weighted IU, and IU per class.

Files are paired by name (path inside the folder, without extension): ground truth b.png
pairs with b.png, b.labels.png or b.color.png in --pred. Label images are grey PNGs (value =
class, 8 or 16 bit) or indexed PNGs (palette index = class, as VOC's SegmentationClass).

Options:
  --pred DIR        predicted label maps (e.g. the --out folder of fcnkit segment)
  --gt DIR          ground-truth label maps
  --classes N       number of classes (21 for PASCAL VOC)
  --ignore L        ground-truth label to leave out (default 255, VOC's "void"); 'none' for none
  --json            print the results as JSON
  --instances       instance segmentation: --gt annotations.json (COCO) and --pred DIR (fcnkit
                    segment's <name>.instances.json) or a COCO results file: mask and box AP,
                    AP50, AP75, AP small/medium/large (COCO's definitions, maxDets 100)
  -h, --help        show this help`;

const SPECS: OptionSpecs = {
  pred: { type: 'string' },
  gt: { type: 'string' },
  classes: { type: 'string' },
  ignore: { type: 'string' },
  json: { type: 'boolean' },
  instances: { type: 'boolean' },
};

const PRED_SUFFIXES = ['', '.labels', '.color'];

function jsonNumber(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

export async function evalCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('eval', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`, 'eval');
  if (boolOpt(p, 'instances')) return (await import('./eval-instances')).evalInstancesCommand(p, ctx);
  const predDir = stringOpt(p, 'pred', 'eval');
  const gtDir = stringOpt(p, 'gt', 'eval');
  if (!predDir) throw new UsageError('missing --pred DIR', 'eval');
  if (!gtDir) throw new UsageError('missing --gt DIR', 'eval');
  const classes = intOpt(p, 'classes', 'eval', { min: 1, max: 65536 });
  if (classes === undefined) throw new UsageError('missing --classes N', 'eval');
  const ignoreText = stringOpt(p, 'ignore', 'eval');
  let ignore: number | null = 255;
  if (ignoreText !== undefined) {
    if (ignoreText === 'none') ignore = null;
    else if (/^[0-9]+$/.test(ignoreText)) ignore = Number(ignoreText);
    else throw new UsageError(`option '--ignore' expects a label (an integer) or 'none' but received '${ignoreText}'`, 'eval');
  }
  const json = boolOpt(p, 'json');
  for (const [flag, dir] of [['--pred', predDir], ['--gt', gtDir]] as const) {
    const st = await fs.promises.stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new UsageError(`${flag} '${dir}' is not a folder`, 'eval');
  }

  const gtFiles = await walk(gtDir, isImageFile);
  if (gtFiles.length === 0) throw new UsageError(`--gt '${gtDir}' holds no image files`, 'eval');
  // Ground truth b pairs with prediction b, else b.labels, else b.color.
  const predByName = new Map<string, { file: string; rank: number }>();
  for (const f of await walk(predDir, isImageFile)) {
    const name = relativeStem(predDir, f);
    PRED_SUFFIXES.forEach((suffix, rank) => {
      if (suffix && !name.endsWith(suffix)) return;
      const key = suffix ? name.slice(0, -suffix.length) : name;
      const prev = predByName.get(key);
      if (!prev || rank < prev.rank) predByName.set(key, { file: f, rank });
    });
  }

  const evaluator = new SegmentationEvaluator(classes, { ignore });
  const progress = new Progress({ total: gtFiles.length, tty: ctx.tty, quiet: json, unit: 'pairs' });
  const failures: Array<{ file: string; message: string }> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= gtFiles.length) return;
      const gtFile = gtFiles[i];
      const name = relativeStem(gtDir, gtFile);
      const predFile = predByName.get(name)?.file;
      try {
        if (!predFile) throw new FcnkitError('IO_ERROR', `no prediction named '${name}' (or ${name}.labels / ${name}.color) in ${predDir}`);
        const [gt, pred] = await Promise.all([readLabelImage(gtFile), readLabelImage(predFile)]);
        if (gt.width !== pred.width || gt.height !== pred.height) {
          throw new FcnkitError('SHAPE_MISMATCH', `size mismatch: ground truth ${gt.width}×${gt.height}, prediction ${pred.width}×${pred.height} (${predFile})`);
        }
        evaluator.add(pred.labels, gt.labels);
        progress.item(true, `ok ${gtFile}`);
      } catch (err) {
        failures.push({ file: gtFile, message: (err as Error).message });
        progress.item(false, `error: ${gtFile}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  progress.finish();

  const m = evaluator.result();
  const names = classes === VOC_CLASSES.length ? VOC_CLASSES : undefined;
  if (json) {
    ctx.out.write(`${JSON.stringify({
      images: evaluator.count,
      classes,
      ignore,
      pixelAccuracy: jsonNumber(m.pixelAccuracy),
      meanAccuracy: jsonNumber(m.meanAccuracy),
      meanIU: jsonNumber(m.meanIU),
      frequencyWeightedIU: jsonNumber(m.frequencyWeightedIU),
      perClass: m.perClassIU.map((iu, c) => ({ class: c, name: names?.[c], iu: jsonNumber(iu), accuracy: jsonNumber(m.perClassAccuracy[c]) })),
      failed: failures,
    }, null, 2)}\n`);
  } else {
    const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : 'nan');
    const lines = [
      `images evaluated     ${evaluator.count}${failures.length ? `  (${failures.length} failed)` : ''}`,
      `pixel accuracy       ${f(m.pixelAccuracy)}`,
      `mean accuracy        ${f(m.meanAccuracy)}`,
      `mean IU              ${f(m.meanIU)}`,
      `fw IU                ${f(m.frequencyWeightedIU)}`,
      '',
      `${'class'.padEnd(18)}${'IU'.padStart(8)}${'acc'.padStart(8)}`,
      ...m.perClassIU.map((iu, c) => `${`${c}${names ? ` ${names[c]}` : ''}`.padEnd(18)}${f(iu).padStart(8)}${f(m.perClassAccuracy[c]).padStart(8)}`),
    ];
    ctx.out.write(`${lines.join('\n')}\n`);
  }
  return failures.length ? 1 : 0;
}
