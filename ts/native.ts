/** The one typed view of the native addon. Nothing else in ts/ touches `require` of the binary. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from './errors';
import type { GraphSpec } from './graph/spec';

export interface NativeTensor {
  data: Float32Array | Int32Array;
  shape: readonly number[];
}

export type NativeAttrs = Record<string, number | boolean | string | number[] | undefined>;

export interface NativeBackendInfo {
  isa: 'ref' | 'avx2' | 'avx512';
  isaNote?: string;
  bestIsa: 'ref' | 'avx2' | 'avx512';
  threads: number;
  /** Physical memory (or the cgroup's limit when smaller), 0 when unknown. */
  physicalMemoryBytes: number;
  /** A run's memory budget when none is set: 3/4 of physicalMemoryBytes. */
  defaultMemoryBudgetBytes: number;
  cuda: NativeCudaInfo;
  /**
   * precision 'bf16' on the CPU: `available` where the CPU has AVX512-BF16 and the avx512 ISA is
   * active, else `reason` says what is missing. `avx512Bf16` / `amxBf16`: the CPU's (and OS's)
   * features, whatever FCNKIT_ISA says.
   */
  bf16: { available: boolean; reason?: string; avx512Bf16: boolean; amxBf16: boolean };
}

/** A GPU the CUDA backend sees (backendInfo().cuda.devices). */
export interface NativeCudaDevice {
  name: string;
  /** "8.0", "9.0", ... */
  computeCapability: string;
  memoryBytes: number;
  multiprocessors: number;
}

/**
 * backendInfo().cuda. `compiled`: this build has build/Release/libfcnkit_cuda.so (nvcc was found).
 * `reason` when not available: 'this build has no CUDA backend', 'no NVIDIA driver (libcuda.so.1
 * not found)', 'driver too old for the CUDA 13 runtime', 'no CUDA device', or a rarer one;
 * `detail` says more. See binding/cuda_graph.cc and cpp/cuda/backend.h.
 */
export interface NativeCudaInfo {
  compiled: boolean;
  available: boolean;
  reason?: string;
  detail?: string;
  driverCudaVersion?: string;
  runtimeCudaVersion?: string;
  devices?: NativeCudaDevice[];
}

/** A compiled plan: one graph at fixed input shapes, weights packed, activations planned. */
export interface NativePlan {
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly inputShapes: number[][];
  readonly outputShapes: number[][];
  /** Bytes one run allocates: intermediates (with reuse) plus the shared op workspace. */
  readonly arenaBytes: number;
  /** What one run holds at most (packed weights + arena + outputs), checked against the budget. */
  readonly runBytes: number;
  /** What the same would take with every intermediate in its own buffer. */
  readonly unsharedBytes: number;
  readonly workspaceBytes: number;
  /** The most threads a run may use. */
  readonly threads: number;
  readonly disposed: boolean;
  /** Inputs in inputNames order, with exactly inputShapes; outputs in outputNames order. */
  /**
   * Async runs hold copies of their inputs (binding/convert.h): transferring or changing the
   * arrays while the run is in flight cannot affect it. memoryBudgetBytes: this run's budget
   * (default: the plan's); TOO_LARGE, before allocating, when the plan needs more.
   */
  run(inputs: NativeTensor[], threads?: number, abortToken?: NativeAbortToken, memoryBudgetBytes?: number): Promise<NativeTensor[]>;
  /** Reads the inputs in place (nothing else runs on this thread meanwhile). */
  runSync(inputs: NativeTensor[], threads?: number, memoryBudgetBytes?: number): NativeTensor[];
  /** runSync, timing each node (wall clock, ms), in plan order. */
  profileSync(inputs: NativeTensor[], threads?: number): { outputs: NativeTensor[]; steps: Array<{ name: string; ms: number }> };
  /** Frees the plan now; runs in flight finish first. Later calls throw INVALID_ARGUMENT. */
  dispose(): void;
}

export interface NativeGraph {
  readonly disposed: boolean;
  /**
   * Compiles for these shapes, checked against memoryBudgetBytes (default: 3/4 of physical
   * memory): TOO_LARGE, naming the node or value and the sizes, before anything is allocated.
   */
  plan(inputShapes: number[][], threads?: number, memoryBudgetBytes?: number): NativePlan;
  /** Compiles (and packs weights) off the JS thread. */
  planAsync(inputShapes: number[][], threads?: number, memoryBudgetBytes?: number): Promise<NativePlan>;
  /** Drops the graph; plans already made keep working until disposed. */
  dispose(): void;
}

/** Stops the runs it is given to between nodes (and inside ops at chunk boundaries). */
export interface NativeAbortToken {
  readonly aborted: boolean;
  abort(): void;
}

/**
 * One loaded model shared by every environment of the process (main thread and worker_threads):
 * constants copied once into native memory, one compiled plan per input shapes for all of them.
 * See binding/shared_model.cc.
 */
export interface NativeValueInfo {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  constant: boolean;
}

export interface NativeSharedModel {
  /** Process-wide id: `SharedModel.attach(id)` in a worker gives the same model. null once released. */
  readonly id: number | null;
  readonly released: boolean;
  /** The graph for these input shapes (null: any shapes). Returns the bytes of constants newly copied. */
  addSpec(inputShapes: number[][] | null, spec: GraphSpec): number;
  hasSpec(inputShapes: number[][]): boolean;
  /** Compiles for the inputs' shapes if no run has yet (in any environment), then runs, off the JS thread. */
  run(inputs: NativeTensor[], threads?: number, ticket?: number): Promise<Array<NativeTensor & { name: string }>>;
  /** Aborts this environment's run with that ticket (all of them when none is given). */
  abort(ticket?: number): void;
  /** The compiled plan at these shapes, node by node (compiled on this thread if new). */
  describe(inputShapes: number[][]): {
    steps: Array<{ name: string; type: string; inputs: NativeValueInfo[]; outputs: NativeValueInfo[] }>;
    arenaBytes: number;
    workspaceBytes: number;
    outputShapes: number[][];
  };
  stats(): { constantBytes: number; constants: number; specs: number; plans: number; compiles: number; holders: number };
  /** Drops this environment's hold; the model is freed with the last hold. */
  release(): void;
}

export interface NativeCudaGraphOptions {
  /** 'fp32' (default, exact FFMA), 'tf32' or 'bf16' (tensor cores in the convolutions). */
  precision?: 'fp32' | 'tf32' | 'bf16';
  /** Which GPU (default 0). */
  deviceIndex?: number;
  /** @internal Run the device steps on the CPU (cpp/cuda/emulate.cc), for tests. */
  emulate?: boolean;
}

/** One graph at fixed input shapes on the GPU (binding/cuda_graph.cc). */
export interface NativeCudaPlan {
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly inputShapes: number[][];
  readonly outputShapes: number[][];
  /** Device bytes one run allocates (activations, inputs and outputs). */
  readonly arenaBytes: number;
  /** The device steps, in order: node label and kernel kind. */
  readonly steps: Array<{ node: string; kernel: string }>;
  readonly disposed: boolean;
  /** Its own arena and stream: runs may overlap. `ticket` names the run for abort(). */
  run(inputs: NativeTensor[], ticket?: number): Promise<NativeTensor[]>;
  runSync(inputs: NativeTensor[]): NativeTensor[];
  /** Stops the run with that ticket (every run of the plan without one): ABORTED. */
  abort(ticket?: number): void;
  dispose(): void;
}

/** A GraphSpec on the GPU: weights uploaded once; CUDA_UNAVAILABLE where there is no usable GPU. */
export interface NativeCudaGraph {
  readonly disposed: boolean;
  readonly precision: 'fp32' | 'tf32' | 'bf16';
  readonly backend: 'cuda' | 'emulator';
  readonly deviceIndex: number;
  /** Device bytes of the uploaded weights (constants and prepared convolution weights). */
  readonly weightBytes: number;
  plan(inputShapes: number[][]): NativeCudaPlan;
  planAsync(inputShapes: number[][]): Promise<NativeCudaPlan>;
  dispose(): void;
}

export interface NativeAddon {
  SharedModel: { new (): NativeSharedModel; attach(id: number): NativeSharedModel };
  /** Validates a graph spec (INVALID_ARGUMENT, BAD_MODEL, UNSUPPORTED_OP); constants are copied into native memory. */
  Graph: new (spec: GraphSpec) => NativeGraph;
  AbortToken: new () => NativeAbortToken;
  CudaGraph: { new (spec: GraphSpec, options?: NativeCudaGraphOptions): NativeCudaGraph; supportedOpTypes(): string[] };
  backendInfo(): NativeBackendInfo;
  opTypes(): string[];
  /** Single-thread FMA GFLOP/s of the active ISA (a benchmark yardstick). */
  measureFmaPeak(seconds?: number): number;
  /** Outputs and workspace checked against memoryBudgetBytes (default 3/4 of physical memory) first. */
  runOp(type: string, inputs: NativeTensor[], attrs: NativeAttrs, threads?: number, memoryBudgetBytes?: number): Promise<NativeTensor[]>;
  runOpSync(type: string, inputs: NativeTensor[], attrs: NativeAttrs, threads?: number, memoryBudgetBytes?: number): NativeTensor[];
}

/** The package root: dist/.. (holds package.json, prebuilds/ and, in a clone, build/). */
const root = path.join(__dirname, '..');
const BINARY = 'fcnkit.node';
/** What the published package has a binary for (the glibc floor: scripts/check-binary.js). */
const RELEASED_PLATFORM = 'linux-x64';
const RELEASED_FOR = `${RELEASED_PLATFORM} with glibc 2.35 or later`;

// node-gyp-build picks the binary: build/Release/*.node first (a clone), then the best match in
// prebuilds/<platform>-<arch>/ (the published package: prebuildify's Node-API name, fcnkit.node,
// no runtime or ABI tag, so Node 20+ and Electron all take the same file). It picks among the
// `.node` files there by their tags, so an optional backend added later (CUDA) must be a plain
// shared library the addon loads on demand, not a second `.node` file beside this one.
function load(): NativeAddon {
  const platform = `${process.platform}-${process.arch}`;
  if (isMusl()) {
    throw loadError(platform, [], [
      'fcnkit does not support musl libc (Alpine Linux) yet: its binary is built for glibc.',
      'Use a glibc-based image instead, such as node:20-bookworm-slim.',
    ]);
  }
  const tried: string[] = [];
  const candidates: string[] = [];
  let nodeGypBuild: { path(dir: string): string } | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  } catch (err) {
    tried.push(`node-gyp-build (a dependency of fcnkit): ${firstLine(err)}`);
  }
  if (nodeGypBuild) {
    try {
      candidates.push(nodeGypBuild.path(root));
    } catch {
      tried.push(...looked(platform));
    }
  } else {
    // Without node-gyp-build (a copied dist/ and build/), try the two places it would.
    const build = path.join(root, 'build', 'Release', BINARY);
    const prebuild = path.join(root, 'prebuilds', platform, BINARY);
    for (const file of [build, prebuild]) {
      if (fs.existsSync(file)) candidates.push(file);
      else tried.push(`${file}: not found`);
    }
  }
  const hints = new Set<string>();
  for (const file of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(file) as NativeAddon;
    } catch (err) {
      const message = firstLine(err).replace(`${file}: `, ''); // dlopen repeats the path
      tried.push(`${file}: ${message}`);
      hints.add(hintFor(message));
    }
  }
  const shipped = readdir(path.join(root, 'prebuilds'));
  if (!candidates.length) {
    hints.add(
      platform === RELEASED_PLATFORM || shipped.includes(platform)
        ? `No binary found. Installed from the registry: reinstall fcnkit (its package holds prebuilds/${platform}/${BINARY}).` +
            ' In a clone of the repository: build it with `npm run build` (needs cmake and a C++17 compiler).'
        : `fcnkit has no prebuilt binary for ${platform}: it ships one for ${RELEASED_FOR} only, so far` +
            ` (this copy holds prebuilds for: ${shipped.join(', ') || 'none'}). Run it on ${RELEASED_PLATFORM} (a container is fine),` +
            ' or build the addon from a clone of the fcnkit repository (`npm install` there; needs cmake and a C++17 compiler, x86-64).',
    );
  }
  throw loadError(platform, tried, [...hints]);
}

function loadError(platform: string, tried: string[], whatToDo: string[]): FcnkitError {
  const libc = process.platform === 'linux' ? `, ${glibcVersion() ? `glibc ${glibcVersion()}` : isMusl() ? 'musl' : 'libc unknown'}` : '';
  return new FcnkitError(
    'BINARY_LOAD_FAILED',
    [
      `Could not load the fcnkit native module for ${platform}${libc} (Node ${process.version}, Node-API ${process.versions.napi}).`,
      ...(tried.length ? ['Tried:', ...tried.map((t) => `  - ${t}`)] : []),
      ...whatToDo,
    ].join('\n'),
  );
}

/** What node-gyp-build looked at, when it found nothing. */
function looked(platform: string): string[] {
  const out: string[] = [];
  for (const dir of [path.join(root, 'build', 'Release'), path.join(root, 'prebuilds', platform)]) {
    const nodes = readdir(dir).filter((f) => f.endsWith('.node'));
    out.push(`${dir}${path.sep}: ${fs.existsSync(dir) ? (nodes.length ? `holds ${nodes.join(', ')} but none matches` : 'no .node file') : 'not found'}`);
  }
  return out;
}

function hintFor(message: string): string {
  if (/GLIBC_[0-9.]+'? not found/.test(message)) {
    return `This system's glibc (${glibcVersion() ?? 'unknown'}) is older than the binary needs (the version named above): use a newer distribution or image (see the README, "Install, platforms and Electron").`;
  }
  if (/invalid ELF header|wrong ELF class|not a dynamic|file too short|ELF load command/i.test(message)) {
    return 'The file is damaged or built for another platform: reinstall fcnkit.';
  }
  if (/self-register|NODE_MODULE_VERSION|Node-API|napi/i.test(message)) {
    return 'fcnkit needs Node-API 8 or later: Node.js 20 or later, or a current Electron.';
  }
  return 'Reinstall fcnkit; if that does not help, report the lines above.';
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

let reportHeader: { glibcVersionRuntime?: string } | null | undefined;
/** Node's own diagnostic report header (slow to make: tens of ms), made at most once. */
function runtimeHeader(): { glibcVersionRuntime?: string } | null {
  if (reportHeader !== undefined) return reportHeader;
  reportHeader = null;
  // excludeNetwork is Node >= 20.13; older versions ignore it.
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
  if (report?.getReport) {
    const excludeNetwork = report.excludeNetwork;
    try {
      report.excludeNetwork = true; // skips reverse DNS look-ups of open sockets
      reportHeader = ((report.getReport() as { header?: { glibcVersionRuntime?: string } }).header) ?? null;
    } catch {
      reportHeader = null;
    } finally {
      report.excludeNetwork = excludeNetwork;
    }
  }
  return reportHeader;
}

function glibcVersion(): string | undefined {
  return process.platform === 'linux' ? runtimeHeader()?.glibcVersionRuntime : undefined;
}

let musl: boolean | undefined;
/**
 * True when this Node runs on musl libc. Cheap on glibc systems: musl's dynamic loader always sits
 * at /lib/ld-musl-<arch>.so.1, so without one this is not musl and no report is made. With one
 * (Alpine, or a glibc distribution with musl installed beside) Node's report decides: it names
 * the glibc Node runs on, and none under musl.
 */
function isMusl(): boolean {
  if (musl !== undefined) return musl;
  musl = false;
  if (process.platform === 'linux' && readdir('/lib').some((f) => f.startsWith('ld-musl-'))) {
    const header = runtimeHeader();
    musl = header !== null && !header.glibcVersionRuntime;
  }
  return musl;
}

let addon: NativeAddon | undefined;
let loadFailure: FcnkitError | undefined;

/** The addon, loaded on first use. A failure is remembered and thrown again on later calls. */
export function native(): NativeAddon {
  if (addon) return addon;
  if (loadFailure) throw loadFailure;
  try {
    return (addon = load());
  } catch (err) {
    throw (loadFailure = err instanceof FcnkitError ? err : new FcnkitError('BINARY_LOAD_FAILED', firstLine(err), { cause: err }));
  }
}
