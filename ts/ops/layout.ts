import { FcnkitError, invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import { CommonOptions, intArg, OpCall, optionsArg, tensorArg, threadsArg } from './define';

export interface SliceOptions extends CommonOptions {
  /** First index read on each axis (one per input dim; default 0). */
  starts?: readonly number[];
  /** Step on each axis, non-zero, negative to walk backwards (default 1). */
  steps?: readonly number[];
  /** The output's shape: how many indices are read on each axis. Required. */
  sizes: readonly number[];
}

export interface TransposeOptions extends CommonOptions {
  /** Output dim d is input dim perm[d]. Default: the dims reversed. */
  perm?: readonly number[];
}

function intList(op: string, what: string, v: unknown, min: number): number[] {
  if (!Array.isArray(v)) throw invalidArgument(`${op} ${what}`, 'an array of integers', v);
  return v.map((x, i) => intArg(op, `${what}[${i}]`, x, min));
}

/** slice(x, { starts, steps, sizes }) -> x[starts[0] :: steps[0]][...] with `sizes` elements per axis (float32 or int32). */
export function slice(x: Tensor, options: SliceOptions): OpCall {
  const op = 'slice';
  const t = tensorArg(op, 'input', x);
  const o = optionsArg<SliceOptions>(op, options);
  const sizes = intList(op, 'sizes', o.sizes, 0);
  const starts = o.starts === undefined ? sizes.map(() => 0) : intList(op, 'starts', o.starts, 0);
  const steps = o.steps === undefined ? sizes.map(() => 1) : intList(op, 'steps', o.steps, -Number.MAX_SAFE_INTEGER);
  if (steps.some((s) => s === 0)) throw invalidArgument(`${op} steps`, 'non-zero integers', o.steps);
  if (starts.length !== t.rank || steps.length !== t.rank || sizes.length !== t.rank) {
    throw new FcnkitError('SHAPE_MISMATCH', `slice: starts, steps and sizes need one value per input dim (input ${t.toString()})`);
  }
  return { type: op, inputs: [t], attrs: { starts, steps, sizes }, threads: threadsArg(op, o.threads) };
}

/** transpose(x, { perm }) -> x with its dims permuted (float32 or int32). */
export function transpose(x: Tensor, options?: TransposeOptions): OpCall {
  const op = 'transpose';
  const t = tensorArg(op, 'input', x);
  const o = optionsArg<TransposeOptions>(op, options);
  const attrs = o.perm === undefined ? {} : { perm: intList(op, 'perm', o.perm, 0) };
  return { type: op, inputs: [t], attrs, threads: threadsArg(op, o.threads) };
}

/** reshape(x, shape) -> a copy of x's elements under `shape` (same element count). */
export function reshape(x: Tensor, shape: readonly number[], options?: CommonOptions): OpCall {
  const op = 'reshape';
  const t = tensorArg(op, 'input', x);
  const o = optionsArg<CommonOptions>(op, options);
  return { type: op, inputs: [t], attrs: { shape: intList(op, 'shape', shape, 0) }, threads: threadsArg(op, o.threads) };
}
