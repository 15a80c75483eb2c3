/**
 * enqueueSegmentJobs: one job per photo, with an id derived from what decides its outputs, so
 * that enqueueing the same batch again adds nothing (BullMQ keeps the first job of an id).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobsOptions } from 'bullmq';
import { FcnkitError } from '../errors';
import type { PresetName } from '../io/image';
import { DEFAULT_FORMATS } from '../io/outputs';
import type { OutputFormat } from '../io/outputs';
import { stem } from '../cli/files';
import { openQueue, unreachable } from './connection';
import type { QueueConnection } from './connection';
import { checkJobData, DEFAULT_QUEUE_NAME, segmentJobId } from './job';
import type { SegmentJobData } from './job';

export interface EnqueueOptions {
  /** A redis:// URL or { host, port, db }. */
  connection: QueueConnection;
  /** The queue's name (default 'fcnkit-segment'). */
  queue?: string;
  /** Where the outputs go: a folder every worker sees at this path. */
  outDir: string;
  formats?: OutputFormat[];
  /** 'default' (the embedded person segmenter) or a model file every worker sees. */
  model?: string;
  preset?: PresetName;
  size?: number;
  tile?: number;
  threshold?: number;
  output?: string;
  /** Tries of a job that fails for a passing reason (default 3; bad photos fail at once). */
  attempts?: number;
  /** First retry's delay in ms, doubled each time (default 2000). */
  backoffMs?: number;
}

export interface EnqueuedJob {
  id: string;
  input: string;
  name: string;
  /** False when a job with this id was already in the queue. */
  added: boolean;
}

export interface EnqueueResult {
  queue: string;
  added: number;
  existing: number;
  jobs: EnqueuedJob[];
}

/** A photo: its path (outputs named after its base name), or a path and an output name. */
export type EnqueueInput = string | { file: string; name?: string };

const CHUNK = 500;

/** 'default', or the model file as an absolute path (NET.prototxt:WEIGHTS.caffemodel: both parts). IO_ERROR when it is not there. */
function resolveModel(model: string | undefined): string {
  if (model === undefined || model === 'default') return 'default';
  const pair = /^(.*\.prototxt):(.+)$/i.exec(model);
  const parts = pair && !fs.existsSync(model) ? [pair[1], pair[2]] : [model];
  for (const p of parts) {
    if (!fs.existsSync(p)) throw new FcnkitError('IO_ERROR', `model '${p}': no such file (the workers read it at the same path)`);
  }
  return parts.map((p) => path.resolve(p)).join(':');
}

/**
 * Adds one job per photo. Paths are resolved to absolute here: the workers read the photos, the
 * model and the output folder at the same paths (shared storage). INVALID_ARGUMENT for bad
 * options or two photos with one output name; IO_ERROR when Redis cannot be reached.
 */
export async function enqueueSegmentJobs(inputs: EnqueueInput[], options: EnqueueOptions): Promise<EnqueueResult> {
  if (!Array.isArray(inputs)) throw new FcnkitError('INVALID_ARGUMENT', `Expected an array of photo paths for inputs but received ${typeof inputs}`);
  if (typeof options?.outDir !== 'string' || options.outDir === '') throw new FcnkitError('INVALID_ARGUMENT', `Expected a folder for options.outDir but received ${JSON.stringify(options?.outDir)}`);
  const attempts = options.attempts ?? 3;
  const backoffMs = options.backoffMs ?? 2000;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) throw new FcnkitError('INVALID_ARGUMENT', `Expected an integer from 1 to 100 for options.attempts but received ${attempts}`);
  if (!Number.isInteger(backoffMs) || backoffMs < 0) throw new FcnkitError('INVALID_ARGUMENT', `Expected an integer >= 0 for options.backoffMs but received ${backoffMs}`);
  const outDir = path.resolve(options.outDir);
  const model = resolveModel(options.model);
  const byName = new Map<string, string>();
  const jobs: Array<{ id: string; data: SegmentJobData }> = [];
  for (const i of inputs) {
    const file = path.resolve(typeof i === 'string' ? i : i.file);
    const name = (typeof i === 'string' ? undefined : i.name) ?? stem(file);
    const prev = byName.get(name);
    if (prev !== undefined) {
      if (prev === file) continue;
      throw new FcnkitError('INVALID_ARGUMENT', `'${prev}' and '${file}' would both write ${outDir}/${name}.*; give them different names`);
    }
    byName.set(name, file);
    const data = checkJobData({
      input: file, outDir, name, formats: options.formats ?? [...DEFAULT_FORMATS], model,
      preset: options.preset, size: options.size, tile: options.tile, threshold: options.threshold, output: options.output,
    });
    jobs.push({ id: segmentJobId(data), data });
  }

  const name = options.queue ?? DEFAULT_QUEUE_NAME;
  const q = await openQueue(options.connection, name);
  const opts: JobsOptions = { attempts, backoff: { type: 'exponential', delay: backoffMs } };
  const out: EnqueuedJob[] = [];
  try {
    for (let k = 0; k < jobs.length; k += CHUNK) {
      const chunk = jobs.slice(k, k + CHUNK);
      // Which ids are there already (the add below would keep them as they are either way).
      const pipe = q.client.pipeline();
      for (const j of chunk) pipe.exists(q.queue.toKey(j.id));
      const there = ((await pipe.exec()) ?? []).map(([e, n]) => {
        if (e) throw e;
        return n as number;
      });
      await q.queue.addBulk(chunk.map((j) => ({ name: 'segment', data: j.data, opts: { ...opts, jobId: j.id } })));
      chunk.forEach((j, n) => out.push({ id: j.id, input: j.data.input, name: j.data.name, added: there[n] === 0 }));
    }
  } catch (err) {
    throw unreachable(q.where, err);
  } finally {
    await q.close();
  }
  const added = out.filter((j) => j.added).length;
  return { queue: name, added, existing: out.length - added, jobs: out };
}
