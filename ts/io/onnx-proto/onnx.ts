// ONNX messages (field numbers from onnx/onnx.proto) and their codec.
//
// Decoded messages always carry every scalar (proto default when absent) and every repeated
// field (empty array when absent). Sub-messages, rawData and the dim_value/dim_param oneof
// are optional because their presence carries meaning. Unknown fields (and TensorProto.segment,
// and TypeProto kinds other than tensor_type) are skipped and not re-encoded. Bytes fields are
// views into the input buffer. int64 values are numbers; decoding one beyond ±2^53 throws.

import { BadModelError, I32, I64, LEN, Reader, VARINT, Writer } from './wire';

export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;
export type DataLocation = (typeof DataLocation)[keyof typeof DataLocation];

export interface StringStringEntryProto {
  key: string;
  value: string;
}

export interface OperatorSetIdProto {
  domain: string;
  version: number;
}

export interface TensorShapeDimension {
  /** Set for a fixed dimension (0 is a valid size); otherwise dimParam or neither (unknown). */
  dimValue?: number;
  dimParam?: string;
  denotation: string;
}

export interface TensorShapeProto {
  dim: TensorShapeDimension[];
}

export interface TypeProtoTensor {
  elemType: number;
  /** Absent means unknown rank; an empty dim list means a scalar. */
  shape?: TensorShapeProto;
}

export interface TypeProto {
  tensorType?: TypeProtoTensor;
  denotation: string;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto;
  docString: string;
}

export interface TensorProto {
  dims: number[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: number[];
  name: string;
  docString: string;
  rawData?: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation: number;
  doubleData: number[];
  uint64Data: number[];
}

export interface AttributeProto {
  name: string;
  refAttrName: string;
  docString: string;
  type: number;
  f: number;
  i: number;
  s: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: AttributeProto[];
  docString: string;
}

export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  docString: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetIdProto[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph?: GraphProto;
  metadataProps: StringStringEntryProto[];
}

// ---------------------------------------------------------------- decoding
// Cases switch on the whole tag (field << 3 | wire type), so a known field arriving with an
// unexpected wire type falls through to skip(), as in the reference implementation.

const int64 = (r: Reader) => r.int64();
const uint64 = (r: Reader) => r.uint64();
const int32 = (r: Reader) => r.int32();
const float = (r: Reader) => r.float();
const double = (r: Reader) => r.double();

function decodeEntry(r: Reader): StringStringEntryProto {
  const m: StringStringEntryProto = { key: '', value: '' };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN: m.key = r.string(); break;
      case (2 << 3) | LEN: m.value = r.string(); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeOpset(r: Reader): OperatorSetIdProto {
  const m: OperatorSetIdProto = { domain: '', version: 0 };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN: m.domain = r.string(); break;
      case (2 << 3) | VARINT: m.version = r.int64(); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeDim(r: Reader): TensorShapeDimension {
  const m: TensorShapeDimension = { denotation: '' };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | VARINT: m.dimValue = r.int64(); delete m.dimParam; break;
      case (2 << 3) | LEN: m.dimParam = r.string(); delete m.dimValue; break;
      case (3 << 3) | LEN: m.denotation = r.string(); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeShape(r: Reader): TensorShapeProto {
  const m: TensorShapeProto = { dim: [] };
  while (r.more()) {
    const tag = r.tag();
    if (tag === ((1 << 3) | LEN)) m.dim.push(r.message(decodeDim));
    else r.skip(tag);
  }
  return m;
}

function decodeTypeTensor(r: Reader): TypeProtoTensor {
  const m: TypeProtoTensor = { elemType: 0 };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | VARINT: m.elemType = r.int32(); break;
      case (2 << 3) | LEN: m.shape = r.message(decodeShape); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeType(r: Reader): TypeProto {
  const m: TypeProto = { denotation: '' };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN: m.tensorType = r.message(decodeTypeTensor); break;
      case (6 << 3) | LEN: m.denotation = r.string(); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeValueInfo(r: Reader): ValueInfoProto {
  const m: ValueInfoProto = { name: '', docString: '' };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN: m.name = r.string(); break;
      case (2 << 3) | LEN: m.type = r.message(decodeType); break;
      case (3 << 3) | LEN: m.docString = r.string(); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeTensor(r: Reader): TensorProto {
  const m: TensorProto = {
    dims: [], dataType: 0, floatData: [], int32Data: [], stringData: [], int64Data: [], name: '',
    docString: '', externalData: [], dataLocation: 0, doubleData: [], uint64Data: [],
  };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | VARINT: case (1 << 3) | LEN: r.repeated(tag, int64, m.dims); break;
      case (2 << 3) | VARINT: m.dataType = r.int32(); break;
      case (4 << 3) | I32: case (4 << 3) | LEN: r.repeated(tag, float, m.floatData); break;
      case (5 << 3) | VARINT: case (5 << 3) | LEN: r.repeated(tag, int32, m.int32Data); break;
      case (6 << 3) | LEN: m.stringData.push(r.bytes()); break;
      case (7 << 3) | VARINT: case (7 << 3) | LEN: r.repeated(tag, int64, m.int64Data); break;
      case (8 << 3) | LEN: m.name = r.string(); break;
      case (9 << 3) | LEN: m.rawData = r.bytes(); break;
      case (10 << 3) | I64: case (10 << 3) | LEN: r.repeated(tag, double, m.doubleData); break;
      case (11 << 3) | VARINT: case (11 << 3) | LEN: r.repeated(tag, uint64, m.uint64Data); break;
      case (12 << 3) | LEN: m.docString = r.string(); break;
      case (13 << 3) | LEN: m.externalData.push(r.message(decodeEntry)); break;
      case (14 << 3) | VARINT: m.dataLocation = r.int32(); break;
      default: r.skip(tag); // includes segment (3)
    }
  }
  return m;
}

function decodeAttribute(r: Reader): AttributeProto {
  const m: AttributeProto = {
    name: '', refAttrName: '', docString: '', type: 0, f: 0, i: 0, s: new Uint8Array(0),
    floats: [], ints: [], strings: [], tensors: [], graphs: [],
  };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN: m.name = r.string(); break;
      case (2 << 3) | I32: m.f = r.float(); break;
      case (3 << 3) | VARINT: m.i = r.int64(); break;
      case (4 << 3) | LEN: m.s = r.bytes(); break;
      case (5 << 3) | LEN: m.t = r.message(decodeTensor); break;
      case (6 << 3) | LEN: m.g = r.message(decodeGraph); break;
      case (7 << 3) | I32: case (7 << 3) | LEN: r.repeated(tag, float, m.floats); break;
      case (8 << 3) | VARINT: case (8 << 3) | LEN: r.repeated(tag, int64, m.ints); break;
      case (9 << 3) | LEN: m.strings.push(r.bytes()); break;
      case (10 << 3) | LEN: m.tensors.push(r.message(decodeTensor)); break;
      case (11 << 3) | LEN: m.graphs.push(r.message(decodeGraph)); break;
      case (13 << 3) | LEN: m.docString = r.string(); break;
      case (20 << 3) | VARINT: m.type = r.int32(); break;
      case (21 << 3) | LEN: m.refAttrName = r.string(); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeNode(r: Reader): NodeProto {
  const m: NodeProto = { input: [], output: [], name: '', opType: '', domain: '', attribute: [], docString: '' };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN: m.input.push(r.string()); break;
      case (2 << 3) | LEN: m.output.push(r.string()); break;
      case (3 << 3) | LEN: m.name = r.string(); break;
      case (4 << 3) | LEN: m.opType = r.string(); break;
      case (5 << 3) | LEN: m.attribute.push(r.message(decodeAttribute)); break;
      case (6 << 3) | LEN: m.docString = r.string(); break;
      case (7 << 3) | LEN: m.domain = r.string(); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeGraph(r: Reader): GraphProto {
  const m: GraphProto = { node: [], name: '', initializer: [], docString: '', input: [], output: [], valueInfo: [] };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | LEN: m.node.push(r.message(decodeNode)); break;
      case (2 << 3) | LEN: m.name = r.string(); break;
      case (5 << 3) | LEN: m.initializer.push(r.message(decodeTensor)); break;
      case (10 << 3) | LEN: m.docString = r.string(); break;
      case (11 << 3) | LEN: m.input.push(r.message(decodeValueInfo)); break;
      case (12 << 3) | LEN: m.output.push(r.message(decodeValueInfo)); break;
      case (13 << 3) | LEN: m.valueInfo.push(r.message(decodeValueInfo)); break;
      default: r.skip(tag);
    }
  }
  return m;
}

function decodeModelBody(r: Reader): ModelProto {
  const m: ModelProto = {
    irVersion: 0, opsetImport: [], producerName: '', producerVersion: '', domain: '', modelVersion: 0,
    docString: '', metadataProps: [],
  };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | VARINT: m.irVersion = r.int64(); break;
      case (2 << 3) | LEN: m.producerName = r.string(); break;
      case (3 << 3) | LEN: m.producerVersion = r.string(); break;
      case (4 << 3) | LEN: m.domain = r.string(); break;
      case (5 << 3) | VARINT: m.modelVersion = r.int64(); break;
      case (6 << 3) | LEN: m.docString = r.string(); break;
      case (7 << 3) | LEN: m.graph = r.message(decodeGraph); break;
      case (8 << 3) | LEN: m.opsetImport.push(r.message(decodeOpset)); break;
      case (14 << 3) | LEN: m.metadataProps.push(r.message(decodeEntry)); break;
      default: r.skip(tag);
    }
  }
  return m;
}

/** Decodes a serialized ModelProto. Throws BadModelError (code 'BAD_MODEL') on malformed input. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new BadModelError('model must be a Uint8Array');
  return decodeModelBody(new Reader(bytes));
}

/** Decodes a serialized TensorProto (e.g. the input_0.pb files of ONNX test cases). */
export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  if (!(bytes instanceof Uint8Array)) throw new BadModelError('tensor must be a Uint8Array');
  return decodeTensor(new Reader(bytes));
}

// ---------------------------------------------------------------- encoding
// Scalars equal to their default are omitted (AttributeProto.type excepted); repeated fields
// are written element by element, empty strings included. Packing follows onnx.proto, so the
// output matches what the reference protobuf serializer produces for the same fields.

function str(w: Writer, field: number, v: string | undefined): void {
  if (v) w.tag(field, LEN).string(v);
}

function strs(w: Writer, field: number, vs: readonly string[] | undefined): void {
  if (vs) for (const v of vs) w.tag(field, LEN).string(v);
}

function byteList(w: Writer, field: number, vs: readonly Uint8Array[] | undefined): void {
  if (vs) for (const v of vs) w.tag(field, LEN).bytes(v);
}

function i64(w: Writer, field: number, v: number | undefined): void {
  if (v) w.tag(field, VARINT).int64(v);
}

function i32(w: Writer, field: number, v: number | undefined): void {
  if (v) w.tag(field, VARINT).int32(v);
}

function msg<T>(w: Writer, field: number, v: T | undefined, enc: (w: Writer, v: T) => void): void {
  if (v === undefined) return;
  w.tag(field, LEN).fork();
  enc(w, v);
  w.ldelim();
}

function msgs<T>(w: Writer, field: number, vs: readonly T[] | undefined, enc: (w: Writer, v: T) => void): void {
  if (vs) for (const v of vs) msg(w, field, v, enc);
}

function packed(w: Writer, field: number, vs: readonly number[] | undefined, put: (w: Writer, v: number) => void): void {
  if (!vs || vs.length === 0) return;
  w.tag(field, LEN).fork();
  for (const v of vs) put(w, v);
  w.ldelim();
}

function encodeEntry(w: Writer, m: StringStringEntryProto): void {
  str(w, 1, m.key);
  str(w, 2, m.value);
}

function encodeOpset(w: Writer, m: OperatorSetIdProto): void {
  str(w, 1, m.domain);
  i64(w, 2, m.version);
}

function encodeDim(w: Writer, m: TensorShapeDimension): void {
  if (m.dimValue !== undefined) w.tag(1, VARINT).int64(m.dimValue);
  else if (m.dimParam !== undefined) w.tag(2, LEN).string(m.dimParam);
  str(w, 3, m.denotation);
}

function encodeShape(w: Writer, m: TensorShapeProto): void {
  msgs(w, 1, m.dim, encodeDim);
}

function encodeTypeTensor(w: Writer, m: TypeProtoTensor): void {
  i32(w, 1, m.elemType);
  msg(w, 2, m.shape, encodeShape);
}

function encodeType(w: Writer, m: TypeProto): void {
  msg(w, 1, m.tensorType, encodeTypeTensor);
  str(w, 6, m.denotation);
}

function encodeValueInfo(w: Writer, m: ValueInfoProto): void {
  str(w, 1, m.name);
  msg(w, 2, m.type, encodeType);
  str(w, 3, m.docString);
}

function encodeTensor(w: Writer, m: TensorProto): void {
  if (m.dims) for (const d of m.dims) w.tag(1, VARINT).int64(d);
  i32(w, 2, m.dataType);
  packed(w, 4, m.floatData, (w, v) => w.float(v));
  packed(w, 5, m.int32Data, (w, v) => w.int32(v));
  byteList(w, 6, m.stringData);
  packed(w, 7, m.int64Data, (w, v) => w.int64(v));
  str(w, 8, m.name);
  if (m.rawData !== undefined) w.tag(9, LEN).bytes(m.rawData);
  packed(w, 10, m.doubleData, (w, v) => w.double(v));
  packed(w, 11, m.uint64Data, (w, v) => w.uint64(v));
  str(w, 12, m.docString);
  msgs(w, 13, m.externalData, encodeEntry);
  i32(w, 14, m.dataLocation);
}

function encodeAttribute(w: Writer, m: AttributeProto): void {
  str(w, 1, m.name);
  if (m.f !== undefined && !Object.is(m.f, 0)) w.tag(2, I32).float(m.f);
  i64(w, 3, m.i);
  if (m.s && m.s.length) w.tag(4, LEN).bytes(m.s);
  msg(w, 5, m.t, encodeTensor);
  msg(w, 6, m.g, encodeGraph);
  if (m.floats) for (const v of m.floats) w.tag(7, I32).float(v);
  if (m.ints) for (const v of m.ints) w.tag(8, VARINT).int64(v);
  byteList(w, 9, m.strings);
  msgs(w, 10, m.tensors, encodeTensor);
  msgs(w, 11, m.graphs, encodeGraph);
  str(w, 13, m.docString);
  w.tag(20, VARINT).int32(m.type ?? 0); // proto2 'required by the IR': always written
  str(w, 21, m.refAttrName);
}

function encodeNode(w: Writer, m: NodeProto): void {
  strs(w, 1, m.input);
  strs(w, 2, m.output);
  str(w, 3, m.name);
  str(w, 4, m.opType);
  msgs(w, 5, m.attribute, encodeAttribute);
  str(w, 6, m.docString);
  str(w, 7, m.domain);
}

function encodeGraph(w: Writer, m: GraphProto): void {
  msgs(w, 1, m.node, encodeNode);
  str(w, 2, m.name);
  msgs(w, 5, m.initializer, encodeTensor);
  str(w, 10, m.docString);
  msgs(w, 11, m.input, encodeValueInfo);
  msgs(w, 12, m.output, encodeValueInfo);
  msgs(w, 13, m.valueInfo, encodeValueInfo);
}

/** Serializes a ModelProto. Throws EncodeError (a RangeError) for values a field cannot hold. */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new Writer(1 << 16);
  i64(w, 1, m.irVersion);
  str(w, 2, m.producerName);
  str(w, 3, m.producerVersion);
  str(w, 4, m.domain);
  i64(w, 5, m.modelVersion);
  str(w, 6, m.docString);
  msg(w, 7, m.graph, encodeGraph);
  msgs(w, 8, m.opsetImport, encodeOpset);
  msgs(w, 14, m.metadataProps, encodeEntry);
  return w.finish();
}

export function encodeTensorProto(t: TensorProto): Uint8Array {
  const w = new Writer(256 + (t.rawData?.length ?? 0));
  encodeTensor(w, t);
  return w.finish();
}
