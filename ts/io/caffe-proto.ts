/**
 * The few caffe.proto messages fcnkit reads, from either encoding: prototxt text (through
 * caffe-prototxt.ts) or a binary .caffemodel (through the project's protobuf wire Reader). Both
 * decode into the same CaffeMsg tree, so the importer reads one form. Field numbers and defaults
 * are those of BVLC Caffe's src/caffe/proto/caffe.proto; fields not listed here are skipped
 * (they are training settings: fillers aside, param specs, engines, data sources).
 *
 * Blob payloads are not copied when a caffemodel is decoded: a BlobProto records where its
 * floats lie in the file, its element count is checked against its shape before anything is
 * allocated, and the data is read only when a layer asks for it.
 */
import * as os from 'node:os';
import { FcnkitError } from '../errors';
import { Tensor } from '../tensor';
import { BadModelError, I32, I64, LEN, Reader, VARINT, Writer } from './onnx-proto/wire';
import { parsePrototxt, TextField, TextMessage } from './caffe-prototxt';

type ScalarKind = 'string' | 'int' | 'uint' | 'float' | 'double' | 'bool';

interface FieldDef {
  name: string;
  num: number;
  kind: ScalarKind | 'enum' | 'message';
  /** Message type or enum name. */
  of?: string;
  repeated?: boolean;
}

const ENUMS: Record<string, readonly string[]> = {
  Phase: ['TRAIN', 'TEST'],
  PoolMethod: ['MAX', 'AVE', 'STOCHASTIC'],
  RoundMode: ['CEIL', 'FLOOR'],
  EltwiseOp: ['PROD', 'SUM', 'MAX'],
};

/** V1LayerParameter.LayerType values of the layers whose blobs fcnkit maps, as V2 type names. */
export const V1_LAYER_TYPES: Readonly<Record<number, string>> = {
  3: 'Concat', 4: 'Convolution', 5: 'Data', 6: 'Dropout', 12: 'ImageData', 14: 'InnerProduct', 17: 'Pooling',
  18: 'ReLU', 19: 'Sigmoid', 20: 'Softmax', 21: 'SoftmaxWithLoss', 22: 'Split', 23: 'TanH', 25: 'Eltwise',
  29: 'MemoryData', 32: 'DummyData', 39: 'Deconvolution',
};

const f = (name: string, num: number, kind: FieldDef['kind'], extra: Partial<FieldDef> = {}): FieldDef => ({ name, num, kind, ...extra });
const rep = { repeated: true };

const SCHEMA: Record<string, FieldDef[]> = {
  NetParameter: [
    f('name', 1, 'string'), f('input', 3, 'string', rep), f('input_shape', 8, 'message', { of: 'BlobShape', repeated: true }),
    f('input_dim', 4, 'int', rep), f('layer', 100, 'message', { of: 'LayerParameter', repeated: true }),
    f('layers', 2, 'message', { of: 'V1LayerParameter', repeated: true }),
  ],
  BlobShape: [f('dim', 1, 'int', rep)],
  // data (5) and double_data (8) are decoded specially: see BlobPayload.
  BlobProto: [f('shape', 7, 'message', { of: 'BlobShape' }), f('num', 1, 'int'), f('channels', 2, 'int'), f('height', 3, 'int'), f('width', 4, 'int')],
  NetStateRule: [f('phase', 1, 'enum', { of: 'Phase' }), f('min_level', 2, 'int'), f('max_level', 3, 'int'), f('stage', 4, 'string', rep), f('not_stage', 5, 'string', rep)],
  FillerParameter: [f('type', 1, 'string'), f('value', 2, 'float')],
  LayerParameter: [
    f('name', 1, 'string'), f('type', 2, 'string'), f('bottom', 3, 'string', rep), f('top', 4, 'string', rep),
    f('blobs', 7, 'message', { of: 'BlobProto', repeated: true }),
    f('include', 8, 'message', { of: 'NetStateRule', repeated: true }), f('exclude', 9, 'message', { of: 'NetStateRule', repeated: true }),
    f('batch_norm_param', 139, 'message', { of: 'BatchNormParameter' }), f('bias_param', 141, 'message', { of: 'BiasParameter' }),
    f('concat_param', 104, 'message', { of: 'ConcatParameter' }), f('convolution_param', 106, 'message', { of: 'ConvolutionParameter' }),
    f('crop_param', 144, 'message', { of: 'CropParameter' }), f('dropout_param', 108, 'message', { of: 'DropoutParameter' }),
    f('dummy_data_param', 109, 'message', { of: 'DummyDataParameter' }), f('eltwise_param', 110, 'message', { of: 'EltwiseParameter' }),
    f('inner_product_param', 117, 'message', { of: 'InnerProductParameter' }), f('input_param', 143, 'message', { of: 'InputParameter' }),
    f('memory_data_param', 119, 'message', { of: 'MemoryDataParameter' }), f('pooling_param', 121, 'message', { of: 'PoolingParameter' }),
    f('relu_param', 123, 'message', { of: 'ReLUParameter' }), f('scale_param', 142, 'message', { of: 'ScaleParameter' }),
    f('softmax_param', 125, 'message', { of: 'SoftmaxParameter' }),
  ],
  V1LayerParameter: [
    f('bottom', 2, 'string', rep), f('top', 3, 'string', rep), f('name', 4, 'string'), f('type', 5, 'int'),
    f('blobs', 6, 'message', { of: 'BlobProto', repeated: true }),
  ],
  ConvolutionParameter: [
    f('num_output', 1, 'uint'), f('bias_term', 2, 'bool'), f('pad', 3, 'uint', rep), f('kernel_size', 4, 'uint', rep),
    f('stride', 6, 'uint', rep), f('dilation', 18, 'uint', rep), f('pad_h', 9, 'uint'), f('pad_w', 10, 'uint'),
    f('kernel_h', 11, 'uint'), f('kernel_w', 12, 'uint'), f('stride_h', 13, 'uint'), f('stride_w', 14, 'uint'),
    f('group', 5, 'uint'), f('weight_filler', 7, 'message', { of: 'FillerParameter' }), f('axis', 16, 'int'),
  ],
  PoolingParameter: [
    f('pool', 1, 'enum', { of: 'PoolMethod' }), f('pad', 4, 'uint'), f('pad_h', 9, 'uint'), f('pad_w', 10, 'uint'),
    f('kernel_size', 2, 'uint'), f('kernel_h', 5, 'uint'), f('kernel_w', 6, 'uint'), f('stride', 3, 'uint'),
    f('stride_h', 7, 'uint'), f('stride_w', 8, 'uint'), f('global_pooling', 12, 'bool'), f('round_mode', 13, 'enum', { of: 'RoundMode' }),
  ],
  CropParameter: [f('axis', 1, 'int'), f('offset', 2, 'uint', rep)],
  EltwiseParameter: [f('operation', 1, 'enum', { of: 'EltwiseOp' }), f('coeff', 2, 'float', rep)],
  ConcatParameter: [f('axis', 2, 'int'), f('concat_dim', 1, 'uint')],
  ScaleParameter: [f('axis', 1, 'int'), f('num_axes', 2, 'int'), f('filler', 3, 'message', { of: 'FillerParameter' }), f('bias_term', 4, 'bool')],
  BiasParameter: [f('axis', 1, 'int'), f('num_axes', 2, 'int'), f('filler', 3, 'message', { of: 'FillerParameter' })],
  BatchNormParameter: [f('use_global_stats', 1, 'bool'), f('eps', 3, 'float')],
  InnerProductParameter: [f('num_output', 1, 'uint'), f('bias_term', 2, 'bool'), f('axis', 5, 'int'), f('transpose', 6, 'bool')],
  DropoutParameter: [f('dropout_ratio', 1, 'float')],
  ReLUParameter: [f('negative_slope', 1, 'float')],
  SoftmaxParameter: [f('axis', 2, 'int')],
  InputParameter: [f('shape', 1, 'message', { of: 'BlobShape', repeated: true })],
  DummyDataParameter: [
    f('shape', 6, 'message', { of: 'BlobShape', repeated: true }), f('num', 2, 'uint', rep), f('channels', 3, 'uint', rep),
    f('height', 4, 'uint', rep), f('width', 5, 'uint', rep),
  ],
  MemoryDataParameter: [f('batch_size', 1, 'uint'), f('channels', 2, 'uint'), f('height', 3, 'uint'), f('width', 4, 'uint')],
};

const BY_NAME = new Map<string, Map<string, FieldDef>>();
const BY_NUM = new Map<string, Map<number, FieldDef>>();
for (const [type, defs] of Object.entries(SCHEMA)) {
  BY_NAME.set(type, new Map(defs.map((d) => [d.name, d])));
  BY_NUM.set(type, new Map(defs.map((d) => [d.num, d])));
}

export type CaffeValue = number | string | boolean | CaffeMsg;

/** A decoded message: values by field name in file order (enums as their names). */
export class CaffeMsg {
  readonly fields = new Map<string, CaffeValue[]>();
  /** Where each field was last given ("line 12:3" / "byte 4096"), for messages. */
  readonly at = new Map<string, string>();
  /** BlobProto only: the data. */
  payload?: BlobPayload;

  constructor(readonly type: string, readonly where: string) {}

  has(name: string): boolean {
    return (this.fields.get(name)?.length ?? 0) > 0;
  }

  all<T extends CaffeValue>(name: string): T[] {
    return (this.fields.get(name) ?? []) as T[];
  }

  /** The last value given (protobuf's rule for a singular field met twice in binary). */
  get<T extends CaffeValue>(name: string): T | undefined {
    const v = this.fields.get(name);
    return v && v.length ? (v[v.length - 1] as T) : undefined;
  }

  msg(name: string): CaffeMsg | undefined {
    return this.get<CaffeMsg>(name);
  }

  /** Where field `name` was given, else where the message starts. */
  whereOf(name: string): string {
    return this.at.get(name) ?? this.where;
  }

  push(name: string, v: CaffeValue, where: string): void {
    let list = this.fields.get(name);
    if (!list) this.fields.set(name, (list = []));
    list.push(v);
    this.at.set(name, where);
  }
}

// ---- blob payloads ----------------------------------------------------------------------

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** A blob's values: where they lie in a caffemodel, or values given in text. */
export class BlobPayload {
  /** [start, end) byte ranges of packed values and offsets of unpacked ones, in file order. */
  private readonly pieces: Array<[number, number]> = [];
  private n = 0;
  private values?: number[];

  constructor(readonly buf: Uint8Array | null, readonly width: 4 | 8) {}

  get count(): number {
    return this.values ? this.values.length : this.n;
  }

  /** @internal */
  addRange(start: number, end: number): void {
    this.pieces.push([start, end]);
    this.n += (end - start) / this.width;
  }

  /** @internal */
  addValues(vs: number[]): void {
    (this.values ??= []).push(...vs);
  }

  /** The values as float32 (a double blob is rounded); a new array each call. */
  read(): Float32Array {
    const out = new Float32Array(this.count);
    if (this.values) {
      out.set(this.values);
      return out;
    }
    const buf = this.buf!;
    let o = 0;
    if (this.width === 4 && LITTLE_ENDIAN) {
      const bytes = new Uint8Array(out.buffer);
      for (const [s, e] of this.pieces) {
        bytes.set(buf.subarray(s, e), o * 4);
        o += (e - s) / 4;
      }
      return out;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (const [s, e] of this.pieces) {
      for (let p = s; p < e; p += this.width) out[o++] = this.width === 4 ? view.getFloat32(p, true) : view.getFloat64(p, true);
    }
    return out;
  }
}

// ---- text -------------------------------------------------------------------------------

function textWhere(field: { pos: { line: number; col: number } }): string {
  return `line ${field.pos.line}:${field.pos.col}`;
}

function badText(field: TextField, message: string): FcnkitError {
  return new FcnkitError('BAD_MODEL', `prototxt ${field.pos.line}:${field.pos.col}: ${message}`);
}

function textScalar(field: TextField, def: FieldDef, type: string): number | string | boolean {
  const v = field.value;
  const what = `field '${def.name}' of ${type}`;
  if (v.kind === 'message') throw badText(field, `${what} takes a ${def.kind === 'enum' ? `${def.of} value` : def.kind}, not a message`);
  const shown = v.kind === 'string' ? JSON.stringify(v.value) : v.kind === 'number' ? v.text : v.value;
  switch (def.kind) {
    case 'string':
      if (v.kind !== 'string') throw badText(field, `${what} takes a quoted string but has ${shown}`);
      return v.value;
    case 'int':
    case 'uint':
      if (v.kind !== 'number' || !Number.isSafeInteger(v.value) || /[.eEfF]/.test(v.text.replace(/^-?0[xX][0-9a-fA-F]*/, ''))) {
        throw badText(field, `${what} takes an integer but has ${shown}`);
      }
      if (def.kind === 'uint' && v.value < 0) throw badText(field, `${what} takes an unsigned integer but has ${shown}`);
      return v.value;
    case 'float':
    case 'double': {
      let n: number;
      if (v.kind === 'number') n = v.value;
      else if (v.kind === 'ident' && /^-?(inf|infinity)$/i.test(v.value)) n = v.value.startsWith('-') ? -Infinity : Infinity;
      else if (v.kind === 'ident' && /^-?nan$/i.test(v.value)) n = NaN;
      else throw badText(field, `${what} takes a number but has ${shown}`);
      return def.kind === 'float' ? Math.fround(n) : n;
    }
    case 'bool':
      if (v.kind === 'ident' && /^(true|t|True)$/.test(v.value)) return true;
      if (v.kind === 'ident' && /^(false|f|False)$/.test(v.value)) return false;
      if (v.kind === 'number' && (v.text === '0' || v.text === '1')) return v.text === '1';
      throw badText(field, `${what} takes true or false but has ${shown}`);
    case 'enum': {
      const names = ENUMS[def.of!];
      if (v.kind === 'ident' && names.includes(v.value)) return v.value;
      if (v.kind === 'number' && Number.isSafeInteger(v.value) && v.value >= 0 && v.value < names.length) return names[v.value];
      throw badText(field, `${what} takes one of ${names.join(', ')} but has ${shown}`);
    }
    default:
      throw badText(field, `${what} is a message`);
  }
}

/** Converts a parsed prototxt tree into CaffeMsg form for message `type`. */
export function fromText(tm: TextMessage, type: string): CaffeMsg {
  const msg = new CaffeMsg(type, textWhere(tm));
  const defs = BY_NAME.get(type)!;
  const seen = new Set<string>();
  let data: number[] | undefined;
  let doubles: number[] | undefined;
  for (const field of tm.fields) {
    if (type === 'BlobProto' && (field.name === 'data' || field.name === 'double_data')) {
      const n = textScalar(field, { name: field.name, num: 0, kind: field.name === 'data' ? 'float' : 'double' }, type) as number;
      (field.name === 'data' ? (data ??= []) : (doubles ??= [])).push(n);
      continue;
    }
    const def = defs.get(field.name);
    if (!def) continue; // a field fcnkit does not use (fillers, param specs, engines...)
    if (!def.repeated) {
      if (seen.has(def.name)) throw badText(field, `field '${def.name}' of ${type} is given more than once`);
      seen.add(def.name);
    }
    if (def.kind === 'message') {
      if (field.value.kind !== 'message') throw badText(field, `field '${def.name}' of ${type} takes a message { ... }`);
      msg.push(def.name, fromText(field.value, def.of!), textWhere(field));
    } else msg.push(def.name, textScalar(field, def, type), textWhere(field));
  }
  if (type === 'BlobProto') {
    const p = new BlobPayload(null, doubles?.length ? 8 : 4);
    p.addValues((doubles?.length ? doubles : data) ?? []);
    msg.payload = p;
  }
  return msg;
}

/** Parses a prototxt into a NetParameter. */
export function parseNetText(text: string): CaffeMsg {
  return fromText(parsePrototxt(text), 'NetParameter');
}

// ---- binary -----------------------------------------------------------------------------

const WIRE_NAMES = ['VARINT', 'I64', 'LEN', 'SGROUP', 'EGROUP', 'I32'];

function scalarWire(kind: FieldDef['kind']): number {
  switch (kind) {
    case 'float':
      return I32;
    case 'double':
      return I64;
    case 'string':
    case 'message':
      return LEN;
    default:
      return VARINT;
  }
}

function readScalar(r: Reader, def: FieldDef): number | string | boolean {
  switch (def.kind) {
    case 'string':
      return r.string();
    case 'int':
      return r.int64();
    case 'uint':
      return r.uint64();
    case 'float':
      return r.float();
    case 'double':
      return r.double();
    case 'bool':
      return r.bool();
    case 'enum': {
      const v = r.int32();
      return ENUMS[def.of!][v] ?? `#${v}`;
    }
    default:
      throw new BadModelError(`field '${def.name}' is not a scalar`, r.pos);
  }
}

function decodeBinary(r: Reader, type: string, start: number): CaffeMsg {
  const msg = new CaffeMsg(type, `byte ${start}`);
  const defs = BY_NUM.get(type)!;
  let payload: BlobPayload | undefined;
  let doubles: BlobPayload | undefined;
  while (r.more()) {
    const at = r.pos;
    const tag = r.tag();
    const num = tag >>> 3;
    const wire = tag & 7;
    if (type === 'BlobProto' && (num === 5 || num === 8)) {
      const width = num === 5 ? 4 : 8;
      const p = num === 5 ? (payload ??= new BlobPayload(r.buf, 4)) : (doubles ??= new BlobPayload(r.buf, 8));
      if (wire === LEN) {
        const n = r.len();
        if (n % width !== 0) throw new BadModelError(`packed ${num === 5 ? 'float' : 'double'} blob data of ${n} bytes is not a whole number of values`, at);
        p.addRange(r.pos, r.pos + n);
        r.pos += n;
      } else if (wire === (width === 4 ? I32 : I64)) {
        const s = r.pos;
        if (width === 4) r.float();
        else r.double();
        p.addRange(s, s + width);
      } else throw new BadModelError(`BlobProto field ${num} has wire type ${WIRE_NAMES[wire]}`, at);
      continue;
    }
    const def = defs.get(num);
    if (!def) {
      r.skip(tag);
      continue;
    }
    const where = `byte ${at}`;
    const want = scalarWire(def.kind);
    if (def.kind === 'message') {
      if (wire !== LEN) throw new BadModelError(`${type}.${def.name} has wire type ${WIRE_NAMES[wire]}, expected LEN`, at);
      const s = r.pos;
      msg.push(def.name, r.message((sub) => decodeBinary(sub, def.of!, s)), where);
    } else if (def.repeated && wire === LEN && want !== LEN) {
      const vs: Array<number | string | boolean> = [];
      r.repeated(tag, (sub) => readScalar(sub, def), vs);
      for (const v of vs) msg.push(def.name, v, where);
    } else {
      if (wire !== want) throw new BadModelError(`${type}.${def.name} has wire type ${WIRE_NAMES[wire]}, expected ${WIRE_NAMES[want]}`, at);
      msg.push(def.name, readScalar(r, def), where);
    }
  }
  if (type === 'BlobProto') {
    // Caffe reads double_data when there is any, else data.
    msg.payload = doubles && doubles.count > 0 ? doubles : payload ?? new BlobPayload(r.buf, 4);
  }
  return msg;
}

/** Decodes a binary NetParameter (a .caffemodel); BAD_MODEL naming the byte offset on error. */
export function parseNetBinary(bytes: Uint8Array): CaffeMsg {
  if (!(bytes instanceof Uint8Array)) {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a Uint8Array for the caffemodel but received ${bytes === null ? 'null' : typeof bytes}`);
  }
  try {
    return decodeBinary(new Reader(bytes), 'NetParameter', 0);
  } catch (err) {
    if (err instanceof BadModelError) throw new FcnkitError('BAD_MODEL', `caffemodel: ${err.message}`);
    throw err;
  }
}

// ---- blobs ------------------------------------------------------------------------------

/** The most elements one blob may have (a Float32Array's practical limit). */
export const MAX_BLOB_ELEMENTS = 2 ** 31 - 1;

/** A parameter blob: its declared shape (checked against its value count) and its values. */
export interface BlobInfo {
  /** shape.dim, or [num, channels, height, width] for a legacy blob. */
  shape: number[];
  legacy: boolean;
  count: number;
  payload: BlobPayload;
  where: string;
}

/** Reads a BlobProto's shape and checks it against the values it holds (nothing allocated). */
export function blobInfo(m: CaffeMsg, what: string): BlobInfo {
  const legacyNames = ['num', 'channels', 'height', 'width'];
  const legacy = legacyNames.some((n) => m.has(n));
  const shape = legacy ? legacyNames.map((n) => m.get<number>(n) ?? 0) : m.msg('shape')?.all<number>('dim') ?? [];
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new FcnkitError('BAD_MODEL', `${what}: blob dimension ${d} in shape [${shape.join(', ')}] is negative (at ${m.where})`);
    count *= d;
  }
  const payload = m.payload!;
  if (count !== payload.count) {
    throw new FcnkitError('BAD_MODEL', `${what}: shape [${shape.join(', ')}] needs ${count} values but the blob holds ${payload.count} (at ${m.where})`);
  }
  if (count > MAX_BLOB_ELEMENTS) throw new FcnkitError('TOO_LARGE', `${what}: ${count} elements exceed the ${MAX_BLOB_ELEMENTS} a blob may have`);
  return { shape, legacy, count, payload, where: m.where };
}

/**
 * Whether a blob fits the shape a layer needs. Caffe compares legacy 4-D blobs from the end:
 * a bias [N] is stored as 1×1×1×N, an InnerProduct weight [M, K] as 1×1×M×K.
 */
export function blobFits(b: BlobInfo, want: readonly number[]): boolean {
  if (!b.legacy) return b.shape.length === want.length && b.shape.every((d, i) => d === want[i]);
  if (want.length > 4) return false;
  const padded = [...new Array<number>(4 - want.length).fill(1), ...want];
  return padded.every((d, i) => d === b.shape[i]);
}

// ---- encoding ---------------------------------------------------------------------------

/** One layer of a caffemodel to write: its name and type (the importer maps blobs by name). */
export interface CaffemodelLayer {
  name: string;
  type: string;
  bottom?: string[];
  top?: string[];
  /** Parameter blobs in Caffe's order (weight, bias; BatchNorm: mean, variance, scale factor). */
  blobs: Tensor[];
}

export interface EncodeCaffemodelOptions {
  /** NetParameter.name. */
  name?: string;
  /** Write blob shapes as legacy num/channels/height/width (padded with 1s at the front). */
  legacyShapes?: boolean;
  /** Write values as double_data instead of data. */
  doubleData?: boolean;
}

function packedFloats(w: Writer, field: number, data: Float32Array): void {
  w.tag(field, LEN);
  if (LITTLE_ENDIAN) {
    w.bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return;
  }
  w.fork();
  for (const v of data) w.float(v);
  w.ldelim();
}

/**
 * Encodes layers and their blobs as a binary NetParameter, the layout of a .caffemodel (layers
 * carry name, type, bottoms, tops and blobs; no layer parameters).
 */
export function encodeCaffemodel(layers: readonly CaffemodelLayer[], options: EncodeCaffemodelOptions = {}): Uint8Array {
  const w = new Writer(1 << 16);
  if (options.name !== undefined) w.tag(1, LEN).string(options.name);
  for (const l of layers) {
    w.tag(100, LEN).fork();
    w.tag(1, LEN).string(l.name);
    w.tag(2, LEN).string(l.type);
    for (const b of l.bottom ?? []) w.tag(3, LEN).string(b);
    for (const t of l.top ?? []) w.tag(4, LEN).string(t);
    for (const t of l.blobs) {
      if (!(t instanceof Tensor) || !(t.data instanceof Float32Array)) {
        throw new FcnkitError('INVALID_ARGUMENT', `Expected float32 Tensors for the blobs of layer '${l.name}'`);
      }
      w.tag(7, LEN).fork();
      if (options.legacyShapes) {
        if (t.shape.length > 4) throw new FcnkitError('INVALID_ARGUMENT', `layer '${l.name}': a legacy blob shape has at most 4 dims, not [${t.shape.join(', ')}]`);
        const dims = [...new Array<number>(4 - t.shape.length).fill(1), ...t.shape];
        dims.forEach((d, i) => w.tag(i + 1, VARINT).int64(d));
      } else {
        w.tag(7, LEN).fork();
        if (t.shape.length) {
          w.tag(1, LEN).fork();
          for (const d of t.shape) w.int64(d);
          w.ldelim();
        }
        w.ldelim();
      }
      if (options.doubleData) {
        w.tag(8, LEN).fork();
        for (const v of t.data) w.double(v);
        w.ldelim();
      } else packedFloats(w, 5, t.data);
      w.ldelim();
    }
    w.ldelim();
  }
  return w.finish().slice();
}
