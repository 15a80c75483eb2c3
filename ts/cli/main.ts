/**
 * The fcnkit command line: `fcnkit <command> [options]`. bin/fcnkit calls cli().
 *
 * Exit codes: 0 ok; 1 some inputs failed (each named on stderr, the rest processed) or the
 * command could not run (a model that does not load); 2 bad usage (unknown option, missing
 * argument), with the usage text; 130 stopped by Ctrl-C.
 */
import { FcnkitError, toFcnkitError } from '../errors';
import { removeTempFiles } from '../io/atomic-write';
import { UsageError } from './args';
import { EXIT_INTERRUPTED, EXIT_SOME_FAILED, EXIT_USAGE, forceQuitHooks } from './context';
import type { CommandContext } from './context';
import { EVAL_USAGE, evalCommand } from './eval';

export const USAGE = `Usage: fcnkit <command> [options]

Semantic segmentation with Fully Convolutional Networks (ONNX, Caffe, TFLite models).

Commands:
  segment [IMAGES_OR_DIRS...]          segment photos: label maps, colours, overlays, cutouts
  run MODEL --input X.npy --output P   run a model on NPY tensors
  info MODEL [--shape 1x3xHxW]         inputs, outputs, op counts, parameters, FLOPs
  bench MODEL --shape 1x3xHxW          time runs (median, spread, GFLOP/s), optionally vs onnxruntime
  eval --pred DIR --gt DIR --classes N score label maps (pixel acc, mean acc, mean IU, fw IU)
  enqueue IMAGES... --queue URL        add segmentation jobs to a queue in Redis (BullMQ)
  worker --queue URL                   run the queue's jobs until SIGTERM (any number of machines)
  queue status|retry-failed|drain      a queue's counts and failures; retry the failed; empty it
  serve [--port 8080] [--model M]      an HTTP API and web page for segmentation

Run 'fcnkit <command> --help' for a command's options. Example:
  fcnkit segment examples/astronaut.png      (writes segmented/astronaut.labels.png and .overlay.png)`;

type Command = (argv: string[], ctx: CommandContext) => Promise<number>;

interface CommandEntry {
  run: () => Promise<Command>;
  usage: () => string;
  /** SIGTERM/Ctrl-C is how it ends: its own exit code stands (0 after a clean stop), not 130. */
  runsUntilStopped?: boolean;
}

// Commands load on demand: `fcnkit eval` need not load the model importers.
/* eslint-disable @typescript-eslint/no-require-imports */
const COMMANDS: Record<string, CommandEntry> = {
  segment: { run: async () => require('./segment').segmentCommand, usage: () => require('./segment').SEGMENT_USAGE },
  run: { run: async () => require('./run').runCommand, usage: () => require('./run').RUN_USAGE },
  info: { run: async () => require('./info').infoCommand, usage: () => require('./info').INFO_USAGE },
  bench: { run: async () => require('./bench').benchCommand, usage: () => require('./bench').BENCH_USAGE },
  eval: { run: async () => evalCommand, usage: () => EVAL_USAGE },
  enqueue: { run: async () => require('./enqueue').enqueueCommand, usage: () => require('./enqueue').ENQUEUE_USAGE },
  worker: { run: async () => require('./worker').workerCommand, usage: () => require('./worker').WORKER_USAGE, runsUntilStopped: true },
  queue: { run: async () => require('./queue').queueCommand, usage: () => require('./queue').QUEUE_CMD_USAGE },
  serve: { run: async () => require('./serve').serveCommand, usage: () => require('./serve').SERVE_USAGE, runsUntilStopped: true },
};
/* eslint-enable @typescript-eslint/no-require-imports */

export async function main(argv: string[], ctx: CommandContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const sub = name === 'help' ? rest[0] : undefined;
    if (sub && COMMANDS[sub]) ctx.out.write(`${COMMANDS[sub].usage()}\n`);
    else ctx.out.write(`${USAGE}\n`);
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-v') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ctx.out.write(`${(require('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    ctx.err.write(`fcnkit: unknown command '${name}'\n\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  try {
    const command = await entry.run();
    return await command(rest, ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.err.write(`fcnkit ${name}: ${err.message}\n\n${entry.usage()}\n`);
      return EXIT_USAGE;
    }
    if (ctx.signal.aborted && err instanceof FcnkitError && err.code === 'ABORTED') {
      ctx.err.write('fcnkit: interrupted\n');
      return EXIT_INTERRUPTED;
    }
    // Native errors (a plain Error with a code) and anything uncaught are printed with a code too.
    const e = toFcnkitError(err);
    ctx.err.write(`fcnkit ${name}: error [${e.code}]: ${e.message}\n`);
    if (process.env.FCNKIT_DEBUG && e.stack) ctx.err.write(`${e.stack}\n`);
    return EXIT_SOME_FAILED;
  }
}

/** The process entry: wires Ctrl-C and exits with main()'s code. */
export function cli(argv: string[] = process.argv.slice(2)): void {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts === 1) {
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      process.stderr.write(`fcnkit: ${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping (finishing the files being written; press Ctrl-C again to quit at once)\n`);
      controller.abort();
    } else if (interrupts === 2) {
      process.stderr.write('fcnkit: quitting now\n');
      const hooks = Promise.allSettled([...forceQuitHooks].map(async (h) => h()));
      const moment = new Promise((r) => setTimeout(r, 1000));
      void Promise.race([hooks, moment]).then(() => {
        removeTempFiles(true);
        // File operations already queued may still land: sweep once more after them.
        setTimeout(() => {
          removeTempFiles(true);
          process.exit(EXIT_INTERRUPTED);
        }, 50);
      });
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: CommandContext = { out: process.stdout, err: process.stderr, tty: Boolean(process.stderr.isTTY), signal: controller.signal };
  main(argv, ctx).then(
    (code) => {
      removeTempFiles(controller.signal.aborted);
      const untilStopped = Object.prototype.hasOwnProperty.call(COMMANDS, argv[0]) && COMMANDS[argv[0]].runsUntilStopped;
      process.exitCode = controller.signal.aborted && code === 0 && !untilStopped ? EXIT_INTERRUPTED : code;
      // Let stdout drain, then leave even if a stray handle (a worker) lingers.
      setTimeout(() => process.exit(process.exitCode), 50).unref();
    },
    (err) => {
      const e = toFcnkitError(err);
      process.stderr.write(`fcnkit: error [${e.code}]: ${e.message}\n${process.env.FCNKIT_DEBUG ? `${(err as Error)?.stack ?? ''}\n` : ''}`);
      removeTempFiles(true);
      process.exit(EXIT_SOME_FAILED);
    },
  );
}
