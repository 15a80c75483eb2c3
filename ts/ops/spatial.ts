import { invalidArgument } from '../errors';
import { NativeAttrs } from '../native';
import { Tensor } from '../tensor';
import { CommonOptions, float32Arg, intArg, OpCall, oneOf, optionsArg, threadsArg } from './define';

export const PAD_MODES = ['constant', 'reflect', 'edge'] as const;
export type PadMode = (typeof PAD_MODES)[number];

/** number (all sides), [h, w] or [top, left, bottom, right]; a negative amount crops that side. */
export type PadAmounts = number | readonly [number, number] | readonly [number, number, number, number];

export interface PadOptions extends CommonOptions {
  /** Required. Amounts on the two spatial axes; negative values crop (as ONNX Pad). */
  pads: PadAmounts;
  /** 'constant' (default), 'reflect' (mirror without repeating the edge; each pad < that side's size) or 'edge'. */
  mode?: PadMode;
  /** Fill value for 'constant' (default 0). */
  value?: number;
}

export const RESIZE_MODES = ['nearest', 'bilinear'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

export const COORDINATE_MODES = ['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel'] as const;
export type CoordinateMode = (typeof COORDINATE_MODES)[number];

export const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] as const;
export type NearestMode = (typeof NEAREST_MODES)[number];

export interface ResizeOptions extends CommonOptions {
  /** Output [height, width]. Give exactly one of `size` and `scale`. */
  size?: readonly [number, number];
  /** Factor for both axes or [h, w]; the output size is floor(in * scale) (float32 arithmetic, as ONNX Runtime). */
  scale?: number | readonly [number, number];
  /** Default 'bilinear' (ONNX 'linear'). */
  mode?: ResizeMode;
  /** ONNX coordinate_transformation_mode; default 'half_pixel'. */
  coordinate?: CoordinateMode;
  /** How 'nearest' rounds a source coordinate; default 'round_prefer_floor'. */
  nearestMode?: NearestMode;
}

const MIN_INT = -Number.MAX_SAFE_INTEGER;

function padAmounts(op: string, v: unknown): number[] {
  if (typeof v === 'number') {
    intArg(op, 'pads', v, MIN_INT);
    return [v, v, v, v];
  }
  if (Array.isArray(v) && (v.length === 2 || v.length === 4)) {
    const p = v.map((x, i) => intArg(op, `pads[${i}]`, x, MIN_INT));
    return p.length === 2 ? [p[0], p[1], p[0], p[1]] : p;
  }
  throw invalidArgument(`${op} pads`, 'a number, [h, w] or [top, left, bottom, right]', v);
}

/** pad(x [N, C, H, W], { pads, mode, value }) -> [N, C, H + top + bottom, W + left + right] (ONNX Pad on axes 2, 3). */
export function pad(x: Tensor, options: PadOptions): OpCall {
  const op = 'pad';
  const o = optionsArg<PadOptions>(op, options);
  if (o.value !== undefined && typeof o.value !== 'number') throw invalidArgument(`${op} value`, 'a number', o.value);
  return {
    type: op,
    inputs: [float32Arg(op, 'input', x)],
    attrs: {
      pads: padAmounts(op, o.pads),
      mode: oneOf(op, 'mode', o.mode, PAD_MODES, 'constant'),
      value: o.value ?? 0,
    },
    threads: threadsArg(op, o.threads),
  };
}

function positiveScale(op: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalidArgument(`${op} ${what}`, 'a finite number > 0', v);
  return v;
}

/** resize(x [N, C, H, W], { size | scale, mode, coordinate, nearestMode }) -> [N, C, OH, OW] (ONNX Resize, opset 13+). */
export function resize(x: Tensor, options: ResizeOptions): OpCall {
  const op = 'resize';
  const o = optionsArg<ResizeOptions>(op, options);
  if ((o.size === undefined) === (o.scale === undefined)) {
    throw invalidArgument(`${op} options`, 'exactly one of size and scale', o);
  }
  const attrs: NativeAttrs = {
    mode: oneOf(op, 'mode', o.mode, RESIZE_MODES, 'bilinear'),
    coordinate: oneOf(op, 'coordinate', o.coordinate, COORDINATE_MODES, 'half_pixel'),
    nearestMode: oneOf(op, 'nearestMode', o.nearestMode, NEAREST_MODES, 'round_prefer_floor'),
  };
  if (o.size !== undefined) {
    const s: unknown = o.size;
    if (!Array.isArray(s) || s.length !== 2) throw invalidArgument(`${op} size`, '[h, w]', s);
    attrs.size = [intArg(op, 'size[0]', s[0], 1), intArg(op, 'size[1]', s[1], 1)];
  } else {
    const s: unknown = o.scale;
    if (typeof s === 'number') attrs.scale = [positiveScale(op, 'scale', s), s];
    else if (Array.isArray(s) && s.length === 2) attrs.scale = [positiveScale(op, 'scale[0]', s[0]), positiveScale(op, 'scale[1]', s[1])];
    else throw invalidArgument(`${op} scale`, 'a number or [h, w]', s);
  }
  return { type: op, inputs: [float32Arg(op, 'input', x)], attrs, threads: threadsArg(op, o.threads) };
}
