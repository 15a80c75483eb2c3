import { invalidArgument } from '../errors';
import { NativeAttrs } from '../native';
import { Tensor } from '../tensor';
import { CommonOptions, float32Arg, intArg, OpCall, optionsArg, Pair, pairArg, threadsArg } from './define';

/** number (all sides), [h, w] or [top, left, bottom, right]; each side smaller than the kernel. */
export type PoolPadding = number | readonly [number, number] | readonly [number, number, number, number];

export interface MaxPool2dOptions extends CommonOptions {
  /** Window size, required. */
  kernel: Pair;
  /** Default: the kernel. */
  stride?: Pair;
  padding?: PoolPadding;
  dilation?: Pair;
  /** Round the output size up (ONNX / PyTorch / Caffe rule: the last window starts inside the input or its leading padding). */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends MaxPool2dOptions {
  /** Divide by the window's size including padding (never the ceil-mode overhang) rather than by its real pixels. */
  countIncludePad?: boolean;
}

export type GlobalAvgPool2dOptions = CommonOptions;

function boolArg(op: string, what: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`${op} ${what}`, 'a boolean', v);
  return v;
}

function poolPads(op: string, v: unknown, kernel: [number, number]): [number, number, number, number] {
  let p: number[];
  if (v === undefined) p = [0, 0, 0, 0];
  else if (typeof v === 'number') p = [intArg(op, 'padding', v, 0), v, v, v];
  else if (Array.isArray(v) && (v.length === 2 || v.length === 4)) {
    const q = v.map((x, i) => intArg(op, `padding[${i}]`, x, 0));
    p = q.length === 2 ? [q[0], q[1], q[0], q[1]] : q;
  } else {
    throw invalidArgument(`${op} padding`, 'a number, [h, w] or [top, left, bottom, right]', v);
  }
  if (p[0] >= kernel[0] || p[2] >= kernel[0] || p[1] >= kernel[1] || p[3] >= kernel[1]) {
    throw invalidArgument(`${op} padding`, `padding smaller than the kernel [${kernel.join(', ')}]`, v);
  }
  return p as [number, number, number, number];
}

function poolAttrs(op: string, o: Partial<AvgPool2dOptions>, avg: boolean): NativeAttrs {
  if (o.kernel === undefined) throw invalidArgument(`${op} kernel`, 'a number or [h, w]', undefined);
  const kernel = pairArg(op, 'kernel', o.kernel, 1, 1);
  const attrs: NativeAttrs = {
    kernel,
    stride: o.stride === undefined ? kernel : pairArg(op, 'stride', o.stride, 1, 1),
    dilation: pairArg(op, 'dilation', o.dilation, 1, 1),
    pads: poolPads(op, o.padding, kernel),
    ceilMode: boolArg(op, 'ceilMode', o.ceilMode),
  };
  if (avg) attrs.countIncludePad = boolArg(op, 'countIncludePad', o.countIncludePad);
  return attrs;
}

/** maxPool2d(x [N, C, H, W]) -> [N, C, OH, OW]; padding never wins, a NaN in the window does. */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): OpCall {
  const o = optionsArg<MaxPool2dOptions>('maxPool2d', options);
  return {
    type: 'maxPool2d',
    inputs: [float32Arg('maxPool2d', 'input', x)],
    attrs: poolAttrs('maxPool2d', o, false),
    threads: threadsArg('maxPool2d', o.threads),
  };
}

/** avgPool2d(x [N, C, H, W]) -> [N, C, OH, OW] */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): OpCall {
  const o = optionsArg<AvgPool2dOptions>('avgPool2d', options);
  return {
    type: 'avgPool2d',
    inputs: [float32Arg('avgPool2d', 'input', x)],
    attrs: poolAttrs('avgPool2d', o, true),
    threads: threadsArg('avgPool2d', o.threads),
  };
}

/** globalAvgPool2d(x [N, C, H, W]) -> [N, C, 1, 1] */
export function globalAvgPool2d(x: Tensor, options?: GlobalAvgPool2dOptions): OpCall {
  const o = optionsArg<GlobalAvgPool2dOptions>('globalAvgPool2d', options);
  return {
    type: 'globalAvgPool2d',
    inputs: [float32Arg('globalAvgPool2d', 'input', x)],
    attrs: {},
    threads: threadsArg('globalAvgPool2d', o.threads),
  };
}
