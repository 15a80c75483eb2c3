/**
 * What a segmentation job in the queue is: its data (plain JSON, as BullMQ stores it), its id
 * (derived from the data, so that enqueueing the same batch again adds nothing), and where the
 * queue lives (a redis:// URL, read into ioredis options).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import { PREPROCESSING_PRESETS } from '../io/image';
import type { PresetName } from '../io/image';
import { OUTPUT_FORMATS } from '../io/outputs';
import type { OutputFormat } from '../io/outputs';

/** The queue's name when none is given. */
export const DEFAULT_QUEUE_NAME = 'fcnkit-segment';

/** One photo to segment. Paths are absolute: every worker must see the same files there. */
export interface SegmentJobData {
  /** The photo. */
  input: string;
  /** Where its outputs go. */
  outDir: string;
  /** Its outputs' name inside outDir, without extension; may hold '/' (sub-folders). */
  name: string;
  formats: OutputFormat[];
  /** 'default' (the embedded person segmenter, each worker's own copy) or an absolute path. */
  model: string;
  preset?: PresetName;
  /** Letterbox into size×size. */
  size?: number;
  /** Run in tiles of tile×tile. */
  tile?: number;
  /** One-channel models: label 1 above this probability. */
  threshold?: number;
  /** The model output that holds the scores. */
  output?: string;
}

/** What a completed job returns (BullMQ stores it as the job's return value). */
export interface SegmentJobResult {
  /** The files written, absolute. */
  outputs: string[];
  width: number;
  height: number;
  classes: number;
  ms: number;
  /** The worker that ran it (host:pid). */
  worker: string;
}

const JOB_KEYS: ReadonlyArray<keyof SegmentJobData> = ['input', 'outDir', 'name', 'formats', 'model', 'preset', 'size', 'tile', 'threshold', 'output'];

/** The job's id: a hash of everything that decides its outputs (so equal jobs collide, as meant). INVALID_ARGUMENT for bad data. */
export function segmentJobId(job: SegmentJobData): string {
  const data = checkJobData(job);
  const canonical = JOB_KEYS.map((k) => [k, data[k] ?? null]);
  return `seg-${createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 40)}`;
}

function bad(what: string, expected: string, received: unknown): FcnkitError {
  return new FcnkitError('INVALID_ARGUMENT', `Expected ${expected} for ${what} but received ${JSON.stringify(received)}`);
}

const intIn = (v: unknown, min: number, max: number): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/**
 * Checks job data from anywhere (a queue is shared: another program may have put it there):
 * INVALID_ARGUMENT naming the field. Returns it with only the known fields.
 */
export function checkJobData(data: unknown): SegmentJobData {
  if (typeof data !== 'object' || data === null) throw bad('the job data', 'an object', data);
  const d = data as Record<string, unknown>;
  for (const k of ['input', 'outDir', 'model'] as const) {
    if (typeof d[k] !== 'string' || d[k] === '') throw bad(`job.${k}`, 'a non-empty string', d[k]);
  }
  for (const k of ['input', 'outDir'] as const) {
    if (!path.isAbsolute(d[k] as string)) throw bad(`job.${k}`, 'an absolute path', d[k]);
  }
  if (d.model !== 'default' && !path.isAbsolute(d.model as string)) throw bad('job.model', "'default' or an absolute path", d.model);
  if (typeof d.name !== 'string' || d.name === '' || d.name.split(/[\\/]/).some((s) => s === '..' || s === '') || path.isAbsolute(d.name)) {
    throw bad('job.name', 'a relative output name without ".." parts', d.name);
  }
  if (!Array.isArray(d.formats) || d.formats.length === 0 || d.formats.some((f) => !(OUTPUT_FORMATS as readonly unknown[]).includes(f))) {
    throw bad('job.formats', `a non-empty list of ${OUTPUT_FORMATS.join(', ')}`, d.formats);
  }
  if (d.preset !== undefined && !Object.prototype.hasOwnProperty.call(PREPROCESSING_PRESETS, d.preset as string)) {
    throw bad('job.preset', Object.keys(PREPROCESSING_PRESETS).join(', '), d.preset);
  }
  if (d.size !== undefined && !intIn(d.size, 1, 16384)) throw bad('job.size', 'an integer from 1 to 16384', d.size);
  if (d.tile !== undefined && !intIn(d.tile, 8, 16384)) throw bad('job.tile', 'an integer from 8 to 16384', d.tile);
  if (d.threshold !== undefined && !(typeof d.threshold === 'number' && d.threshold >= 0 && d.threshold <= 1)) {
    throw bad('job.threshold', 'a number from 0 to 1', d.threshold);
  }
  if (d.output !== undefined && (typeof d.output !== 'string' || d.output === '')) throw bad('job.output', 'a non-empty string', d.output);
  const out: SegmentJobData = {
    input: d.input as string,
    outDir: d.outDir as string,
    name: d.name,
    formats: [...new Set(d.formats as OutputFormat[])],
    model: d.model as string,
  };
  for (const k of ['preset', 'size', 'tile', 'threshold', 'output'] as const) {
    if (d[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = d[k];
  }
  return out;
}

/** ioredis options read from a queue URL. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
}

/**
 * redis://[[user]:password@]host[:port][/db] or rediss:// (TLS): INVALID_ARGUMENT, saying what is
 * wrong, for anything else.
 */
export function parseQueueUrl(url: string): RedisConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a queue URL like redis://HOST:PORT/DB but received ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a redis:// or rediss:// queue URL but received ${JSON.stringify(url)} (scheme ${u.protocol.replace(/:$/, '')})`);
  }
  if (!u.hostname) throw new FcnkitError('INVALID_ARGUMENT', `the queue URL ${JSON.stringify(url)} names no host`);
  if ((u.search && u.search !== '?') || u.hash) throw new FcnkitError('INVALID_ARGUMENT', `the queue URL ${JSON.stringify(url)} has query or fragment parts fcnkit does not read`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^[0-9]{1,2}$/.test(dbText)) {
    throw new FcnkitError('INVALID_ARGUMENT', `the queue URL's database must be a number from 0 to 99 (redis://HOST:PORT/DB) but received ${JSON.stringify(dbText)}`);
  }
  const out: RedisConnectionOptions = { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port, db: dbText === '' ? 0 : Number(dbText) };
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') out.tls = {};
  return out;
}

/** The URL without its password, for messages. */
export function describeQueue(c: RedisConnectionOptions, name: string): string {
  return `${c.tls ? 'rediss' : 'redis'}://${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}/${c.db} queue '${name}'`;
}

/** Queue names become Redis key parts: keep them plain. */
export function checkQueueName(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a queue name of letters, digits, '_', '.' or '-' (at most 100) but received ${JSON.stringify(name)}`);
  }
  return name;
}
