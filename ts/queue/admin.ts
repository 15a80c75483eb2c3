/** What `fcnkit queue` does: counts and failures, retrying the failed, emptying the queue. */
import { openQueue, unreachable } from './connection';
import type { OpenQueue, QueueConnection } from './connection';
import { DEFAULT_QUEUE_NAME } from './job';

export const JOB_STATES = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface FailedJob {
  id: string;
  input: string | undefined;
  /** "CODE: message" as the worker failed it. */
  reason: string;
  attempts: number;
  finishedOn: number | undefined;
}

export interface QueueStatus {
  queue: string;
  counts: Record<JobState, number>;
  /** The failed jobs, newest first, at most `failedLimit`. */
  failed: FailedJob[];
}

async function withQueue<T>(connection: QueueConnection, name: string | undefined, f: (q: OpenQueue) => Promise<T>): Promise<T> {
  const q = await openQueue(connection, name ?? DEFAULT_QUEUE_NAME);
  try {
    return await f(q);
  } catch (err) {
    throw unreachable(q.where, err);
  } finally {
    await q.close();
  }
}

export function queueStatus(connection: QueueConnection, options: { queue?: string; failedLimit?: number } = {}): Promise<QueueStatus> {
  return withQueue(connection, options.queue, async ({ queue }) => {
    const raw = await queue.getJobCounts(...JOB_STATES);
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, raw[s] ?? 0])) as Record<JobState, number>;
    const limit = Math.max(0, options.failedLimit ?? 100);
    const jobs = limit > 0 ? await queue.getFailed(0, limit - 1) : [];
    const failed = jobs.filter(Boolean).map((j) => ({
      id: String(j.id),
      input: (j.data as { input?: string } | undefined)?.input,
      reason: j.failedReason ?? '',
      attempts: j.attemptsMade,
      finishedOn: j.finishedOn,
    }));
    return { queue: queue.name, counts, failed };
  });
}

/** Moves every failed job back to waiting (their tries start again); returns how many. */
export function retryFailed(connection: QueueConnection, options: { queue?: string } = {}): Promise<number> {
  return withQueue(connection, options.queue, async ({ queue }) => {
    const n = await queue.getFailedCount();
    if (n > 0) await queue.retryJobs({ state: 'failed', count: 1000 });
    return n;
  });
}

/**
 * Empties the queue: waiting, delayed, completed and failed jobs are removed (so enqueueing the
 * same photos adds them again); jobs being worked on finish. Returns the counts removed.
 */
export function drainQueue(connection: QueueConnection, options: { queue?: string } = {}): Promise<Record<'waiting' | 'delayed' | 'completed' | 'failed', number>> {
  return withQueue(connection, options.queue, async ({ queue }) => {
    const before = await queue.getJobCounts('waiting', 'delayed', 'prioritized');
    await queue.drain(true);
    let completed = 0;
    let failed = 0;
    for (;;) {
      const c = (await queue.clean(0, 10000, 'completed')).length;
      const f = (await queue.clean(0, 10000, 'failed')).length;
      completed += c;
      failed += f;
      if (c === 0 && f === 0) break;
    }
    return { waiting: (before.waiting ?? 0) + (before.prioritized ?? 0), delayed: before.delayed ?? 0, completed, failed };
  });
}
