/**
 * InferenceSession: a trained model file (ONNX, Caffe prototxt + caffemodel, TFLite) run natively.
 *
 *   const session = await InferenceSession.create('fcn8s.onnx');
 *   const { score } = await session.run({ input: tensor });
 *
 * The format is recognised from the content. The importer turns the file into an ImportedGraph
 * once; each new set of input shapes then gets its GraphSpec (shape subgraphs folded) compiled
 * into a native plan, kept in a small least-recently-used cache, and every run is one native call
 * off the JS thread. Runs may overlap; a plan is shared by concurrent runs.
 *
 * Contract with the importers: GraphSpec.inputs carry the ImportedGraph's input names, and
 * spec.outputs[i] is the value returned as ImportedGraph.outputs[i].
 */
import { FILE_LIMITS, readOptionalRegularFile, readRegularFile } from './io/safe-file';
import * as path from 'node:path';
import { describe, FcnkitError, invalidArgument, toFcnkitError } from './errors';
import { shapeKey } from './graph/compiled';
import { compileOn, DEVICES, resolveDevice } from './device';
import type { Device, DeviceGraph, DeviceOptions, Precision, ResolvedDevice } from './device';
import type { Model } from './graph/model';
import { Tensor } from './tensor';
import type { Dim, ImportedGraph, ImportedTensorInfo, ModelFormat } from './io/imported';
import { MODEL_FORMATS } from './io/imported';
import { importOnnx } from './io/onnx-import';

/** A model file's path, its bytes, or a Caffe pair (each a path or bytes). */
export type ModelSource = string | Uint8Array | { prototxt: string | Uint8Array; caffemodel?: string | Uint8Array };

export interface SessionOptions extends DeviceOptions {
  /**
   * 'cpu' (default) or 'cuda': the whole plan on the GPU (weights uploaded once, activations in a
   * device arena). 'cuda' without a usable GPU is CUDA_UNAVAILABLE (with the reason); a model with
   * an op the GPU lacks (Gemm, MatMul) is UNSUPPORTED_OP on 'cuda'. See `precision`.
   */
  device?: Device;
  /** Default cap on the core's threads per run (a run's own `threads` wins). */
  threads?: number;
  /** Fixes dynamic input dims, by input name (full shapes). Runs must then use these shapes. */
  inputShapes?: Record<string, number[]>;
  /** Skips format detection. */
  format?: ModelFormat;
  /** Compiled input sizes kept (each holds its own packed weights). Default 4. */
  maxPlans?: number;
}

export interface SessionRunOptions {
  /** Aborting rejects the run with FcnkitError ABORTED (it stops between nodes). */
  signal?: AbortSignal;
  /** Caps the core's threads for this run. */
  threads?: number;
  /** This run's memory budget in bytes (default: the session's memoryBudgetBytes). */
  memoryBudgetBytes?: number;
}

export interface TensorMetadata {
  name: string;
  dtype: 'float32' | 'int32';
  /** Sizes, symbolic names ('H', 'batch') for dynamic dims, null where unnamed and unknown. */
  shape: Dim[];
}

const DEFAULT_MAX_PLANS = 4;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The protobuf tags a serialized ModelProto can start with (fields 1-8 and 14). */
const ONNX_FIRST_BYTES = new Set([0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72]);

/**
 * The format of a model's bytes: 'tflite' (the 'TFL3' file identifier at bytes 4..8), 'caffe'
 * (a prototxt: text with `layer {` / `input:`), 'onnx' (a protobuf ModelProto), or undefined.
 */
export function detectModelFormat(bytes: Uint8Array): ModelFormat | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return undefined;
  if (bytes.length >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33) return 'tflite';
  const head = bytes.subarray(0, Math.min(bytes.length, 4096));
  if (looksLikeText(head)) {
    const t = utf8.decode(head);
    if (/(^|\n)\s*(layers?|input|input_shape|input_dim|name)\s*[:{]/.test(t) || /\blayers?\s*\{/.test(t)) return 'caffe';
    return undefined;
  }
  if (ONNX_FIRST_BYTES.has(bytes[0])) return 'onnx';
  return undefined;
}

function looksLikeText(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 127)) continue;
    return false;
  }
  return true;
}

async function readBytes(file: string, what: string): Promise<Uint8Array> {
  return readRegularFile(file, { what, maxBytes: FILE_LIMITS.model });
}

/** An importer written by another part of fcnkit, loaded only when needed. */
function lazyImporter<T>(module: string, fn: string, what: string): T {
  let mod: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(module) as Record<string, unknown>;
  } catch (err) {
    if ((err as { code?: string }).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(module.replace('./', ''))) {
      throw new FcnkitError('UNSUPPORTED_OP', `${what} importer not available in this build of fcnkit`);
    }
    throw err;
  }
  if (typeof mod[fn] !== 'function') throw new FcnkitError('UNSUPPORTED_OP', `${what} importer not available in this build of fcnkit`);
  return mod[fn] as T;
}

interface Entry {
  compiled: DeviceGraph;
  outputs: string[];
  /** Runs using it now: an entry evicted from the cache is disposed when the last one ends. */
  active: number;
  evicted: boolean;
}

export class InferenceSession {
  readonly format: ModelFormat;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly TensorMetadata[];
  readonly outputMetadata: readonly TensorMetadata[];
  private imported: ImportedGraph | undefined;
  private readonly threads: number | undefined;
  private readonly maxPlans: number;
  private readonly target: ResolvedDevice;
  private readonly entries = new Map<string, Entry>();

  private constructor(imported: ImportedGraph, options: SessionOptions) {
    const g = imported as Partial<ImportedGraph> | null;
    if (typeof g !== 'object' || g === null || typeof g.specFor !== 'function' || !Array.isArray(g.inputs) || !Array.isArray(g.outputs) ||
      typeof options !== 'object' || options === null) {
      throw new FcnkitError('INVALID_ARGUMENT', 'an InferenceSession is made by InferenceSession.create(source, options), not new InferenceSession()');
    }
    this.imported = imported;
    this.format = imported.format;
    this.threads = options.threads;
    this.target = resolveDevice(options);
    this.maxPlans = options.maxPlans ?? DEFAULT_MAX_PLANS;
    const fixed = options.inputShapes ?? {};
    const meta = (t: ImportedTensorInfo, shape?: readonly number[]): TensorMetadata =>
      Object.freeze({ name: t.name, dtype: t.dtype, shape: Object.freeze([...(shape ?? t.shape)]) as Dim[] });
    for (const name of Object.keys(fixed)) {
      if (!imported.inputs.some((i) => i.name === name)) {
        throw new FcnkitError('INVALID_ARGUMENT', `inputShapes: the model has no input '${name}' (its inputs are ${imported.inputs.map((i) => `'${i.name}'`).join(', ')})`);
      }
    }
    this.inputMetadata = Object.freeze(imported.inputs.map((i) => {
      const want = fixed[i.name];
      if (want && i.shape.length && (want.length !== i.shape.length || i.shape.some((d, k) => typeof d === 'number' && d !== want[k]))) {
        throw new FcnkitError('SHAPE_MISMATCH', `inputShapes['${i.name}'] [${want.join(', ')}] does not fit the model's input [${i.shape.map((d) => d ?? '?').join(', ')}]`);
      }
      return meta(i, want);
    }));
    this.outputMetadata = Object.freeze(imported.outputs.map((o) => meta(o)));
    this.inputNames = Object.freeze(imported.inputs.map((i) => i.name));
    this.outputNames = Object.freeze(imported.outputs.map((o) => o.name));
  }

  /**
   * Loads a model: a path, bytes, or `{ prototxt, caffemodel }`. A Caffe prototxt path finds
   * its weights beside it (same name, `.caffemodel`). ONNX external data is read from the
   * model's folder (for bytes: none, so such models must be given by path).
   */
  static async create(source: ModelSource, options: SessionOptions = {}): Promise<InferenceSession> {
    const callSite = new Error();
    try {
      const o = checkOptions(options);
      resolveDevice(o); // CUDA_UNAVAILABLE before reading a big file
      const imported = await InferenceSession.importSource(source, o);
      const session = new InferenceSession(imported, o);
      session.checkDeviceOps();
      return session;
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  private static async importSource(source: ModelSource, o: SessionOptions): Promise<ImportedGraph> {
    let bytes: Uint8Array;
    let file: string | undefined;
    let caffemodel: Uint8Array | undefined;
    if (typeof source === 'string') {
      if (source.length === 0) throw invalidArgument('InferenceSession.create source', 'a model path, bytes or { prototxt, caffemodel }', source);
      file = path.resolve(source);
      bytes = await readBytes(file, 'model');
    } else if (source instanceof Uint8Array) {
      bytes = source;
    } else if (typeof source === 'object' && source !== null && 'prototxt' in source) {
      const p = source.prototxt;
      if (typeof p === 'string') {
        file = path.resolve(p);
        bytes = await readBytes(file, 'prototxt');
      } else if (p instanceof Uint8Array) bytes = p;
      else throw invalidArgument('prototxt', 'a path or bytes', p);
      const m = source.caffemodel;
      if (typeof m === 'string') caffemodel = await readBytes(path.resolve(m), 'caffemodel');
      else if (m instanceof Uint8Array) caffemodel = m;
      else if (m !== undefined) throw invalidArgument('caffemodel', 'a path or bytes', m);
      if (o.format !== undefined && o.format !== 'caffe') throw new FcnkitError('INVALID_ARGUMENT', `{ prototxt, caffemodel } is a Caffe model but format '${o.format}' was given`);
      o = { ...o, format: 'caffe' };
    } else {
      throw invalidArgument('InferenceSession.create source', 'a model path, bytes or { prototxt, caffemodel }', source);
    }
    const format = o.format ?? detectModelFormat(bytes);
    if (!format) {
      const hint = bytes.length > 0 && bytes[0] === 0x0a ? ' (a binary Caffe caffemodel? pass { prototxt, caffemodel })' : '';
      throw new FcnkitError('BAD_MODEL', `unrecognised model format${file ? ` of '${file}'` : ''}: expected ONNX, TFLite or a Caffe prototxt${hint}`);
    }
    switch (format) {
      case 'onnx':
        return importOnnx(bytes, { baseDir: file ? path.dirname(file) : undefined, inputShapes: o.inputShapes });
      case 'tflite': {
        const importTflite = lazyImporter<(b: Uint8Array) => ImportedGraph>('./io/tflite-import', 'importTflite', 'TFLite');
        return importTflite(bytes);
      }
      case 'caffe': {
        const importCaffe = lazyImporter<(prototxt: string, caffemodel?: Uint8Array) => ImportedGraph>('./io/caffe-import', 'importCaffe', 'Caffe');
        if (!caffemodel && file) {
          const sibling = file.replace(/\.(prototxt|pbtxt|txt)$/i, '') + '.caffemodel';
          caffemodel = await readOptionalRegularFile(sibling, { what: 'caffemodel', maxBytes: FILE_LIMITS.model });
        }
        return importCaffe(new TextDecoder().decode(bytes), caffemodel);
      }
    }
  }

  get disposed(): boolean {
    return this.imported === undefined;
  }

  /** Where the session runs: 'cpu' or 'cuda'. */
  get device(): Device {
    return this.target.device;
  }

  /** The convolutions' arithmetic ('fp32' on the CPU). */
  get precision(): Precision {
    return this.target.precision;
  }

  /** Runs the model off the JS thread; resolves to the outputs by name. */
  async run(feeds: Record<string, Tensor>, options: SessionRunOptions = {}): Promise<Record<string, Tensor>> {
    const callSite = new Error();
    try {
      const { entry, inputs } = this.prepare(feeds);
      entry.active++;
      try {
        return this.pick(entry, await entry.compiled.run(inputs, this.runOptions(options)));
      } finally {
        this.release(entry);
      }
    } catch (err) {
      throw toFcnkitError(err, callSite);
    }
  }

  /** run() on the calling thread (blocks the event loop: for scripts and small models). */
  runSync(feeds: Record<string, Tensor>, options: Pick<SessionRunOptions, 'threads' | 'memoryBudgetBytes'> = {}): Record<string, Tensor> {
    try {
      const { entry, inputs } = this.prepare(feeds);
      const { threads, memoryBudgetBytes } = this.runOptions(options);
      return this.pick(entry, entry.compiled.runSync(inputs, { threads, ...(memoryBudgetBytes !== undefined ? { memoryBudgetBytes } : {}) }));
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /**
   * The network as a Model (parameters by the file's tensor names, exportOnnx, loadWeights)
   * when every node maps to a GraphBuilder layer; undefined otherwise (ops without a layer,
   * such as Resize, Sigmoid or Gemm over a dynamic input, or shapes the builder cannot express).
   * Each call makes a new Model with its own copy of the weights.
   */
  toModel(): Model | undefined {
    const imported = this.live();
    try {
      return imported.toModel?.();
    } catch (err) {
      throw toFcnkitError(err);
    }
  }

  /** Frees the native plans now; runs in flight finish first. Later calls throw INVALID_ARGUMENT. */
  dispose(): void {
    for (const e of this.entries.values()) e.compiled.dispose();
    this.entries.clear();
    this.imported = undefined;
  }

  // ---- internals ------------------------------------------------------------------------------

  /**
   * On 'cuda', an op without a CUDA kernel is UNSUPPORTED_OP at create, not at the first run:
   * compiled now when every input shape is known (fixed by the model or by inputShapes).
   */
  private checkDeviceOps(): void {
    if (this.target.device === 'cpu') return;
    const shapes: Record<string, number[]> = {};
    for (const m of this.inputMetadata) {
      if (!m.shape.length || m.shape.some((d) => typeof d !== 'number')) return;
      shapes[m.name] = m.shape as number[];
    }
    try {
      this.entryFor(shapes);
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  private live(): ImportedGraph {
    if (!this.imported) throw new FcnkitError('INVALID_ARGUMENT', 'session was disposed');
    return this.imported;
  }

  private runOptions(options: unknown): SessionRunOptions {
    if (options === undefined || options === null) return { threads: this.threads };
    if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgument('run options', 'an object', options);
    const { signal, threads, memoryBudgetBytes } = options as SessionRunOptions;
    return { signal, threads: threads ?? this.threads, ...(memoryBudgetBytes !== undefined ? { memoryBudgetBytes } : {}) };
  }

  private prepare(feeds: unknown): { entry: Entry; inputs: Record<string, Tensor> } {
    this.live();
    if (typeof feeds !== 'object' || feeds === null || Array.isArray(feeds) || feeds instanceof Tensor) {
      throw invalidArgument('run feeds', `an object of Tensors by input name (${this.inputNames.map((n) => `'${n}'`).join(', ')})`, feeds);
    }
    const rec = feeds as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      if (!this.inputNames.includes(k)) {
        throw new FcnkitError('INVALID_ARGUMENT', `the model has no input '${k}' (its inputs are ${this.inputNames.map((n) => `'${n}'`).join(', ')})`);
      }
    }
    const inputs: Record<string, Tensor> = {};
    const shapes: Record<string, number[]> = {};
    for (const meta of this.inputMetadata) {
      const t = rec[meta.name];
      if (t === undefined) throw new FcnkitError('INVALID_ARGUMENT', `missing input '${meta.name}' (shape [${meta.shape.map((d) => d ?? '?').join(', ')}])`);
      if (!(t instanceof Tensor) || t.dtype !== 'float32') {
        throw new FcnkitError('INVALID_ARGUMENT', `Expected a float32 Tensor for input '${meta.name}' but received ${t instanceof Tensor ? t.toString() : describe(t)}`);
      }
      if (meta.shape.length && (t.rank !== meta.shape.length || meta.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i]))) {
        throw new FcnkitError('SHAPE_MISMATCH', `input '${meta.name}': expected shape [${meta.shape.map((d) => d ?? '?').join(', ')}] but received [${t.shape.join(', ')}]`);
      }
      inputs[meta.name] = t;
      shapes[meta.name] = [...t.shape];
    }
    return { entry: this.entryFor(shapes), inputs };
  }

  /** The compiled graph for these input shapes (made and cached when new). */
  private entryFor(shapes: Record<string, number[]>): Entry {
    const imported = this.live();
    const key = shapeKey(this.inputNames.map((n) => shapes[n]));
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
    } else {
      const spec = imported.specFor(shapes);
      entry = { compiled: compileOn(spec, this.target, 1), outputs: [...spec.outputs], active: 0, evicted: false };
      for (const [oldKey, old] of this.entries) {
        if (this.entries.size < this.maxPlans) break;
        this.entries.delete(oldKey);
        old.evicted = true;
        this.release(old, 0);
      }
    }
    this.entries.set(key, entry);
    return entry;
  }

  private release(entry: Entry, by = 1): void {
    entry.active -= by;
    if (entry.evicted && entry.active === 0) entry.compiled.dispose();
  }

  private pick(entry: Entry, res: Record<string, Tensor>): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.outputNames.forEach((name, i) => {
      out[name] = res[entry.outputs[i]];
    });
    return out;
  }
}

function checkOptions(options: unknown): SessionOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgument('InferenceSession options', 'an object', options);
  const o = options as SessionOptions;
  if (o.device !== undefined && !(DEVICES as readonly unknown[]).includes(o.device)) {
    throw invalidArgument('device', DEVICES.map((d) => `'${d}'`).join(' or '), o.device);
  }
  if (o.threads !== undefined && (!Number.isSafeInteger(o.threads) || o.threads < 1)) throw invalidArgument('threads', 'an integer >= 1', o.threads);
  if (o.maxPlans !== undefined && (!Number.isSafeInteger(o.maxPlans) || o.maxPlans < 1)) throw invalidArgument('maxPlans', 'an integer >= 1', o.maxPlans);
  if (o.format !== undefined && !(MODEL_FORMATS as readonly unknown[]).includes(o.format)) {
    throw invalidArgument('format', MODEL_FORMATS.map((f) => `'${f}'`).join(', '), o.format);
  }
  if (o.inputShapes !== undefined) {
    if (typeof o.inputShapes !== 'object' || o.inputShapes === null || Array.isArray(o.inputShapes)) {
      throw invalidArgument('inputShapes', 'an object of shapes by input name', o.inputShapes);
    }
    for (const [k, v] of Object.entries(o.inputShapes)) {
      if (!Array.isArray(v) || v.some((d) => !Number.isSafeInteger(d) || d < 1)) throw invalidArgument(`inputShapes['${k}']`, 'an array of positive integers', v);
    }
  }
  return o;
}
