import { NativeAttrs } from '../native';
import { Tensor } from '../tensor';
import {
  CommonOptions, float32Arg, intArg, OpCall, oneOf, optionsArg, Padding, paddingAttrs, Pair, pairArg, threadsArg,
} from './define';

export const ACTIVATIONS = ['none', 'relu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface Conv2dOptions extends CommonOptions {
  stride?: Pair;
  dilation?: Pair;
  /** number, [h, w], [top, left, bottom, right], or 'same' (SAME_UPPER) / 'valid'. */
  padding?: Padding;
  groups?: number;
  /** Fused into the epilogue with the bias. */
  activation?: Activation;
}

export interface ConvTranspose2dOptions extends CommonOptions {
  stride?: Pair;
  dilation?: Pair;
  padding?: Padding;
  outputPadding?: Pair;
  groups?: number;
  activation?: Activation;
}

function convInputs(op: string, x: unknown, w: unknown, bias: unknown): Tensor[] {
  const inputs = [float32Arg(op, 'input', x), float32Arg(op, 'weight', w)];
  if (bias !== undefined && bias !== null) inputs.push(float32Arg(op, 'bias', bias));
  return inputs;
}

function commonConvAttrs(op: string, o: Partial<Conv2dOptions & ConvTranspose2dOptions>): NativeAttrs {
  return {
    stride: pairArg(op, 'stride', o.stride, 1, 1),
    dilation: pairArg(op, 'dilation', o.dilation, 1, 1),
    groups: o.groups === undefined ? 1 : intArg(op, 'groups', o.groups, 1),
    activation: oneOf(op, 'activation', o.activation, ACTIVATIONS, 'none'),
    ...paddingAttrs(op, o.padding),
  };
}

/** conv2d(x [N, C, H, W], w [outC, C/groups, kH, kW], bias? [outC]) -> [N, outC, OH, OW] */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, options?: Conv2dOptions): OpCall {
  const o = optionsArg<Conv2dOptions>('conv2d', options);
  return {
    type: 'conv2d',
    inputs: convInputs('conv2d', x, w, bias),
    attrs: commonConvAttrs('conv2d', o),
    threads: threadsArg('conv2d', o.threads),
  };
}

/** convTranspose2d(x [N, C, H, W], w [C, outC/groups, kH, kW], bias? [outC]) -> [N, outC, OH, OW] */
export function convTranspose2d(x: Tensor, w: Tensor, bias?: Tensor | null, options?: ConvTranspose2dOptions): OpCall {
  const o = optionsArg<ConvTranspose2dOptions>('convTranspose2d', options);
  return {
    type: 'convTranspose2d',
    inputs: convInputs('convTranspose2d', x, w, bias),
    attrs: { ...commonConvAttrs('convTranspose2d', o), outputPadding: pairArg('convTranspose2d', 'outputPadding', o.outputPadding, 0, 0) },
    threads: threadsArg('convTranspose2d', o.threads),
  };
}
