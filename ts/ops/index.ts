import { makeOps } from './define';
import * as conv from './conv';

export type { Conv2dOptions, ConvTranspose2dOptions, Activation } from './conv';
export { ACTIVATIONS } from './conv';
export type { Padding, PaddingMode, Pair, CommonOptions } from './define';
export { PADDING_MODES } from './define';

const defs = {
  conv2d: conv.conv2d,
  convTranspose2d: conv.convTranspose2d,
};

const built = makeOps(defs);

/** Ops computed off the JS thread; each returns a Promise<Tensor>. */
export const ops = Object.assign(built.async, {
  /** The same ops computed synchronously on the calling thread, for small work. */
  sync: built.sync,
});
