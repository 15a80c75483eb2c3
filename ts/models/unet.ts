/**
 * U-Net (Ronneberger, Fischer, Brox): a contracting path of levels with two 3×3 convs + ReLU and
 * a 2×2 max pool between levels, then an expanding path of 2×2 stride-2 up-convolutions, each
 * concatenated with the skip from its level and followed by two 3×3 convs + ReLU, and a final
 * 1×1 conv to the classes. 'valid' is the paper's net (no padding: 572×572 in, 388×388 out, the
 * skips centre-cropped to the upsampled size); 'same' pads the convs by 1 (output = input size).
 *
 * Parameter names (PyTorch style):
 * - `down<i>.conv1.weight` / `.bias`, `down<i>.conv2.*` for levels i = 1 .. levels, the last one
 *   being the bottleneck (no pool after it);
 * - `up<j>.upconv.weight` / `.bias` (the 2×2 up-convolution, weight [in, out, 2, 2]),
 *   `up<j>.conv1.*`, `up<j>.conv2.*` for j = 1 .. levels-1, up1 the deepest (applied first);
 * - `final.weight` / `.bias` (1×1 to numClasses);
 * - with batchNorm, each 3×3 conv has no bias and is followed by `<block>.bn1` / `.bn2` with
 *   `.weight`, `.bias`, `.running_mean`, `.running_var` (folded into the conv when compiled).
 * Channels: level i has round(baseChannels * 2^(i-1) * widthMultiplier) (at least 1).
 */
import { deviceOptionsOf } from '../device';
import type { DeviceOptions } from '../device';
import { FcnkitError, invalidArgument } from '../errors';
import { GraphBuilder, SymbolicTensor } from '../graph/builder';
import { Model } from '../graph/model';
import { scaleWidth } from './fcn';

export const UNET_PADDINGS = ['valid', 'same'] as const;
export type UnetPadding = (typeof UNET_PADDINGS)[number];

export interface UnetOptions extends DeviceOptions {
  inChannels: number;
  numClasses: number;
  /** Resolution levels (default 5: four poolings), 1 to 12. */
  levels?: number;
  /** Channels of the first level (default 64). */
  baseChannels?: number;
  /** 'valid' (default, the paper) or 'same'. */
  padding?: UnetPadding;
  /** conv → BN → ReLU instead of conv → ReLU (default false). */
  batchNorm?: boolean;
  /** Scales every width (default 1). */
  widthMultiplier?: number;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

const MAX_LEVELS = 12;

function levelsArg(what: string, v: unknown): number {
  if (v === undefined) return 5;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_LEVELS) throw invalidArgument(what, `an integer from 1 to ${MAX_LEVELS}`, v);
  return v;
}

/** The output size of a 'valid' U-Net for input size s, or undefined when s is not legal. */
function validOutputSize(s: number, levels: number): number | undefined {
  for (let i = 1; i < levels; i++) {
    // Two unpadded 3×3 convs take 4; the paper's pools need an even size so no pixel is dropped
    // (the tiles then stitch seamlessly).
    s -= 4;
    if (s < 2 || s % 2 !== 0) return undefined;
    s /= 2;
  }
  s -= 4;
  if (s < 1) return undefined;
  for (let i = 1; i < levels; i++) {
    s = 2 * s - 4;
    if (s < 1) return undefined;
  }
  return s;
}

/** Smallest input size >= minSize that a 'valid' U-Net with `levels` levels takes (572 is one for 5 levels). */
export function unetValidInputSize(minSize: number, options: { levels?: number } = {}): number {
  if (typeof minSize !== 'number' || !Number.isSafeInteger(minSize) || minSize < 0) throw invalidArgument('unetValidInputSize minSize', 'an integer >= 0', minSize);
  if (typeof options !== 'object' || options === null) throw invalidArgument('unetValidInputSize options', 'an object', options);
  const levels = levelsArg('unetValidInputSize levels', options.levels);
  // Legal sizes repeat with period 2^(levels-1) above the smallest one (at most 2^(levels+3)).
  const limit = Math.max(minSize, 1) + 2 ** (levels + 4);
  for (let s = Math.max(minSize, 1); s <= limit; s++) if (validOutputSize(s, levels) !== undefined) return s;
  throw new FcnkitError('INVALID_ARGUMENT', `unetValidInputSize: no legal size found from ${minSize}`);
}

function legalBelow(s: number, legal: (n: number) => boolean): number | undefined {
  for (let n = s - 1; n >= 1; n--) if (legal(n)) return n;
  return undefined;
}

function nearestText(s: number, legal: (n: number) => boolean, above: number): string {
  const below = legalBelow(s, legal);
  return below === undefined ? `the smallest legal size is ${above}` : `the nearest legal sizes are ${below} and ${above}`;
}

/** U-Net, input 'input' [N, inChannels, H, W], output 'score' [N, numClasses, H', W']. */
export function unet(options: UnetOptions): Model {
  if (typeof options !== 'object' || options === null) throw invalidArgument('unet options', 'an object', options);
  const int = (what: string, v: unknown, def?: number): number => {
    const n = v === undefined ? def : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw invalidArgument(`unet ${what}`, 'an integer >= 1', v);
    return n;
  };
  const inChannels = int('inChannels', options.inChannels);
  const numClasses = int('numClasses', options.numClasses);
  const levels = levelsArg('unet levels', options.levels);
  const base = int('baseChannels', options.baseChannels, 64);
  const padding = options.padding ?? 'valid';
  if (!(UNET_PADDINGS as readonly unknown[]).includes(padding)) throw invalidArgument('unet padding', "'valid' or 'same'", padding);
  const bn = options.batchNorm ?? false;
  if (typeof bn !== 'boolean') throw invalidArgument('unet batchNorm', 'a boolean', bn);
  const m = options.widthMultiplier ?? 1;
  if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0) throw invalidArgument('unet widthMultiplier', 'a finite number > 0', m);

  const widths = Array.from({ length: levels }, (_, i) => scaleWidth(base * 2 ** i, m));
  const pad = padding === 'same' ? 1 : 0;
  const g = new GraphBuilder();
  const input = g.input('input', [null, inChannels, null, null]);

  const convBlock = (block: string, x: SymbolicTensor, width: number): SymbolicTensor => {
    for (const k of [1, 2]) {
      if (bn) {
        x = g.conv2d(`${block}.conv${k}`, x, { outChannels: width, kernel: 3, padding: pad, bias: false });
        x = g.batchNorm(`${block}.bn${k}`, x);
        x = g.relu(`${block}.relu${k}`, x);
      } else {
        x = g.conv2d(`${block}.conv${k}`, x, { outChannels: width, kernel: 3, padding: pad, activation: 'relu' });
      }
    }
    return x;
  };

  const skips: SymbolicTensor[] = [];
  let x: SymbolicTensor = input;
  for (let i = 1; i <= levels; i++) {
    x = convBlock(`down${i}`, x, widths[i - 1]);
    if (i < levels) {
      skips.push(x);
      x = g.maxPool2d(`down${i}.pool`, x, { kernel: 2, stride: 2 });
    }
  }
  for (let j = 1; j < levels; j++) {
    const level = levels - j; // the level this step returns to (1-based)
    const width = widths[level - 1];
    const up = g.convTranspose2d(`up${j}.upconv`, x, { outChannels: width, kernel: 2, stride: 2 });
    let skip = skips[level - 1];
    // 'valid': the skip is larger (border pixels lost to unpadded convs): keep its centre.
    if (padding === 'valid') skip = g.crop(`up${j}.crop`, skip, { like: up, offset: 'center' });
    x = g.concat(`up${j}.concat`, [skip, up], 1);
    x = convBlock(`up${j}`, x, width);
  }
  x = g.conv2d('final', x, { outChannels: numClasses, kernel: 1 });
  g.output('score', x);

  const factor = 2 ** (levels - 1);
  const legal = padding === 'valid'
    ? (n: number): boolean => validOutputSize(n, levels) !== undefined
    : (n: number): boolean => n % factor === 0;
  const checkInput = (shapes: Readonly<Record<string, readonly number[]>>): void => {
    const s = shapes.input;
    const bad = [2, 3].filter((a) => !legal(s[a]));
    if (bad.length === 0) return;
    const why = padding === 'valid'
      ? `a 'valid' U-Net with ${levels} levels needs sizes where every 2×2 max pool gets an even input`
      : `a 'same' U-Net with ${levels} levels needs sizes divisible by ${factor}`;
    const parts = bad.map((a) => {
      const above = padding === 'valid' ? unetValidInputSize(s[a] + 1, { levels }) : Math.ceil(s[a] / factor) * factor;
      return `${a === 2 ? 'height' : 'width'} ${s[a]}: ${nearestText(s[a], legal, above)}`;
    });
    throw new FcnkitError('SHAPE_MISMATCH', `unet: input ${s[2]}×${s[3]} is not a legal size (${why}); ${parts.join('; ')}`);
  };
  return new Model(g, { ...(options.seed === undefined ? {} : { seed: options.seed }), checkInput, ...deviceOptionsOf(options) });
}
