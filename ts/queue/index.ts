/**
 * Batch jobs across machines on BullMQ queues in Redis: enqueueSegmentJobs() on one machine,
 * createSegmentWorker() on each that works, queueStatus()/retryFailed()/drainQueue() to watch
 * and manage. BullMQ and ioredis load on first use, not with fcnkit.
 */
import type { EnqueueInput, EnqueueOptions, EnqueueResult } from './enqueue';
import type { QueueConnection } from './connection';
import type { JobState, QueueStatus } from './admin';
import type { SegmentWorker, SegmentWorkerOptions } from './worker';

export { DEFAULT_QUEUE_NAME, segmentJobId, parseQueueUrl, checkJobData } from './job';
export type { SegmentJobData, SegmentJobResult, RedisConnectionOptions } from './job';
export type { EnqueueInput, EnqueueOptions, EnqueueResult, EnqueuedJob } from './enqueue';
export type { QueueConnection } from './connection';
export type { FailedJob, JobState, QueueStatus } from './admin';
export type { SegmentWorker, SegmentWorkerEvent, SegmentWorkerOptions } from './worker';

/* eslint-disable @typescript-eslint/no-require-imports */
/** Starts a worker on the queue (after loading its model); close() it to stop. */
export async function createSegmentWorker(options: SegmentWorkerOptions): Promise<SegmentWorker> {
  return (require('./worker') as typeof import('./worker')).createSegmentWorker(options);
}

/** Adds one job per photo; a photo already enqueued with the same settings is not added again. */
export async function enqueueSegmentJobs(inputs: EnqueueInput[], options: EnqueueOptions): Promise<EnqueueResult> {
  return (require('./enqueue') as typeof import('./enqueue')).enqueueSegmentJobs(inputs, options);
}

/** Job counts by state and the failed jobs with their reasons. */
export async function queueStatus(connection: QueueConnection, options?: { queue?: string; failedLimit?: number }): Promise<QueueStatus> {
  return (require('./admin') as typeof import('./admin')).queueStatus(connection, options);
}

/** Moves the failed jobs back to waiting; returns how many. */
export async function retryFailed(connection: QueueConnection, options?: { queue?: string }): Promise<number> {
  return (require('./admin') as typeof import('./admin')).retryFailed(connection, options);
}

/** Removes waiting, delayed, completed and failed jobs; returns how many of each. */
export async function drainQueue(connection: QueueConnection, options?: { queue?: string }): Promise<Record<Exclude<JobState, 'active' | 'prioritized'>, number>> {
  return (require('./admin') as typeof import('./admin')).drainQueue(connection, options);
}
/* eslint-enable @typescript-eslint/no-require-imports */
