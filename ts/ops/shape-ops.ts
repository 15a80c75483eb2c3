import { invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import { CommonOptions, float32Arg, OpCall, optionsArg, Pair, pairArg, threadsArg } from './define';

export type ConcatOptions = CommonOptions;

export interface CropOptions extends CommonOptions {
  /** [y, x] of the first kept pixel (default 0). */
  offset?: Pair;
  /** [h, w] of the output, required. */
  size: Pair;
}

/** concat(xs, axis = 1): joins tensors of one rank along `axis` (negative counts from the end). */
export function concat(xs: readonly Tensor[], axis = 1, options?: ConcatOptions): OpCall {
  if (!Array.isArray(xs) || xs.length === 0) throw invalidArgument('concat inputs', 'a non-empty array of Tensors', xs);
  if (typeof axis !== 'number' || !Number.isSafeInteger(axis)) throw invalidArgument('concat axis', 'an integer', axis);
  const o = optionsArg<ConcatOptions>('concat', options);
  return {
    type: 'concat',
    inputs: xs.map((x, i) => float32Arg('concat', `input ${i}`, x)),
    attrs: { axis },
    threads: threadsArg('concat', o.threads),
  };
}

/** crop(x [N, C, H, W], { offset: [y, x], size: [h, w] }) -> x[:, :, y:y+h, x:x+w] (Caffe Crop, axis 2). */
export function crop(x: Tensor, options: CropOptions): OpCall {
  const o = optionsArg<CropOptions>('crop', options);
  if (o.size === undefined) throw invalidArgument('crop size', 'a number or [h, w]', undefined);
  return {
    type: 'crop',
    inputs: [float32Arg('crop', 'input', x)],
    attrs: { offset: pairArg('crop', 'offset', o.offset, 0, 0), size: pairArg('crop', 'size', o.size, 1, 1) },
    threads: threadsArg('crop', o.threads),
  };
}
