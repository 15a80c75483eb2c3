/**
 * The models a queue worker holds: each loaded once (weights in one native shared model, plans
 * per input shape) with its own runner (worker threads attached to it, or the CUDA model on this
 * thread), the same machinery as `fcnkit segment`. A small LRU: a job naming another model loads
 * it, and the least recently used idle one is released when there are more than `max`.
 */
import { FcnkitError } from '../errors';
import type { PresetName } from '../io/image';
import type { ResolvedDevice } from '../device';
import { native } from '../native';
import type { NativeSharedModel } from '../native';
import { CudaSegmentModel } from '../cli/cuda-model';
import { imageInput, loadCliModel } from '../cli/model';
import type { CliModel } from '../cli/model';
import { localRunner, poolRunner, specService } from '../cli/segment';
import type { Runner } from '../cli/segment';
import type { SegmentConfig, SegmentDone, SegmentTask } from '../cli/segment-core';
import type { FromWorker } from '../cli/segment-worker';

export interface ModelCacheOptions {
  /** Models kept loaded (default 2). */
  max: number;
  /** Worker threads per model on the CPU (0: the calling thread). */
  workers: number;
  /** Threads per model run. */
  threads: number;
  device: ResolvedDevice;
  /** Told when a model is loaded or released. */
  onChange?: (e: { type: 'model-loaded'; model: string; preset?: PresetName } | { type: 'model-released'; model: string; preset?: PresetName }) => void;
}

/** One loaded model and what runs it. */
export class ModelSlot {
  users = 0;
  lastUsed = Date.now();
  /** A worker thread died: the slot is replaced on next use. */
  broken = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (d: SegmentDone) => void; reject: (e: FcnkitError) => void }>();

  private constructor(
    readonly key: string,
    readonly model: CliModel,
    private readonly shared: { release(): void },
    private runner: Runner,
  ) {}

  static async load(key: string, modelName: string, preset: PresetName | undefined, o: ModelCacheOptions): Promise<ModelSlot> {
    const model = await loadCliModel(modelName, preset);
    const input = imageInput(model.imported);
    const cuda = o.device.device === 'cuda' ? new CudaSegmentModel(model.imported, input.name, o.device) : undefined;
    const shared = cuda ?? new (native().SharedModel)();
    try {
      const ensureSpec = cuda
        ? (shape: number[]) => cuda.ensure(shape)
        : specService(model, shared as NativeSharedModel, input.name, o.device.precision === 'bf16' ? 'bf16' : 'fp32');
      if (input.height !== null && input.width !== null && input.channels !== null) await ensureSpec([1, input.channels, input.height, input.width]);
      // Every task carries its own settings; this is only the runner's default.
      const base: SegmentConfig = { outDir: '.', formats: ['labels'], threshold: 0.5, threads: o.threads, preprocessing: model.preprocessing };
      let slot: ModelSlot | undefined;
      const onMessage = (m: FromWorker): void => slot?.settle(m);
      const runner = o.workers === 0 || cuda
        ? localRunner(base, shared, ensureSpec, onMessage)
        : poolRunner(o.workers, { sharedId: (shared as NativeSharedModel).id as number, config: base }, shared as NativeSharedModel, ensureSpec, onMessage);
      slot = new ModelSlot(key, model, shared, runner);
      return slot;
    } catch (err) {
      shared.release();
      throw err;
    }
  }

  run(file: string, name: string, config: SegmentConfig): Promise<SegmentDone> {
    const id = this.nextId++;
    const task: SegmentTask = { id, file, name, config };
    return new Promise<SegmentDone>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.runner.submit(task);
    });
  }

  private settle(m: FromWorker): void {
    if (m.type !== 'done' && m.type !== 'failed') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'done') {
      p.resolve({ id: m.id, outputs: m.outputs, width: m.width, height: m.height, classes: m.classes, ms: m.ms });
      return;
    }
    // The runner reports a dead worker thread as a failure of its tasks: not the photo's fault.
    const threadGone = /^(worker thread ended|no worker left)/.test(m.error.message);
    if (threadGone) this.broken = true;
    const code = threadGone ? 'ABORTED' : (m.error.code as FcnkitError['code']);
    p.reject(new FcnkitError(code, m.error.message));
  }

  /** Waits for its tasks, then frees the threads and the native model. */
  async close(): Promise<void> {
    await this.runner.close();
    this.shared.release();
  }
}

export class ModelCache {
  private readonly slots = new Map<string, Promise<ModelSlot>>();

  constructor(private readonly o: ModelCacheOptions) {}

  /** The slot for (model, preset), loaded on first use; release() it when the job is done. */
  async acquire(model: string, preset: PresetName | undefined): Promise<{ slot: ModelSlot; release: () => void }> {
    const key = JSON.stringify([model, preset ?? null]);
    let p = this.slots.get(key);
    if (p) {
      const s = await p.catch(() => undefined);
      if (!s || s.broken) {
        if (this.slots.get(key) === p) this.slots.delete(key);
        if (s && s.users === 0) void s.close();
        p = undefined;
      }
    }
    if (!p) {
      p = ModelSlot.load(key, model, preset, this.o).then((s) => {
        this.o.onChange?.({ type: 'model-loaded', model, preset });
        return s;
      });
      this.slots.set(key, p);
      // A model that fails to load is not kept: the next job tries again.
      p.catch(() => this.slots.get(key) === p && this.slots.delete(key));
    }
    const slot = await p;
    slot.users++;
    slot.lastUsed = Date.now();
    let released = false;
    return {
      slot,
      release: () => {
        if (released) return;
        released = true;
        slot.users--;
        slot.lastUsed = Date.now();
        // A broken slot already replaced in the map is freed by its last user.
        if (slot.broken && slot.users === 0 && this.slots.get(key) !== p) void slot.close();
        void this.evict();
      },
    };
  }

  /** Releases idle models beyond `max`, least recently used first. */
  private async evict(): Promise<void> {
    const loaded: ModelSlot[] = [];
    for (const p of this.slots.values()) {
      const s = await p.catch(() => undefined);
      if (s) loaded.push(s);
    }
    const idle = loaded.filter((s) => s.users === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    let excess = loaded.length - this.o.max;
    for (const s of idle) {
      if (excess-- <= 0) break;
      this.slots.delete(s.key);
      await s.close();
      const [model, preset] = JSON.parse(s.key) as [string, PresetName | null];
      this.o.onChange?.({ type: 'model-released', model, preset: preset ?? undefined });
    }
  }

  /** How many models are loaded (for tests and status lines). */
  get size(): number {
    return this.slots.size;
  }

  /** Frees every model (their tasks finish first). */
  async close(): Promise<void> {
    const all = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}
