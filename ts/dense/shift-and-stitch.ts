/**
 * Shift-and-stitch (Long, Shelhamer, Darrell, sec. 3.2; OverFeat's trick): a net whose output
 * is downsampled by f gives dense predictions from f² passes over shifted copies of the input,
 * interlaced.
 *
 * Convention (exact): for every (dy, dx) in [0, f)², the input is shifted up by dy and left by
 * dx, keeping its size,
 *
 *   shifted[n, c, i, j] = image[n, c, i + dy, j + dx]   (0 where i + dy >= H or j + dx >= W),
 *
 * i.e. the first dy rows and dx columns are dropped and zeros fill the bottom and right. With
 * out_(dy,dx) = model(shifted) of size h×w, the stitched output is (f·h)×(f·w) with
 *
 *   output[n, k, y·f + dy, x·f + dx] = out_(dy,dx)[n, k, y, x].
 *
 * Output cell (y, x) of an unshifted stride-f net looks at the image around (y·f, x·f); on the
 * input shifted by (dy, dx) it looks around (y·f + dy, x·f + dx), which is where the stitch puts
 * it, so the stitched map is the net's prediction at stride 1 for f equal to the net's stride.
 * (The paper words it as shifting the input right and down; moving the sampling grid of the net
 * over the image by +d is the same thing as moving the image by -d under the grid.)
 */
import { FcnkitError, invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import { ops } from '../ops';
import type { RunOptions } from '../graph/model';

/** What shiftAndStitch runs: a Model, or anything with the same run(). */
export interface RunnableModel {
  run(input: Tensor, options?: RunOptions): Promise<Tensor | Record<string, Tensor>>;
}

export interface ShiftAndStitchOptions extends RunOptions {
  /** The densification factor f (the net's output stride for a full-resolution result), >= 1. */
  factor: number;
}

/** The input shifted up by dy and left by dx (zeros enter at the bottom and right). */
async function shifted(image: Tensor, dy: number, dx: number, threads?: number): Promise<Tensor> {
  if (dy === 0 && dx === 0) return image;
  // A negative pad crops: drop dy rows at the top and dx columns at the left, add as many zeros
  // at the bottom and right.
  return ops.pad(image, { pads: [-dy, -dx, dy, dx], mode: 'constant', value: 0, ...(threads === undefined ? {} : { threads }) });
}

function interleave(outs: Tensor[], f: number, what: string): Tensor<Float32Array> {
  const [n, k, h, w] = outs[0].shape;
  for (const o of outs) {
    if (o.rank !== 4 || o.shape.some((d, i) => d !== outs[0].shape[i]) || o.dtype !== 'float32') {
      throw new FcnkitError('SHAPE_MISMATCH', `shiftAndStitch: output '${what}' has shape [${o.shape.join(', ')}] on one shift and [${outs[0].shape.join(', ')}] on another (expected equal 4-D float32 outputs)`);
    }
  }
  const H = h * f;
  const W = w * f;
  const data = new Float32Array(n * k * H * W);
  for (let dy = 0; dy < f; dy++) {
    for (let dx = 0; dx < f; dx++) {
      const src = outs[dy * f + dx].data as Float32Array;
      for (let plane = 0; plane < n * k; plane++) {
        const sBase = plane * h * w;
        const dBase = plane * H * W;
        for (let y = 0; y < h; y++) {
          const row = dBase + (y * f + dy) * W + dx;
          const sRow = sBase + y * w;
          for (let x = 0; x < w; x++) data[row + x * f] = src[sRow + x];
        }
      }
    }
  }
  return new Tensor(data, [n, k, H, W]);
}

/**
 * Runs `model` on the f² shifted copies of `image` [N, C, H, W] (one after another) and
 * interlaces the results into an output f times denser on each axis: see the file comment for
 * the exact convention. A model with several outputs gives a record of stitched outputs.
 * `signal` and `threads` go to every run.
 */
export async function shiftAndStitch(
  model: RunnableModel, image: Tensor, options: ShiftAndStitchOptions,
): Promise<Tensor<Float32Array> | Record<string, Tensor<Float32Array>>> {
  if (typeof model !== 'object' || model === null || typeof (model as RunnableModel).run !== 'function') {
    throw invalidArgument('shiftAndStitch model', 'a Model', model);
  }
  if (!(image instanceof Tensor) || image.dtype !== 'float32' || image.rank !== 4) {
    throw invalidArgument('shiftAndStitch image', 'a 4-D float32 Tensor [N, C, H, W]', image instanceof Tensor ? image.toString() : image);
  }
  if (typeof options !== 'object' || options === null) throw invalidArgument('shiftAndStitch options', 'an object with factor', options);
  const { factor: f, ...runOptions } = options;
  if (!Number.isSafeInteger(f) || f < 1) throw invalidArgument('shiftAndStitch factor', 'an integer >= 1', f);
  const [, , H, W] = image.shape;
  if (f > H || f > W) {
    throw new FcnkitError('SHAPE_MISMATCH', `shiftAndStitch: factor ${f} shifts by up to ${f - 1} pixels, more than the image ${H}×${W} allows`);
  }
  const outs: Array<Tensor | Record<string, Tensor>> = [];
  for (let dy = 0; dy < f; dy++) {
    for (let dx = 0; dx < f; dx++) {
      outs.push(await model.run(await shifted(image, dy, dx, runOptions.threads), runOptions));
    }
  }
  if (outs[0] instanceof Tensor) return interleave(outs as Tensor[], f, 'output');
  const rec: Record<string, Tensor<Float32Array>> = {};
  for (const name of Object.keys(outs[0])) rec[name] = interleave(outs.map((o) => (o as Record<string, Tensor>)[name]), f, name);
  return rec;
}
