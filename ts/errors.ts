/** Every error fcnkit throws is an FcnkitError whose `code` is one of these. */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'SHAPE_MISMATCH',
  'TOO_LARGE',
  'OUT_OF_MEMORY',
  'UNSUPPORTED_OP',
  'BAD_MODEL',
  'BAD_IMAGE',
  'IO_ERROR',
  'CUDA_UNAVAILABLE',
  'CUDA_ERROR',
  'BINARY_LOAD_FAILED',
  'ABORTED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class FcnkitError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(typeof message === 'string' ? message : describe(message), options);
    this.name = 'FcnkitError';
    this.code = code;
  }
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/**
 * Converts whatever a native call threw into an FcnkitError. `callSite` (an Error made before
 * an async call) gives the user's own stack back to errors that surface later on the event loop.
 */
export function toFcnkitError(err: unknown, callSite?: Error): FcnkitError {
  let out: FcnkitError;
  if (err instanceof FcnkitError) out = err;
  else if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    out = isErrorCode(code)
      ? new FcnkitError(code, err.message)
      : new FcnkitError(/RangeError|allocation failed/i.test(`${err.name} ${err.message}`) ? 'OUT_OF_MEMORY' : 'INVALID_ARGUMENT', err.message, { cause: err });
  } else out = new FcnkitError('INVALID_ARGUMENT', String(err));
  if (callSite?.stack) {
    const frames = callSite.stack.split('\n').slice(1).join('\n');
    out.stack = `${out.name}: ${out.message}\n${frames}`;
  }
  return out;
}

/** "Expected X for Y but received Z" */
export function invalidArgument(what: string, expected: string, received: unknown): FcnkitError {
  return new FcnkitError('INVALID_ARGUMENT', `Expected ${expected} for ${what} but received ${describe(received)}`);
}

/** A value in a few words, for messages; never throws (throwing getters, Proxies, Symbols). */
export function describe(v: unknown, depth = 0): string {
  try {
    if (v === null) return 'null';
    if (Array.isArray(v)) {
      // The first few elements only: an argument may be a sparse array of 2^32 - 1 holes.
      if (depth > 2) return `[${v.length} elements]`;
      const head = Array.from({ length: Math.min(v.length, 8) }, (_, i) => describe(v[i], depth + 1));
      return `[${head.join(', ')}${v.length > 8 ? `, ... (${v.length} elements)` : ''}]`;
    }
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length?: number }).length ?? v.byteLength})`;
    if (typeof v === 'string') return JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}...` : v);
    if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
    return String(v);
  } catch {
    return 'a value that cannot be inspected';
  }
}
