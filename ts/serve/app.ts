/**
 * The HTTP server of `fcnkit serve` (Fastify):
 *
 *   POST /v1/segment?format=labels|color|overlay|cutout|json   the photo as an image/* body or
 *        as the multipart field `image` -> image/png (or JSON for format=json)
 *   GET  /v1/models    the model: inputs, outputs, classes, preprocessing
 *   GET  /healthz      200 while serving
 *   GET  /metrics      Prometheus text format
 *   GET  /             the web page (web/ in the package)
 *
 * Every error is JSON { error: { code, message } } (./errors.ts). Segmentations go through one
 * Limiter: at most maxConcurrency at a time, maxQueue more waiting, the rest 503 + Retry-After,
 * decided when the request arrives, before its body is read.
 */
import * as path from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { HttpError, errorBody, toHttpError } from './errors';
import { Limiter } from './limiter';
import type { Slot } from './limiter';
import { ServeMetrics } from './metrics';
import { SEGMENT_FORMATS } from './segmenter';
import type { SegmentFormat, Segmenter } from './segmenter';

/** The web page's files, shipped in the package beside dist/. */
export const WEB_ROOT = path.join(__dirname, '..', '..', 'web');

export interface AppOptions {
  maxConcurrency: number;
  maxQueue: number;
  /** Largest request body (a raw photo or the multipart file). */
  maxBodyBytes: number;
  /** A client must send its whole request within this (408 after). */
  requestTimeoutMs: number;
  /** ... and its headers within this. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections close after this. */
  keepAliveTimeoutMs: number;
  /** Pino's level ('silent' for none); 500s are logged at 'error'. */
  logLevel: string;
  metrics?: ServeMetrics;
}

interface SegmentState {
  slot?: Slot;
  abort: AbortController;
}

const IMAGE_TYPE = /^image\/[A-Za-z0-9.+-]+$/;

function isImageType(type: string | undefined): boolean {
  return typeof type === 'string' && IMAGE_TYPE.test(type.split(';')[0].trim().toLowerCase());
}

export async function buildApp(segmenter: Segmenter, options: AppOptions): Promise<FastifyInstance> {
  const metrics = options.metrics ?? new ServeMetrics();
  const limiter = new Limiter(options.maxConcurrency, options.maxQueue, (running, queued) => {
    metrics.inFlight.set(running);
    metrics.queued.set(queued);
  });
  const app = Fastify({
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
    bodyLimit: options.maxBodyBytes,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    // A socket silent this long (no byte either way) is closed: a client that stopped reading
    // its answer. Node counts the server's own work (queue wait, the run) as silence too, so
    // this is a backstop well past any sane request, not the slow-sender limit (requestTimeout).
    connectionTimeout: Math.max(300_000, 2 * options.requestTimeoutMs),
    // Node checks request and header timeouts at this interval (default 30 s): check often.
    http: { headersTimeout: options.headersTimeoutMs, connectionsCheckingInterval: 1000 } as never,
    // Our own 503 (JSON like every error) while closing.
    return503OnClosing: false,
  });
  const states = new WeakMap<FastifyRequest, SegmentState>();
  let closing = false;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(IMAGE_TYPE, { parseAs: 'buffer', bodyLimit: options.maxBodyBytes }, (_req, body, done) => done(null, body));
  await app.register(fastifyMultipart, {
    limits: { fileSize: options.maxBodyBytes, files: 1, fields: 8, fieldSize: 1024, parts: 10, headerPairs: 100 },
  });
  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', index: ['index.html'], wildcard: false, cacheControl: true, maxAge: 0 });

  app.setErrorHandler((err, request, reply) => {
    const { error, unexpected } = toHttpError(err);
    if (unexpected) request.log.error({ err }, 'unexpected error');
    if (error.retryAfter !== undefined) reply.header('Retry-After', String(error.retryAfter));
    void reply.code(error.statusCode).type('application/json').send(errorBody(error));
  });
  app.setNotFoundHandler((request, reply) => {
    const known = ['/v1/segment', '/v1/models', '/healthz', '/metrics', '/'].includes(request.url.split('?')[0]);
    const error = known
      ? new HttpError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${request.url.split('?')[0]}`)
      : new HttpError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    void reply.code(error.statusCode).send(errorBody(error));
  });

  // Security headers: the page loads nothing from elsewhere.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Content-Security-Policy', "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
    return payload;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) {
      reply.header('Connection', 'close');
      throw new HttpError('BUSY', 'the server is closing', 1);
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    states.get(request)?.slot?.cancel();
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    segmenter.release();
  });

  app.get('/healthz', async () => ({ status: 'ok', model: segmenter.name, inFlight: limiter.inFlight, queued: limiter.queued }));

  app.get('/metrics', async (_request, reply) => {
    void reply.type(metrics.contentType);
    return metrics.text();
  });

  const info = segmenter.info();
  app.get('/v1/models', async () => ({
    models: [{ ...info, limits: { maxPixels: info.preprocessing.maxPixels, maxBodyBytes: options.maxBodyBytes, maxConcurrency: options.maxConcurrency, maxQueue: options.maxQueue } }],
  }));

  app.post<{ Querystring: { format: SegmentFormat } }>('/v1/segment', {
    schema: {
      querystring: {
        type: 'object',
        properties: { format: { type: 'string', enum: [...SEGMENT_FORMATS], default: 'labels' } },
      },
    },
    // Admission before the body is read: a full server reads no more photos.
    onRequest: async (request, reply) => {
      const slot = limiter.reserve();
      if (!slot) {
        throw new HttpError('BUSY', `busy: ${limiter.inFlight} running and ${limiter.queued} waiting (limits ${options.maxConcurrency} and ${options.maxQueue})`, limiter.retryAfterSeconds());
      }
      const state: SegmentState = { slot, abort: new AbortController() };
      states.set(request, state);
      // The client went away before the answer: stop waiting, stop the run.
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) {
          state.abort.abort();
          slot.cancel();
        }
      });
    },
  }, async (request, reply) => {
    const state = states.get(request) as SegmentState;
    const bytes = await readPhoto(request);
    const arrived = performance.now();
    let started = arrived;
    const result = await (state.slot as Slot).run(() => {
      started = performance.now();
      return segmenter.segment(bytes, request.query.format, state.abort.signal);
    }, state.abort.signal);
    const done = performance.now();
    reply.header('Server-Timing', `queue;dur=${(started - arrived).toFixed(1)}, segment;dur=${(done - started).toFixed(1)}`);
    reply.header('X-Image-Width', String(result.width));
    reply.header('X-Image-Height', String(result.height));
    void reply.type(result.contentType);
    return result.contentType === 'image/png' ? Buffer.from(result.body as Uint8Array) : result.body;
  });

  /** The photo: the raw image/* body, or the multipart file field 'image'. */
  async function readPhoto(request: FastifyRequest): Promise<Buffer> {
    if (request.isMultipart()) {
      const part = await request.file();
      if (!part) throw new HttpError('INVALID_ARGUMENT', "the multipart body has no file; send the photo as the field 'image'");
      if (part.fieldname !== 'image') {
        part.file.resume();
        throw new HttpError('INVALID_ARGUMENT', `the multipart file field must be named 'image', not '${part.fieldname}'`);
      }
      if (!isImageType(part.mimetype) && part.mimetype !== 'application/octet-stream') {
        part.file.resume();
        throw new HttpError('UNSUPPORTED_MEDIA_TYPE', `the field 'image' is ${part.mimetype}; send an image (image/png, image/jpeg, image/webp)`);
      }
      const bytes = await part.toBuffer();
      if (bytes.length === 0) throw new HttpError('BAD_IMAGE', "the field 'image' is empty");
      return bytes;
    }
    const type = request.headers['content-type'];
    if (!isImageType(type)) {
      throw new HttpError('UNSUPPORTED_MEDIA_TYPE', `the body is ${type ? `'${type}'` : 'of no content type'}; send the photo as an image/* body or as the multipart field 'image'`);
    }
    const body = request.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw new HttpError('BAD_IMAGE', 'the body is empty; send the photo');
    return body;
  }

  return app;
}
