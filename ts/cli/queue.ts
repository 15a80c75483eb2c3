/** fcnkit queue status|retry-failed|drain --queue URL [--name QUEUE] [--json] */
import { drainQueue, queueStatus, retryFailed, JOB_STATES } from '../queue/admin';
import { describeQueue } from '../queue/job';
import { UsageError, boolOpt, intOpt, parseCommand } from './args';
import type { OptionSpecs } from './args';
import { EXIT_OK } from './context';
import type { CommandContext } from './context';
import { QUEUE_SPECS, QUEUE_USAGE, queueOpts } from './queue-opts';

export const QUEUE_CMD_USAGE = `Usage: fcnkit queue status|retry-failed|drain --queue URL [options]

  status                 jobs by state (waiting, active, completed, failed, delayed,
                         prioritized) and the failed jobs with their reasons
  retry-failed           moves every failed job back to waiting (its tries start again)
  drain                  empties the queue: removes waiting, delayed, completed and failed jobs
                         (jobs being worked on finish); enqueueing the photos again re-adds them

Options:
${QUEUE_USAGE}
  --failed N             status: list at most N failed jobs (default 20)
  --json                 print JSON
  -h, --help             show this help

Exit codes: 0 ok, 1 Redis unreachable, 2 bad usage.`;

const SPECS: OptionSpecs = { ...QUEUE_SPECS, failed: { type: 'string' }, json: { type: 'boolean' } };
const ACTIONS = ['status', 'retry-failed', 'drain'];

export async function queueCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('queue', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${QUEUE_CMD_USAGE}\n`);
    return EXIT_OK;
  }
  const [action, ...extra] = p.positionals;
  if (!action || !ACTIONS.includes(action)) throw new UsageError(action ? `unknown action '${action}' (actions: ${ACTIONS.join(', ')})` : `name an action: ${ACTIONS.join(', ')}`, 'queue');
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`, 'queue');
  const { connection, name } = queueOpts(p, 'queue');
  const json = boolOpt(p, 'json');
  const where = describeQueue(connection, name);
  if (action === 'status') {
    const s = await queueStatus(connection, { queue: name, failedLimit: intOpt(p, 'failed', 'queue', { min: 0, max: 100000 }) ?? 20 });
    if (json) {
      ctx.out.write(`${JSON.stringify(s, null, 2)}\n`);
      return EXIT_OK;
    }
    ctx.out.write(`${where}\n  ${JOB_STATES.map((k) => `${k} ${s.counts[k]}`).join('  ')}\n`);
    if (s.failed.length) {
      ctx.out.write(`failed${s.counts.failed > s.failed.length ? ` (newest ${s.failed.length} of ${s.counts.failed})` : ''}:\n`);
      for (const f of s.failed) ctx.out.write(`  ${f.input ?? f.id}: ${f.reason} (${f.attempts} tr${f.attempts === 1 ? 'y' : 'ies'}) [${f.id}]\n`);
    }
  } else if (action === 'retry-failed') {
    const n = await retryFailed(connection, { queue: name });
    ctx.out.write(json ? `${JSON.stringify({ retried: n })}\n` : `${n} failed job${n === 1 ? '' : 's'} moved back to waiting in ${where}\n`);
  } else {
    const r = await drainQueue(connection, { queue: name });
    ctx.out.write(json ? `${JSON.stringify({ removed: r })}\n` : `removed from ${where}: ${Object.entries(r).map(([k, v]) => `${v} ${k}`).join(', ')}\n`);
  }
  return EXIT_OK;
}
