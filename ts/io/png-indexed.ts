/**
 * Indexed (palette) PNG: write a label map with an exact palette, and read the indices back.
 *
 * Why not sharp: sharp decodes a palette PNG to its colours (the class indices are lost) and
 * writes palette PNGs by quantising, which may reorder the palette. Label maps need index i to
 * stay i: PASCAL VOC's own ground truth (SegmentationClass/*.png) is stored this way, and so is
 * our colour output, so that `fcnkit eval` reads either.
 */
import { deflate, inflateSync } from 'node:zlib';
import { promisify } from 'node:util';
import { FcnkitError } from '../errors';

const deflateAsync = promisify(deflate);

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, crc = 0xffffffff): number {
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0);
  return out;
}

/** An 8-bit indexed PNG of `indices` (width × height, row-major) with `palette` (≤ 256 RGB). */
export async function encodeIndexedPng(
  indices: Uint8Array,
  width: number,
  height: number,
  palette: ReadonlyArray<readonly [number, number, number]>,
): Promise<Uint8Array> {
  if (indices.length !== width * height) {
    throw new FcnkitError('SHAPE_MISMATCH', `indexed PNG: ${width}×${height} needs ${width * height} indices but got ${indices.length}`);
  }
  if (palette.length < 1 || palette.length > 256) throw new FcnkitError('INVALID_ARGUMENT', `indexed PNG: a palette has 1 to 256 colours, not ${palette.length}`);
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 3; // colour type: palette
  const plte = new Uint8Array(palette.length * 3);
  palette.forEach((c, i) => plte.set(c, 3 * i));
  // Filter type 0 (none) on every row: label maps are runs of equal bytes, which deflate takes well.
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const idat = new Uint8Array(await deflateAsync(raw, { level: 6 }));
  const parts = [SIGNATURE, chunk('IHDR', ihdr), chunk('PLTE', plte), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface PngInfo {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** The IHDR of a PNG, or undefined when `bytes` is not a PNG. */
export function pngInfo(bytes: Uint8Array): PngInfo | undefined {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]) !== 'IHDR') return undefined;
  return { width: v.getUint32(16), height: v.getUint32(20), bitDepth: bytes[24], colorType: bytes[25], interlaced: bytes[28] !== 0 };
}

/**
 * The palette indices of an indexed PNG (colour type 3, bit depth 1/2/4/8, not interlaced), one
 * byte per pixel. `maxPixels` bounds what is allocated before the data is inflated.
 */
export function decodeIndexedPng(bytes: Uint8Array, source: string, maxPixels = 1 << 28): { indices: Uint8Array; width: number; height: number } {
  const info = pngInfo(bytes);
  if (!info) throw new FcnkitError('BAD_IMAGE', `${source}: not a PNG file`);
  const { width, height, bitDepth, colorType, interlaced } = info;
  if (colorType !== 3) throw new FcnkitError('BAD_IMAGE', `${source}: not an indexed (palette) PNG`);
  if (interlaced) throw new FcnkitError('BAD_IMAGE', `${source}: interlaced indexed PNGs are not supported; save it without interlacing`);
  if (![1, 2, 4, 8].includes(bitDepth)) throw new FcnkitError('BAD_IMAGE', `${source}: bad bit depth ${bitDepth} for an indexed PNG`);
  if (width < 1 || height < 1) throw new FcnkitError('BAD_IMAGE', `${source}: empty image ${width}×${height}`);
  if (width * height > maxPixels) throw new FcnkitError('TOO_LARGE', `${source}: ${width}×${height} is over the ${maxPixels}-pixel limit`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  for (let off = 8; off + 12 <= bytes.length;) {
    const len = v.getUint32(off);
    const type = String.fromCharCode(bytes[off + 4], bytes[off + 5], bytes[off + 6], bytes[off + 7]);
    if (off + 12 + len > bytes.length) throw new FcnkitError('BAD_IMAGE', `${source}: truncated PNG chunk '${type}'`);
    if (type === 'IDAT') idat.push(bytes.subarray(off + 8, off + 8 + len));
    if (type === 'IEND') break;
    off += 12 + len;
  }
  const stride = Math.ceil((width * bitDepth) / 8);
  const expected = height * (stride + 1);
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected + 1 });
  } catch (err) {
    throw new FcnkitError('BAD_IMAGE', `${source}: corrupt PNG data (${(err as Error).message})`);
  }
  if (raw.length < expected) throw new FcnkitError('BAD_IMAGE', `${source}: PNG data ends early`);
  const rows = new Uint8Array(height * stride);
  let prev = new Uint8Array(stride);
  const bpp = 1; // bytes per complete pixel, rounded up to one for bit depths below 8
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = rows.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp] : 0;
      const b = prev[x];
      const c = x >= bpp ? prev[x - bpp] : 0;
      let pred: number;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new FcnkitError('BAD_IMAGE', `${source}: bad PNG filter type ${filter} on row ${y}`);
      }
      cur[x] = (line[x] + pred) & 0xff;
    }
    prev = cur;
  }
  if (bitDepth === 8) return { indices: rows, width, height };
  const indices = new Uint8Array(width * height);
  const perByte = 8 / bitDepth;
  const mask = (1 << bitDepth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = rows[y * stride + Math.floor(x / perByte)];
      indices[y * width + x] = (byte >> (8 - bitDepth * ((x % perByte) + 1))) & mask;
    }
  }
  return { indices, width, height };
}
