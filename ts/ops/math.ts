import { invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import { CommonOptions, float32Arg, numberArg, OpCall, optionsArg, threadsArg } from './define';

export type TanhOptions = CommonOptions;

export interface ClipOptions extends CommonOptions {
  /** Lower bound (default: none). */
  min?: number;
  /** Upper bound (default: none). When min > max every value becomes max (as onnxruntime). */
  max?: number;
}

export interface GemmOptions extends CommonOptions {
  /** Use a's transpose (a is [K, M]). Default false. */
  transA?: boolean;
  /** Use b's transpose (b is [N, K], the usual weight layout). Default false. */
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 1. */
  beta?: number;
}

export type MatmulOptions = CommonOptions;

function boolArg(op: string, what: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`${op} ${what}`, 'a boolean', v);
  return v;
}

/** tanh(x), any rank. */
export function tanh(x: Tensor, options?: TanhOptions): OpCall {
  const o = optionsArg<TanhOptions>('tanh', options);
  return { type: 'tanh', inputs: [float32Arg('tanh', 'input', x)], attrs: {}, threads: threadsArg('tanh', o.threads) };
}

/** clip(x, { min, max }) = min(max(x, min), max), any rank; NaN stays NaN. */
export function clip(x: Tensor, options?: ClipOptions): OpCall {
  const o = optionsArg<ClipOptions>('clip', options);
  const attrs: Record<string, number> = {};
  if (o.min !== undefined) attrs.min = numberArg('clip', 'min', o.min);
  if (o.max !== undefined) attrs.max = numberArg('clip', 'max', o.max);
  return { type: 'clip', inputs: [float32Arg('clip', 'input', x)], attrs, threads: threadsArg('clip', o.threads) };
}

function binary(op: string, a: unknown, b: unknown, options: unknown, names = ['a', 'b']): OpCall {
  const o = optionsArg<CommonOptions>(op, options);
  return { type: op, inputs: [float32Arg(op, names[0], a), float32Arg(op, names[1], b)], attrs: {}, threads: threadsArg(op, o.threads) };
}

/** sub(a, b) -> a - b with numpy broadcasting (ranks up to 8). */
export function sub(a: Tensor, b: Tensor, options?: CommonOptions): OpCall {
  return binary('sub', a, b, options);
}

/** div(a, b) -> a / b with numpy broadcasting (ranks up to 8); x / 0 follows IEEE. */
export function div(a: Tensor, b: Tensor, options?: CommonOptions): OpCall {
  return binary('div', a, b, options);
}

/** prelu(x, slope) -> x < 0 ? slope * x : x; slope broadcasts to x's shape (e.g. [C, 1, 1]). */
export function prelu(x: Tensor, slope: Tensor, options?: CommonOptions): OpCall {
  return binary('prelu', x, slope, options, ['input', 'slope']);
}

/** gemm(a, b, c?) -> alpha * op(a) . op(b) + beta * c: 2-D a and b, c broadcast to [M, N] (ONNX Gemm). */
export function gemm(a: Tensor, b: Tensor, c?: Tensor | null, options?: GemmOptions): OpCall {
  const op = 'gemm';
  const o = optionsArg<GemmOptions>(op, options);
  const inputs = [float32Arg(op, 'a', a), float32Arg(op, 'b', b)];
  if (c !== undefined && c !== null) inputs.push(float32Arg(op, 'c', c));
  return {
    type: op,
    inputs,
    attrs: {
      transA: boolArg(op, 'transA', o.transA) ? 1 : 0,
      transB: boolArg(op, 'transB', o.transB) ? 1 : 0,
      alpha: o.alpha === undefined ? 1 : numberArg(op, 'alpha', o.alpha),
      beta: o.beta === undefined ? 1 : numberArg(op, 'beta', o.beta),
    },
    threads: threadsArg(op, o.threads),
  };
}

/** matmul(a [..., M, K], b [..., K, N]) -> [..., M, N], batch dims broadcast; both of rank >= 2. */
export function matmul(a: Tensor, b: Tensor, options?: MatmulOptions): OpCall {
  return binary('matmul', a, b, options);
}
