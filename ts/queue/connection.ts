/**
 * Connections to the queue's Redis. Commands that do one thing and leave (enqueue, status,
 * retry, drain) connect once and fail with IO_ERROR, naming the server, when it cannot be
 * reached; workers (BullMQ's own connections) reconnect for as long as it takes.
 */
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { FcnkitError } from '../errors';
import { checkQueueName, DEFAULT_QUEUE_NAME, describeQueue, parseQueueUrl } from './job';
import type { RedisConnectionOptions } from './job';

/** Where the queue is: a redis:// URL, or the options read from one. */
export type QueueConnection = string | RedisConnectionOptions;

export function connectionOptions(c: QueueConnection): RedisConnectionOptions {
  if (typeof c === 'string') return parseQueueUrl(c);
  if (typeof c !== 'object' || c === null || typeof c.host !== 'string' || !Number.isInteger(c.port)) {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a redis:// URL or { host, port, db } for the queue connection but received ${JSON.stringify(c)}`);
  }
  return { ...c, db: c.db ?? 0 };
}

/** A queue opened for one short operation; close() when done. */
export interface OpenQueue {
  queue: Queue;
  client: IORedis;
  where: string;
  close(): Promise<void>;
}

/** IO_ERROR naming the server, for a failed command or connection. */
export function unreachable(where: string, err: unknown): FcnkitError {
  if (err instanceof FcnkitError) return err;
  return new FcnkitError('IO_ERROR', `cannot reach Redis for ${where}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export async function openQueue(connection: QueueConnection, name = DEFAULT_QUEUE_NAME, timeoutMs = 5000): Promise<OpenQueue> {
  const opts = connectionOptions(connection);
  const where = describeQueue(opts, checkQueueName(name));
  // No reconnecting: a command against a server that went away fails instead of waiting.
  const client = new IORedis({ ...opts, lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined); // reported by the command that fails
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw unreachable(where, err);
  }
  const queue = new Queue(name, { connection: client });
  queue.on('error', () => undefined);
  return {
    queue,
    client,
    where,
    async close() {
      await queue.close().catch(() => undefined);
      client.disconnect();
    },
  };
}
