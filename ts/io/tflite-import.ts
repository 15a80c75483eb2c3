/**
 * TFLite importer: a `.tflite` flatbuffer (schema version 3, file identifier 'TFL3') into an
 * ImportedGraph that runs on the NCHW core.
 *
 * Supported: the ops of MediaPipe's selfie segmentation model — CONV_2D, DEPTHWISE_CONV_2D,
 * DEQUANTIZE (float16 constants), ADD, MUL, HARD_SWISH, RELU, LOGISTIC, AVERAGE_POOL_2D,
 * RESIZE_BILINEAR and MediaPipe's custom `Convolution2DTransposeBias` — with float32
 * activations. Any other op is UNSUPPORTED_OP at load, naming the op, the operator index and
 * the model's schema version.
 *
 * Layout: TFLite is NHWC; the core is NCHW. Everything is converted once at load:
 * - activations: an NHWC tensor [n, h, w, c] becomes NCHW [n, c, h, w]; so the ImportedGraph's
 *   inputs and outputs are NCHW (the selfie model: input [1, 3, 256, 256], output [1, 1, 256, 256]);
 * - conv filters OHWI [o, kh, kw, i] -> OIHW [o, i, kh, kw];
 * - depthwise filters [1, kh, kw, c * m] -> [c * m, 1, kh, kw] with groups = c;
 * - transposed-conv filters OHWI -> [i, o, kh, kw] (the core's [inC, outC, kH, kW]);
 * - elementwise constants of rank <= 4 are right-aligned to NHWC (numpy broadcasting) and
 *   transposed to NCHW;
 * - float16 weights behind DEQUANTIZE are widened to float32.
 *
 * Padding: TFLite SAME is TensorFlow's rule — out = ceil(in / stride), total padding
 * max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0), floor(total / 2) before and the odd
 * pixel after (ONNX SAME_UPPER). The importer computes explicit pads; AVERAGE_POOL_2D divides by
 * the number of real pixels in the window (padding not counted), as TFLite does.
 *
 * `Convolution2DTransposeBias` (MediaPipe, mediapipe/util/tflite/operations/transpose_conv_bias.cc):
 * inputs [x, filter OHWI, bias [o]]; custom_options is not a flexbuffer but the raw bytes of a
 * TfLiteTransposeConvParams struct — three little-endian int32: padding (1 = SAME, 2 = VALID),
 * stride_width, stride_height (the selfie model holds 01000000 02000000 02000000). With SAME,
 * P = max(0, k - (in - 1) % stride - 1) per axis, out = stride * (in - 1) + k - P, and the output
 * starts P / 2 (floor) pixels into the full transposed convolution.
 *
 * Spatial sizes are fixed by the file (RESIZE_BILINEAR sizes are constants), so specFor()
 * accepts exactly the declared input shape, except a batch dimension the file marks dynamic
 * (-1 in shape_signature).
 */
import { FcnkitError } from '../errors';
import type { NativeAttrs, NativeTensor } from '../native';
import type { GraphSpec, GraphSpecNode } from '../graph/spec';
import { FbTable, FlatBuffer } from './flatbuffer';
import type { Dim, ImportedGraph, ImportedTensorInfo } from './imported';

export const TFLITE_IDENTIFIER = 'TFL3';

/** True when the bytes carry the TFLite file identifier at bytes 4..8. */
export function isTflite(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33;
}

export interface TfliteImportOptions {
  /** Preprocessing to attach to the ImportedGraph (see ts/io/image.ts). */
  preprocessing?: unknown;
}

// ---- schema: field ids (tensorflow/lite/schema/schema.fbs) ---------------------------------

/** Decoded constants may exceed twice the file by this much (see decodedBytes). */
const CONSTANT_SLACK_BYTES = 64 * 1024 * 1024;
const MODEL = { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4 } as const;
const OPCODE = { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 } as const;
const SUBGRAPH = { tensors: 0, inputs: 1, outputs: 2, operators: 3 } as const;
const TENSOR = { shape: 0, type: 1, buffer: 2, name: 3, shapeSignature: 7 } as const;
// builtin_options is a union: its type byte has id 3 and its table id 4.
const OPERATOR = { opcodeIndex: 0, inputs: 1, outputs: 2, builtinOptionsType: 3, builtinOptions: 4, customOptions: 5 } as const;
const BUFFER = { data: 0, offset: 1, size: 2 } as const;
const CONV_OPTS = { padding: 0, strideW: 1, strideH: 2, activation: 3, dilationW: 4, dilationH: 5 } as const;
const DEPTHWISE_OPTS = { padding: 0, strideW: 1, strideH: 2, depthMultiplier: 3, activation: 4, dilationW: 5, dilationH: 6 } as const;
const POOL_OPTS = { padding: 0, strideW: 1, strideH: 2, filterW: 3, filterH: 4, activation: 5 } as const;
const BINARY_OPTS = { activation: 0 } as const;
const RESIZE_OPTS = { alignCorners: 2, halfPixelCenters: 3 } as const;

/** BuiltinOptions union members (1-based positions in the union). */
const OPTIONS_TYPE = { conv2d: 1, depthwise: 2, pool2d: 5, add: 11, resizeBilinear: 15, mul: 21 } as const;

const TENSOR_TYPES = ['FLOAT32', 'FLOAT16', 'INT32', 'UINT8', 'INT64', 'STRING', 'BOOL', 'INT16', 'COMPLEX64', 'INT8', 'FLOAT64'];
const T_FLOAT32 = 0;
const T_FLOAT16 = 1;
const T_INT32 = 2;
const ELEMENT_BYTES: Record<number, number> = { 0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8 };

const OP = {
  ADD: 0, AVERAGE_POOL_2D: 1, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, DEQUANTIZE: 6, LOGISTIC: 14, MUL: 18,
  RELU: 19, RESIZE_BILINEAR: 23, CUSTOM: 32, HARD_SWISH: 117,
} as const;

// BuiltinOperator names 0..127 for messages (schema.fbs order).
const BUILTIN_NAMES = (
  'ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE EMBEDDING_LOOKUP FLOOR ' +
  'FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION ' +
  'LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH ' +
  'CONCAT_EMBEDDINGS SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER ' +
  'BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE ' +
  'BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ' +
  'ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE ' +
  'TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK ' +
  'LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL ' +
  'FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL ' +
  'REVERSE_V2 ADD_N GATHER_ND COS WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND ' +
  'HARD_SWISH IF WHILE NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM ' +
  'BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES'
).split(' ');

const ACTIVATION_NAMES = ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH', 'SIGN_BIT'];

export const TFLITE_SUPPORTED_OPS = [
  'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEQUANTIZE', 'ADD', 'MUL', 'HARD_SWISH', 'RELU', 'LOGISTIC', 'AVERAGE_POOL_2D',
  'RESIZE_BILINEAR', 'Convolution2DTransposeBias',
] as const;

const TRANSPOSE_CONV_BIAS = 'Convolution2DTransposeBias';

/** Largest element count the importer accepts for one tensor (2^31 - 1, as TFLite's int32 dims). */
const MAX_ELEMENTS = 2 ** 31 - 1;
/** Largest activation (elements) an imported graph may compute: 1 GiB of float32. */
const MAX_ACTIVATION_ELEMENTS = 2 ** 28;

// ---- parsed model --------------------------------------------------------------------------

interface OpCode {
  builtin: number;
  custom: string | undefined;
  version: number;
}

interface TflTensor {
  index: number;
  name: string;
  shape: number[];
  /** -1 marks a dynamic dimension, when the file says so. */
  signature: number[] | undefined;
  type: number;
  buffer: number;
}

/** A value during conversion: a constant (NHWC data as in the file) or a runtime activation. */
type Value =
  | { kind: 'const'; shape: number[]; data: Float32Array | Int32Array; nchwName?: string }
  | { kind: 'act'; shape: number[]; name: string };

function opName(code: OpCode): string {
  if (code.builtin === OP.CUSTOM) return code.custom ?? 'CUSTOM';
  return BUILTIN_NAMES[code.builtin] ?? `builtin code ${code.builtin}`;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function shapeStr(shape: readonly (number | string | null)[]): string {
  return `[${shape.join(', ')}]`;
}

/** float16 bits -> float32 value. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** TF SAME padding of one axis: [before, after] with the odd pixel after. */
export function tfSamePadding(inSize: number, k: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + (k - 1) * dilation + 1 - inSize, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function convOutSize(inSize: number, k: number, stride: number, dilation: number, padding: 'SAME' | 'VALID'): number {
  if (padding === 'SAME') return Math.ceil(inSize / stride);
  const eff = (k - 1) * dilation + 1;
  return inSize < eff ? 0 : Math.floor((inSize - eff) / stride) + 1;
}

class TfliteImporter {
  private readonly fb: FlatBuffer;
  private readonly schemaVersion: number;
  private readonly codes: OpCode[] = [];
  private readonly bufferCount: number;
  private readonly model: FbTable;
  private readonly tensors: TflTensor[] = [];
  private readonly values = new Map<number, Value>();
  private readonly valueNames = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly nodes: GraphSpecNode[] = [];
  private readonly constants: Record<string, NativeTensor> = {};
  private opIndex = -1;
  private opLabel = '';
  /**
   * Bytes of constants decoded so far. Tensors may share a buffer, so a tiny file could ask for
   * the same megabyte a thousand times: decoding stops past twice the file (every buffer
   * decoded once, float16 widened) plus CONSTANT_SLACK_BYTES.
   */
  private decodedBytes = 0;

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) {
      throw new FcnkitError('INVALID_ARGUMENT', 'importTflite: expected a Uint8Array of the model file');
    }
    if (!isTflite(bytes)) {
      const id = bytes.byteLength >= 8 ? JSON.stringify(Buffer.from(bytes.subarray(4, 8)).toString('latin1')) : 'none (file shorter than 8 bytes)';
      throw new FcnkitError('BAD_MODEL', `not a TFLite model: file identifier ${id}, expected "${TFLITE_IDENTIFIER}"`);
    }
    this.fb = new FlatBuffer(bytes, 'TFLite model');
    this.model = this.fb.root();
    this.schemaVersion = this.model.u32(MODEL.version);
    if (this.schemaVersion !== 3) {
      throw this.fb.bad(`schema version ${this.schemaVersion} is not supported (expected 3)`);
    }
    const nCodes = this.model.vectorLength(MODEL.operatorCodes);
    for (let i = 0; i < nCodes; i++) {
      const t = this.model.tableAt(MODEL.operatorCodes, i, `operator code ${i}`);
      // Builtin codes past 127 live only in builtin_code; older files fill only the byte.
      const builtin = Math.max(t.i8(OPCODE.deprecatedBuiltinCode), t.i32(OPCODE.builtinCode));
      this.codes.push({ builtin, custom: t.string(OPCODE.customCode), version: t.i32(OPCODE.version, 1) });
    }
    this.bufferCount = this.model.vectorLength(MODEL.buffers);
  }

  import(options: TfliteImportOptions): ImportedGraph {
    if (this.model.vectorLength(MODEL.subgraphs) < 1) throw this.fb.bad('the model has no subgraph');
    const sg = this.model.tableAt(MODEL.subgraphs, 0, 'subgraph 0');
    const nTensors = sg.vectorLength(SUBGRAPH.tensors);
    for (let i = 0; i < nTensors; i++) this.tensors.push(this.readTensor(sg.tableAt(SUBGRAPH.tensors, i, `tensor ${i}`), i));

    const inputIdx = this.indexList(sg.int32s(SUBGRAPH.inputs) ?? [], 'subgraph inputs');
    const outputIdx = this.indexList(sg.int32s(SUBGRAPH.outputs) ?? [], 'subgraph outputs');
    if (inputIdx.length === 0 || outputIdx.length === 0) throw this.fb.bad('the subgraph declares no inputs or no outputs');

    const inputs: ImportedTensorInfo[] = [];
    const specInputs: GraphSpec['inputs'] = [];
    for (const i of inputIdx) {
      const t = this.tensors[i];
      if (t.type !== T_FLOAT32) throw this.unsupportedType(t, 'model input');
      if (t.shape.length !== 4) throw this.fb.bad(`model input '${t.name}' has shape ${shapeStr(t.shape)}; expected NHWC (rank 4)`);
      const name = this.claimValueName(t);
      this.values.set(i, { kind: 'act', shape: t.shape, name });
      const [n, h, w, c] = t.shape;
      const batch: Dim = t.signature && t.signature[0] === -1 ? 'N' : n;
      inputs.push({ name, dtype: 'float32', shape: [batch, c, h, w] });
      specInputs.push({ name, shape: [batch === 'N' ? null : n, c, h, w] });
    }

    const nOps = sg.vectorLength(SUBGRAPH.operators);
    for (let k = 0; k < nOps; k++) {
      this.opIndex = k;
      this.convertOperator(sg.tableAt(SUBGRAPH.operators, k, `operator ${k}`));
    }
    this.opIndex = -1;

    const outputs: ImportedTensorInfo[] = [];
    const specOutputs: string[] = [];
    for (const i of outputIdx) {
      const v = this.values.get(i);
      const t = this.tensors[i];
      if (!v) throw this.fb.bad(`model output '${t.name}' (tensor ${i}) is produced by no operator`);
      if (v.kind !== 'act') throw new FcnkitError('UNSUPPORTED_OP', `TFLite model output '${t.name}' is a constant; only computed outputs are supported`);
      if (v.shape.length !== 4) throw new FcnkitError('UNSUPPORTED_OP', `TFLite model output '${t.name}' has rank ${v.shape.length}; only NHWC (rank 4) outputs are supported`);
      const [n, h, w, c] = v.shape;
      const batch: Dim = inputs.some((x) => x.shape[0] === 'N') ? 'N' : n;
      outputs.push({ name: v.name, dtype: 'float32', shape: [batch, c, h, w] });
      specOutputs.push(v.name);
    }

    const spec: GraphSpec = { inputs: specInputs, constants: this.constants, nodes: this.nodes, outputs: specOutputs };
    const frozenInputs = inputs;
    return {
      format: 'tflite',
      inputs,
      outputs,
      preprocessing: options.preprocessing,
      specFor(inputShapes: Record<string, readonly number[]>): GraphSpec {
        if (typeof inputShapes !== 'object' || inputShapes === null) {
          throw new FcnkitError('INVALID_ARGUMENT', 'specFor: expected an object of input shapes by input name');
        }
        for (const info of frozenInputs) {
          const s = inputShapes[info.name];
          if (s === undefined) continue;
          const ok = Array.isArray(s) && s.length === 4 &&
            s.every((d, j) => (info.shape[j] === 'N' ? Number.isSafeInteger(d) && d >= 1 : d === info.shape[j]));
          if (!ok) {
            throw new FcnkitError(
              'SHAPE_MISMATCH',
              `TFLite input '${info.name}': the model takes NCHW ${shapeStr(info.shape)} (its sizes are fixed by the file) but received ${Array.isArray(s) ? shapeStr(s) : String(s)}`,
            );
          }
        }
        return spec;
      },
    };
  }

  // ---- tensors and buffers -----------------------------------------------------------------

  private readTensor(t: FbTable, index: number): TflTensor {
    const name = t.string(TENSOR.name) ?? '';
    const shape = t.int32s(TENSOR.shape) ?? [];
    const label = `tensor ${index}${name ? ` '${name}'` : ''}`;
    if (shape.length > 8) throw this.fb.bad(`${label} has rank ${shape.length}`);
    if (shape.some((d) => d < 0)) throw this.fb.bad(`${label} has a negative dimension: ${shapeStr(shape)}`);
    if (numel(shape) > MAX_ELEMENTS) throw this.fb.bad(`${label} shape ${shapeStr(shape)} has more than 2^31 - 1 elements`);
    const signature = t.int32s(TENSOR.shapeSignature);
    const buffer = t.u32(TENSOR.buffer);
    if (buffer >= Math.max(this.bufferCount, 1)) throw this.fb.bad(`${label} refers to buffer ${buffer} of ${this.bufferCount}`);
    return { index, name, shape, signature, type: t.i8(TENSOR.type), buffer };
  }

  /** The raw bytes of a tensor's buffer (a view into the file), or undefined when it has none. */
  private bufferBytes(t: TflTensor): Uint8Array | undefined {
    if (t.buffer === 0 || this.bufferCount === 0) return undefined;
    const b = this.model.tableAt(MODEL.buffers, t.buffer, `buffer ${t.buffer}`);
    const data = b.bytes(BUFFER.data);
    if (data && data.byteLength > 0) return data;
    // Files over 2 GB keep data after the flatbuffer: offset (> 1) and size from the file's start.
    const offset = b.u64(BUFFER.offset);
    if (offset > 1) {
      const size = b.u64(BUFFER.size);
      this.fb.check(offset, size, `buffer ${t.buffer} data`);
      return this.fb.bytes.subarray(offset, offset + size);
    }
    return undefined;
  }

  private tensorLabel(t: TflTensor): string {
    return `tensor ${t.index}${t.name ? ` '${t.name}'` : ''}`;
  }

  /** A constant tensor's data, decoded (float32 or int32; float16 widened by DEQUANTIZE only). */
  private readConstant(t: TflTensor, allowHalf: boolean): Float32Array | Int32Array | undefined {
    const raw = this.bufferBytes(t);
    if (!raw) return undefined;
    const elemBytes = ELEMENT_BYTES[t.type];
    const count = numel(t.shape);
    if (elemBytes === undefined || !(t.type === T_FLOAT32 || t.type === T_INT32 || (allowHalf && t.type === T_FLOAT16))) {
      throw this.unsupportedType(t, 'constant');
    }
    if (raw.byteLength !== count * elemBytes) {
      throw this.fb.bad(`${this.tensorLabel(t)}: shape ${shapeStr(t.shape)} of ${TENSOR_TYPES[t.type]} needs ${count * elemBytes} bytes but its buffer holds ${raw.byteLength}`);
    }
    const budget = 2 * this.fb.bytes.byteLength + CONSTANT_SLACK_BYTES;
    if (this.decodedBytes + count * 4 > budget) {
      throw new FcnkitError('TOO_LARGE', `TFLite ${this.tensorLabel(t)}: decoding its ${count * 4} bytes would bring the model's constants to ${this.decodedBytes + count * 4} bytes, over ${budget} (twice the ${this.fb.bytes.byteLength}-byte file plus ${CONSTANT_SLACK_BYTES}): buffers shared by many tensors?`);
    }
    this.decodedBytes += count * 4;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (t.type === T_INT32) {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    const out = new Float32Array(count);
    if (t.type === T_FLOAT16) for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
    else for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }

  private unsupportedType(t: TflTensor, role: string): FcnkitError {
    const type = TENSOR_TYPES[t.type] ?? `type ${t.type}`;
    const where = this.opIndex >= 0 ? ` (${this.opLabel})` : '';
    return new FcnkitError('UNSUPPORTED_OP', `TFLite ${role} ${this.tensorLabel(t)} is ${type}; fcnkit runs float32 models (float16 weights behind DEQUANTIZE)${where}, model schema version ${this.schemaVersion}`);
  }

  private indexList(list: number[], what: string): number[] {
    for (const i of list) {
      if (i < 0 || i >= this.tensors.length) throw this.fb.bad(`${what} refer to tensor ${i} of ${this.tensors.length}`);
    }
    return list;
  }

  /** A unique value name for a tensor (its own name when free). */
  private claimValueName(t: TflTensor): string {
    let name = t.name || `tensor_${t.index}`;
    if (this.valueNames.has(name)) name = `${name}#${t.index}`;
    this.valueNames.add(name);
    return name;
  }

  private claimNodeName(base: string): string {
    let name = base;
    for (let i = 1; this.nodeNames.has(name); i++) name = `${base}#${i}`;
    this.nodeNames.add(name);
    return name;
  }

  // ---- values ------------------------------------------------------------------------------

  private value(i: number, role: string): Value {
    if (i < 0 || i >= this.tensors.length) throw this.fb.bad(`${this.opLabel}: ${role} refers to tensor ${i} of ${this.tensors.length}`);
    const known = this.values.get(i);
    if (known) return known;
    const t = this.tensors[i];
    const data = this.readConstant(t, false);
    if (!data) throw this.fb.bad(`${this.opLabel}: ${role} ${this.tensorLabel(t)} is used before any operator produces it and has no data`);
    const v: Value = { kind: 'const', shape: t.shape, data };
    this.values.set(i, v);
    return v;
  }

  /** A float32 constant (weights, bias) in the file's layout. */
  private constF32(i: number, role: string): { shape: number[]; data: Float32Array } {
    const v = this.value(i, role);
    if (v.kind !== 'const') {
      throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: ${role} '${this.tensors[i].name}' is computed at run time; fcnkit needs constant ${role}s`);
    }
    if (!(v.data instanceof Float32Array)) throw this.fb.bad(`${this.opLabel}: ${role} ${this.tensorLabel(this.tensors[i])} is not float`);
    return { shape: v.shape, data: v.data };
  }

  /** The value name feeding a runtime input: an activation, or a constant laid out NCHW once. */
  private input(i: number, role: string): { name: string; shape: number[] } {
    const v = this.value(i, role);
    if (v.kind === 'act') return { name: v.name, shape: v.shape };
    if (!(v.data instanceof Float32Array)) throw this.fb.bad(`${this.opLabel}: ${role} ${this.tensorLabel(this.tensors[i])} is not float`);
    if (v.shape.length > 4) throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: constant ${role} of rank ${v.shape.length}`);
    if (!v.nchwName) {
      const nhwc = [...Array(4 - v.shape.length).fill(1), ...v.shape];
      const name = this.claimValueName(this.tensors[i]);
      this.constants[name] = { data: nhwcToNchw(v.data, nhwc), shape: [nhwc[0], nhwc[3], nhwc[1], nhwc[2]] };
      v.nchwName = name;
    }
    return { name: v.nchwName, shape: v.shape };
  }

  private activation4(i: number, role: string): { name: string; n: number; h: number; w: number; c: number } {
    const x = this.input(i, role);
    if (x.shape.length !== 4) {
      throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: ${role} has shape ${shapeStr(x.shape)}; expected NHWC (rank 4)`);
    }
    const [n, h, w, c] = x.shape;
    return { name: x.name, n, h, w, c };
  }

  /** Registers the op's output tensor as an activation of the computed NHWC shape. */
  private defineOutput(i: number, shape: number[]): string {
    if (i < 0 || i >= this.tensors.length) throw this.fb.bad(`${this.opLabel}: output refers to tensor ${i} of ${this.tensors.length}`);
    const t = this.tensors[i];
    if (this.values.has(i)) throw this.fb.bad(`${this.opLabel}: output ${this.tensorLabel(t)} is written twice`);
    if (t.type !== T_FLOAT32) throw this.unsupportedType(t, 'output');
    if (shape.some((d) => d < 1)) throw this.fb.bad(`${this.opLabel}: output shape ${shapeStr(shape)} is empty`);
    if (numel(shape) > MAX_ACTIVATION_ELEMENTS) {
      throw new FcnkitError('TOO_LARGE', `TFLite ${this.opLabel}: output shape ${shapeStr(shape)} exceeds ${MAX_ACTIVATION_ELEMENTS} elements`);
    }
    // The declared shape must agree (a dynamic batch may read 1).
    if (t.shape.length > 0) {
      const same = t.shape.length === shape.length && t.shape.every((d, j) => d === shape[j]);
      if (!same) throw this.fb.bad(`${this.opLabel}: computed output shape ${shapeStr(shape)} but ${this.tensorLabel(t)} declares ${shapeStr(t.shape)}`);
    }
    const name = this.claimValueName(t);
    this.values.set(i, { kind: 'act', shape, name });
    return name;
  }

  private addConstant(base: string, data: Float32Array, shape: number[]): string {
    let name = base;
    for (let i = 1; this.valueNames.has(name); i++) name = `${base}#${i}`;
    this.valueNames.add(name);
    this.constants[name] = { data, shape };
    return name;
  }

  private addNode(type: string, inputs: string[], outputs: string[], attrs: NativeAttrs, base: string): void {
    this.nodes.push({ name: this.claimNodeName(base), type, inputs, outputs, attrs });
  }

  // ---- operators ---------------------------------------------------------------------------

  private convertOperator(op: FbTable): void {
    const k = this.opIndex;
    const codeIndex = op.u32(OPERATOR.opcodeIndex);
    if (codeIndex >= this.codes.length) throw this.fb.bad(`operator ${k} refers to operator code ${codeIndex} of ${this.codes.length}`);
    const code = this.codes[codeIndex];
    const name = opName(code);
    const ins = op.int32s(OPERATOR.inputs) ?? [];
    const outs = op.int32s(OPERATOR.outputs) ?? [];
    const outName = outs.length > 0 && outs[0] >= 0 && outs[0] < this.tensors.length ? this.tensors[outs[0]].name : '';
    this.opLabel = `${name} (operator ${k}${outName ? `, output '${outName}'` : ''})`;

    const supported = code.builtin === OP.CUSTOM ? code.custom === TRANSPOSE_CONV_BIAS : (
      [OP.ADD, OP.AVERAGE_POOL_2D, OP.CONV_2D, OP.DEPTHWISE_CONV_2D, OP.DEQUANTIZE, OP.LOGISTIC, OP.MUL, OP.RELU,
        OP.RESIZE_BILINEAR, OP.HARD_SWISH] as number[]
    ).includes(code.builtin);
    if (!supported) {
      const what = code.builtin === OP.CUSTOM ? `custom op '${code.custom ?? ''}'` : `op ${name} (builtin code ${code.builtin})`;
      throw new FcnkitError(
        'UNSUPPORTED_OP',
        `TFLite ${what} at operator ${k}${outName ? ` (output '${outName}')` : ''} is not supported (model schema version ${this.schemaVersion}, op version ${code.version}); supported ops: ${TFLITE_SUPPORTED_OPS.join(', ')}`,
      );
    }
    const expectIo = (nIn: number[], nOut: number): void => {
      if (!nIn.includes(ins.length) || outs.length !== nOut) {
        throw this.fb.bad(`${this.opLabel}: expected ${nIn.join(' or ')} inputs and ${nOut} output(s) but found ${ins.length} and ${outs.length}`);
      }
    };
    const options = (expected: number): FbTable | undefined => {
      const type = op.u8(OPERATOR.builtinOptionsType);
      const table = op.table(OPERATOR.builtinOptions, `${this.opLabel} options`);
      if (table && type !== expected) throw this.fb.bad(`${this.opLabel}: builtin options of union type ${type}, expected ${expected}`);
      return table;
    };

    switch (code.builtin) {
      case OP.DEQUANTIZE: {
        expectIo([1], 1);
        const src = ins[0] >= 0 && ins[0] < this.tensors.length ? this.tensors[ins[0]] : undefined;
        if (!src) throw this.fb.bad(`${this.opLabel}: input refers to tensor ${ins[0]}`);
        if (src.type !== T_FLOAT16 || this.values.has(ins[0])) {
          throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: only DEQUANTIZE of constant float16 tensors is supported (input ${this.tensorLabel(src)} is ${TENSOR_TYPES[src.type] ?? src.type}${this.values.has(ins[0]) ? ', computed at run time' : ''}), model schema version ${this.schemaVersion}`);
        }
        const data = this.readConstant(src, true);
        if (!data) throw this.fb.bad(`${this.opLabel}: input ${this.tensorLabel(src)} has no data`);
        const dst = this.outTensor(outs[0]);
        if (dst.type !== T_FLOAT32) throw this.unsupportedType(dst, 'output');
        if (dst.shape.length !== src.shape.length || dst.shape.some((d, j) => d !== src.shape[j])) {
          throw this.fb.bad(`${this.opLabel}: output shape ${shapeStr(dst.shape)} differs from input shape ${shapeStr(src.shape)}`);
        }
        if (this.values.has(outs[0])) throw this.fb.bad(`${this.opLabel}: output ${this.tensorLabel(dst)} is written twice`);
        this.values.set(outs[0], { kind: 'const', shape: src.shape, data });
        return;
      }
      case OP.CONV_2D:
      case OP.DEPTHWISE_CONV_2D:
        expectIo([2, 3], 1);
        this.convertConv(ins, outs[0], code.builtin === OP.DEPTHWISE_CONV_2D, options(code.builtin === OP.CONV_2D ? OPTIONS_TYPE.conv2d : OPTIONS_TYPE.depthwise));
        return;
      case OP.CUSTOM:
        expectIo([3], 1);
        this.convertTransposeConvBias(ins, outs[0], op.bytes(OPERATOR.customOptions));
        return;
      case OP.AVERAGE_POOL_2D:
        expectIo([1], 1);
        this.convertAvgPool(ins[0], outs[0], options(OPTIONS_TYPE.pool2d));
        return;
      case OP.ADD:
      case OP.MUL: {
        expectIo([2], 1);
        const opts = options(code.builtin === OP.ADD ? OPTIONS_TYPE.add : OPTIONS_TYPE.mul);
        this.convertBinary(code.builtin === OP.ADD ? 'add' : 'mul', ins, outs[0], opts?.i8(BINARY_OPTS.activation) ?? 0);
        return;
      }
      case OP.RELU:
      case OP.LOGISTIC:
      case OP.HARD_SWISH: {
        expectIo([1], 1);
        const type = code.builtin === OP.RELU ? 'relu' : code.builtin === OP.LOGISTIC ? 'sigmoid' : 'hardSwish';
        const x = this.input(ins[0], 'input');
        const y = this.defineOutput(outs[0], x.shape);
        this.addNode(type, [x.name], [y], {}, y);
        return;
      }
      case OP.RESIZE_BILINEAR:
        expectIo([2], 1);
        this.convertResize(ins, outs[0], options(OPTIONS_TYPE.resizeBilinear));
        return;
      default:
        throw new FcnkitError('UNSUPPORTED_OP', `TFLite builtin op ${code.builtin} has no conversion`);
    }
  }

  private outTensor(i: number): TflTensor {
    if (i < 0 || i >= this.tensors.length) throw this.fb.bad(`${this.opLabel}: output refers to tensor ${i} of ${this.tensors.length}`);
    return this.tensors[i];
  }

  private padding(v: number): 'SAME' | 'VALID' {
    if (v === 0) return 'SAME';
    if (v === 1) return 'VALID';
    throw this.fb.bad(`${this.opLabel}: unknown padding ${v}`);
  }

  private positive(v: number, what: string): number {
    if (!Number.isSafeInteger(v) || v < 1) throw this.fb.bad(`${this.opLabel}: ${what} ${v} must be >= 1`);
    return v;
  }

  /**
   * Emits the fused activation after a node: RELU is folded into conv epilogues by the caller
   * (returned 'relu'); elsewhere RELU adds a relu node and RELU6 is hardSigmoid(x / 6) * 6.
   */
  private fusedActivation(act: number, foldRelu: boolean): { attr: 'none' | 'relu'; after: ((x: string, y: string) => void) | undefined } {
    if (act === 0) return { attr: 'none', after: undefined };
    if (act === 1) {
      if (foldRelu) return { attr: 'relu', after: undefined };
      return { attr: 'none', after: (x, y) => this.addNode('relu', [x], [y], {}, `${y}/relu`) };
    }
    if (act === 3) {
      return {
        attr: 'none',
        after: (x, y) => {
          const mid = this.addValueName(`${y}/relu6_unit`);
          this.addNode('hardSigmoid', [x], [mid], { alpha: 1 / 6, beta: 0 }, `${y}/relu6`);
          const six = this.addConstant(`${y}/six`, new Float32Array([6]), [1]);
          this.addNode('mul', [mid, six], [y], {}, `${y}/relu6_scale`);
        },
      };
    }
    throw new FcnkitError(
      'UNSUPPORTED_OP',
      `TFLite ${this.opLabel}: fused activation ${ACTIVATION_NAMES[act] ?? act} is not supported (NONE, RELU, RELU6 are), model schema version ${this.schemaVersion}`,
    );
  }

  private addValueName(base: string): string {
    let name = base;
    for (let i = 1; this.valueNames.has(name); i++) name = `${base}#${i}`;
    this.valueNames.add(name);
    return name;
  }

  /** Node output, then the fused activation (if any) writing the tensor's final value. */
  private withActivation(
    act: number,
    foldRelu: boolean,
    outIndex: number,
    shape: number[],
    emit: (out: string, activation: 'none' | 'relu') => void,
  ): void {
    const fused = this.fusedActivation(act, foldRelu);
    const y = this.defineOutput(outIndex, shape);
    if (!fused.after) {
      emit(y, fused.attr);
      return;
    }
    const pre = this.addValueName(`${y}/pre_activation`);
    emit(pre, fused.attr);
    fused.after(pre, y);
  }

  private convertConv(ins: number[], out: number, depthwise: boolean, opts: FbTable | undefined): void {
    const f = depthwise ? DEPTHWISE_OPTS : CONV_OPTS;
    const padding = this.padding(opts?.i8(f.padding) ?? 0);
    const sh = this.positive(opts?.i32(f.strideH) ?? 0, 'stride_h');
    const sw = this.positive(opts?.i32(f.strideW) ?? 0, 'stride_w');
    const dh = this.positive(opts?.i32(f.dilationH, 1) ?? 1, 'dilation_h_factor');
    const dw = this.positive(opts?.i32(f.dilationW, 1) ?? 1, 'dilation_w_factor');
    const act = opts?.i8(f.activation) ?? 0;

    const x = this.activation4(ins[0], 'input');
    const w = this.constF32(ins[1], 'filter');
    if (w.shape.length !== 4) throw this.fb.bad(`${this.opLabel}: filter shape ${shapeStr(w.shape)} is not rank 4`);
    const [o, kh, kw, i] = w.shape;
    if (o < 1 || kh < 1 || kw < 1 || i < 1) throw this.fb.bad(`${this.opLabel}: filter shape ${shapeStr(w.shape)} is empty`);
    let weight: Float32Array;
    let wShape: number[];
    let groups: number;
    let outC: number;
    if (depthwise) {
      // [1, kh, kw, c * m] -> [c * m, 1, kh, kw]; output channel c * m + j reads input channel c.
      if (o !== 1 || i % x.c !== 0) {
        throw this.fb.bad(`${this.opLabel}: depthwise filter ${shapeStr(w.shape)} does not fit ${x.c} input channels`);
      }
      const mult = opts?.i32(DEPTHWISE_OPTS.depthMultiplier) ?? 0;
      if (mult !== 0 && mult * x.c !== i) {
        throw this.fb.bad(`${this.opLabel}: depth_multiplier ${mult} with ${x.c} input channels does not match filter ${shapeStr(w.shape)}`);
      }
      outC = i;
      groups = x.c;
      wShape = [i, 1, kh, kw];
      weight = new Float32Array(w.data.length);
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          for (let c = 0; c < i; c++) weight[(c * kh + ky) * kw + kx] = w.data[(ky * kw + kx) * i + c];
        }
      }
    } else {
      if (x.c % i !== 0 || o % (x.c / i) !== 0) {
        throw this.fb.bad(`${this.opLabel}: filter ${shapeStr(w.shape)} (OHWI) does not fit ${x.c} input channels`);
      }
      outC = o;
      groups = x.c / i;
      wShape = [o, i, kh, kw];
      weight = ohwiToOihw(w.data, o, kh, kw, i);
    }
    const bias = this.optionalBias(ins[2], outC);
    const outH = convOutSize(x.h, kh, sh, dh, padding);
    const outW = convOutSize(x.w, kw, sw, dw, padding);
    const [pt, pb] = padding === 'SAME' ? tfSamePadding(x.h, kh, sh, dh) : [0, 0];
    const [pl, pr] = padding === 'SAME' ? tfSamePadding(x.w, kw, sw, dw) : [0, 0];
    this.withActivation(act, true, out, [x.n, outH, outW, outC], (y, activation) => {
      const wName = this.addConstant(`${y}/weight`, weight, wShape);
      const inputs = [x.name, wName];
      if (bias) inputs.push(this.addConstant(`${y}/bias`, bias, [outC]));
      this.addNode('conv2d', inputs, [y], {
        stride: [sh, sw], dilation: [dh, dw], groups, activation, pads: [pt, pl, pb, pr],
      }, y);
    });
  }

  private optionalBias(i: number | undefined, outC: number): Float32Array | undefined {
    if (i === undefined || i < 0) return undefined;
    const b = this.constF32(i, 'bias');
    if (b.data.length !== outC) throw this.fb.bad(`${this.opLabel}: bias has ${b.data.length} values for ${outC} output channels`);
    return b.data;
  }

  private convertTransposeConvBias(ins: number[], out: number, custom: Uint8Array | undefined): void {
    if (!custom || custom.byteLength < 12) {
      throw this.fb.bad(`${this.opLabel}: custom options hold ${custom?.byteLength ?? 0} bytes; expected 12 (int32 padding, stride_width, stride_height)`);
    }
    const view = new DataView(custom.buffer, custom.byteOffset, custom.byteLength);
    const padCode = view.getInt32(0, true);
    if (padCode !== 1 && padCode !== 2) throw this.fb.bad(`${this.opLabel}: padding ${padCode} is neither 1 (SAME) nor 2 (VALID)`);
    const sw = this.positive(view.getInt32(4, true), 'stride_width');
    const sh = this.positive(view.getInt32(8, true), 'stride_height');
    const x = this.activation4(ins[0], 'input');
    const w = this.constF32(ins[1], 'filter');
    if (w.shape.length !== 4) throw this.fb.bad(`${this.opLabel}: filter shape ${shapeStr(w.shape)} is not rank 4`);
    const [o, kh, kw, i] = w.shape;
    if (o < 1 || kh < 1 || kw < 1 || i !== x.c) {
      throw this.fb.bad(`${this.opLabel}: filter ${shapeStr(w.shape)} (OHWI) does not fit ${x.c} input channels`);
    }
    const bias = this.constF32(ins[2], 'bias');
    if (bias.data.length !== o) throw this.fb.bad(`${this.opLabel}: bias has ${bias.data.length} values for ${o} output channels`);
    const pH = padCode === 1 ? Math.max(0, kh - ((x.h - 1) % sh) - 1) : 0;
    const pW = padCode === 1 ? Math.max(0, kw - ((x.w - 1) % sw) - 1) : 0;
    const outH = sh * (x.h - 1) + kh - pH;
    const outW = sw * (x.w - 1) + kw - pW;
    // OHWI -> [i, o, kh, kw]
    const weight = new Float32Array(w.data.length);
    for (let oc = 0; oc < o; oc++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          for (let ic = 0; ic < i; ic++) weight[((ic * o + oc) * kh + ky) * kw + kx] = w.data[((oc * kh + ky) * kw + kx) * i + ic];
        }
      }
    }
    const y = this.defineOutput(out, [x.n, outH, outW, o]);
    const wName = this.addConstant(`${y}/weight`, weight, [i, o, kh, kw]);
    const bName = this.addConstant(`${y}/bias`, bias.data, [o]);
    const pt = Math.floor(pH / 2);
    const pl = Math.floor(pW / 2);
    this.addNode('convTranspose2d', [x.name, wName, bName], [y], {
      stride: [sh, sw], dilation: [1, 1], groups: 1, activation: 'none', outputPadding: [0, 0], pads: [pt, pl, pH - pt, pW - pl],
    }, y);
  }

  private convertAvgPool(inIndex: number, out: number, opts: FbTable | undefined): void {
    if (!opts) throw this.fb.bad(`${this.opLabel}: Pool2DOptions missing`);
    const padding = this.padding(opts.i8(POOL_OPTS.padding));
    const sh = this.positive(opts.i32(POOL_OPTS.strideH), 'stride_h');
    const sw = this.positive(opts.i32(POOL_OPTS.strideW), 'stride_w');
    const kh = this.positive(opts.i32(POOL_OPTS.filterH), 'filter_height');
    const kw = this.positive(opts.i32(POOL_OPTS.filterW), 'filter_width');
    const x = this.activation4(inIndex, 'input');
    const outH = convOutSize(x.h, kh, sh, 1, padding);
    const outW = convOutSize(x.w, kw, sw, 1, padding);
    const [pt, pb] = padding === 'SAME' ? tfSamePadding(x.h, kh, sh, 1) : [0, 0];
    const [pl, pr] = padding === 'SAME' ? tfSamePadding(x.w, kw, sw, 1) : [0, 0];
    this.withActivation(opts.i8(POOL_OPTS.activation), false, out, [x.n, outH, outW, x.c], (y) => {
      this.addNode('avgPool2d', [x.name], [y], {
        kernel: [kh, kw], stride: [sh, sw], dilation: [1, 1], pads: [pt, pl, pb, pr], ceilMode: false, countIncludePad: false,
      }, y);
    });
  }

  private convertBinary(type: 'add' | 'mul', ins: number[], out: number, act: number): void {
    const a = this.input(ins[0], 'input a');
    const b = this.input(ins[1], 'input b');
    if (a.shape.length > 4 || b.shape.length > 4) throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: operands of rank above 4`);
    const rank = Math.max(a.shape.length, b.shape.length);
    const pa = [...Array(rank - a.shape.length).fill(1), ...a.shape];
    const pb = [...Array(rank - b.shape.length).fill(1), ...b.shape];
    const shape = pa.map((d, j) => {
      if (d === pb[j] || pb[j] === 1) return d;
      if (d === 1) return pb[j];
      throw this.fb.bad(`${this.opLabel}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} do not broadcast`);
    });
    if (shape.length !== 4) {
      throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: result shape ${shapeStr(shape)}; expected NHWC (rank 4)`);
    }
    // A runtime operand of rank < 4 would need a runtime reshape; constants are padded at load.
    for (const [v, i] of [[a, ins[0]], [b, ins[1]]] as const) {
      if (v.shape.length !== 4 && this.values.get(i)?.kind === 'act') {
        throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: computed operand of shape ${shapeStr(v.shape)}; expected NHWC (rank 4)`);
      }
    }
    this.withActivation(act, false, out, shape, (y) => this.addNode(type, [a.name, b.name], [y], {}, y));
  }

  private convertResize(ins: number[], out: number, opts: FbTable | undefined): void {
    const alignCorners = opts?.bool(RESIZE_OPTS.alignCorners) ?? false;
    const halfPixel = opts?.bool(RESIZE_OPTS.halfPixelCenters) ?? false;
    if (alignCorners && halfPixel) throw this.fb.bad(`${this.opLabel}: align_corners and half_pixel_centers are both set`);
    const x = this.activation4(ins[0], 'input');
    const sizeValue = this.value(ins[1], 'size');
    if (sizeValue.kind !== 'const' || !(sizeValue.data instanceof Int32Array)) {
      throw new FcnkitError('UNSUPPORTED_OP', `TFLite ${this.opLabel}: the output size must be a constant int32 tensor`);
    }
    if (sizeValue.data.length !== 2) throw this.fb.bad(`${this.opLabel}: size holds ${sizeValue.data.length} values, expected 2`);
    const [oh, ow] = sizeValue.data;
    if (oh < 1 || ow < 1 || oh * ow * x.c > MAX_ELEMENTS) throw this.fb.bad(`${this.opLabel}: output size [${oh}, ${ow}]`);
    // TFLite: align_corners scales by (in - 1) / (out - 1); half_pixel_centers samples at
    // (o + 0.5) * in / out - 0.5 clamped at 0; otherwise o * in / out. These are the core's
    // ONNX modes align_corners, half_pixel and asymmetric (both clamp to the last pixel).
    const coordinate = alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric';
    const y = this.defineOutput(out, [x.n, oh, ow, x.c]);
    this.addNode('resize', [x.name], [y], { mode: 'bilinear', coordinate, nearestMode: 'round_prefer_floor', size: [oh, ow] }, y);
  }
}

function ohwiToOihw(src: Float32Array, o: number, kh: number, kw: number, i: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let oc = 0; oc < o; oc++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const s = ((oc * kh + ky) * kw + kx) * i;
        for (let ic = 0; ic < i; ic++) dst[((oc * i + ic) * kh + ky) * kw + kx] = src[s + ic];
      }
    }
  }
  return dst;
}

function nhwcToNchw(src: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const dst = new Float32Array(src.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) dst[((b * c + ch) * h + y) * w + x] = src[((b * h + y) * w + x) * c + ch];
      }
    }
  }
  return dst;
}

/**
 * Parses and validates a TFLite model and converts it (NHWC -> NCHW, float16 -> float32) once.
 * Throws FcnkitError BAD_MODEL for malformed files and UNSUPPORTED_OP for ops fcnkit lacks.
 */
export function importTflite(bytes: Uint8Array, options: TfliteImportOptions = {}): ImportedGraph {
  try {
    return new TfliteImporter(bytes).import(options);
  } catch (err) {
    if (err instanceof FcnkitError) throw err;
    // A RangeError from a typed array or DataView means the file lied about a size.
    throw new FcnkitError('BAD_MODEL', `TFLite model: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}
