/**
 * fcnkit enqueue IMAGES_OR_DIRS... --queue URL [options]
 *
 * One job per photo in a BullMQ queue for `fcnkit worker`s on any machine. Job ids come from
 * the photo, the output folder and the settings, so enqueueing again adds only what is new.
 */
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import type { PresetName } from '../io/image';
import { enqueueSegmentJobs } from '../queue/enqueue';
import { UsageError, boolOpt, intOpt, numberOpt, parseCommand, stringOpt } from './args';
import type { OptionSpecs } from './args';
import { EXIT_OK, EXIT_SOME_FAILED } from './context';
import type { CommandContext } from './context';
import { collectInputs, duplicateNames, outputsThatAreInputs } from './files';
import { outputFileName } from '../io/outputs';
import { PRESET_NAMES } from './model';
import { QUEUE_SPECS, QUEUE_USAGE, queueOpts } from './queue-opts';
import { parseFormats } from './segment';

export const ENQUEUE_USAGE = `Usage: fcnkit enqueue [options] IMAGES_OR_DIRS... --queue URL

Adds one job per photo (folders are searched recursively) to a queue in Redis, for
'fcnkit worker' processes on this or other machines. The photos, the model and --out must be
on storage every worker sees at the same paths (paths are stored absolute). A job's id comes from
the photo, --out and the settings: enqueueing the same batch again adds nothing.

Options:
${QUEUE_USAGE}
  --out DIR              where the workers write the outputs (default ./segmented)
  --format LIST          labels,color,overlay,cutout,npy (default labels,overlay)
  --model FILE|default   the model the jobs run (default: the embedded person segmenter)
  --preset NAME          preprocessing: ${PRESET_NAMES.join(', ')}
  --size N               letterbox every photo into N×N
  --tile N               run in overlapping N×N tiles
  --threshold T          one-channel models: label 1 above T (default 0.5)
  --output NAME          the model output that holds the scores
  --attempts N           tries of a job that fails for a passing reason (default 3; a bad photo
                         fails at once)
  --json                 print the result as JSON
  -h, --help             show this help

Exit codes: 0 ok, 1 some inputs not found (the rest are enqueued) or Redis unreachable,
2 bad usage.`;

const SPECS: OptionSpecs = {
  ...QUEUE_SPECS,
  out: { type: 'string', short: 'o' },
  format: { type: 'string' },
  model: { type: 'string' },
  preset: { type: 'string' },
  size: { type: 'string' },
  tile: { type: 'string' },
  threshold: { type: 'string' },
  output: { type: 'string' },
  attempts: { type: 'string' },
  json: { type: 'boolean' },
};

export async function enqueueCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('enqueue', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${ENQUEUE_USAGE}\n`);
    return EXIT_OK;
  }
  const { connection, name } = queueOpts(p, 'enqueue');
  const formats = parseFormats(stringOpt(p, 'format', 'enqueue'));
  const outDir = stringOpt(p, 'out', 'enqueue') ?? 'segmented';
  const preset = stringOpt(p, 'preset', 'enqueue');
  if (preset !== undefined && !(PRESET_NAMES as string[]).includes(preset)) {
    throw new UsageError(`unknown preset '${preset}' (presets: ${PRESET_NAMES.join(', ')})`, 'enqueue');
  }
  const size = intOpt(p, 'size', 'enqueue', { min: 1, max: 16384 });
  const tile = intOpt(p, 'tile', 'enqueue', { min: 8, max: 16384 });
  const threshold = numberOpt(p, 'threshold', 'enqueue', { min: 0, max: 1 });
  const attempts = intOpt(p, 'attempts', 'enqueue', { min: 1, max: 100 });
  const json = boolOpt(p, 'json');
  if (p.positionals.length === 0) throw new UsageError('no images given (name image files or folders)', 'enqueue');

  const { inputs, missing } = await collectInputs(p.positionals, [outDir]);
  const dups = duplicateNames(inputs).filter(([a, b]) => path.resolve(a.file) !== path.resolve(b.file));
  if (dups.length) {
    const [a, b] = dups[0];
    throw new UsageError(`'${a.file}' and '${b.file}' would both write ${outDir}/${a.name}.*; give them from different folders or rename one`, 'enqueue');
  }
  // As segment: nothing the batch reads is written.
  const clobbers = await outputsThatAreInputs(inputs, (i) => formats.map((f) => path.join(outDir, outputFileName(i.name, f))));
  if (clobbers.length) {
    const c = clobbers[0];
    throw new FcnkitError('INVALID_ARGUMENT', `the output '${c.output}' (of '${c.of}') is the input '${c.input}': the job would overwrite it; choose another --out folder`);
  }
  for (const m of missing) ctx.err.write(`error: ${m.arg}: ${m.message}\n`);
  if (inputs.length === 0) throw new FcnkitError('IO_ERROR', 'no images to enqueue');

  const r = await enqueueSegmentJobs(inputs, {
    connection, queue: name, outDir, formats, model: stringOpt(p, 'model', 'enqueue'), preset: preset as PresetName | undefined,
    size, tile, threshold, output: stringOpt(p, 'output', 'enqueue'), attempts,
  });
  if (json) {
    ctx.out.write(`${JSON.stringify({ ...r, missing }, null, 2)}\n`);
  } else {
    ctx.out.write(`${r.added} job${r.added === 1 ? '' : 's'} added, ${r.existing} already in queue '${r.queue}' -> ${path.resolve(outDir)}${path.sep}\n`);
  }
  return missing.length ? EXIT_SOME_FAILED : EXIT_OK;
}
