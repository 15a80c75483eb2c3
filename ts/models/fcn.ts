/**
 * FCN-32s / 16s / 8s (Long, Shelhamer, Darrell) on VGG16, layer for layer as the reference Caffe
 * nets (voc-fcn32s, voc-fcn16s, voc-fcn8s, voc-fcn8s-atonce net.py), so Caffe weights map one to
 * one: parameter `<caffe layer>.weight` / `.bias`.
 *
 * Why the odd constants:
 * - conv1_1 pads by 100 so that fc6 (a 7×7 conv over pool5, no padding) has an input of at least
 *   7×7 for any image of at least 1×1, and the upsampled scores cover the image with room to crop.
 * - Caffe pools round up (ceil mode), so pool k's size is ceil(previous / 2).
 * - The crop offsets are where the image's pixel (0, 0) lands in each upsampled map, from Caffe's
 *   coord_map: a conv maps y to (y + pad - (k-1)/2) / stride, a deconv y to stride * y + (k-1)/2 - pad.
 *   Through conv1_1 (pad 100) and five 2×2/2 pools, pool5 sees pixel y at (y + 99) / 32 - 0.484375;
 *   fc6 (7×7) subtracts 3. Upsampling back: upscore 64/32 lands it at y + 19 (32s); upscore2 4/2
 *   lands pool4's grid 5 cells in (score_pool4c), upscore16 32/16 gives y + 27 (16s); with
 *   upscore_pool4 4/2, pool3's grid is 9 cells in and upscore8 16/8 gives y + 31 (8s).
 */
import { deviceOptionsOf } from '../device';
import type { DeviceOptions } from '../device';
import { invalidArgument } from '../errors';
import { GraphBuilder, SymbolicTensor } from '../graph/builder';
import { Model } from '../graph/model';

export const FCN_VARIANTS = ['32s', '16s', '8s', '8s-atonce'] as const;
export type FcnVariant = (typeof FCN_VARIANTS)[number];

export const FCN_BACKBONES = ['vgg16'] as const;
export type FcnBackbone = (typeof FCN_BACKBONES)[number];

export interface FcnOptions extends DeviceOptions {
  variant: FcnVariant;
  /** Default 21 (PASCAL VOC with background). */
  numClasses?: number;
  /** Default 'vgg16' (the only one so far). */
  backbone?: FcnBackbone;
  /**
   * Scales every hidden width (64, 128, 256, 512, 4096), rounded, at least 1; the class count
   * stays. Default 1 (the reference nets); small values make small nets for tests.
   */
  widthMultiplier?: number;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/** Where each crop starts: see the file comment for how these follow from the layers. */
export const FCN_CROP_OFFSETS = {
  '32s': { score: 19 },
  '16s': { score_pool4c: 5, score: 27 },
  '8s': { score_pool4c: 5, score_pool3c: 9, score: 31 },
} as const;

/** VGG16's convolution blocks: channels per block, convs per block. */
const VGG16_BLOCKS: ReadonlyArray<readonly [number, number]> = [[64, 2], [128, 2], [256, 3], [512, 3], [512, 3]];

export function scaleWidth(width: number, multiplier: number): number {
  return Math.max(1, Math.round(width * multiplier));
}

/** A fully convolutional network as the reference Caffe nets, input [N, 3, H, W], output 'score' [N, numClasses, H, W]. */
export function fcn(options: FcnOptions): Model {
  if (typeof options !== 'object' || options === null) throw invalidArgument('fcn options', 'an object', options);
  const variant = options.variant;
  if (!(FCN_VARIANTS as readonly unknown[]).includes(variant)) {
    throw invalidArgument('fcn variant', FCN_VARIANTS.map((v) => `'${v}'`).join(', '), variant);
  }
  const backbone = options.backbone ?? 'vgg16';
  if (!(FCN_BACKBONES as readonly unknown[]).includes(backbone)) {
    throw invalidArgument('fcn backbone', FCN_BACKBONES.map((v) => `'${v}'`).join(', '), backbone);
  }
  const numClasses = options.numClasses ?? 21;
  if (!Number.isSafeInteger(numClasses) || numClasses < 1) throw invalidArgument('fcn numClasses', 'an integer >= 1', numClasses);
  const m = options.widthMultiplier ?? 1;
  if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0) throw invalidArgument('fcn widthMultiplier', 'a finite number > 0', m);

  const g = new GraphBuilder();
  const data = g.input('input', [null, 3, null, null]);

  // VGG16 body: pad 100 on conv1_1 only, 3×3 pad 1 + ReLU elsewhere, 2×2/2 ceil-mode pools.
  let x: SymbolicTensor = data;
  const pools: SymbolicTensor[] = [];
  VGG16_BLOCKS.forEach(([width, convs], b) => {
    for (let i = 1; i <= convs; i++) {
      x = g.conv2d(`conv${b + 1}_${i}`, x, {
        outChannels: scaleWidth(width, m), kernel: 3, padding: b === 0 && i === 1 ? 100 : 1, activation: 'relu',
      });
    }
    x = g.maxPool2d(`pool${b + 1}`, x, { kernel: 2, stride: 2, ceilMode: true });
    pools.push(x);
  });
  const [, , pool3, pool4] = pools;

  // The convolutionalised classifier.
  const fcWidth = scaleWidth(4096, m);
  x = g.conv2d('fc6', x, { outChannels: fcWidth, kernel: 7, activation: 'relu' });
  x = g.dropout('drop6', x);
  x = g.conv2d('fc7', x, { outChannels: fcWidth, kernel: 1, activation: 'relu' });
  x = g.dropout('drop7', x);
  const scoreFr = g.conv2d('score_fr', x, { outChannels: numClasses, kernel: 1 });

  const up = (name: string, t: SymbolicTensor, kernel: number, stride: number): SymbolicTensor =>
    g.convTranspose2d(name, t, { outChannels: numClasses, kernel, stride, bias: false, init: 'bilinear' });
  const atOnce = variant === '8s-atonce';

  let score: SymbolicTensor;
  if (variant === '32s') {
    const upscore = up('upscore', scoreFr, 64, 32);
    score = g.crop('score', upscore, { like: data, offset: FCN_CROP_OFFSETS['32s'].score });
  } else {
    const offsets = variant === '16s' ? FCN_CROP_OFFSETS['16s'] : FCN_CROP_OFFSETS['8s'];
    const upscore2 = up('upscore2', scoreFr, 4, 2);
    // 8s-atonce trains all skips at once, so it damps the pool features feeding them.
    const p4 = atOnce ? g.scale('scale_pool4', pool4, 0.01) : pool4;
    const scorePool4 = g.conv2d('score_pool4', p4, { outChannels: numClasses, kernel: 1 });
    const scorePool4c = g.crop('score_pool4c', scorePool4, { like: upscore2, offset: offsets.score_pool4c });
    const fusePool4 = g.add('fuse_pool4', upscore2, scorePool4c);
    if (variant === '16s') {
      const upscore16 = up('upscore16', fusePool4, 32, 16);
      score = g.crop('score', upscore16, { like: data, offset: FCN_CROP_OFFSETS['16s'].score });
    } else {
      const upscorePool4 = up('upscore_pool4', fusePool4, 4, 2);
      const p3 = atOnce ? g.scale('scale_pool3', pool3, 0.0001) : pool3;
      const scorePool3 = g.conv2d('score_pool3', p3, { outChannels: numClasses, kernel: 1 });
      const scorePool3c = g.crop('score_pool3c', scorePool3, { like: upscorePool4, offset: FCN_CROP_OFFSETS['8s'].score_pool3c });
      const fusePool3 = g.add('fuse_pool3', upscorePool4, scorePool3c);
      const upscore8 = up('upscore8', fusePool3, 16, 8);
      score = g.crop('score', upscore8, { like: data, offset: FCN_CROP_OFFSETS['8s'].score });
    }
  }
  g.output('score', score);
  return new Model(g, { ...(options.seed === undefined ? {} : { seed: options.seed }), ...deviceOptionsOf(options) });
}
