/**
 * The HTTP API's errors: every error response is `{ "error": { "code", "message" } }` with a code
 * from SERVE_ERROR_CODES and the status that goes with it. Library errors (FcnkitError) keep
 * their code where it describes the request (a bad or too large photo); anything else about the
 * server itself is INTERNAL (500), logged.
 */
import { FcnkitError } from '../errors';

export const SERVE_ERROR_CODES = [
  'BAD_IMAGE', // 400: the photo does not decode
  'INVALID_ARGUMENT', // 400: a bad query, field or body
  'NOT_FOUND', // 404
  'METHOD_NOT_ALLOWED', // 405
  'TIMEOUT', // 408: the client was too slow sending the request
  'TOO_LARGE', // 413: the body, or the pixels its header claims, past the limit
  'UNSUPPORTED_MEDIA_TYPE', // 415: not an image/* body nor multipart with an image field
  'BUSY', // 503: every run slot and queue place taken, or the server is closing (Retry-After)
  'INTERNAL', // 500: the unexpected (logged)
] as const;

export type ServeErrorCode = (typeof SERVE_ERROR_CODES)[number];

const STATUS: Record<ServeErrorCode, number> = {
  BAD_IMAGE: 400,
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TIMEOUT: 408,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BUSY: 503,
  INTERNAL: 500,
};

export class HttpError extends Error {
  readonly statusCode: number;

  constructor(
    readonly code: ServeErrorCode,
    message: string,
    /** Seconds, for 503. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = STATUS[code];
  }
}

export interface ErrorBody {
  error: { code: ServeErrorCode; message: string };
}

/** Fastify's own errors (body limits, content types, schema validation, multipart limits). */
function fromFramework(err: Error & { code?: string; statusCode?: number; validation?: unknown }): HttpError | undefined {
  const status = err.statusCode;
  if (err.validation) return new HttpError('INVALID_ARGUMENT', err.message);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new HttpError('TOO_LARGE', err.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new HttpError('UNSUPPORTED_MEDIA_TYPE', `${err.message}: send the photo as an image/* body or as the multipart field 'image'`);
    default:
      break;
  }
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  const byStatus = (Object.keys(STATUS) as ServeErrorCode[]).find((c) => STATUS[c] === status && c !== 'BAD_IMAGE');
  return new HttpError(byStatus ?? 'INVALID_ARGUMENT', err.message);
}

/** Maps anything a route threw to its HTTP error. `unexpected` is true for a 500 (to be logged). */
export function toHttpError(err: unknown): { error: HttpError; unexpected: boolean } {
  if (err instanceof HttpError) return { error: err, unexpected: false };
  if (err instanceof FcnkitError) {
    switch (err.code) {
      case 'BAD_IMAGE':
      case 'INVALID_ARGUMENT':
      case 'TOO_LARGE':
        return { error: new HttpError(err.code, err.message), unexpected: false };
      case 'ABORTED':
        return { error: new HttpError('BUSY', `stopped: ${err.message}`, 1), unexpected: false };
      default:
        return { error: new HttpError('INTERNAL', `${err.code}: ${err.message}`), unexpected: true };
    }
  }
  const framework = err instanceof Error ? fromFramework(err) : undefined;
  if (framework) return { error: framework, unexpected: false };
  return { error: new HttpError('INTERNAL', (err as Error)?.message ?? String(err)), unexpected: true };
}

export function errorBody(error: HttpError): ErrorBody {
  return { error: { code: error.code, message: error.message } };
}
