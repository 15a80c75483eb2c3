import { makeOps } from './define';
import * as conv from './conv';
import * as spatial from './spatial';
import * as reduce from './reduce';
import * as pool from './pool';
import * as elementwise from './elementwise';
import * as shapeOps from './shape-ops';
import * as math from './math';
import * as layout from './layout';
import { detectionOps, detectionOpsSync } from './detection';

export type { Conv2dOptions, ConvTranspose2dOptions, Activation } from './conv';
export { ACTIVATIONS } from './conv';
export type {
  PadOptions, PadMode, PadAmounts, ResizeOptions, ResizeMode, CoordinateMode, NearestMode,
} from './spatial';
export { PAD_MODES, RESIZE_MODES, COORDINATE_MODES, NEAREST_MODES } from './spatial';
export type { SoftmaxOptions, ArgmaxOptions } from './reduce';
export type { Padding, PaddingMode, Pair, CommonOptions } from './define';
export { PADDING_MODES } from './define';
export type { MaxPool2dOptions, AvgPool2dOptions, GlobalAvgPool2dOptions, PoolPadding } from './pool';
export type {
  ReluOptions, LeakyReluOptions, SigmoidOptions, HardSigmoidOptions, HardSwishOptions, BinaryOptions,
} from './elementwise';
export type { ConcatOptions, CropOptions } from './shape-ops';
export type { TanhOptions, ClipOptions, GemmOptions, MatmulOptions } from './math';
export type { SliceOptions, TransposeOptions } from './layout';
export type {
  RoiAlignOptions, RoiAlignMultiLevelOptions, NmsOptions, BoxDecodeOptions, AnchorsOptions, TopkResult,
} from './detection';

const defs = {
  conv2d: conv.conv2d,
  convTranspose2d: conv.convTranspose2d,
  pad: spatial.pad,
  resize: spatial.resize,
  softmax: reduce.softmax,
  argmax: reduce.argmax,
  maxPool2d: pool.maxPool2d,
  avgPool2d: pool.avgPool2d,
  globalAvgPool2d: pool.globalAvgPool2d,
  relu: elementwise.relu,
  leakyRelu: elementwise.leakyRelu,
  sigmoid: elementwise.sigmoid,
  hardSigmoid: elementwise.hardSigmoid,
  hardSwish: elementwise.hardSwish,
  add: elementwise.add,
  mul: elementwise.mul,
  concat: shapeOps.concat,
  crop: shapeOps.crop,
  tanh: math.tanh,
  clip: math.clip,
  sub: math.sub,
  div: math.div,
  prelu: math.prelu,
  gemm: math.gemm,
  matmul: math.matmul,
  slice: layout.slice,
  transpose: layout.transpose,
  reshape: layout.reshape,
};

const built = makeOps(defs);

/** Ops computed off the JS thread; each returns a Promise<Tensor>. */
export const ops = Object.assign(built.async, detectionOps, {
  /** The same ops computed synchronously on the calling thread, for small work. */
  sync: Object.assign(built.sync, detectionOpsSync),
});
