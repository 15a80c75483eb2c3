/**
 * The public API's last line of defence: every function, static method and class method that
 * fcnkit exports is wrapped (once, in place, when fcnkit is loaded) so that
 *
 * - an argument that is a plain array longer than MAX_ARRAY_ARGUMENT (directly, or as an own
 *   property of a plain options object) is refused up front with TOO_LARGE: walking a sparse
 *   array of 2^32 - 1 holes takes minutes, and no fcnkit call needs such an array (typed arrays
 *   hold data);
 * - whatever it throws or rejects with reaches the caller as an FcnkitError with a code from
 *   ERROR_CODES. A native error with a valid code keeps it; anything else (a TypeError from an
 *   argument no check caught, the error of a caller's throwing getter) becomes INVALID_ARGUMENT
 *   with the original as its `cause`.
 *
 * Each function still validates its own arguments with a message that says what to change; this
 * only guarantees the error's type and code when a check is missing.
 */
import { ERROR_CODES, FcnkitError } from './errors';
import type { ErrorCode } from './errors';

/** The longest plain array an exported function accepts as an argument. */
export const MAX_ARRAY_ARGUMENT = 2 ** 26;

const GUARDED = Symbol('fcnkit.guarded');

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

function coded(err: unknown, label: string): FcnkitError {
  if (err instanceof FcnkitError) return err;
  if (err instanceof Error && isErrorCode((err as { code?: unknown }).code)) {
    const e = new FcnkitError((err as unknown as { code: ErrorCode }).code, err.message, { cause: err });
    if (err.stack) e.stack = `FcnkitError: ${err.message}\n${err.stack.split('\n').slice(1).join('\n')}`;
    return e;
  }
  let message: string;
  try {
    message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    message = 'an error that cannot be printed';
  }
  return new FcnkitError('INVALID_ARGUMENT', `${label}: bad argument (${message})`, { cause: err });
}

function checkArray(v: unknown, label: string, where: string): void {
  if (Array.isArray(v) && v.length > MAX_ARRAY_ARGUMENT) {
    throw new FcnkitError('TOO_LARGE', `${label}: ${where} is an array of ${v.length} elements, over ${MAX_ARRAY_ARGUMENT} (give data as a typed array)`);
  }
}

function checkArgs(args: unknown[], label: string): void {
  args.forEach((a, i) => {
    checkArray(a, label, `argument ${i + 1}`);
    if (a !== null && typeof a === 'object' && !Array.isArray(a) && Object.getPrototypeOf(a) === Object.prototype) {
      for (const k of Object.keys(a)) checkArray((a as Record<string, unknown>)[k], label, `option '${k}'`);
    }
  });
}

function isClass(f: unknown): boolean {
  return typeof f === 'function' && /^class\b/.test(Function.prototype.toString.call(f));
}

/** `fn` wrapped: arguments screened, errors coded (sync throws and async rejections). */
const wrappers = new WeakMap<object, unknown>();

export function guardFunction<F extends (...args: never[]) => unknown>(fn: F, label: string): F {
  if ((fn as unknown as Record<symbol, unknown>)[GUARDED]) return fn;
  const known = wrappers.get(fn);
  if (known) return known as F;
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    let r: unknown;
    try {
      checkArgs(args, label);
      r = (fn as unknown as (...a: unknown[]) => unknown).apply(this, args);
    } catch (err) {
      throw coded(err, label);
    }
    if (r instanceof Promise) return r.catch((err: unknown) => { throw coded(err, label); });
    return r;
  };
  // Properties hung on the function (constants, sub-functions) come along.
  for (const k of Reflect.ownKeys(fn)) {
    if (k === 'length' || k === 'name' || k === 'prototype' || k === 'arguments' || k === 'caller') continue;
    const d = Object.getOwnPropertyDescriptor(fn, k);
    if (d) Object.defineProperty(wrapped, k, d);
  }
  Object.defineProperty(wrapped, 'name', { value: fn.name });
  Object.defineProperty(wrapped, 'length', { value: fn.length });
  Object.defineProperty(wrapped, GUARDED, { value: true });
  wrappers.set(fn, wrapped);
  return wrapped as unknown as F;
}

/** Wraps a class's static and prototype methods in place (the class itself stays the same). */
function guardClass(cls: { prototype: object; name: string }): void {
  for (const k of Object.getOwnPropertyNames(cls)) {
    if (['length', 'name', 'prototype'].includes(k)) continue;
    const d = Object.getOwnPropertyDescriptor(cls, k);
    if (d && typeof d.value === 'function' && d.writable) {
      Object.defineProperty(cls, k, { ...d, value: guardFunction(d.value, `${cls.name}.${k}`) });
    }
  }
  for (const k of Object.getOwnPropertyNames(cls.prototype)) {
    if (k === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(cls.prototype, k);
    if (d && typeof d.value === 'function' && d.writable) {
      Object.defineProperty(cls.prototype, k, { ...d, value: guardFunction(d.value, `${cls.name}.${k}`) });
    }
  }
}

/**
 * Guards every export of fcnkit's entry module (`api`, its `exports`), and the namespace objects
 * among them (ops, ops.sync, models). An export is usually a getter that re-exports a binding of
 * the module that defines it, so the function is replaced there: in every loaded module under
 * `dir` whose own data property holds it.
 */
export function guardExports(api: Record<string, unknown>, dir: string): void {
  const publicValues = new Map<unknown, string>();
  const addNamespace = (obj: Record<string, unknown>, prefix: string, depth: number): void => {
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (typeof v === 'function') {
        if (!publicValues.has(v)) publicValues.set(v, `${prefix}${k}`);
      } else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype &&
        (depth === 0 ? k === 'ops' || k === 'models' : prefix === 'ops.' && k === 'sync')) {
        publicValues.set(v, `${prefix}${k}`);
        addNamespace(v as Record<string, unknown>, `${prefix}${k}.`, depth + 1);
      }
    }
  };
  addNamespace(api, '', 0);
  const replaceIn = (obj: Record<string, unknown>): void => {
    for (const k of Object.keys(obj)) {
      const d = Object.getOwnPropertyDescriptor(obj, k);
      if (!d || !('value' in d) || !d.writable) continue;
      const label = publicValues.get(d.value);
      if (label === undefined || typeof d.value !== 'function' || isClass(d.value)) continue;
      obj[k] = guardFunction(d.value as (...a: never[]) => unknown, label);
    }
  };
  for (const [v] of publicValues) {
    if (isClass(v)) guardClass(v as { prototype: object; name: string });
    else if (v && typeof v === 'object') replaceIn(v as Record<string, unknown>);
  }
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!mod || !file.startsWith(dir) || mod.exports === api) continue;
    if (mod.exports && typeof mod.exports === 'object') replaceIn(mod.exports as Record<string, unknown>);
  }
}
