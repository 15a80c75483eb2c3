// Helpers to build ONNX messages (for tests and exporters) and to read tensor payloads.
// Built messages have the same shape decodeModel returns, so they compare deep-equal.

import type {
  AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeDimension, ValueInfoProto,
} from './onnx';
import { AttributeType, DataLocation, DataType } from './onnx';
import { BadModelError, EncodeError } from './wire';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Decodes a UTF-8 bytes field (AttributeProto.s, TensorProto.stringData). */
export function text(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new EncodeError(`bad tensor dimension ${d}`);
    n *= d;
  }
  return n;
}

export function emptyTensor(name: string, dataType: number, dims: readonly number[]): TensorProto {
  return {
    dims: [...dims], dataType, floatData: [], int32Data: [], stringData: [], int64Data: [], name,
    docString: '', externalData: [], dataLocation: 0, doubleData: [], uint64Data: [],
  };
}

function checkCount(dims: readonly number[], n: number): void {
  const want = elementCount(dims);
  if (want !== n) throw new EncodeError(`dims [${dims.join(', ')}] need ${want} elements, got ${n}`);
}

export function tensorFromFloat32(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  checkCount(dims, data.length);
  const t = emptyTensor(name, DataType.FLOAT, dims);
  if (LITTLE_ENDIAN) {
    t.rawData = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  } else {
    const raw = new Uint8Array(data.length * 4);
    const v = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) v.setFloat32(i * 4, data[i]!, true);
    t.rawData = raw;
  }
  return t;
}

export function tensorFromInt64(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  checkCount(dims, values.length);
  const raw = new Uint8Array(values.length * 8);
  const v = new DataView(raw.buffer);
  values.forEach((x, i) => {
    if (!Number.isInteger(x) || Math.abs(x) > 2 ** 53) throw new EncodeError(`int64 value ${x} is not an integer within ±2^53`);
    v.setUint32(i * 8, x >>> 0, true);
    v.setInt32(i * 8 + 4, Math.floor(x / 4294967296), true);
  });
  const t = emptyTensor(name, DataType.INT64, dims);
  t.rawData = raw;
  return t;
}

function baseAttr(name: string, type: number): AttributeProto {
  return {
    name, refAttrName: '', docString: '', type, f: 0, i: 0, s: new Uint8Array(0),
    floats: [], ints: [], strings: [], tensors: [], graphs: [],
  };
}

export const attr = {
  float: (name: string, v: number): AttributeProto => ({ ...baseAttr(name, AttributeType.FLOAT), f: Math.fround(v) }),
  int: (name: string, v: number): AttributeProto => ({ ...baseAttr(name, AttributeType.INT), i: v }),
  string: (name: string, v: string): AttributeProto => ({ ...baseAttr(name, AttributeType.STRING), s: utf8Encoder.encode(v) }),
  tensor: (name: string, t: TensorProto): AttributeProto => ({ ...baseAttr(name, AttributeType.TENSOR), t }),
  graph: (name: string, g: GraphProto): AttributeProto => ({ ...baseAttr(name, AttributeType.GRAPH), g }),
  floats: (name: string, v: readonly number[]): AttributeProto =>
    ({ ...baseAttr(name, AttributeType.FLOATS), floats: v.map(Math.fround) }),
  ints: (name: string, v: readonly number[]): AttributeProto => ({ ...baseAttr(name, AttributeType.INTS), ints: [...v] }),
  strings: (name: string, v: readonly string[]): AttributeProto =>
    ({ ...baseAttr(name, AttributeType.STRINGS), strings: v.map((s) => utf8Encoder.encode(s)) }),
};

/** A tensor-typed value; a dim is a size, a symbolic name, or null for unknown. */
export function valueInfo(name: string, elemType: number, dims: ReadonlyArray<number | string | null>): ValueInfoProto {
  const dim = dims.map((d): TensorShapeDimension =>
    typeof d === 'number' ? { dimValue: d, denotation: '' } : typeof d === 'string' ? { dimParam: d, denotation: '' } : { denotation: '' });
  return { name, type: { tensorType: { elemType, shape: { dim } }, denotation: '' }, docString: '' };
}

export function makeNode(
  opType: string, inputs: readonly string[], outputs: readonly string[], attrs: readonly AttributeProto[] = [], name = '',
): NodeProto {
  return { input: [...inputs], output: [...outputs], name, opType, domain: '', attribute: [...attrs], docString: '' };
}

export interface MakeModelOptions {
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  valueInfo?: ValueInfoProto[];
  opset?: number;
  irVersion?: number;
  graphName?: string;
  producerName?: string;
}

export function makeModel(o: MakeModelOptions): ModelProto {
  return {
    irVersion: o.irVersion ?? 8,
    opsetImport: [{ domain: '', version: o.opset ?? 17 }],
    producerName: o.producerName ?? 'fcnkit',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph: {
      node: o.nodes, name: o.graphName ?? 'main', initializer: o.initializers ?? [], docString: '',
      input: o.inputs, output: o.outputs, valueInfo: o.valueInfo ?? [],
    },
    metadataProps: [],
  };
}

// ---------------------------------------------------------------- readers

const f16Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f16Scratch.buffer);

/** IEEE 754 half → float (exact; subnormals, ±Inf and NaN included). */
export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

export function bfloat16ToFloat32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f16Scratch[0]!;
}

function payload(t: TensorProto, elemSize: number, fieldLength: number, fieldName: string): { raw?: DataView; n: number } {
  if (t.dataLocation === DataLocation.EXTERNAL) throw new BadModelError(`tensor '${t.name}' keeps its data in an external file`);
  if (t.dims.some((d) => !Number.isInteger(d) || d < 0)) throw new BadModelError(`tensor '${t.name}' has bad dims [${t.dims.join(', ')}]`);
  const n = elementCount(t.dims);
  if (t.rawData !== undefined) {
    if (t.rawData.length !== n * elemSize) {
      throw new BadModelError(`tensor '${t.name}': raw_data has ${t.rawData.length} bytes, dims need ${n * elemSize}`);
    }
    return { raw: new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength), n };
  }
  if (fieldLength !== n) throw new BadModelError(`tensor '${t.name}': ${fieldName} has ${fieldLength} values, dims need ${n}`);
  return { n };
}

/** Reads a FLOAT, FLOAT16, BFLOAT16 or DOUBLE tensor into a new Float32Array. */
export function tensorToFloat32(t: TensorProto): Float32Array {
  switch (t.dataType) {
    case DataType.FLOAT: {
      const { raw, n } = payload(t, 4, t.floatData.length, 'float_data');
      if (!raw) return Float32Array.from(t.floatData);
      const out = new Float32Array(n);
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(t.rawData!);
      else for (let i = 0; i < n; i++) out[i] = raw.getFloat32(i * 4, true);
      return out;
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      // Without raw_data, 16-bit floats are stored as their bit patterns in int32_data.
      const { raw, n } = payload(t, 2, t.int32Data.length, 'int32_data');
      const conv = t.dataType === DataType.FLOAT16 ? float16ToFloat32 : bfloat16ToFloat32;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = conv(raw ? raw.getUint16(i * 2, true) : t.int32Data[i]! & 0xffff);
      return out;
    }
    case DataType.DOUBLE: {
      const { raw, n } = payload(t, 8, t.doubleData.length, 'double_data');
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw ? raw.getFloat64(i * 8, true) : t.doubleData[i]!;
      return out;
    }
    default:
      throw new BadModelError(`tensor '${t.name}': data type ${t.dataType} is not a floating-point type`);
  }
}

/** Reads an INT64 or INT32 tensor as numbers; int64 values beyond ±2^53 throw. */
export function tensorToInt64Numbers(t: TensorProto): number[] {
  switch (t.dataType) {
    case DataType.INT64: {
      const { raw, n } = payload(t, 8, t.int64Data.length, 'int64_data');
      if (!raw) return [...t.int64Data];
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const lo = raw.getUint32(i * 8, true);
        const hi = raw.getInt32(i * 8 + 4, true);
        if (hi > 0x200000 || hi < -0x200000 || (hi === 0x200000 && lo !== 0)) {
          throw new BadModelError(`tensor '${t.name}': int64 element ${i} is outside ±2^53`);
        }
        out[i] = hi * 4294967296 + lo;
      }
      return out;
    }
    case DataType.INT32: {
      const { raw, n } = payload(t, 4, t.int32Data.length, 'int32_data');
      if (!raw) return [...t.int32Data];
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) out[i] = raw.getInt32(i * 4, true);
      return out;
    }
    default:
      throw new BadModelError(`tensor '${t.name}': data type ${t.dataType} is not INT64 or INT32`);
  }
}
