/**
 * createSegmentWorker: a BullMQ Worker that segments the photos of the queue's jobs with the
 * machinery of `fcnkit segment` (one native model shared by worker threads, atomic output
 * files, the same formats). At least once: a job whose worker dies is handed to another by
 * BullMQ's stalled-job check, and its outputs are written again, whole (atomic renames).
 *
 * Failures: a bad photo (BAD_IMAGE, an input that cannot be read) or settings the model cannot
 * take fail at once (UnrecoverableError, no retries); anything else (a write that failed, memory,
 * a dead worker thread) is retried with the job's backoff. The reason is "CODE: message".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { UnrecoverableError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { resolveDevice } from '../device';
import type { Device, Precision } from '../device';
import { FcnkitError } from '../errors';
import type { ErrorCode } from '../errors';
import { removeStaleTempFiles, sweepTempFilesIn } from '../io/atomic-write';
import { makeDirs } from '../io/safe-file';
import type { PresetName } from '../io/image';
import { UsageError } from '../cli/args';
import { photoSettings } from '../cli/segment';
import type { SegmentConfig } from '../cli/segment-core';
import { connectionOptions } from './connection';
import type { QueueConnection } from './connection';
import { checkJobData, checkQueueName, DEFAULT_QUEUE_NAME, describeQueue } from './job';
import type { SegmentJobData, SegmentJobResult } from './job';
import { ModelCache } from './models';

export interface SegmentWorkerOptions {
  /** A redis:// URL or { host, port, db }. */
  connection: QueueConnection;
  /** The queue's name (default 'fcnkit-segment'). */
  queue?: string;
  /** The model loaded at start ('default' or a file); jobs naming others load them too. */
  model?: string;
  preset?: PresetName;
  /** Jobs in flight at once (default 2 per worker thread, 2 on cuda). */
  concurrency?: number;
  /** Worker threads sharing each model (default min(2, CPUs); 0: this thread). */
  workers?: number;
  /** Threads per model run (default CPUs / workers). */
  threads?: number;
  device?: Device;
  precision?: Precision;
  /** Models kept loaded (default 2). */
  maxModels?: number;
  /** BullMQ's job lock, ms (default 30000): a dead worker's job goes to another after about this. */
  lockDuration?: number;
  /** BullMQ's stalled-job check period, ms (default 30000). */
  stalledInterval?: number;
  /** Times a job may be recovered from a dead worker before it fails (default 2). */
  maxStalledCount?: number;
  /** Told of each job's end and of connection trouble. */
  onEvent?: (e: SegmentWorkerEvent) => void;
}

export type SegmentWorkerEvent =
  | { type: 'completed'; id: string; input: string; result: SegmentJobResult }
  | { type: 'failed'; id: string; input: string | undefined; code: ErrorCode; message: string; attempt: number; willRetry: boolean }
  | { type: 'stalled'; id: string }
  | { type: 'model-loaded'; model: string; preset?: PresetName }
  | { type: 'model-released'; model: string; preset?: PresetName }
  | { type: 'error'; message: string };

export interface SegmentWorker {
  /** The BullMQ Worker (events, pause, resume). */
  readonly worker: Worker<SegmentJobData, SegmentJobResult>;
  /** Where it works, for messages. */
  readonly where: string;
  readonly concurrency: number;
  readonly workers: number;
  readonly threads: number;
  /** Stops taking jobs, finishes those in flight, frees the models; force after `timeoutMs` (default 60 s) of waiting for Redis. */
  close(timeoutMs?: number): Promise<void>;
}

/** Codes that are the photo's or the job's own fault: retrying cannot help. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BAD_IMAGE', 'INVALID_ARGUMENT', 'SHAPE_MISMATCH', 'BAD_MODEL', 'UNSUPPORTED_OP', 'TOO_LARGE']);

async function readable(file: string): Promise<boolean> {
  try {
    const st = await fs.promises.stat(file);
    if (!st.isFile()) return false;
    await fs.promises.access(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function asFcnkitError(err: unknown): FcnkitError {
  if (err instanceof FcnkitError) return err;
  if (err instanceof UsageError) return new FcnkitError('INVALID_ARGUMENT', err.message);
  const e = err as Error & { code?: string };
  return new FcnkitError('INVALID_ARGUMENT', e?.message ?? String(err), { cause: err });
}

export async function createSegmentWorker(options: SegmentWorkerOptions): Promise<SegmentWorker> {
  const conn = connectionOptions(options.connection);
  const name = checkQueueName(options.queue ?? DEFAULT_QUEUE_NAME);
  const device = resolveDevice({ device: options.device ?? 'cpu', precision: options.precision, emulate: options.device === 'cuda' && process.env.FCNKIT_CUDA_EMULATE === '1' });
  const cpus = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const int = (v: number | undefined, what: string, min: number, max: number): number | undefined => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new FcnkitError('INVALID_ARGUMENT', `Expected an integer from ${min} to ${max} for ${what} but received ${v}`);
    return v;
  };
  const workers = device.device === 'cuda' ? 0 : (int(options.workers, 'workers', 0, 256) ?? Math.min(2, cpus));
  const threads = int(options.threads, 'threads', 1, 4096) ?? Math.max(1, Math.floor(cpus / Math.max(1, workers)));
  const concurrency = int(options.concurrency, 'concurrency', 1, 1024) ?? 2 * Math.max(1, workers);
  const maxModels = int(options.maxModels, 'maxModels', 1, 64) ?? 2;
  const lockDuration = int(options.lockDuration, 'lockDuration', 500, 86_400_000) ?? 30000;
  const stalledInterval = int(options.stalledInterval, 'stalledInterval', 200, 86_400_000) ?? 30000;
  const maxStalledCount = int(options.maxStalledCount, 'maxStalledCount', 0, 100) ?? 2;
  const emit = options.onEvent ?? (() => undefined);
  const me = `${os.hostname()}:${process.pid}`;

  const models = new ModelCache({ max: maxModels, workers, threads, device, onChange: (e) => emit(e) });
  // The worker's own model first: a model that does not load stops it here, not job by job.
  const startModel = options.model === undefined || options.model === 'default' ? 'default' : options.model;
  (await models.acquire(startModel, options.preset)).release();

  const sweptStale = new Set<string>();
  const processJob = async (job: Job<SegmentJobData, SegmentJobResult>): Promise<SegmentJobResult> => {
    let data: SegmentJobData | undefined;
    try {
      data = checkJobData(job.data);
      const lease = await models.acquire(data.model, data.preset);
      try {
        const { preprocessing } = photoSettings(lease.slot.model, { size: data.size, tile: data.tile, formats: data.formats }, 'worker');
        const config: SegmentConfig = {
          outDir: data.outDir, formats: data.formats, threshold: data.threshold ?? 0.5, threads, preprocessing, tile: data.tile, output: data.output,
        };
        await makeDirs(data.outDir, 'output folder');
        if (!sweptStale.has(data.outDir)) {
          // Once per folder and process: temp files of writers that have ended (see atomic-write.ts).
          sweptStale.add(data.outDir);
          removeStaleTempFiles(data.outDir);
        }
        sweepTempFilesIn(data.outDir);
        const done = await lease.slot.run(data.input, data.name, config);
        const result: SegmentJobResult = { outputs: done.outputs, width: done.width, height: done.height, classes: done.classes, ms: done.ms, worker: me };
        emit({ type: 'completed', id: String(job.id), input: data.input, result });
        return result;
      } finally {
        lease.release();
      }
    } catch (err) {
      const e = asFcnkitError(err);
      // An input that cannot be read is the photo's fault; a write that failed is not.
      const permanent = PERMANENT.has(e.code) || (e.code === 'IO_ERROR' && data !== undefined && !(await readable(data.input)));
      const attempt = job.attemptsMade + 1;
      const willRetry = !permanent && attempt < (job.opts.attempts ?? 1);
      emit({ type: 'failed', id: String(job.id), input: data?.input ?? (job.data as { input?: string } | undefined)?.input, code: e.code, message: e.message, attempt, willRetry });
      const reason = `${e.code}: ${e.message}`;
      throw permanent ? new UnrecoverableError(reason) : new Error(reason);
    }
  };

  const worker = new Worker<SegmentJobData, SegmentJobResult>(name, processJob, {
    connection: { ...conn, maxRetriesPerRequest: null },
    concurrency,
    lockDuration,
    stalledInterval,
    maxStalledCount,
    name: me,
    autorun: true,
  });
  worker.on('error', (err) => emit({ type: 'error', message: err?.message ?? String(err) }));
  worker.on('stalled', (id) => emit({ type: 'stalled', id }));

  let closing: Promise<void> | undefined;
  return {
    worker,
    where: describeQueue(conn, name),
    concurrency,
    workers,
    threads,
    close(timeoutMs = 60000) {
      closing ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
        const r = await Promise.race([worker.close().then(() => 'closed' as const), late]);
        clearTimeout(timer);
        if (r === 'late') await worker.close(true).catch(() => undefined);
        await models.close();
      })();
      return closing;
    },
  };
}
