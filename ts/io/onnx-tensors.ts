/**
 * ONNX tensor payloads for the importer: initializers and Constant values as fcnkit constants.
 *
 * - Every dimension is checked (integers >= 0) and the element count is computed with overflow
 *   checks before anything is allocated: beyond 2^32 elements is TOO_LARGE, and the bytes a
 *   tensor claims must be exactly what its dims need (BAD_MODEL otherwise), so a small file can
 *   never make the importer allocate more than the file itself backs.
 * - float32 raw_data stays a view into the model bytes when it is 4-byte aligned (zero-copy);
 *   otherwise it is copied once with one memcpy. float16, bfloat16 and double are converted to
 *   float32 once, at load, by the codec's tensorToFloat32.
 * - External data (data_location EXTERNAL) is read only from inside the model's folder: absolute
 *   locations, '..' components and symlinks whose real path leaves the folder are BAD_MODEL.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import { FILE_LIMITS, readRangeSync, withRegularFileSync } from './safe-file';
import {
  DataLocation, DataType, TensorProto, tensorToFloat32, tensorToInt64Numbers, text,
} from './onnx-proto';

/** float: Float32Array; int and bool: Float64Array (integers exact up to 2^53). */
export type ConstKind = 'float' | 'int' | 'bool';

export interface ConstValue {
  kind: ConstKind;
  shape: number[];
  data: Float32Array | Float64Array;
}

/** The largest tensor described: 2^32 elements (the native core's limit). */
export const MAX_ELEMENTS = 2 ** 32;
/** Integer and bool tensors are shapes and indices: small. Beyond this they are refused. */
export const MAX_INT_ELEMENTS = 2 ** 24;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const DATA_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(DataType).map(([k, v]) => [v, k]),
);

export function dataTypeName(t: number): string {
  return DATA_TYPE_NAMES[t] ?? `data type ${t}`;
}

/** Bytes per element of the types fcnkit reads, undefined for the others. */
export function elementSize(dataType: number): number | undefined {
  switch (dataType) {
    case DataType.FLOAT: case DataType.INT32: return 4;
    case DataType.FLOAT16: case DataType.BFLOAT16: case DataType.INT16: case DataType.UINT16: return 2;
    case DataType.DOUBLE: case DataType.INT64: case DataType.UINT64: return 8;
    case DataType.BOOL: case DataType.INT8: case DataType.UINT8: return 1;
    default: return undefined;
  }
}

export function kindOf(dataType: number): ConstKind | undefined {
  switch (dataType) {
    case DataType.FLOAT: case DataType.FLOAT16: case DataType.BFLOAT16: case DataType.DOUBLE: return 'float';
    case DataType.INT64: case DataType.INT32: case DataType.INT16: case DataType.UINT16: case DataType.INT8:
    case DataType.UINT8: case DataType.UINT64: case DataType.UINT32: return 'int';
    case DataType.BOOL: return 'bool';
    default: return undefined;
  }
}

/** Element count of `dims`, checked: BAD_MODEL for a bad dim, TOO_LARGE beyond 2^32 elements. */
export function checkedCount(dims: readonly number[], what: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new FcnkitError('BAD_MODEL', `${what}: bad dimension ${d} in [${dims.join(', ')}]`);
  }
  for (const d of dims) {
    n *= d;
    if (n > MAX_ELEMENTS) {
      if (dims.includes(0)) return 0;
      throw new FcnkitError('TOO_LARGE', `${what}: dims [${dims.join(', ')}] describe more than 2^32 elements`);
    }
  }
  return n;
}

export interface ExternalDataOptions {
  /** The folder external data paths are resolved in (the model file's folder). */
  baseDir?: string;
}

/** Reads a tensor's external bytes, refusing anything outside baseDir. */
function readExternal(t: TensorProto, what: string, byteLength: number, opts: ExternalDataOptions): Uint8Array {
  const entries = new Map<string, string>();
  for (const e of t.externalData) entries.set(e.key, e.value);
  const location = entries.get('location');
  if (!location) throw new FcnkitError('BAD_MODEL', `${what}: external data without a 'location'`);
  if (opts.baseDir === undefined) {
    throw new FcnkitError('BAD_MODEL', `${what}: its data is in an external file ('${location}'), but the model was given as bytes: ` +
      'load it from its path, or pass { baseDir } (the folder holding the data file)');
  }
  const parts = location.split(/[\\/]+/);
  if (path.isAbsolute(location) || /^[A-Za-z]:/.test(location) || location.startsWith('\\') || location.includes('\0') ||
    parts.some((p) => p === '..')) {
    throw new FcnkitError('BAD_MODEL', `${what}: external data location '${location}' must be a relative path inside the model's folder`);
  }
  const num = (key: string): number | undefined => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) throw new FcnkitError('BAD_MODEL', `${what}: external data ${key} '${v}' is not a byte count`);
    return Number(v);
  };
  const offset = num('offset') ?? 0;
  const length = num('length');
  let base: string;
  let real: string;
  try {
    base = fs.realpathSync(opts.baseDir);
  } catch (err) {
    throw new FcnkitError('IO_ERROR', `${what}: cannot open the model's folder '${opts.baseDir}': ${(err as Error).message}`, { cause: err });
  }
  const file = path.resolve(base, location);
  try {
    real = fs.realpathSync(file);
  } catch (err) {
    throw new FcnkitError('BAD_MODEL', `${what}: external data file '${location}' cannot be opened: ${(err as Error).message}`, { cause: err });
  }
  const rel = path.relative(base, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new FcnkitError('BAD_MODEL', `${what}: external data file '${location}' resolves to '${real}', outside the model's folder '${base}'`);
  }
  return withRegularFileSync(real, { what: `external data of ${what}`, maxBytes: FILE_LIMITS.model, notRegular: 'BAD_MODEL' }, (fd, st) => {
    const avail = st.size - offset;
    if (offset > st.size) {
      throw new FcnkitError('BAD_MODEL', `${what}: external data offset ${offset} is beyond the end of '${location}' (${st.size} bytes)`);
    }
    if (length !== undefined && length !== byteLength) {
      throw new FcnkitError('BAD_MODEL', `${what}: external data length ${length} does not match the ${byteLength} bytes its dims need`);
    }
    if (byteLength > avail) {
      throw new FcnkitError('BAD_MODEL', `${what}: needs ${byteLength} bytes at offset ${offset} of '${location}', which holds only ${st.size}`);
    }
    if (length === undefined && avail !== byteLength) {
      throw new FcnkitError('BAD_MODEL', `${what}: external file '${location}' has ${avail} bytes after offset ${offset}, dims need ${byteLength}`);
    }
    const b = readRangeSync(fd, real, `external data of ${what}`, offset, byteLength);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  });
}

/** The typed field that holds a type's values when there is no raw_data. */
function typedFieldLength(t: TensorProto): number {
  switch (t.dataType) {
    case DataType.FLOAT: return t.floatData.length;
    case DataType.DOUBLE: return t.doubleData.length;
    case DataType.INT64: return t.int64Data.length;
    case DataType.UINT64: case DataType.UINT32: return t.uint64Data.length;
    default: return t.int32Data.length; // int32, int16, int8, uint16, uint8, bool, float16, bfloat16
  }
}

/**
 * A TensorProto (initializer or Constant attribute) as a ConstValue. `what` names it in errors
 * ("initializer 'conv1.weight'").
 */
export function loadTensor(t: TensorProto, what: string, opts: ExternalDataOptions = {}): ConstValue {
  const kind = kindOf(t.dataType);
  const size = elementSize(t.dataType);
  if (!kind || !size) {
    throw new FcnkitError('UNSUPPORTED_OP', `${what}: data type ${dataTypeName(t.dataType)} is not supported (fcnkit reads float32, float16, bfloat16, double, integer and bool tensors)`);
  }
  const n = checkedCount(t.dims, what);
  if (kind !== 'float' && n > MAX_INT_ELEMENTS) {
    throw new FcnkitError('TOO_LARGE', `${what}: ${dataTypeName(t.dataType)} tensor of ${n} elements (integer tensors are limited to 2^24 elements)`);
  }
  const byteLength = n * size;
  let raw = t.rawData;
  if (t.dataLocation === DataLocation.EXTERNAL) {
    raw = readExternal(t, what, byteLength, opts);
  } else if (t.dataLocation !== DataLocation.DEFAULT) {
    throw new FcnkitError('BAD_MODEL', `${what}: unknown data_location ${t.dataLocation}`);
  } else if (raw !== undefined) {
    if (raw.length !== byteLength) {
      throw new FcnkitError('BAD_MODEL', `${what}: raw_data has ${raw.length} bytes but dims [${t.dims.join(', ')}] of ${dataTypeName(t.dataType)} need ${byteLength}`);
    }
  } else if (typedFieldLength(t) !== n) {
    throw new FcnkitError('BAD_MODEL', `${what}: holds ${typedFieldLength(t)} values but dims [${t.dims.join(', ')}] need ${n}`);
  }
  const shape = [...t.dims];
  if (kind === 'float') {
    if (t.dataType === DataType.FLOAT && raw !== undefined && LITTLE_ENDIAN) {
      // Zero-copy when aligned; one memcpy otherwise.
      if (raw.byteOffset % 4 === 0) return { kind, shape, data: new Float32Array(raw.buffer, raw.byteOffset, n) };
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(raw);
      return { kind, shape, data: out };
    }
    try {
      return { kind, shape, data: tensorToFloat32(raw === t.rawData ? t : { ...t, rawData: raw, dataLocation: DataLocation.DEFAULT }) };
    } catch (err) {
      throw new FcnkitError('BAD_MODEL', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { kind, shape, data: readIntegers(t, raw, n, what) };
}

function readIntegers(t: TensorProto, raw: Uint8Array | undefined, n: number, what: string): Float64Array {
  const out = new Float64Array(n);
  if (t.dataType === DataType.INT64 && raw !== undefined) {
    // Saturated at ±2^53: exporters write INT64_MAX for "to the end" (Slice ends), which means
    // the same thing clamped, and nothing that large can be a real size.
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      const lo = v.getUint32(i * 8, true);
      const hi = v.getInt32(i * 8 + 4, true);
      out[i] = hi >= 0x200000 ? 2 ** 53 : hi < -0x200000 ? -(2 ** 53) : hi * 4294967296 + lo;
    }
    return out;
  }
  if (t.dataType === DataType.INT64 || t.dataType === DataType.INT32) {
    let vals: number[];
    try {
      vals = tensorToInt64Numbers(raw === t.rawData ? t : { ...t, rawData: raw, dataLocation: DataLocation.DEFAULT });
    } catch (err) {
      throw new FcnkitError('BAD_MODEL', `${what}: ${(err as Error).message}`, { cause: err });
    }
    out.set(vals);
    return out;
  }
  if (raw === undefined) {
    const src = t.dataType === DataType.UINT64 || t.dataType === DataType.UINT32 ? t.uint64Data : t.int32Data;
    for (let i = 0; i < n; i++) out[i] = t.dataType === DataType.BOOL ? (src[i] ? 1 : 0) : src[i];
    return out;
  }
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < n; i++) {
    switch (t.dataType) {
      case DataType.BOOL: out[i] = v.getUint8(i) ? 1 : 0; break;
      case DataType.UINT8: out[i] = v.getUint8(i); break;
      case DataType.INT8: out[i] = v.getInt8(i); break;
      case DataType.INT16: out[i] = v.getInt16(i * 2, true); break;
      case DataType.UINT16: out[i] = v.getUint16(i * 2, true); break;
      case DataType.UINT32: out[i] = v.getUint32(i * 4, true); break;
      case DataType.UINT64: {
        const hi = v.getUint32(i * 8 + 4, true);
        if (hi > 0x1fffff) throw new FcnkitError('BAD_MODEL', `${what}: uint64 element ${i} is beyond 2^53`);
        out[i] = hi * 4294967296 + v.getUint32(i * 8, true);
        break;
      }
      default: throw new FcnkitError('UNSUPPORTED_OP', `${what}: data type ${dataTypeName(t.dataType)} is not supported`);
    }
  }
  return out;
}

/** A string attribute's value. */
export function attrText(bytes: Uint8Array): string {
  return text(bytes);
}
