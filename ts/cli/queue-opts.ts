/** `--queue URL` and `--name QUEUE`, as enqueue, worker and queue take them: bad values are usage errors (exit 2). */
import { FcnkitError } from '../errors';
import { checkQueueName, DEFAULT_QUEUE_NAME, parseQueueUrl } from '../queue/job';
import type { RedisConnectionOptions } from '../queue/job';
import { UsageError, stringOpt } from './args';
import type { OptionSpecs, Parsed } from './args';

export const QUEUE_SPECS: OptionSpecs = {
  queue: { type: 'string' },
  name: { type: 'string' },
};

export const QUEUE_USAGE = `  --queue URL            the Redis that holds the queue: redis://[:PASSWORD@]HOST[:PORT][/DB]
                         (rediss:// for TLS); required
  --name QUEUE           the queue's name (default ${DEFAULT_QUEUE_NAME})`;

export function queueOpts(p: Parsed, command: string): { connection: RedisConnectionOptions; name: string } {
  const url = stringOpt(p, 'queue', command);
  if (url === undefined) throw new UsageError('--queue URL is required (e.g. --queue redis://127.0.0.1:6379/0)', command);
  try {
    return { connection: parseQueueUrl(url), name: checkQueueName(stringOpt(p, 'name', command) ?? DEFAULT_QUEUE_NAME) };
  } catch (err) {
    if (err instanceof FcnkitError) throw new UsageError(`${err.message}`, command);
    throw err;
  }
}
