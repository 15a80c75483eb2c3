/**
 * fcnkit serve [options]: the HTTP API and web page (ts/serve/) around one loaded model.
 * Stops on SIGTERM / Ctrl-C: no new connections, requests in progress finish, exit 0.
 */
import * as os from 'node:os';
import type { PresetName } from '../io/image';
import { UsageError, intOpt, numberOpt, parseCommand, boolOpt, stringOpt } from './args';
import type { OptionSpecs } from './args';
import { EXIT_OK } from './context';
import type { CommandContext } from './context';
import { DEVICE_SPECS, DEVICE_USAGE, deviceOpt } from './device-opts';
import { PRESET_NAMES } from './model';

export const SERVE_USAGE = `Usage: fcnkit serve [options]

Serves one model over HTTP:
  POST /v1/segment?format=labels|color|overlay|cutout|json
       the photo as the body (Content-Type image/*) or as the multipart field 'image'
       -> image/png at the photo's size (json: width, height, classes, pixels per class)
  GET  /v1/models   the model: inputs, outputs, classes, preprocessing
  GET  /healthz     GET /metrics (Prometheus)     GET / (a web page to try it)
Errors are JSON {"error":{"code","message"}}: 400 BAD_IMAGE / INVALID_ARGUMENT, 413 TOO_LARGE,
415 UNSUPPORTED_MEDIA_TYPE, 503 BUSY (with Retry-After), 500 INTERNAL.

Options:
  --port N               TCP port (default 8080; 0 picks a free one)
  --host H               address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --model FILE|default   as for 'fcnkit segment' (default: the embedded person segmenter); a
                         Mask R-CNN (NET.safetensors + NET.json) answers with instances
  --preset NAME          preprocessing: ${PRESET_NAMES.join(', ')}
  --size N               models without a fixed input size: photos are letterboxed into N×N
                         (one compiled plan, bounded memory; default 512)
  --threshold T          one-channel models: label 1 where probability > T (default 0.5)
  --output NAME          the model output that holds the scores (default: the first)
  --max-concurrency N    segmentations at a time (default: CPUs / 4, at least 1, at most 8)
  --max-queue N          more requests waiting for a slot; past that 503 (default 16)
  --max-body-mb N        largest photo upload in MB (default 25)
  --max-pixels N         largest photo in pixels, read from its header before decoding
                         (default 25000000)
  --request-timeout S    a client must send its request within S seconds (default 30)
  --threads N            threads per model run (default: CPUs / max-concurrency)
${DEVICE_USAGE}
  --log-level L          fatal, error, warn (default), info (every request), debug, silent
  -h, --help             show this help`;

const SPECS: OptionSpecs = {
  port: { type: 'string' },
  host: { type: 'string' },
  model: { type: 'string' },
  preset: { type: 'string' },
  size: { type: 'string' },
  threshold: { type: 'string' },
  output: { type: 'string' },
  'max-concurrency': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-body-mb': { type: 'string' },
  'max-pixels': { type: 'string' },
  'request-timeout': { type: 'string' },
  threads: { type: 'string' },
  ...DEVICE_SPECS,
  'log-level': { type: 'string' },
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export async function serveCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('serve', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${SERVE_USAGE}\n`);
    return EXIT_OK;
  }
  if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`, 'serve');
  const cpus = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const port = intOpt(p, 'port', 'serve', { min: 0, max: 65535 }) ?? 8080;
  const host = stringOpt(p, 'host', 'serve') ?? '127.0.0.1';
  const presetText = stringOpt(p, 'preset', 'serve');
  if (presetText !== undefined && !(PRESET_NAMES as string[]).includes(presetText)) {
    throw new UsageError(`unknown preset '${presetText}' (presets: ${PRESET_NAMES.join(', ')})`, 'serve');
  }
  const maxConcurrency = intOpt(p, 'max-concurrency', 'serve', { min: 1, max: 1024 }) ?? Math.max(1, Math.min(8, Math.floor(cpus / 4)));
  const maxQueue = intOpt(p, 'max-queue', 'serve', { min: 0, max: 100000 }) ?? 16;
  const maxBodyMb = numberOpt(p, 'max-body-mb', 'serve', { min: 0.001, max: 4096 }) ?? 25;
  const maxPixels = intOpt(p, 'max-pixels', 'serve', { min: 1, max: 1e10 }) ?? 25_000_000;
  const requestTimeout = numberOpt(p, 'request-timeout', 'serve', { min: 0.1, max: 3600 }) ?? 30;
  const threads = intOpt(p, 'threads', 'serve', { min: 1, max: 4096 }) ?? Math.max(1, Math.floor(cpus / maxConcurrency));
  const size = intOpt(p, 'size', 'serve', { min: 8, max: 16384 }) ?? 512;
  const threshold = numberOpt(p, 'threshold', 'serve', { min: 0, max: 1 }) ?? 0.5;
  const logLevel = stringOpt(p, 'log-level', 'serve') ?? 'warn';
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`option '--log-level' must be one of ${LOG_LEVELS.join(', ')} (received '${logLevel}')`, 'serve');
  const device = deviceOpt(p, 'serve');

  // Loaded on demand: the other commands need neither Fastify nor the server.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { Segmenter } = require('../serve/segmenter') as typeof import('../serve/segmenter');
  const { buildApp } = require('../serve/app') as typeof import('../serve/app');
  const { ServeMetrics } = require('../serve/metrics') as typeof import('../serve/metrics');
  const { InstanceSegmenter } = require('../serve/instance-segmenter') as typeof import('../serve/instance-segmenter');
  const { isMaskRcnnModel } = require('./segment-instances') as typeof import('./segment-instances');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const metrics = new ServeMetrics();
  const modelArg = stringOpt(p, 'model', 'serve');
  const onRun = (s: number): void => metrics.runSeconds.observe(s);
  if (modelArg !== undefined && isMaskRcnnModel(modelArg) && device.device !== 'cpu') {
    throw new UsageError('a Mask R-CNN model runs on the CPU only (--device cpu)', 'serve');
  }
  const segmenter = modelArg !== undefined && isMaskRcnnModel(modelArg)
    ? await InstanceSegmenter.load({ model: modelArg, threads, threshold, maxPixels, onRun })
    : await Segmenter.load({
    model: modelArg,
    preset: presetText as PresetName | undefined,
    size,
    threads,
    threshold,
    maxPixels,
    output: stringOpt(p, 'output', 'serve'),
    device,
    onRun,
  });
  const app = await buildApp(segmenter, {
    maxConcurrency,
    maxQueue,
    maxBodyBytes: Math.round(maxBodyMb * 1024 * 1024),
    requestTimeoutMs: requestTimeout * 1000,
    headersTimeoutMs: Math.min(10, requestTimeout) * 1000,
    keepAliveTimeoutMs: 5000,
    logLevel,
    metrics,
  });
  if (ctx.signal.aborted) {
    await app.close();
    return EXIT_OK;
  }
  const closed = new Promise<void>((resolve) => {
    ctx.signal.addEventListener('abort', () => {
      ctx.err.write('fcnkit serve: closing: no new connections; finishing the requests in progress\n');
      void app.close().then(() => resolve(), (err: Error) => {
        ctx.err.write(`fcnkit serve: while closing: ${err.message}\n`);
        resolve();
      });
    }, { once: true });
  });
  try {
    await app.listen({ port, host });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const where = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  const info = segmenter.info();
  ctx.out.write(`fcnkit serve: listening on ${where} (model: ${info.name}; ${info.device}; ${maxConcurrency} at a time × ${threads} thread${threads === 1 ? '' : 's'}, queue ${maxQueue})\n`);
  await closed;
  ctx.err.write('fcnkit serve: closed\n');
  return EXIT_OK;
}
