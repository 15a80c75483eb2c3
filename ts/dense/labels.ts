/**
 * From scores to pictures: the label map (argmax over classes) and its colouring with the
 * PASCAL VOC palette.
 */
import { FcnkitError, invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import { ops } from '../ops';

/** PASCAL VOC 2012's 21 classes, index = label (255 marks "void" / ignore in the ground truth). */
export const VOC_CLASSES: readonly string[] = Object.freeze([
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
]);

export type Rgb = readonly [number, number, number];
export type Palette = 'voc' | ReadonlyArray<Rgb>;

/** An interleaved 8-bit RGB image, row-major: pixel (y, x) at data[3 * (y * width + x)]. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

/**
 * The VOC colour map (VOCdevkit's labelcolormap): label bits are dealt out three at a time,
 * bit 0 to red, bit 1 to green, bit 2 to blue, filling each channel from its most significant
 * bit down. 0 is black, 1 dark red (128, 0, 0), 15 (person) (192, 128, 128), 255 (224, 224, 192).
 */
export function vocPalette(size = 256): Array<[number, number, number]> {
  if (!Number.isSafeInteger(size) || size < 1) throw invalidArgument('vocPalette size', 'an integer >= 1', size);
  const out: Array<[number, number, number]> = [];
  for (let label = 0; label < size; label++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let c = label;
    for (let bit = 7; bit >= 0 && c > 0; bit--) {
      r |= (c & 1) << bit;
      g |= ((c >> 1) & 1) << bit;
      b |= ((c >> 2) & 1) << bit;
      c >>= 3;
    }
    out.push([r, g, b]);
  }
  return out;
}

const VOC = Object.freeze(vocPalette(256).map((c) => Object.freeze(c))) as ReadonlyArray<Rgb>;

function scoresArg(what: string, scores: unknown): Tensor {
  if (!(scores instanceof Tensor) || scores.dtype !== 'float32' || scores.rank !== 4) {
    throw invalidArgument(`${what} scores`, 'a 4-D float32 Tensor [N, K, H, W]', scores instanceof Tensor ? scores.toString() : scores);
  }
  return scores;
}

/**
 * The label map of scores [N, K, H, W]: for each pixel the class with the highest score (the
 * first on ties), int32 [N, H, W]. Computed natively (ops.argmax along axis 1), off the JS thread.
 */
export async function argmaxLabels(scores: Tensor, options: { threads?: number } = {}): Promise<Tensor<Int32Array>> {
  const t = scoresArg('argmaxLabels', scores);
  return (await ops.argmax(t, 1, options)) as Tensor<Int32Array>;
}

/** argmaxLabels on the calling thread. */
export function argmaxLabelsSync(scores: Tensor, options: { threads?: number } = {}): Tensor<Int32Array> {
  const t = scoresArg('argmaxLabelsSync', scores);
  return ops.sync.argmax(t, 1, options) as Tensor<Int32Array>;
}

/**
 * Colours a label map: labels of shape [H, W] (or [1, H, W], [1, 1, H, W]: one image), int32 or
 * a Tensor of them, with `palette` ('voc', the default: 256 colours, or a list of [r, g, b] by
 * label). Labels the palette has no colour for (negative, or past its end) are black.
 */
export function colorize(labels: Tensor, palette: Palette = 'voc'): RgbImage {
  if (!(labels instanceof Tensor) || labels.dtype !== 'int32' || labels.rank < 2) {
    throw invalidArgument('colorize labels', 'an int32 Tensor [H, W] or [1, H, W]', labels instanceof Tensor ? labels.toString() : labels);
  }
  const shape = labels.shape;
  if (shape.slice(0, -2).some((d) => d !== 1)) {
    throw new FcnkitError('SHAPE_MISMATCH', `colorize: expected one image ([H, W] or [1, H, W]) but received labels [${shape.join(', ')}]; colour each image separately`);
  }
  let colors: ReadonlyArray<Rgb>;
  if (palette === 'voc') colors = VOC;
  else if (Array.isArray(palette)) {
    palette.forEach((c, i) => {
      if (!Array.isArray(c) || c.length !== 3 || c.some((v) => !Number.isInteger(v) || v < 0 || v > 255)) {
        throw invalidArgument(`colorize palette[${i}]`, '[r, g, b] of integers 0 to 255', c);
      }
    });
    colors = palette;
  } else throw invalidArgument('colorize palette', "'voc' or an array of [r, g, b]", palette);
  const height = shape[shape.length - 2];
  const width = shape[shape.length - 1];
  // A flat table: one lookup per pixel.
  const table = new Uint8Array(colors.length * 3);
  colors.forEach((c, i) => table.set(c, 3 * i));
  const src = labels.data;
  const data = new Uint8Array(3 * src.length);
  for (let i = 0; i < src.length; i++) {
    const l = src[i];
    if (l >= 0 && l < colors.length) {
      data[3 * i] = table[3 * l];
      data[3 * i + 1] = table[3 * l + 1];
      data[3 * i + 2] = table[3 * l + 2];
    }
  }
  return { data, width, height, channels: 3 };
}
