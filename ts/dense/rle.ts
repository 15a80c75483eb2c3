/**
 * COCO run-length encoding, byte-compatible with pycocotools' compressed string form
 * (maskApi.c rleToString / rleFrString): runs over the mask in column-major order starting with
 * background; each count after the second is stored as the difference to the count two before,
 * in 5-bit little-endian groups with a continuation bit, offset by 48 into printable ASCII.
 */
import { FcnkitError, invalidArgument } from '../errors';

export interface Rle {
  /** [height, width], as COCO. */
  size: [number, number];
  counts: string;
}

/** Encodes a row-major width·height mask (nonzero = inside). */
export function encodeRle(mask: Uint8Array, width: number, height: number): Rle {
  if (!(mask instanceof Uint8Array)) throw invalidArgument('encodeRle mask', 'a Uint8Array', mask);
  if (!Number.isSafeInteger(width) || width < 0 || !Number.isSafeInteger(height) || height < 0 || mask.length !== width * height) {
    throw invalidArgument('encodeRle size', `width and height with width·height = ${mask.length}`, [width, height]);
  }
  const counts: number[] = [];
  let prev = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = mask[y * width + x] ? 1 : 0;
      if (v !== prev) {
        counts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  counts.push(run);
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return { size: [height, width], counts: s };
}

/** Decodes to a row-major width·height Uint8Array (1 inside). */
export function decodeRle(rle: Rle): Uint8Array {
  if (typeof rle !== 'object' || rle === null || !Array.isArray(rle.size) || rle.size.length !== 2) {
    throw invalidArgument('decodeRle rle', '{ size: [height, width], counts: string }', rle);
  }
  const [height, width] = rle.size;
  if (!Number.isSafeInteger(width) || width < 0 || !Number.isSafeInteger(height) || height < 0 || width * height > 2 ** 31) {
    throw invalidArgument('decodeRle size', '[height, width] of non-negative integers', rle.size);
  }
  if (typeof rle.counts !== 'string') throw invalidArgument('decodeRle counts', 'a string (compressed RLE)', rle.counts);
  const s = rle.counts;
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new FcnkitError('INVALID_ARGUMENT', 'decodeRle: counts string ends inside a number');
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new FcnkitError('INVALID_ARGUMENT', `decodeRle: invalid character '${s[p]}' in counts`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k);
      if (k > 7) throw new FcnkitError('INVALID_ARGUMENT', 'decodeRle: a count is too long');
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  const n = width * height;
  const out = new Uint8Array(n);
  let pos = 0;
  let v = 0;
  for (const c of counts) {
    if (c < 0 || pos + c > n) throw new FcnkitError('INVALID_ARGUMENT', `decodeRle: runs cover more than ${n} pixels or are negative`);
    if (v) {
      for (let i = pos; i < pos + c; i++) {
        const x = Math.floor(i / height), y = i % height;
        out[y * width + x] = 1;
      }
    }
    pos += c;
    v ^= 1;
  }
  if (pos !== n) throw new FcnkitError('INVALID_ARGUMENT', `decodeRle: runs cover ${pos} of ${n} pixels`);
  return out;
}
