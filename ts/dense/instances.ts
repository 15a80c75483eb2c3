/**
 * Instance masks: pasting a Mask R-CNN mask (M×M probabilities for one box) into the image as
 * torchvision's paste_masks_in_image, and the label map of a set of instances.
 */
import { invalidArgument } from '../errors';

export interface Instance {
  /** Class index (0 is background, never returned). */
  label: number;
  /** The class's name when the model has `classes`, else String(label). */
  className: string;
  score: number;
  /** [x1, y1, x2, y2] in image pixels. */
  box: [number, number, number, number];
  /** width·height, 1 inside the instance, row-major. */
  mask: Uint8Array;
}

/**
 * Pastes an M×M probability mask for `box` into a width×height image and thresholds it (> threshold),
 * as torchvision: the mask is padded by one cell and the box grown by (M + 2) / M about its
 * centre, truncated to integers; the mask is resized bilinearly (align_corners = false) to the
 * box's (x2 - x1 + 1) × (y2 - y1 + 1) pixels and copied where the box meets the image.
 */
export function pasteMask(
  probs: Float32Array, m: number, box: readonly number[], width: number, height: number, threshold: number, out: Uint8Array,
): void {
  const p = m + 2;
  const padded = new Float32Array(p * p);
  for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) padded[(y + 1) * p + x + 1] = probs[y * m + x];
  const scale = p / m;
  const wHalf = Math.fround(Math.fround(Math.fround(box[2] - box[0]) * 0.5) * scale);
  const hHalf = Math.fround(Math.fround(Math.fround(box[3] - box[1]) * 0.5) * scale);
  const xc = Math.fround(Math.fround(box[2] + box[0]) * 0.5);
  const yc = Math.fround(Math.fround(box[3] + box[1]) * 0.5);
  const bx0 = Math.trunc(Math.fround(xc - wHalf)), bx1 = Math.trunc(Math.fround(xc + wHalf));
  const by0 = Math.trunc(Math.fround(yc - hHalf)), by1 = Math.trunc(Math.fround(yc + hHalf));
  const w = Math.max(bx1 - bx0 + 1, 1), h = Math.max(by1 - by0 + 1, 1);
  const x0 = Math.max(bx0, 0), x1 = Math.min(bx1 + 1, width);
  const y0 = Math.max(by0, 0), y1 = Math.min(by1 + 1, height);
  if (x0 >= x1 || y0 >= y1) return;
  // Bilinear taps as torch's upsample_bilinear2d (align_corners = false, scale = in / out).
  const taps = (inSize: number, outSize: number, from: number, to: number, off: number): { i0: Int32Array; i1: Int32Array; l1: Float32Array } => {
    const s = Math.fround(inSize / outSize);
    const n = to - from;
    const i0 = new Int32Array(n), i1 = new Int32Array(n), l1 = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const d = k + from - off;
      let src = Math.fround(Math.fround(s * Math.fround(d + 0.5)) - 0.5);
      if (src < 0) src = 0;
      const a = Math.floor(src);
      i0[k] = a;
      i1[k] = a + (a < inSize - 1 ? 1 : 0);
      l1[k] = Math.fround(src - a);
    }
    return { i0, i1, l1 };
  };
  const tx = taps(p, w, x0, x1, bx0);
  const ty = taps(p, h, y0, y1, by0);
  for (let yy = 0; yy < y1 - y0; yy++) {
    const r0 = ty.i0[yy] * p, r1 = ty.i1[yy] * p;
    const ly = ty.l1[yy], hy = 1 - ly;
    const row = (yy + y0) * width;
    for (let xx = 0; xx < x1 - x0; xx++) {
      const c0 = tx.i0[xx], c1 = tx.i1[xx];
      const lx = tx.l1[xx], hx = 1 - lx;
      const v = hy * (hx * padded[r0 + c0] + lx * padded[r0 + c1]) + ly * (hx * padded[r1 + c0] + lx * padded[r1 + c1]);
      out[row + xx + x0] = Math.fround(v) > threshold ? 1 : 0;
    }
  }
}

/**
 * One label per pixel: 0 background, i for the i-th instance (1-based, in the given order).
 * Where masks overlap the earlier instance wins (instances come sorted by score, so higher
 * scores are on top).
 */
export function instanceLabelMap(instances: readonly Pick<Instance, 'mask'>[], width: number, height: number): Uint16Array {
  if (!Array.isArray(instances)) throw invalidArgument('instanceLabelMap instances', 'an array of instances', instances);
  if (!Number.isSafeInteger(width) || width < 1 || !Number.isSafeInteger(height) || height < 1) {
    throw invalidArgument('instanceLabelMap size', 'positive integer width and height', [width, height]);
  }
  if (instances.length > 65535) throw invalidArgument('instanceLabelMap instances', 'at most 65535 instances', instances.length);
  const out = new Uint16Array(width * height);
  for (let i = instances.length - 1; i >= 0; i--) {
    const m = instances[i]?.mask;
    if (!(m instanceof Uint8Array) || m.length !== width * height) {
      throw invalidArgument(`instanceLabelMap instances[${i}].mask`, `a Uint8Array of ${width * height} pixels`, m);
    }
    for (let k = 0; k < m.length; k++) if (m[k]) out[k] = i + 1;
  }
  return out;
}
