import { FcnkitError, invalidArgument, toFcnkitError } from '../errors';
import { native, NativeAttrs, NativeTensor } from '../native';
import { Tensor } from '../tensor';

/** What an op function resolves its arguments into: one native call. */
export interface OpCall {
  type: string;
  inputs: Tensor[];
  attrs: NativeAttrs;
  threads?: number;
}

export interface CommonOptions {
  /** Caps how many of the core's threads this call uses (default: all). */
  threads?: number;
}

type OpDef = (...args: never[]) => OpCall;

export type AsyncOps<D extends Record<string, OpDef>> = { [K in keyof D]: (...args: Parameters<D[K]>) => Promise<Tensor> };
export type SyncOps<D extends Record<string, OpDef>> = { [K in keyof D]: (...args: Parameters<D[K]>) => Tensor };

function wrap(out: NativeTensor): Tensor {
  return new Tensor(out.data, out.shape);
}

/** Turns op definitions into async (off the JS thread) and sync functions. */
export function makeOps<D extends Record<string, OpDef>>(defs: D): { async: AsyncOps<D>; sync: SyncOps<D> } {
  const asyncOps: Record<string, unknown> = {};
  const syncOps: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(defs)) {
    const build = def as (...args: unknown[]) => OpCall;
    asyncOps[name] = {
      async [name](...args: unknown[]): Promise<Tensor> {
        const callSite = new Error();
        let call: OpCall;
        try {
          call = build(...args);
        } catch (err) {
          throw toFcnkitError(err, callSite);
        }
        try {
          const outs = await native().runOp(call.type, call.inputs, call.attrs, call.threads);
          return wrap(outs[0]);
        } catch (err) {
          throw toFcnkitError(err, callSite);
        }
      },
    }[name];
    syncOps[name] = {
      [name](...args: unknown[]): Tensor {
        try {
          const call = build(...args);
          return wrap(native().runOpSync(call.type, call.inputs, call.attrs, call.threads)[0]);
        } catch (err) {
          throw toFcnkitError(err);
        }
      },
    }[name];
  }
  return { async: asyncOps as AsyncOps<D>, sync: syncOps as SyncOps<D> };
}

// ---- argument checks shared by op definitions -------------------------------------------

export function tensorArg(op: string, what: string, v: unknown): Tensor {
  if (!(v instanceof Tensor)) throw invalidArgument(`${op} ${what}`, 'a Tensor', v);
  return v;
}

export function optionalTensorArg(op: string, what: string, v: unknown): Tensor | undefined {
  return v === undefined || v === null ? undefined : tensorArg(op, what, v);
}

export function float32Arg(op: string, what: string, v: unknown): Tensor {
  const t = tensorArg(op, what, v);
  if (t.dtype !== 'float32') throw new FcnkitError('INVALID_ARGUMENT', `${op}: expected ${what} of dtype float32 but received ${t.dtype}`);
  return t;
}

export function optionsArg<T extends object>(op: string, v: unknown): Partial<T> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`${op} options`, 'an object', v);
  return v as Partial<T>;
}

export function intArg(op: string, what: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw invalidArgument(`${op} ${what}`, `an integer >= ${min}`, v);
  }
  return v;
}

export function numberArg(op: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw invalidArgument(`${op} ${what}`, 'a number', v);
  return v;
}

export function threadsArg(op: string, v: unknown): number | undefined {
  return v === undefined ? undefined : intArg(op, 'threads', v, 1);
}

export type Pair = number | readonly [number, number];

/** number | [h, w] -> [h, w], each an integer >= min. */
export function pairArg(op: string, what: string, v: unknown, def: number, min: number): [number, number] {
  if (v === undefined) return [def, def];
  if (typeof v === 'number') {
    intArg(op, what, v, min);
    return [v, v];
  }
  if (Array.isArray(v) && v.length === 2) {
    return [intArg(op, `${what}[0]`, v[0], min), intArg(op, `${what}[1]`, v[1], min)];
  }
  throw invalidArgument(`${op} ${what}`, 'a number or [h, w]', v);
}

export function oneOf<T extends string>(op: string, what: string, v: unknown, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalidArgument(`${op} ${what}`, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  }
  return v as T;
}

export const PADDING_MODES = ['same', 'valid'] as const;
export type PaddingMode = (typeof PADDING_MODES)[number];
export type Padding = number | readonly [number, number] | readonly [number, number, number, number] | PaddingMode;

/** Padding option -> { pads: [t, l, b, r] } or { autoPad }. */
export function paddingAttrs(op: string, v: unknown): NativeAttrs {
  if (v === undefined) return { pads: [0, 0, 0, 0] };
  if (typeof v === 'string') return { autoPad: oneOf(op, 'padding', v, PADDING_MODES, 'valid') };
  if (typeof v === 'number') {
    intArg(op, 'padding', v, 0);
    return { pads: [v, v, v, v] };
  }
  if (Array.isArray(v) && (v.length === 2 || v.length === 4)) {
    const p = v.map((x, i) => intArg(op, `padding[${i}]`, x, 0));
    return { pads: p.length === 2 ? [p[0], p[1], p[0], p[1]] : p };
  }
  throw invalidArgument(`${op} padding`, "a number, [h, w], [top, left, bottom, right], 'same' or 'valid'", v);
}
