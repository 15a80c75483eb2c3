/**
 * Overlap-tile (Ronneberger, Fischer, Brox, fig. 2): a net with unpadded ('valid') convolutions
 * predicts an out×out tile from an (out + 2c)×(out + 2c) input, c pixels of context per side.
 * Tiling the output and giving each tile its context from the image, mirrored at the image's
 * border, makes a seamless prediction of an image of any size, each tile as large as memory
 * allows.
 *
 * How the tiles are laid out:
 * - the context c (per axis) is read from the model: c = (in - out) / 2 for the first legal
 *   input size from the tile up, then checked: an input of tile + 2c must give exactly the tile;
 * - output tiles start at 0, tile, 2·tile, ... and cover ceil(H / tile) × ceil(W / tile); tile
 *   (ty, tx) reads input rows ty·tile - c ... ty·tile + tile + c - 1 (likewise columns);
 * - rows and columns outside the image are mirrored ('reflect': the edge pixel is not repeated,
 *   the pattern continues periodically for any distance), or zero with mirror: false. The last
 *   tiles extend past the image the same way and the stitched output is cropped to H×W, so
 *   every tile has full size and one plan serves them all.
 * Each output pixel is computed from exactly the input an untiled pass over the mirrored image
 * would give it, so the result equals one big pass (up to float rounding).
 */
import { FcnkitError, invalidArgument } from '../errors';
import { Tensor } from '../tensor';
import type { RunOptions } from '../graph/model';

/** What overlapTile needs of a model: a Model, or anything with the same run() and outputShape(). */
export interface TileableModel {
  run(input: Tensor, options?: RunOptions): Promise<Tensor | Record<string, Tensor>>;
  outputShape(inputShape: readonly number[]): number[] | Record<string, number[]>;
  /** When given, the first input's channel count is checked against the image's. */
  readonly inputs?: ReadonlyArray<{ readonly name: string; readonly shape: readonly unknown[] }>;
}

export interface OverlapTileOptions extends RunOptions {
  /** Output tile size: a number or [h, w]; tile + 2·context must be an input size the net takes. */
  tile: number | readonly [number, number];
  /** Mirror the image at its border (default true); false: zeros outside the image. */
  mirror?: boolean;
  /** Tiles per run, stacked along N (needs a model whose batch size is not fixed). Default 1. */
  batch?: number;
}

export interface TileGeometry {
  /** Context per side [y, x]: (input tile - output tile) / 2. */
  context: [number, number];
  /** Output tile [h, w]. */
  tile: [number, number];
  /** Input tile [h, w] = tile + 2·context. */
  inputTile: [number, number];
}

const SEARCH = 4096;

function spatialOut(model: TileableModel, channels: number, h: number, w: number): [number, number] | undefined {
  let s: number[] | Record<string, number[]>;
  try {
    s = model.outputShape([1, channels, h, w]);
  } catch (err) {
    if (err instanceof FcnkitError && (err.code === 'SHAPE_MISMATCH' || err.code === 'INVALID_ARGUMENT')) return undefined;
    throw err;
  }
  if (!Array.isArray(s)) throw new FcnkitError('INVALID_ARGUMENT', 'overlapTile: the model has several outputs; it takes a model with one');
  if (s.length !== 4) throw new FcnkitError('SHAPE_MISMATCH', `overlapTile: expected a 4-D output [N, K, H, W] but the model gives [${s.join(', ')}]`);
  return [s[2], s[3]];
}

/**
 * The context and input tile of `model` for an output tile (see the file comment), from shape
 * inference only. SHAPE_MISMATCH when no input gives exactly that tile, naming legal tiles nearby.
 */
export function overlapTileGeometry(model: TileableModel, tile: number | readonly [number, number], channels: number): TileGeometry {
  if (typeof model !== 'object' || model === null || typeof model.outputShape !== 'function') {
    throw invalidArgument('overlapTile model', 'a Model', model);
  }
  const t = tilePair(tile);
  if (!Number.isSafeInteger(channels) || channels < 1) throw invalidArgument('overlapTile channels', 'an integer >= 1', channels);
  const declared = model.inputs?.[0]?.shape;
  if (declared && declared.length === 4 && typeof declared[1] === 'number' && declared[1] !== channels) {
    throw new FcnkitError('SHAPE_MISMATCH', `overlapTile: the model takes ${declared[1]} input channels but the image has ${channels}`);
  }
  const start = Math.max(t[0], t[1]);
  let ctx: [number, number] | undefined;
  let legalSize = 0;
  for (let s = start; s <= start + SEARCH && !ctx; s++) {
    const out = spatialOut(model, channels, s, s);
    if (!out) continue;
    const d = [s - out[0], s - out[1]];
    if (d.some((x) => x < 0 || x % 2 !== 0)) {
      throw new FcnkitError('SHAPE_MISMATCH', `overlapTile: input ${s}×${s} gives an output of ${out[0]}×${out[1]}; the net must shrink its input by an even amount (a 'valid' net with the output centred)`);
    }
    ctx = [d[0] / 2, d[1] / 2];
    legalSize = s;
  }
  if (!ctx) throw new FcnkitError('SHAPE_MISMATCH', `overlapTile: no input size from ${start} to ${start + SEARCH} is legal for this model`);
  const inputTile: [number, number] = [t[0] + 2 * ctx[0], t[1] + 2 * ctx[1]];
  const out = spatialOut(model, channels, inputTile[0], inputTile[1]);
  if (!out || out[0] !== t[0] || out[1] !== t[1]) {
    // One axis at a time, the other at a size known to be legal.
    const legal = (axis: 0 | 1, n: number): boolean => {
      const o = spatialOut(model, channels, axis === 0 ? n + 2 * ctx![0] : legalSize, axis === 1 ? n + 2 * ctx![1] : legalSize);
      return o !== undefined && o[axis] === n;
    };
    const near = (axis: 0 | 1): string => {
      let below: number | undefined;
      let above: number | undefined;
      for (let n = t[axis] - 1; n >= 1 && n >= t[axis] - SEARCH && below === undefined; n--) if (legal(axis, n)) below = n;
      for (let n = t[axis] + 1; n <= t[axis] + SEARCH && above === undefined; n++) if (legal(axis, n)) above = n;
      return [below, above].filter((n) => n !== undefined).join(' or ') || 'none found';
    };
    const bad = ([0, 1] as const).filter((axis) => !legal(axis, t[axis]));
    const hint = (bad.length ? bad : ([0, 1] as const)).map((axis) => `${axis === 0 ? 'height' : 'width'} ${t[axis]}: try ${near(axis)}`);
    throw new FcnkitError('SHAPE_MISMATCH', `overlapTile: tile ${t[0]}×${t[1]} needs an input of ${inputTile[0]}×${inputTile[1]} ` +
      `(context ${ctx[0]}, ${ctx[1]} per side), which the model ${out ? `maps to ${out[0]}×${out[1]}` : 'does not take'}; ${hint.join('; ')}`);
  }
  return { context: ctx, tile: t, inputTile };
}

function tilePair(tile: unknown): [number, number] {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
  if (ok(tile)) return [tile, tile];
  if (Array.isArray(tile) && tile.length === 2 && ok(tile[0]) && ok(tile[1])) return [tile[0], tile[1]];
  throw invalidArgument('overlapTile tile', 'an integer >= 1 or [h, w]', tile);
}

/** Index into [0, n) of coordinate i mirrored at both edges without repeating them (period 2n - 2). */
function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const p = 2 * n - 2;
  const m = ((i % p) + p) % p;
  return m < n ? m : p - m;
}

/** Source row (or column) of each tile position, -1 for a zero. */
function sourceMap(start: number, length: number, n: number, mirror: boolean): Int32Array {
  const map = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const r = start + i;
    map[i] = r >= 0 && r < n ? r : mirror ? reflectIndex(r, n) : -1;
  }
  return map;
}

/**
 * Predicts `image` [N, C, H, W] of any size with a valid-padded `model` tile by tile (see the
 * file comment) and returns the stitched output [N, K, H, W]. Tiles run one after another (or
 * `batch` at a time); `signal` and `threads` go to every run.
 */
export async function overlapTile(model: TileableModel, image: Tensor, options: OverlapTileOptions): Promise<Tensor<Float32Array>> {
  if (typeof model !== 'object' || model === null || typeof model.run !== 'function' || typeof model.outputShape !== 'function') {
    throw invalidArgument('overlapTile model', 'a Model', model);
  }
  if (!(image instanceof Tensor) || image.dtype !== 'float32' || image.rank !== 4) {
    throw invalidArgument('overlapTile image', 'a 4-D float32 Tensor [N, C, H, W]', image instanceof Tensor ? image.toString() : image);
  }
  if (typeof options !== 'object' || options === null) throw invalidArgument('overlapTile options', 'an object with tile', options);
  const { tile, mirror = true, batch = 1, ...runOptions } = options;
  if (typeof mirror !== 'boolean') throw invalidArgument('overlapTile mirror', 'a boolean', mirror);
  if (!Number.isSafeInteger(batch) || batch < 1) throw invalidArgument('overlapTile batch', 'an integer >= 1', batch);
  const [N, C, H, W] = image.shape;
  const geo = overlapTileGeometry(model, tile, C);
  const [th, tw] = geo.tile;
  const [ih, iw] = geo.inputTile;
  const [cy, cx] = geo.context;
  const src = image.data as Float32Array;

  const tiles: Array<[number, number]> = [];
  for (let ty = 0; ty < Math.ceil(H / th); ty++) for (let tx = 0; tx < Math.ceil(W / tw); tx++) tiles.push([ty, tx]);

  let out: Float32Array | undefined;
  let K = 0;
  for (let first = 0; first < tiles.length; first += batch) {
    const group = tiles.slice(first, first + batch);
    const input = new Float32Array(group.length * N * C * ih * iw);
    group.forEach(([ty, tx], g) => {
      const rows = sourceMap(ty * th - cy, ih, H, mirror);
      const cols = sourceMap(tx * tw - cx, iw, W, mirror);
      for (let plane = 0; plane < N * C; plane++) {
        const sBase = plane * H * W;
        const dBase = (g * N * C + plane) * ih * iw;
        for (let i = 0; i < ih; i++) {
          const r = rows[i];
          if (r < 0) continue;
          const sRow = sBase + r * W;
          const dRow = dBase + i * iw;
          for (let j = 0; j < iw; j++) {
            const c = cols[j];
            if (c >= 0) input[dRow + j] = src[sRow + c];
          }
        }
      }
    });
    const res = await model.run(new Tensor(input, [group.length * N, C, ih, iw]), runOptions);
    if (!(res instanceof Tensor)) throw new FcnkitError('INVALID_ARGUMENT', 'overlapTile: the model has several outputs; it takes a model with one');
    const [bn, k, oh, ow] = res.shape;
    if (res.rank !== 4 || bn !== group.length * N || oh !== th || ow !== tw || res.dtype !== 'float32') {
      throw new FcnkitError('SHAPE_MISMATCH', `overlapTile: a ${ih}×${iw} input tile gave ${res.toString()}, expected [${group.length * N}, K, ${th}, ${tw}]`);
    }
    if (!out) {
      K = k;
      out = new Float32Array(N * K * H * W);
    }
    const r = res.data as Float32Array;
    group.forEach(([ty, tx], g) => {
      const y0 = ty * th;
      const x0 = tx * tw;
      const hh = Math.min(th, H - y0);
      const ww = Math.min(tw, W - x0);
      for (let plane = 0; plane < N * K; plane++) {
        const sBase = (g * N * K + plane) * th * tw;
        const dBase = plane * H * W;
        for (let y = 0; y < hh; y++) {
          const s = sBase + y * tw;
          out!.set(r.subarray(s, s + ww), dBase + (y0 + y) * W + x0);
        }
      }
    });
  }
  return new Tensor(out!, [N, K, H, W]);
}
