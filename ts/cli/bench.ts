/**
 * fcnkit bench MODEL --shape 1x3x500x500 [--runs N] [--warmup N] [--threads N] [--vs onnxruntime]
 *
 * Times whole-model runs on one random input: the first run (which compiles the plan and packs
 * the weights) apart, then warm-up runs, then --runs timed runs: median, spread (min, max,
 * interquartile range) and GFLOP/s at the median. --vs onnxruntime times onnxruntime-node on
 * the same ONNX file, with the same input and thread count, in the same process, and compares
 * the outputs. onnxruntime-node is optional: loaded only then, with a clear message if absent.
 */
import { FcnkitError } from '../errors';
import { compileOn } from '../device';
import { CompiledGraph } from '../graph/compiled';
import type { ProfiledStep } from '../graph/compiled';
import { native } from '../native';
import { Tensor } from '../tensor';
import { UsageError, boolOpt, intOpt, parseCommand, parseShape, stringOpt } from './args';
import type { OptionSpecs } from './args';
import type { CommandContext } from './context';
import { formatCount, graphCost } from './flops';
import { concreteShapes } from './info';
import { DEVICE_SPECS, DEVICE_USAGE, deviceOpt } from './device-opts';
import { DEFAULT_MODEL_FILE, importModelFile, isDefaultModel } from './model';
import { isMaskRcnnModel } from './segment-instances';

export const BENCH_USAGE = `Usage: fcnkit bench MODEL --shape NxCxHxW [options]

Times whole-model runs of MODEL (ONNX, Caffe, TFLite or 'default') on a random input:
first run (plan compiled, weights packed) apart, warm-up, then timed runs.

Options:
  --shape NxCxHxW       the input shape (default: the declared one, 512 for open H and W)
  --runs N              timed runs (default 10)
  --warmup N            untimed runs after the first (default 1)
  --threads N           threads per run (default: all of the core's threads)
${DEVICE_USAGE}
  --vs onnxruntime      also time onnxruntime-node on the same ONNX file (same input, same
                        threads) and compare outputs; needs the onnxruntime-node package
  --profile             after the timed runs, one run timing every node (CPU): the slowest
                        nodes with their share of the run and GFLOP/s
  --json                print the results as JSON
  -h, --help            show this help`;

const SPECS: OptionSpecs = {
  ...DEVICE_SPECS,
  shape: { type: 'string' },
  runs: { type: 'string' },
  warmup: { type: 'string' },
  threads: { type: 'string' },
  vs: { type: 'string' },
  json: { type: 'boolean' },
  profile: { type: 'boolean' },
};

export interface Timing {
  firstMs: number;
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Interquartile range over the median. */
  spread: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(firstMs: number, runs: number[]): Timing {
  const s = [...runs].sort((a, b) => a - b);
  const median = quantile(s, 0.5);
  return { firstMs, runsMs: runs, medianMs: median, minMs: s[0], maxMs: s[s.length - 1], spread: (quantile(s, 0.75) - quantile(s, 0.25)) / median };
}

async function time(fn: () => Promise<unknown>, runs: number, warmup: number, signal: AbortSignal): Promise<{ timing: Timing; last: unknown }> {
  let t = performance.now();
  let last = await fn();
  const first = performance.now() - t;
  for (let i = 0; i < warmup; i++) {
    if (signal.aborted) throw new FcnkitError('ABORTED', 'interrupted');
    await fn();
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (signal.aborted) throw new FcnkitError('ABORTED', 'interrupted');
    t = performance.now();
    last = await fn();
    times.push(performance.now() - t);
  }
  return { timing: summarize(first, times), last };
}

/** max |a - b| / max |b|. */
function normError(a: ArrayLike<number>, b: ArrayLike<number | bigint>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const y = Number(b[i]); // int64 outputs come from onnxruntime as BigInt64Array
    d = Math.max(d, Math.abs(a[i] - y));
    m = Math.max(m, Math.abs(y));
  }
  return d / (m + 1e-12);
}

interface OrtModule {
  InferenceSession: { create(path: string, opts: Record<string, unknown>): Promise<{ inputNames: readonly string[]; outputNames: readonly string[]; run(feeds: Record<string, unknown>): Promise<Record<string, { data: ArrayLike<number | bigint>; dims: readonly number[] }>>; release?(): Promise<void> }> };
  Tensor: new (type: string, data: Float32Array | Int32Array | BigInt64Array, dims: readonly number[]) => unknown;
}

/** onnxruntime-node, loaded on demand. */
export function loadOnnxruntime(): OrtModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('onnxruntime-node') as OrtModule;
  } catch (err) {
    throw new FcnkitError('INVALID_ARGUMENT', `--vs onnxruntime needs the onnxruntime-node package, which is not installed or does not load (${(err as Error).message.split('\n')[0]}); install it with: npm install onnxruntime-node`);
  }
}

export async function benchCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('bench', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (p.positionals.length === 0) throw new UsageError('missing MODEL', 'bench');
  if (p.positionals.length > 1) throw new UsageError(`unexpected argument '${p.positionals[1]}'`, 'bench');
  const shapeText = stringOpt(p, 'shape', 'bench');
  const runs = intOpt(p, 'runs', 'bench', { min: 1, max: 100000 }) ?? 10;
  const warmup = intOpt(p, 'warmup', 'bench', { min: 0, max: 100000 }) ?? 1;
  const threads = intOpt(p, 'threads', 'bench', { min: 1, max: 4096 }) ?? native().backendInfo().threads;
  const vs = stringOpt(p, 'vs', 'bench');
  if (vs !== undefined && vs !== 'onnxruntime') throw new UsageError(`--vs takes 'onnxruntime' (received '${vs}')`, 'bench');
  const json = boolOpt(p, 'json');
  const target = deviceOpt(p, 'bench');
  const doProfile = boolOpt(p, 'profile');
  if (doProfile && target.device === 'cuda') {
    throw new UsageError('--profile times the CPU plan; for the GPU, bench/gpu/compare.js profiles the kernels', 'bench');
  }

  const modelArg = p.positionals[0];
  if (isMaskRcnnModel(modelArg)) return (await import('./maskrcnn-commands')).maskRcnnBench(p, ctx, modelArg);
  const { imported, format, file } = await importModelFile(isDefaultModel(modelArg) ? DEFAULT_MODEL_FILE : modelArg);
  if (vs && format !== 'onnx') throw new UsageError(`--vs onnxruntime needs an ONNX model; '${file}' is ${format}`, 'bench');
  const ort = vs ? loadOnnxruntime() : undefined;
  const shapes = concreteShapes(imported, shapeText === undefined ? undefined : parseShape(shapeText, 'bench'), 'bench');
  const spec = imported.specFor(shapes);
  const ordered = imported.inputs.map((i) => shapes[i.name]);

  // FLOPs from the shapes the core infers, then drop that copy before timing.
  const shared = new (native().SharedModel)();
  let flops: number;
  let flopsByNode: Record<string, number>;
  try {
    shared.addSpec(ordered, spec);
    ({ flops, flopsByNode } = graphCost(shared, spec, ordered));
  } finally {
    shared.release();
  }

  // A fixed pseudo-random input (same on both engines).
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  const feeds: Record<string, Tensor> = {};
  for (const info of imported.inputs) {
    const s = shapes[info.name];
    const n = s.reduce((a, b) => a * b, 1);
    feeds[info.name] = info.dtype === 'int32'
      ? new Tensor(Int32Array.from({ length: n }, () => Math.floor(rand() * 4)), s)
      : new Tensor(Float32Array.from({ length: n }, () => rand() * 2 - 1), s);
  }

  const log = (line: string): void => {
    if (!json) ctx.out.write(`${line}\n`);
  };
  log(`model    ${file} (${format}), input ${Object.entries(shapes).map(([n, s]) => `${n} ${s.join('x')}`).join(', ')}, ${target.device === 'cuda' ? `cuda (${target.precision})` : `${threads} thread${threads === 1 ? '' : 's'}, isa ${native().backendInfo().isa}, precision ${target.precision}`}`);
  log(`work     ${formatCount(flops)}FLOPs per run`);

  const graph = compileOn(spec, target, 1);
  let fcn: { timing: Timing; last: unknown };
  let profile: ProfileRow[] | undefined;
  try {
    fcn = await time(() => graph.run(feeds, { threads, signal: ctx.signal }), runs, warmup, ctx.signal);
    if (doProfile && graph instanceof CompiledGraph) {
      profile = graph.profileSync(feeds, { threads }).steps.map((st) => ({ ...st, flops: flopsByNode[st.name] ?? 0 }));
    }
  } finally {
    graph.dispose();
  }
  const line = (name: string, t: Timing): string =>
    `${name.padEnd(12)} median ${t.medianMs.toFixed(1)} ms  (min ${t.minMs.toFixed(1)}, max ${t.maxMs.toFixed(1)}, IQR ${(100 * t.spread).toFixed(1)}%)  ` +
    `${(flops / (t.medianMs / 1000) / 1e9).toFixed(1)} GFLOP/s  first run ${t.firstMs.toFixed(0)} ms`;
  log(line('fcnkit', fcn.timing));
  if (profile) for (const l of profileTable(profile)) log(l);

  let ortResult: { timing: Timing; outputError: number | null } | undefined;
  if (ort) {
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const ortFeeds: Record<string, unknown> = {};
    for (const [n, t] of Object.entries(feeds)) ortFeeds[n] = new ort.Tensor(t.dtype, t.data, t.shape);
    const r = await time(() => session.run(ortFeeds), runs, warmup, ctx.signal);
    await session.release?.();
    const ours = fcn.last as Record<string, Tensor>;
    const theirs = r.last as Record<string, { data: ArrayLike<number | bigint> }>;
    let err: number | null = null;
    for (const n of Object.keys(ours)) {
      if (theirs[n] && ours[n].data.length === theirs[n].data.length) err = Math.max(err ?? 0, normError(ours[n].data, theirs[n].data));
    }
    ortResult = { timing: r.timing, outputError: err };
    log(line('onnxruntime', r.timing));
    log(`ratio    onnxruntime / fcnkit median = ${(r.timing.medianMs / fcn.timing.medianMs).toFixed(2)}×${err === null ? '' : `; outputs agree to ${err.toExponential(1)} (max |diff| / max |onnxruntime|)`}`);
  }
  if (json) {
    ctx.out.write(`${JSON.stringify({
      model: file,
      format,
      shapes,
      threads,
      isa: native().backendInfo().isa,
      flops,
      fcnkit: { ...fcn.timing, gflops: flops / (fcn.timing.medianMs / 1000) / 1e9 },
      profile,
      onnxruntime: ortResult ? { ...ortResult.timing, gflops: flops / (ortResult.timing.medianMs / 1000) / 1e9, outputError: ortResult.outputError } : undefined,
    }, null, 2)}\n`);
  }
  return 0;
}

type ProfileRow = ProfiledStep & { flops: number };

/** The slowest nodes of a profiled run (those that make 95% of it, at most 20), then the rest in one line. */
export function profileTable(rows: ProfileRow[]): string[] {
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const sorted = [...rows].sort((a, b) => b.ms - a.ms);
  const shown: ProfileRow[] = [];
  let acc = 0;
  for (const r of sorted) {
    if (shown.length >= 20 || (acc >= 0.95 * total && shown.length > 0)) break;
    shown.push(r);
    acc += r.ms;
  }
  const w = Math.max(4, ...shown.map((r) => r.name.length));
  const out = [`profile  one run, ${total.toFixed(1)} ms in ${rows.length} nodes (slowest first):`];
  for (const r of shown) {
    const gf = r.flops && r.ms > 0 ? `${(r.flops / (r.ms / 1000) / 1e9).toFixed(1).padStart(7)} GFLOP/s` : '';
    out.push(`  ${r.name.padEnd(w)}  ${r.type.padEnd(16)} ${r.ms.toFixed(2).padStart(9)} ms ${(total > 0 ? (100 * r.ms) / total : 0).toFixed(1).padStart(5)}%  ${gf}`);
  }
  const rest = rows.length - shown.length;
  if (rest > 0) out.push(`  ${rest} other node${rest === 1 ? '' : 's'}: ${(total - acc).toFixed(2)} ms`);
  return out;
}
