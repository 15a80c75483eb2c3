/**
 * fcnkit worker --queue URL [options]
 *
 * Takes `fcnkit enqueue`'s jobs from a BullMQ queue and segments their photos, until SIGTERM or
 * Ctrl-C: then it takes no more jobs, finishes those in flight and exits 0 (a second Ctrl-C quits
 * at once; BullMQ hands the unfinished jobs to another worker).
 */
import * as path from 'node:path';
import type { PresetName } from '../io/image';
import type { SegmentWorkerEvent } from '../queue/worker';
import { createSegmentWorker } from '../queue/worker';
import { UsageError, boolOpt, intOpt, parseCommand, stringOpt } from './args';
import type { OptionSpecs } from './args';
import { EXIT_OK } from './context';
import type { CommandContext } from './context';
import { DEVICE_SPECS, DEVICE_USAGE, deviceOpt } from './device-opts';
import { PRESET_NAMES } from './model';
import { QUEUE_SPECS, QUEUE_USAGE, queueOpts } from './queue-opts';

export const WORKER_USAGE = `Usage: fcnkit worker --queue URL [options]

Segments the photos of the jobs in a queue ('fcnkit enqueue'), writing each one's outputs as
'fcnkit segment' does (atomically: a job redone after a lost worker writes them whole, again).
Run one per machine (or more); they share the queue. A bad photo fails at once; other failures
are retried with backoff. SIGTERM or Ctrl-C: no new jobs, those in flight finish, exit 0.

Options:
${QUEUE_USAGE}
  --model FILE|default   the model to load at start (default: the embedded person segmenter);
                         jobs naming another model load it too (kept: --max-models)
  --preset NAME          its preprocessing: ${PRESET_NAMES.join(', ')}
${DEVICE_USAGE}
  --workers N            worker threads sharing each loaded model (default min(2, CPUs))
  --threads N            threads per model run (default CPUs / workers)
  --concurrency N        jobs in flight at once (default 2 per worker thread)
  --max-models N         models kept loaded (default 2)
  --lock-duration MS     a job's lock; a dead worker's job goes elsewhere after about this
                         (default 30000)
  --stalled-interval MS  how often dead workers' jobs are looked for (default 30000)
  --json                 one JSON line per event (for log shippers)
  -h, --help             show this help

Exit codes: 0 stopped cleanly, 1 could not start (a model that does not load), 2 bad usage.`;

const SPECS: OptionSpecs = {
  ...QUEUE_SPECS,
  model: { type: 'string' },
  preset: { type: 'string' },
  ...DEVICE_SPECS,
  workers: { type: 'string' },
  threads: { type: 'string' },
  concurrency: { type: 'string' },
  'max-models': { type: 'string' },
  'lock-duration': { type: 'string' },
  'stalled-interval': { type: 'string' },
  json: { type: 'boolean' },
};

export async function workerCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('worker', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${WORKER_USAGE}\n`);
    return EXIT_OK;
  }
  if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}' (the photos come from the queue: 'fcnkit enqueue')`, 'worker');
  const { connection, name } = queueOpts(p, 'worker');
  const preset = stringOpt(p, 'preset', 'worker');
  if (preset !== undefined && !(PRESET_NAMES as string[]).includes(preset)) {
    throw new UsageError(`unknown preset '${preset}' (presets: ${PRESET_NAMES.join(', ')})`, 'worker');
  }
  const device = deviceOpt(p, 'worker');
  const json = boolOpt(p, 'json');
  const model = stringOpt(p, 'model', 'worker');

  let ok = 0;
  let failed = 0;
  let retried = 0;
  const t0 = Date.now();
  let lastError = 0;
  let drawn = false;
  let header = false;
  const line = (text: string, stream = ctx.out): void => {
    if (drawn) ctx.err.write('\r\x1b[K');
    drawn = false;
    stream.write(`${text}\n`);
  };
  const status = (): void => {
    if (!ctx.tty || json) return;
    const s = (Date.now() - t0) / 1000;
    ctx.err.write(`\r\x1b[K${ok} done, ${failed} failed${retried ? `, ${retried} to retry` : ''}  ${(s > 0 ? ok / s : 0).toFixed(2)} images/s`);
    drawn = true;
  };
  const onEvent = (e: SegmentWorkerEvent): void => {
    if (e.type === 'completed') ok++;
    else if (e.type === 'failed') {
      if (e.willRetry) retried++;
      else failed++;
    }
    if (json) {
      ctx.out.write(`${JSON.stringify({ time: new Date().toISOString(), event: e.type === 'failed' && e.willRetry ? 'retrying' : e.type, ...e })}\n`);
      return;
    }
    if (e.type === 'completed') {
      if (!ctx.tty) line(`ok ${e.input} -> ${e.result.outputs.map((o) => path.basename(o)).join(', ')} (${e.result.width}x${e.result.height}, ${(e.result.ms / 1000).toFixed(2)} s) [${e.id}]`);
    } else if (e.type === 'failed') {
      line(`${e.willRetry ? 'retrying' : 'failed'} (try ${e.attempt}): ${e.input ?? e.id}: ${e.code}: ${e.message}`, ctx.err);
    } else if (e.type === 'model-loaded' || e.type === 'model-released') {
      // The start model is in the header line.
      if (header) line(`${e.type === 'model-loaded' ? 'loaded' : 'released'} model ${e.model}${e.preset ? ` (preset ${e.preset})` : ''}`, ctx.tty ? ctx.err : ctx.out);
    } else if (e.type === 'stalled') {
      line(`job ${e.id}: its worker stopped answering; handed back to the queue`, ctx.err);
    } else if (Date.now() - lastError > 10000) {
      // Connection trouble repeats while Redis is away: say it now and then, not per retry.
      lastError = Date.now();
      line(`redis: ${e.message} (reconnecting)`, ctx.err);
    }
    status();
  };

  const w = await createSegmentWorker({
    connection, queue: name, model, preset: preset as PresetName | undefined, device: device.device, precision: device.precision,
    workers: intOpt(p, 'workers', 'worker', { min: 0, max: 256 }),
    threads: intOpt(p, 'threads', 'worker', { min: 1, max: 4096 }),
    concurrency: intOpt(p, 'concurrency', 'worker', { min: 1, max: 1024 }),
    maxModels: intOpt(p, 'max-models', 'worker', { min: 1, max: 64 }),
    lockDuration: intOpt(p, 'lock-duration', 'worker', { min: 500, max: 86_400_000 }),
    stalledInterval: intOpt(p, 'stalled-interval', 'worker', { min: 200, max: 86_400_000 }),
    onEvent,
  });
  const head = `worker ${process.pid} on ${w.where}: model ${model ?? 'default'}, ${device.device === 'cuda' ? `cuda (${device.precision})` : `${w.workers || 'no'} worker thread${w.workers === 1 ? '' : 's'} × ${w.threads} thread${w.threads === 1 ? '' : 's'}`}, ${w.concurrency} jobs at once`;
  if (json) ctx.out.write(`${JSON.stringify({ time: new Date().toISOString(), event: 'started', pid: process.pid, queue: w.where, concurrency: w.concurrency, workers: w.workers, threads: w.threads })}\n`);
  else line(`${head}; waiting for jobs (SIGTERM or Ctrl-C stops after the jobs in flight)`, ctx.tty ? ctx.err : ctx.out);
  header = true;
  status();

  if (!ctx.signal.aborted) await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
  await w.close();
  const summary = { ok, failed, retried, seconds: (Date.now() - t0) / 1000 };
  if (json) ctx.out.write(`${JSON.stringify({ time: new Date().toISOString(), event: 'stopped', ...summary })}\n`);
  else line(`worker stopped: ${ok} done, ${failed} failed, ${retried} handed back for retry, in ${summary.seconds.toFixed(1)} s`, ctx.tty ? ctx.err : ctx.out);
  return EXIT_OK;
}
