/**
 * A `fcnkit segment` worker thread. It attaches to the model the main thread loaded (one native
 * copy of the weights and of each compiled plan for the whole process: see
 * binding/shared_model.cc) and processes the images the main thread hands it, a couple at a
 * time so that decoding the next overlaps running this one.
 *
 * Messages in:  { type: 'task', task } | { type: 'spec', key, error? } | { type: 'stop' }
 * Messages out: { type: 'done', id, result } | { type: 'failed', id, error } | { type: 'need-spec', key, shape }
 *               | { type: 'stopped' }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FcnkitError } from '../errors';
import { removeTempFiles } from '../io/atomic-write';
import { native } from '../native';
import { SegmentEngine } from './segment-core';
import type { SegmentConfig, SegmentTask } from './segment-core';

export interface WorkerInit {
  sharedId: number;
  config: SegmentConfig;
}

export type ToWorker =
  | { type: 'task'; task: SegmentTask }
  | { type: 'spec'; key: string; error?: { code: string; message: string } }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'done'; id: number; outputs: string[]; width: number; height: number; classes: number; ms: number }
  | { type: 'failed'; id: number; error: { code: string; message: string } }
  | { type: 'need-spec'; key: string; shape: number[] }
  | { type: 'stopped' };

export function shapeKey(shape: readonly number[]): string {
  return shape.join('x');
}

function start(): void {
  const port = parentPort;
  if (!port) return;
  const init = workerData as WorkerInit;
  const model = native().SharedModel.attach(init.sharedId);
  const controller = new AbortController();
  const inFlight = new Set<Promise<void>>();
  const specWaiters = new Map<string, { resolve: () => void; reject: (e: Error) => void; promise: Promise<void> }>();
  const send = (m: FromWorker): void => port.postMessage(m);

  const ensureSpec = (shape: number[]): Promise<void> => {
    if (model.hasSpec([shape])) return Promise.resolve();
    const key = shapeKey(shape);
    let w = specWaiters.get(key);
    if (!w) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      w = { resolve, reject, promise };
      specWaiters.set(key, w);
      send({ type: 'need-spec', key, shape });
    }
    return w.promise;
  };

  const engine = new SegmentEngine(init.config, model, ensureSpec);

  port.on('message', (m: ToWorker) => {
    if (m.type === 'task') {
      const p = engine
        .process(m.task, controller.signal)
        .then(
          (r) => send({ type: 'done', id: r.id, outputs: r.outputs, width: r.width, height: r.height, classes: r.classes, ms: r.ms }),
          (err: unknown) => {
            const e = err as Error & { code?: string };
            send({ type: 'failed', id: m.task.id, error: { code: e instanceof FcnkitError ? e.code : (e.code ?? 'INVALID_ARGUMENT'), message: e.message } });
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    } else if (m.type === 'spec') {
      const w = specWaiters.get(m.key);
      if (!w) return;
      specWaiters.delete(m.key);
      if (m.error) w.reject(new FcnkitError(m.error.code as 'BAD_MODEL', m.error.message));
      else w.resolve();
    } else if (m.type === 'stop') {
      controller.abort();
      model.abort();
      for (const w of specWaiters.values()) w.reject(new FcnkitError('ABORTED', 'stopped'));
      specWaiters.clear();
      // Writes already started finish (they are atomic); nothing new starts.
      void Promise.allSettled([...inFlight]).then(() => {
        removeTempFiles();
        model.release();
        send({ type: 'stopped' });
      });
    }
  });
}

start();
