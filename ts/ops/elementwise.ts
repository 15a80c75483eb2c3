import { invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import { CommonOptions, float32Arg, numberArg, OpCall, optionsArg, threadsArg } from './define';

export type ReluOptions = CommonOptions;
export type SigmoidOptions = CommonOptions;
export type HardSwishOptions = CommonOptions;
export type BinaryOptions = CommonOptions;

export interface LeakyReluOptions extends CommonOptions {
  /** Slope for x < 0 (default 0.01). */
  alpha?: number;
}

export interface HardSigmoidOptions extends CommonOptions {
  /** max(0, min(1, alpha * x + beta)); defaults 0.2 and 0.5 (ONNX). */
  alpha?: number;
  beta?: number;
}

const F32_MAX = 3.4028234663852886e38;

function finiteArg(op: string, what: string, v: unknown, def: number): number {
  if (v === undefined) return def;
  const n = numberArg(op, what, v);
  if (!Number.isFinite(n) || Math.abs(n) > F32_MAX) throw invalidArgument(`${op} ${what}`, 'a finite float32 number', v);
  return n;
}

function unary(op: string, x: unknown, options: unknown, attrs: (o: Record<string, unknown>) => OpCall['attrs'] = () => ({})): OpCall {
  const o = optionsArg<Record<string, unknown>>(op, options);
  return { type: op, inputs: [float32Arg(op, 'input', x)], attrs: attrs(o), threads: threadsArg(op, o.threads) };
}

/** relu(x) = max(x, 0), any rank; NaN stays NaN. */
export function relu(x: Tensor, options?: ReluOptions): OpCall {
  return unary('relu', x, options);
}

/** leakyRelu(x) = x < 0 ? alpha * x : x, any rank. */
export function leakyRelu(x: Tensor, options?: LeakyReluOptions): OpCall {
  return unary('leakyRelu', x, options, (o) => ({ alpha: finiteArg('leakyRelu', 'alpha', o.alpha, 0.01) }));
}

/** sigmoid(x) = 1 / (1 + exp(-x)), any rank. */
export function sigmoid(x: Tensor, options?: SigmoidOptions): OpCall {
  return unary('sigmoid', x, options);
}

/** hardSigmoid(x) = max(0, min(1, alpha * x + beta)), any rank. */
export function hardSigmoid(x: Tensor, options?: HardSigmoidOptions): OpCall {
  return unary('hardSigmoid', x, options, (o) => ({
    alpha: finiteArg('hardSigmoid', 'alpha', o.alpha, 0.2),
    beta: finiteArg('hardSigmoid', 'beta', o.beta, 0.5),
  }));
}

/** hardSwish(x) = x * hardSigmoid(x; 1/6, 0.5), any rank. */
export function hardSwish(x: Tensor, options?: HardSwishOptions): OpCall {
  return unary('hardSwish', x, options);
}

function binary(op: string, a: unknown, b: unknown, options: unknown): OpCall {
  const o = optionsArg<BinaryOptions>(op, options);
  return { type: op, inputs: [float32Arg(op, 'a', a), float32Arg(op, 'b', b)], attrs: {}, threads: threadsArg(op, o.threads) };
}

/** add(a, b) -> a + b with numpy broadcasting (ranks up to 8). */
export function add(a: Tensor, b: Tensor, options?: BinaryOptions): OpCall {
  return binary('add', a, b, options);
}

/** mul(a, b) -> a * b with numpy broadcasting (ranks up to 8). */
export function mul(a: Tensor, b: Tensor, options?: BinaryOptions): OpCall {
  return binary('mul', a, b, options);
}
