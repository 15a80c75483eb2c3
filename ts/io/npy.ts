/**
 * NumPy's .npy format, versions 1.0, 2.0 and 3.0: one array, C order.
 *
 * File layout: "\x93NUMPY", major, minor, header length (uint16 LE in 1.x, uint32 LE in 2.x/3.x),
 * then a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces to a multiple of 64 bytes and ending in '\n' (latin-1 before 3.0, UTF-8 in
 * 3.0), then the raw data.
 *
 * The header is parsed by a small tokenizer, never evaluated, and checked against what the file
 * can back before anything is allocated: a 100-byte file claiming a terabyte is refused, not
 * allocated. Malformed files are INVALID_ARGUMENT (the file is the user's input, not a model),
 * sizes past the limit TOO_LARGE.
 */
import { FcnkitError } from '../errors';
import { FILE_LIMITS, readRegularFile } from './safe-file';
import { Tensor } from '../tensor';
import { writeFileAtomic } from './atomic-write';

export const NPY_DTYPES = [
  'float32', 'float64', 'float16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool',
] as const;
export type NpyDType = (typeof NPY_DTYPES)[number];

export type NpyData =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** float16 comes as its raw bits in a Uint16Array; bool as 0/1 bytes in a Uint8Array. */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** numpy itself refuses headers past 10 000 bytes by default; we allow more but not unbounded. */
const MAX_HEADER_BYTES = 1 << 20;
const MAX_RANK = 32;
const MAX_HEADER_NESTING = 8;
/** The most bytes of array data we accept (a typed array's own limit on 64-bit Node is higher). */
export const NPY_MAX_BYTES = 2 ** 33;

interface DTypeInfo {
  dtype: NpyDType;
  size: number;
}

/** descr kind+size -> dtype, byte order handled separately. */
const DESCR: Record<string, DTypeInfo> = {
  f4: { dtype: 'float32', size: 4 },
  f8: { dtype: 'float64', size: 8 },
  f2: { dtype: 'float16', size: 2 },
  i1: { dtype: 'int8', size: 1 },
  u1: { dtype: 'uint8', size: 1 },
  i2: { dtype: 'int16', size: 2 },
  u2: { dtype: 'uint16', size: 2 },
  i4: { dtype: 'int32', size: 4 },
  u4: { dtype: 'uint32', size: 4 },
  i8: { dtype: 'int64', size: 8 },
  u8: { dtype: 'uint64', size: 8 },
  b1: { dtype: 'bool', size: 1 },
};

const DESCR_OF: Record<NpyDType, string> = {
  float32: '<f4', float64: '<f8', float16: '<f2', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2',
  int32: '<i4', uint32: '<u4', int64: '<i8', uint64: '<u8', bool: '|b1',
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bad(what: string, source: string): FcnkitError {
  return new FcnkitError('INVALID_ARGUMENT', `${source}: not a valid NPY file: ${what}`);
}

// ---- header dict tokenizer ------------------------------------------------------------------

type PyValue = string | boolean | number | PyValue[] | null;

class HeaderParser {
  private i = 0;
  constructor(private readonly s: string, private readonly source: string) {}

  parseDict(): Map<string, PyValue> {
    const out = new Map<string, PyValue>();
    this.ws();
    this.expect('{');
    for (;;) {
      this.ws();
      if (this.peek() === '}') {
        this.i++;
        break;
      }
      const key = this.value();
      if (typeof key !== 'string') throw bad('header keys must be strings', this.source);
      if (out.has(key)) throw bad(`header key '${key}' appears twice`, this.source);
      this.ws();
      this.expect(':');
      out.set(key, this.value());
      this.ws();
      const c = this.peek();
      if (c === ',') this.i++;
      else if (c !== '}') throw bad(`expected ',' or '}' in the header at offset ${this.i}`, this.source);
    }
    this.ws();
    if (this.i !== this.s.length) throw bad('trailing characters after the header dict', this.source);
    return out;
  }

  private value(depth = 0): PyValue {
    this.ws();
    const c = this.peek();
    if (c === "'" || c === '"') return this.string(c);
    if (c === '(' || c === '[') {
      // A real header nests one level (the shape tuple); a bound keeps the recursion short.
      if (depth >= MAX_HEADER_NESTING) throw bad(`sequences nested more than ${MAX_HEADER_NESTING} deep in the header`, this.source);
      return this.sequence(c === '(' ? ')' : ']', depth + 1);
    }
    if (/[0-9+-]/.test(c)) return this.number();
    for (const [word, v] of [['True', true], ['False', false], ['None', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    throw bad(`unexpected ${c ? `'${c}'` : 'end'} in the header at offset ${this.i}`, this.source);
  }

  private string(quote: string): string {
    this.i++;
    const start = this.i;
    while (this.i < this.s.length && this.s[this.i] !== quote) {
      if (this.s[this.i] === '\\') throw bad('escapes in header strings are not supported', this.source);
      this.i++;
    }
    if (this.i >= this.s.length) throw bad('unterminated string in the header', this.source);
    return this.s.slice(start, this.i++);
  }

  private sequence(close: string, depth: number): PyValue[] {
    this.i++;
    const items: PyValue[] = [];
    for (;;) {
      this.ws();
      if (this.peek() === close) {
        this.i++;
        return items;
      }
      if (items.length > MAX_RANK * 4) throw bad('a header sequence is too long', this.source);
      items.push(this.value(depth));
      this.ws();
      const c = this.peek();
      if (c === ',') this.i++;
      else if (c !== close) throw bad(`expected ',' or '${close}' in the header at offset ${this.i}`, this.source);
    }
  }

  private number(): number {
    const m = /^[+-]?[0-9]{1,20}L?/.exec(this.s.slice(this.i, this.i + 24));
    if (!m) throw bad(`bad number in the header at offset ${this.i}`, this.source);
    this.i += m[0].length;
    return Number(m[0].replace(/L$/, ''));
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  private peek(): string {
    return this.s[this.i] ?? '';
  }

  private expect(c: string): void {
    if (this.s[this.i] !== c) throw bad(`expected '${c}' in the header at offset ${this.i}`, this.source);
    this.i++;
  }
}

// ---- reading -----------------------------------------------------------------------------

/** Parses .npy bytes. `source` names the file in error messages. The result's data is a copy
 *  (aligned, native byte order), never a view on `bytes`. */
export function parseNpy(bytes: Uint8Array, source = 'NPY data'): NpyArray {
  if (!(bytes instanceof Uint8Array)) throw new FcnkitError('INVALID_ARGUMENT', `Expected a Uint8Array for ${source} but received ${typeof bytes}`);
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) throw bad('no \\x93NUMPY magic at the start', source);
  const major = bytes[6];
  const minor = bytes[7];
  if (major < 1 || major > 3) throw bad(`format version ${major}.${minor} is not one of 1.0, 2.0, 3.0`, source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else {
    if (bytes.length < 12) throw bad('truncated before the header length', source);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  }
  if (headerLen > MAX_HEADER_BYTES) throw bad(`header length ${headerLen} is over the ${MAX_HEADER_BYTES}-byte limit`, source);
  if (headerStart + headerLen > bytes.length) {
    throw bad(`the header claims ${headerLen} bytes but the file has ${bytes.length - headerStart} after the preamble`, source);
  }
  const headerBytes = bytes.subarray(headerStart, headerStart + headerLen);
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(headerBytes);
  } catch {
    throw bad('the header is not valid UTF-8', source);
  }
  const dict = new HeaderParser(header, source).parseDict();

  for (const key of dict.keys()) {
    if (key !== 'descr' && key !== 'fortran_order' && key !== 'shape') throw bad(`unknown header key '${key}'`, source);
  }
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shapeValue = dict.get('shape');
  if (typeof descr !== 'string') {
    throw new FcnkitError('INVALID_ARGUMENT', `${source}: structured NPY arrays (descr ${JSON.stringify(descr)}) are not supported: save a plain numeric array`);
  }
  if (typeof fortran !== 'boolean') throw bad("'fortran_order' must be True or False", source);
  if (fortran) {
    throw new FcnkitError(
      'INVALID_ARGUMENT',
      `${source}: the array is stored in Fortran order; fcnkit reads C-order arrays only (save it with numpy.save(path, numpy.ascontiguousarray(a)))`,
    );
  }
  if (!Array.isArray(shapeValue)) throw bad("'shape' must be a tuple", source);
  if (shapeValue.length > MAX_RANK) throw bad(`rank ${shapeValue.length} is over ${MAX_RANK}`, source);
  const shape: number[] = [];
  for (const d of shapeValue) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw bad(`shape ${JSON.stringify(shapeValue)} has a dimension that is not a non-negative integer`, source);
    shape.push(d);
  }

  const m = /^([<>|=])([a-z])([0-9]+)$/.exec(descr);
  const info = m ? DESCR[`${m[2]}${m[3]}`] : undefined;
  if (!m || !info) {
    throw new FcnkitError(
      'INVALID_ARGUMENT',
      `${source}: NPY dtype '${descr}' is not supported (supported: ${NPY_DTYPES.join(', ')})`,
    );
  }
  const bigEndian = m[1] === '>' || (m[1] === '=' && !LITTLE_ENDIAN);

  // Overflow-checked size, against both our limit and what the file holds.
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count * info.size > NPY_MAX_BYTES) {
      throw new FcnkitError('TOO_LARGE', `${source}: shape [${shape.join(', ')}] of ${info.dtype} is over the ${NPY_MAX_BYTES}-byte limit`);
    }
  }
  const dataStart = headerStart + headerLen;
  const nbytes = count * info.size;
  const available = bytes.length - dataStart;
  if (available !== nbytes) {
    throw bad(
      `shape [${shape.join(', ')}] of ${info.dtype} needs ${nbytes} data bytes but the file has ${available}`,
      source,
    );
  }

  const raw = new Uint8Array(nbytes);
  raw.set(bytes.subarray(dataStart, dataStart + nbytes));
  if (bigEndian !== !LITTLE_ENDIAN && info.size > 1) swapBytes(raw, info.size);
  return { dtype: info.dtype, shape, data: typedView(info.dtype, raw.buffer) };
}

function swapBytes(raw: Uint8Array, size: number): void {
  for (let i = 0; i < raw.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = raw[a];
      raw[a] = raw[b];
      raw[b] = t;
    }
  }
}

function typedView(dtype: NpyDType, buf: ArrayBuffer): NpyData {
  switch (dtype) {
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'float16': return new Uint16Array(buf);
    case 'int8': return new Int8Array(buf);
    case 'uint8': return new Uint8Array(buf);
    case 'bool': return new Uint8Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'uint16': return new Uint16Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'uint32': return new Uint32Array(buf);
    case 'int64': return new BigInt64Array(buf);
    case 'uint64': return new BigUint64Array(buf);
  }
}

/** Reads a .npy file. IO_ERROR when it cannot be read. */
export async function readNpy(path: string): Promise<NpyArray> {
  const bytes = await readRegularFile(path, { what: 'NPY file', maxBytes: Math.min(FILE_LIMITS.npy, NPY_MAX_BYTES + MAX_HEADER_BYTES) });
  return parseNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

// ---- conversion to and from tensors ------------------------------------------------------

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * An NPY array as a fcnkit Tensor of `dtype`: floats convert to float32 (float64 rounds); integer
 * and bool arrays convert to int32 (or to float32 when asked), refusing values outside int32.
 */
export function npyToTensor(arr: NpyArray, dtype: 'float32' | 'int32' = 'float32', source = 'NPY data'): Tensor {
  const n = arr.data.length;
  if (dtype === 'float32') {
    if (arr.data instanceof Float32Array) return new Tensor(arr.data, arr.shape);
    const out = new Float32Array(n);
    if (arr.dtype === 'float16') {
      for (let i = 0; i < n; i++) out[i] = float16ToFloat32((arr.data as Uint16Array)[i]);
    } else if (arr.data instanceof BigInt64Array || arr.data instanceof BigUint64Array) {
      for (let i = 0; i < n; i++) out[i] = Number(arr.data[i]);
    } else {
      const d = arr.data as Exclude<NpyData, BigInt64Array | BigUint64Array>;
      for (let i = 0; i < n; i++) out[i] = d[i];
    }
    return new Tensor(out, arr.shape);
  }
  if (arr.dtype === 'float32' || arr.dtype === 'float64' || arr.dtype === 'float16') {
    throw new FcnkitError('INVALID_ARGUMENT', `${source}: expected an integer array for an int32 input but the file holds ${arr.dtype}`);
  }
  if (arr.data instanceof Int32Array) return new Tensor(arr.data, arr.shape);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(arr.data[i]);
    if (v < -2147483648 || v > 2147483647) {
      throw new FcnkitError('INVALID_ARGUMENT', `${source}: value ${arr.data[i]} at index ${i} does not fit in int32`);
    }
    out[i] = v;
  }
  return new Tensor(out, arr.shape);
}

/** A fcnkit Tensor as an NPY array: float32 as is; int32 as int64 (or as int32 when asked). */
export function tensorToNpy(t: Tensor, options: { intDtype?: 'int64' | 'int32' } = {}): NpyArray {
  if (t.data instanceof Float32Array) return { dtype: 'float32', shape: [...t.shape], data: t.data };
  if ((options.intDtype ?? 'int64') === 'int32') return { dtype: 'int32', shape: [...t.shape], data: t.data };
  const out = new BigInt64Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = BigInt(t.data[i]);
  return { dtype: 'int64', shape: [...t.shape], data: out };
}

// ---- writing -----------------------------------------------------------------------------

const EXPECTED_ARRAY: Record<NpyDType, string> = {
  float32: 'Float32Array', float64: 'Float64Array', float16: 'Uint16Array', int8: 'Int8Array', uint8: 'Uint8Array',
  int16: 'Int16Array', uint16: 'Uint16Array', int32: 'Int32Array', uint32: 'Uint32Array', int64: 'BigInt64Array',
  uint64: 'BigUint64Array', bool: 'Uint8Array',
};

/** Encodes an array as .npy bytes: version 1.0 when the header fits, 2.0 otherwise. */
export function encodeNpy(arr: NpyArray): Uint8Array {
  const { dtype, shape, data } = arr;
  if (!(NPY_DTYPES as readonly string[]).includes(dtype)) {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected one of ${NPY_DTYPES.join(', ')} for the NPY dtype but received ${JSON.stringify(dtype)}`);
  }
  if (data?.constructor?.name !== EXPECTED_ARRAY[dtype]) {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a ${EXPECTED_ARRAY[dtype]} for NPY ${dtype} data but received ${data?.constructor?.name}`);
  }
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected an array of non-negative integers for the NPY shape but received ${JSON.stringify(shape)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new FcnkitError('SHAPE_MISMATCH', `NPY shape [${shape.join(', ')}] needs ${count} elements but data has ${data.length}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${DESCR_OF[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let preamble = 10;
  let padded = Math.ceil((preamble + dict.length + 1) / 64) * 64 - preamble;
  if (padded > 0xffff) {
    major = 2;
    preamble = 12;
    padded = Math.ceil((preamble + dict.length + 1) / 64) * 64 - preamble;
  }
  const header = dict.padEnd(padded - 1, ' ') + '\n';
  const out = new Uint8Array(preamble + padded + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  for (let i = 0; i < header.length; i++) out[preamble + i] = header.charCodeAt(i);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(body, preamble + padded);
  if (!LITTLE_ENDIAN && data.BYTES_PER_ELEMENT > 1) swapBytes(out.subarray(preamble + padded), data.BYTES_PER_ELEMENT);
  return out;
}

/** Writes a .npy file atomically (temp file in the same folder, then rename). */
export async function writeNpy(path: string, arr: NpyArray | Tensor): Promise<void> {
  const a = arr instanceof Tensor ? tensorToNpy(arr) : arr;
  await writeFileAtomic(path, encodeNpy(a));
}
