import { invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import { CommonOptions, float32Arg, intArg, OpCall, optionsArg, threadsArg } from './define';

export type SoftmaxOptions = CommonOptions;

export interface ArgmaxOptions extends CommonOptions {
  /** Keep the reduced axis with size 1 (default false: drop it). */
  keepDims?: boolean;
}

function axisArg(op: string, v: unknown): number {
  return v === undefined ? 1 : intArg(op, 'axis', v, -Number.MAX_SAFE_INTEGER);
}

/** softmax(x, axis = 1) -> same shape; exp(x - max) / sum along `axis` (negative counts from the end). */
export function softmax(x: Tensor, axis?: number, options?: SoftmaxOptions): OpCall {
  const op = 'softmax';
  const o = optionsArg<SoftmaxOptions>(op, options);
  return {
    type: op,
    inputs: [float32Arg(op, 'input', x)],
    attrs: { axis: axisArg(op, axis) },
    threads: threadsArg(op, o.threads),
  };
}

/** argmax(x, axis = 1, { keepDims }) -> int32 indices of the first maximum along `axis`. */
export function argmax(x: Tensor, axis?: number, options?: ArgmaxOptions): OpCall {
  const op = 'argmax';
  const o = optionsArg<ArgmaxOptions>(op, options);
  if (o.keepDims !== undefined && typeof o.keepDims !== 'boolean') throw invalidArgument(`${op} keepDims`, 'a boolean', o.keepDims);
  return {
    type: op,
    inputs: [float32Arg(op, 'input', x)],
    attrs: { axis: axisArg(op, axis), keepDims: o.keepDims ?? false },
    threads: threadsArg(op, o.threads),
  };
}
