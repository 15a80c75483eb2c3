/**
 * fcnkit segment [options] IMAGES_OR_DIRS...
 *
 * The main thread loads the model once into a NativeSharedModel (weights in native memory, one
 * compiled plan per input shape for the whole process), then hands images to a pool of worker
 * threads that attach to it. At most two images per worker are in flight (one decoding while
 * the other runs), so memory stays bounded however many files are queued. Graphs for new input
 * shapes are built here, on request, from the imported model.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { FcnkitError } from '../errors';
import { removeStaleTempFiles, sweepTempFilesIn } from '../io/atomic-write';
import { makeDirs } from '../io/safe-file';
import { DEFAULT_FORMATS, OUTPUT_FORMATS, isBinary, outputFileName } from '../io/outputs';
import type { OutputFormat } from '../io/outputs';
import { resolvePreprocessing } from '../io/image';
import type { LoadImageOptions, PresetName } from '../io/image';
import { native } from '../native';
import type { NativeSharedModel } from '../native';
import { specWithPrecision } from '../graph/compiled';
import { UsageError, boolOpt, intOpt, numberOpt, parseCommand, stringOpt } from './args';
import type { OptionSpecs } from './args';
import { EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, forceQuitHooks } from './context';
import type { CommandContext } from './context';
import { collectInputs, duplicateNames, outputsThatAreInputs } from './files';
import type { InputFile } from './files';
import { PRESET_NAMES, fitFixedInput, imageInput, loadCliModel } from './model';
import type { CliModel } from './model';
import { Progress } from './progress';
import { SegmentEngine } from './segment-core';
import type { SegmentConfig, SegmentModel, SegmentTask } from './segment-core';
import { CudaSegmentModel } from './cuda-model';
import { DEVICE_SPECS, DEVICE_USAGE, deviceOpt } from './device-opts';
import { shapeKey } from './segment-worker';
import { isMaskRcnnModel, segmentInstancesCommand } from './segment-instances';
import type { FromWorker, ToWorker, WorkerInit } from './segment-worker';

export const SEGMENT_USAGE = `Usage: fcnkit segment [options] IMAGES_OR_DIRS...

Segments photos (PNG, JPEG, WebP; folders are searched recursively) and writes, for each, at
the photo's own size:
  OUT/<name>.labels.png    class index per pixel (8-bit grey; 16-bit above 256 classes)
  OUT/<name>.color.png     the labels in the VOC palette (an indexed PNG: index = class)
  OUT/<name>.overlay.png   the colours blended on the photo (alpha 0.5)
  OUT/<name>.cutout.png    binary models: the photo, background transparent (alpha = probability)
  OUT/<name>.scores.npy    the raw scores, float32 [1, K, H, W]
Files found in a folder keep their path inside it: OUT/<sub/folder>/<name>.labels.png.
Nothing the batch reads is written: an output path that is one of the inputs is refused before
any work (choose another --out); other existing outputs are replaced, or kept with
--skip-existing. An --out folder inside an input folder is not searched for photos.
A Mask R-CNN (--model NET.safetensors with NET.json {"architecture": "maskrcnn_resnet50_fpn", ...})
writes instances instead: --format instances,overlay (default both):
  OUT/<name>.instances.png  16-bit instance ids (0 background, 1 = best score, ...)
  OUT/<name>.instances.json COCO results (category_id, score, bbox [x, y, w, h], RLE segmentation)
  OUT/<name>.overlay.png    one colour per instance, with its class name and score

Options:
  --model FILE|default   ONNX, Caffe (NET.prototxt, weights beside it or NET.prototxt:W.caffemodel)
                         or TFLite; default: the embedded person segmenter (MediaPipe selfie)
  --out DIR              where outputs go (default ./segmented)
  --format LIST          comma-separated: labels,color,overlay,cutout,npy (default labels,overlay)
  --threshold T          one-channel (sigmoid) models: label 1 where probability > T (default 0.5)
  --size N               letterbox every photo into N×N (aspect kept): one input shape for all,
                         so one compiled plan serves the whole batch (default: the photo's own
                         size, or the model's fixed input size)
  --tile N               run in overlapping N×N tiles, stitched (big photos, bounded memory)
  --preset NAME          preprocessing: ${PRESET_NAMES.join(', ')} (default: the model's sidecar
                         JSON, else caffeFcn for Caffe, imagenet for ONNX)
${DEVICE_USAGE}
                         (on cuda one image runs while the next decodes: no --workers)
  --threads N            threads per model run (default: CPUs / workers)
  --workers N            worker threads sharing the one loaded model (default min(2, CPUs));
                         0 runs everything on the main thread
  --output NAME          the model output that holds the scores (default: the first)
  --skip-existing        leave images whose outputs all exist (resume an interrupted run)
  --json                 print the results as JSON (no progress)
  -h, --help             show this help

Exit codes: 0 ok, 1 some inputs failed (each named; the rest are processed), 2 bad usage,
130 interrupted (Ctrl-C: nothing is left half-written; rerun with --skip-existing to resume).`;

const SPECS: OptionSpecs = {
  model: { type: 'string' },
  out: { type: 'string', short: 'o' },
  format: { type: 'string' },
  threshold: { type: 'string' },
  size: { type: 'string' },
  tile: { type: 'string' },
  preset: { type: 'string' },
  ...DEVICE_SPECS,
  threads: { type: 'string' },
  workers: { type: 'string' },
  output: { type: 'string' },
  'skip-existing': { type: 'boolean' },
  json: { type: 'boolean' },
};

interface ImageResult {
  input: string;
  name: string;
  status: 'ok' | 'skipped' | 'failed';
  outputs?: string[];
  width?: number;
  height?: number;
  ms?: number;
  error?: { code: string; message: string };
}

/** What runs the images: a pool of workers, or the main thread (also `fcnkit worker`'s). */
export interface Runner {
  /** Slots free for more tasks. */
  capacity(): number;
  submit(task: SegmentTask): void;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export function parseFormats(text: string | undefined): OutputFormat[] {
  if (text === undefined) return [...DEFAULT_FORMATS];
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new UsageError("option '--format' needs at least one format", 'segment');
  for (const f of list) {
    if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) {
      throw new UsageError(`unknown format '${f}' (formats: ${OUTPUT_FORMATS.join(', ')})`, 'segment');
    }
  }
  return [...new Set(list)] as OutputFormat[];
}

async function allExist(outDir: string, name: string, formats: OutputFormat[]): Promise<boolean> {
  for (const f of formats) {
    try {
      await fs.promises.access(path.join(outDir, outputFileName(name, f)));
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * How photos go into this model: its image input, whether that input has a fixed size, and the
 * preprocessing with --size applied (a fixed-size model takes its own size). Settings the model
 * cannot take are UsageErrors. Shared with `fcnkit worker` (ts/queue), whose jobs carry them.
 */
export function photoSettings(
  model: CliModel,
  o: { size?: number; tile?: number; formats: readonly OutputFormat[] },
  command: string,
): { input: ReturnType<typeof imageInput>; fixed: boolean; preprocessing: LoadImageOptions } {
  const input = imageInput(model.imported);
  const fixed = input.height !== null && input.width !== null;
  let preprocessing: LoadImageOptions = { ...model.preprocessing };
  if (o.size !== undefined) {
    if (fixed) throw new UsageError(`--size: the model takes a fixed input of ${input.height}×${input.width}`, command);
    preprocessing = { ...preprocessing, size: [o.size, o.size], resize: 'letterbox' };
  } else if (fixed) {
    // A fixed-size model takes its own size, whatever the preset says.
    preprocessing = fitFixedInput(preprocessing, input);
  }
  // Bad or too large preprocessing (a sidecar's size over maxPixels, --size N too big) before any work.
  resolvePreprocessing(preprocessing);
  if (o.tile !== undefined && fixed) throw new UsageError(`--tile: the model takes a fixed input of ${input.height}×${input.width}`, command);
  const outputInfo = model.imported.outputs[0];
  const channels = outputInfo?.shape[1];
  if (o.formats.includes('cutout') && typeof channels === 'number' && outputInfo.dtype === 'float32' && !isBinary(channels)) {
    throw new UsageError(`--format cutout needs a binary model (1 or 2 score channels); this one has ${channels}`, command);
  }
  return { input, fixed, preprocessing };
}

/** The graph for a new input shape, from the imported model, added to the shared model. */
export function specService(model: CliModel, shared: NativeSharedModel, inputName: string, precision: 'fp32' | 'bf16' = 'fp32'): (shape: number[]) => Promise<void> {
  return async (shape) => {
    if (shared.hasSpec([shape])) return;
    const spec = model.imported.specFor({ [inputName]: shape });
    shared.addSpec([shape], specWithPrecision(spec, precision));
  };
}

export async function segmentCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('segment', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${SEGMENT_USAGE}\n`);
    return EXIT_OK;
  }
  const modelArg = stringOpt(p, 'model', 'segment');
  if (modelArg !== undefined && isMaskRcnnModel(modelArg)) return segmentInstancesCommand(p, ctx);
  const formats = parseFormats(stringOpt(p, 'format', 'segment'));
  const outDir = stringOpt(p, 'out', 'segment') ?? 'segmented';
  const threshold = numberOpt(p, 'threshold', 'segment', { min: 0, max: 1 }) ?? 0.5;
  const size = intOpt(p, 'size', 'segment', { min: 1, max: 16384 });
  const tile = intOpt(p, 'tile', 'segment', { min: 8, max: 16384 });
  const presetText = stringOpt(p, 'preset', 'segment');
  if (presetText !== undefined && !(PRESET_NAMES as string[]).includes(presetText)) {
    throw new UsageError(`unknown preset '${presetText}' (presets: ${PRESET_NAMES.join(', ')})`, 'segment');
  }
  const cpus = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const workers = intOpt(p, 'workers', 'segment', { min: 0, max: 256 }) ?? Math.min(2, cpus);
  const threads = intOpt(p, 'threads', 'segment', { min: 1, max: 4096 }) ?? Math.max(1, Math.floor(cpus / Math.max(1, workers)));
  const skipExisting = boolOpt(p, 'skip-existing');
  const json = boolOpt(p, 'json');
  if (p.positionals.length === 0) throw new UsageError('no images given (name image files or folders)', 'segment');

  // CUDA_UNAVAILABLE (with the reason) before any work.
  const resolved = deviceOpt(p, 'segment');
  const target = resolved.device === 'cuda' ? resolved : undefined;

  // Inputs, before the model: a typo in a path should not wait for a big model to load.
  const { inputs: found, missing } = await collectInputs(p.positionals, [outDir]);
  const seen = new Set<string>();
  const inputs: InputFile[] = found.filter((i) => {
    const key = path.resolve(i.file);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const dups = duplicateNames(inputs);
  if (dups.length) {
    const [a, b] = dups[0];
    throw new UsageError(`'${a.file}' and '${b.file}' would both write ${outDir}/${a.name}.*; give them from different folders or rename one${dups.length > 1 ? ` (and ${dups.length - 1} more such pairs)` : ''}`, 'segment');
  }
  // Nothing the batch reads is ever written: an output path that is one of the inputs is refused
  // before any work (an existing output that is not an input is replaced, or kept with --skip-existing).
  const clobbers = await outputsThatAreInputs(inputs, (i) => formats.map((f) => path.join(outDir, outputFileName(i.name, f))));
  if (clobbers.length) {
    const c = clobbers[0];
    throw new FcnkitError('INVALID_ARGUMENT', `the output '${c.output}' (of '${c.of}') is the input '${c.input}': segmenting would overwrite it; ` +
      `choose another --out folder${clobbers.length > 1 ? ` (${clobbers.length - 1} more output${clobbers.length > 2 ? 's are' : ' is'} an input too)` : ''}`);
  }

  const model = await loadCliModel(stringOpt(p, 'model', 'segment'), presetText as PresetName | undefined);
  const { input, fixed, preprocessing } = photoSettings(model, { size, tile, formats }, 'segment');

  await makeDirs(outDir, 'output folder');

  removeStaleTempFiles(outDir);
  sweepTempFilesIn(outDir);
  const results: ImageResult[] = [];
  const todo: InputFile[] = [];
  for (const i of inputs) {
    if (skipExisting && (await allExist(outDir, i.name, formats))) results.push({ input: i.file, name: i.name, status: 'skipped' });
    else todo.push(i);
  }
  const failures: ImageResult[] = missing.map((m) => ({ input: m.arg, name: '', status: 'failed', error: { code: 'IO_ERROR', message: m.message } }));

  const progress = new Progress({ total: todo.length, tty: ctx.tty, quiet: json });
  for (const f of failures) progress.error(`error: ${f.input}: ${f.error?.message}`);
  const summaryHead = `model: ${model.source}; preprocessing from ${model.preprocessingFrom}; ` + (target
    ? `device cuda (${target.precision})`
    : `${workers || 'no'} worker${workers === 1 ? '' : 's'} × ${threads} thread${threads === 1 ? '' : 's'}${resolved.precision === 'bf16' ? ', precision bf16' : ''}`);
  progress.info(summaryHead);
  if (results.length) progress.info(`skipping ${results.length} image${results.length === 1 ? '' : 's'} whose outputs exist`);

  const cuda = target ? new CudaSegmentModel(model.imported, input.name, target) : undefined;
  const shared = cuda ?? new (native().SharedModel)();
  const ensureSpec = cuda ? (shape: number[]) => cuda.ensure(shape) : specService(model, shared as NativeSharedModel, input.name, resolved.precision === 'bf16' ? 'bf16' : 'fp32');
  const config: SegmentConfig = { outDir, formats, threshold, threads, preprocessing, tile, output: stringOpt(p, 'output', 'segment') };
  const t0 = Date.now();
  let interrupted = false;
  try {
    if (fixed && input.channels !== null) await ensureSpec([1, input.channels, input.height as number, input.width as number]);

    const pending = new Map<number, InputFile>();
    let next = 0;
    let finishAll!: () => void;
    const allDone = new Promise<void>((r) => (finishAll = r));
    const settle = (id: number, r: ImageResult): void => {
      pending.delete(id);
      if (r.status === 'ok') {
        results.push(r);
        progress.item(true, `ok ${r.input} -> ${r.outputs?.join(', ')} (${r.width}x${r.height}, ${((r.ms ?? 0) / 1000).toFixed(2)} s)`);
      } else {
        failures.push(r);
        progress.item(false, `error: ${r.input}: ${r.error?.message}`);
      }
      pump();
    };
    const onDone = (m: FromWorker): void => {
      if (m.type === 'done') {
        const i = pending.get(m.id);
        if (i) settle(m.id, { input: i.file, name: i.name, status: 'ok', outputs: m.outputs, width: m.width, height: m.height, ms: m.ms });
      } else if (m.type === 'failed') {
        const i = pending.get(m.id);
        if (!i) return;
        if (m.error.code === 'ABORTED' && ctx.signal.aborted) {
          pending.delete(m.id);
          pump();
        } else settle(m.id, { input: i.file, name: i.name, status: 'failed', error: m.error });
      }
    };
    const runner: Runner = workers === 0 || cuda
      ? localRunner(config, shared, ensureSpec, onDone)
      : poolRunner(workers, { sharedId: (shared as NativeSharedModel).id as number, config }, shared as NativeSharedModel, ensureSpec, onDone);
    function pump(): void {
      while (!ctx.signal.aborted && next < todo.length && runner.capacity() > 0) {
        const id = next++;
        pending.set(id, todo[id]);
        runner.submit({ id, file: todo[id].file, name: todo[id].name });
      }
      if (pending.size === 0 && (next >= todo.length || ctx.signal.aborted)) finishAll();
    }
    const onAbort = (): void => {
      interrupted = true;
      void runner.stop().then(() => {
        pending.clear();
        finishAll();
      });
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    pump();
    await allDone;
    ctx.signal.removeEventListener('abort', onAbort);
    await runner.close();
  } finally {
    shared.release();
  }
  progress.finish();
  interrupted ||= ctx.signal.aborted;

  const seconds = (Date.now() - t0) / 1000;
  const ok = results.filter((r) => r.status === 'ok').length;
  const skipped = results.filter((r) => r.status === 'skipped').length;
  const rate = seconds > 0 ? ok / seconds : 0;
  if (json) {
    ctx.out.write(`${JSON.stringify({
      model: model.source,
      outDir,
      formats,
      ok,
      skipped,
      failed: failures.length,
      interrupted,
      notProcessed: interrupted ? todo.length - ok - failures.filter((f) => f.name).length : 0,
      seconds,
      imagesPerSecond: rate,
      images: [...results, ...failures],
    }, null, 2)}\n`);
  } else {
    const parts = [`${ok} image${ok === 1 ? '' : 's'} segmented`];
    if (skipped) parts.push(`${skipped} skipped`);
    if (failures.length) parts.push(`${failures.length} failed`);
    const line = `${parts.join(', ')} in ${seconds.toFixed(1)} s (${rate.toFixed(2)} images/s) -> ${outDir}${path.sep}`;
    (ctx.tty ? ctx.err : ctx.out).write(`${line}\n`);
    if (failures.length) {
      ctx.err.write(`failed:\n${failures.map((f) => `  ${f.input}: ${f.error?.message}`).join('\n')}\n`);
    }
    if (interrupted) ctx.err.write(`interrupted: ${todo.length - ok - failures.filter((f) => f.name).length} image(s) not processed; rerun with --skip-existing to resume\n`);
  }
  if (interrupted) return EXIT_INTERRUPTED;
  return failures.length ? EXIT_SOME_FAILED : EXIT_OK;
}

/** Everything on this thread: one image decoding while another runs. */
export function localRunner(
  config: SegmentConfig,
  shared: SegmentModel,
  ensureSpec: (shape: number[]) => Promise<void>,
  onMessage: (m: FromWorker) => void,
): Runner {
  const engine = new SegmentEngine(config, shared, ensureSpec);
  const controller = new AbortController();
  const inFlight = new Set<Promise<void>>();
  return {
    capacity: () => 2 - inFlight.size,
    submit(task) {
      const p: Promise<void> = engine.process(task, controller.signal).then(
        (r) => onMessage({ type: 'done', ...r }),
        (err: Error & { code?: string }) => onMessage({ type: 'failed', id: task.id, error: { code: err.code ?? 'INVALID_ARGUMENT', message: err.message } }),
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async stop() {
      controller.abort();
      shared.abort();
      await Promise.allSettled([...inFlight]);
    },
    async close() {
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Worker threads attached to the shared model, each given up to two images at a time. */
export function poolRunner(
  count: number,
  init: WorkerInit,
  shared: NativeSharedModel,
  ensureSpec: (shape: number[]) => Promise<void>,
  onMessage: (m: FromWorker) => void,
): Runner {
  const PER_WORKER = 2;
  const script = path.join(__dirname, 'segment-worker.js');
  const pool = Array.from({ length: count }, () => ({ worker: new Worker(script, { workerData: init }), busy: new Set<number>(), dead: false, stopped: false }));
  let fatal: Error | undefined;
  const stoppedWaiters: Array<() => void> = [];
  for (const w of pool) {
    w.worker.on('message', (m: FromWorker) => {
      if (m.type === 'need-spec') {
        ensureSpec(m.shape).then(
          () => w.worker.postMessage({ type: 'spec', key: m.key } satisfies ToWorker),
          (err: Error & { code?: string }) => w.worker.postMessage({ type: 'spec', key: m.key, error: { code: err.code ?? 'BAD_MODEL', message: err.message } } satisfies ToWorker),
        );
        return;
      }
      if (m.type === 'stopped') {
        w.stopped = true;
        stoppedWaiters.splice(0).forEach((f) => f());
        return;
      }
      w.busy.delete(m.id);
      onMessage(m);
    });
    const die = (err: Error): void => {
      if (w.dead) return;
      w.dead = true;
      w.stopped = true;
      fatal ??= err;
      // Its images fail; the other workers go on.
      for (const id of [...w.busy]) {
        w.busy.delete(id);
        onMessage({ type: 'failed', id, error: { code: 'INVALID_ARGUMENT', message: `worker thread ended: ${err.message}` } });
      }
      stoppedWaiters.splice(0).forEach((f) => f());
    };
    w.worker.on('error', die);
    w.worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
  }
  const live = (): typeof pool => pool.filter((w) => !w.dead);
  const terminateAll = (): Promise<unknown> => Promise.all(pool.map((w) => w.worker.terminate()));
  forceQuitHooks.add(terminateAll);
  return {
    // With every worker gone, one slot at a time so that each remaining image fails by name.
    capacity: () => (live().length ? live().reduce((n, w) => n + PER_WORKER - w.busy.size, 0) : 1),
    submit(task) {
      const w = live().sort((a, b) => a.busy.size - b.busy.size)[0];
      if (!w) {
        // Later, not from inside the caller's pump loop.
        setImmediate(() => onMessage({ type: 'failed', id: task.id, error: { code: 'INVALID_ARGUMENT', message: `no worker left (${fatal?.message})` } }));
        return;
      }
      w.busy.add(task.id);
      w.worker.postMessage({ type: 'task', task } satisfies ToWorker);
    },
    async stop() {
      for (const w of live()) w.worker.postMessage({ type: 'stop' } satisfies ToWorker);
      const deadline = Date.now() + 15000;
      while (live().some((w) => !w.stopped) && Date.now() < deadline) {
        await new Promise<void>((r) => {
          stoppedWaiters.push(r);
          setTimeout(r, 200);
        });
      }
      await Promise.all(pool.map((w) => w.worker.terminate()));
    },
    async close() {
      forceQuitHooks.delete(terminateAll);
      await terminateAll();
    },
  };
}

export { shapeKey };
