/**
 * safetensors: the weight format of PyTorch / Hugging Face (`safetensors.torch.save_file`).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 * `{ "<name>": { "dtype": "F32", "shape": [...], "data_offsets": [begin, end] }, "__metadata__": {...} }`,
 * then the data; offsets count from the start of the data. Everything is checked before any
 * tensor is allocated: the header length against the file, the JSON's structure, every shape
 * (TOO_LARGE beyond 2^32 elements), every byte range (inside the data, of exactly
 * shape x element size bytes, not overlapping another) — BAD_MODEL otherwise.
 *
 * Tensors come back as fcnkit Tensors: F32, F16, BF16 and F64 as float32 (converted once); the
 * integer dtypes (I64, I32, I16, I8, U8, U16, U32, BOOL) as int32 when every value fits (PyTorch's
 * BatchNorm `num_batches_tracked` is an I64 scalar). Other dtypes (F8 variants, U64, complex)
 * are UNSUPPORTED_OP, naming the tensor.
 *
 * Loading PyTorch-trained weights into a built-in graph: map the state_dict names to fcnkit's
 * parameter names with mapStateDict, then model.loadWeights(...). UNET_TORCH_MAPPING maps the
 * widely used U-Net layout (inc / down<k>.maxpool_conv.1 / up<k>.up, up<k>.conv / outc, each
 * block a DoubleConv Sequential of conv, BN, ReLU, conv, BN, ReLU) onto
 * `models.unet({ padding: 'same', batchNorm: true, levels: 5 })`:
 *
 *   inc.double_conv.0.weight               -> down1.conv1.weight
 *   inc.double_conv.1.{weight,bias,running_mean,running_var} -> down1.bn1.*
 *   inc.double_conv.3 / .4                 -> down1.conv2 / down1.bn2
 *   down<k>.maxpool_conv.1.double_conv.*   -> down<k+1>.conv1 / bn1 / conv2 / bn2 (same indices)
 *   up<k>.up.{weight,bias}                 -> up<k>.upconv.* (up1 is the deepest in both)
 *   up<k>.conv.double_conv.*               -> up<k>.conv1 / bn1 / conv2 / bn2
 *   outc.conv.{weight,bias}                -> final.*
 *   *.num_batches_tracked                  -> dropped
 *
 * Layouts agree as they are (PyTorch's conv weights are [out, in, kH, kW], transposed conv
 * weights [in, out, kH, kW], like fcnkit's), so no tensor is transposed.
 */
import { FcnkitError, invalidArgument } from '../errors';
import { FILE_LIMITS, readRegularFile } from './safe-file';
import { Tensor } from '../tensor';
import { bfloat16ToFloat32, float16ToFloat32 } from './onnx-proto';

export const SAFETENSORS_DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32', 'BOOL'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

const SIZES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, BOOL: 1 };
const KNOWN_OTHER = ['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'U64', 'C64', 'C128'];

/** Headers beyond this are refused (real ones are kilobytes; the official reader caps at 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;
const MAX_ELEMENTS = 2 ** 32;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bad(what: string): FcnkitError {
  return new FcnkitError('BAD_MODEL', `safetensors: ${what}`);
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and checks the header; returns the entries and where the data starts. */
function parseHeader(bytes: Uint8Array): { entries: Entry[]; dataStart: number } {
  if (bytes.length < 8) throw bad(`file of ${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 4294967296 + lo;
  if (hi > 0 || n > MAX_HEADER) throw bad(`header length ${hi > 0x1fffff ? '> 2^53' : n} is implausible (at most 100 MB)`);
  if (n > bytes.length - 8) throw bad(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  if (n < 2) throw bad(`header length ${n} is too short for a JSON object`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    throw bad(`the header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
        throw bad("'__metadata__' must be an object of strings");
      }
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`tensor '${name}': entry is not an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string') throw bad(`tensor '${name}': dtype is missing`);
    if (!(e.dtype in SIZES)) {
      const known = KNOWN_OTHER.includes(e.dtype);
      throw new FcnkitError(known ? 'UNSUPPORTED_OP' : 'BAD_MODEL',
        `safetensors: tensor '${name}' has dtype ${JSON.stringify(e.dtype)}, which fcnkit ${known ? 'does not load' : 'does not know'} (supported: ${SAFETENSORS_DTYPES.join(', ')})`);
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || e.shape.length > 8 || e.shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
      throw bad(`tensor '${name}': shape ${JSON.stringify(e.shape)} is not a list of at most 8 integers >= 0`);
    }
    const shape = e.shape as number[];
    let count = 1;
    for (const d of shape) count *= d;
    if (count > MAX_ELEMENTS) throw new FcnkitError('TOO_LARGE', `safetensors: tensor '${name}' of shape [${shape.join(', ')}] has more than 2^32 elements`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((x) => !Number.isSafeInteger(x) || (x as number) < 0)) {
      throw bad(`tensor '${name}': data_offsets ${JSON.stringify(off)} must be two integers >= 0`);
    }
    const [begin, end] = off as [number, number];
    if (begin > end || end > dataLen) throw bad(`tensor '${name}': data_offsets [${begin}, ${end}] lie outside the ${dataLen} data bytes`);
    if (end - begin !== count * SIZES[dtype]) {
      throw bad(`tensor '${name}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${count * SIZES[dtype]}`);
    }
    entries.push({ name, dtype, shape, begin, end });
  }
  const sorted = [...entries].sort((p, q) => p.begin - q.begin || p.end - q.end);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1];
    const q = sorted[i];
    if (q.begin < p.end) throw bad(`tensors '${p.name}' [${p.begin}, ${p.end}] and '${q.name}' [${q.begin}, ${q.end}] overlap`);
  }
  return { entries, dataStart };
}

function toTensor(bytes: Uint8Array, e: Entry, dataStart: number): Tensor {
  const n = e.shape.reduce((a, b) => a * b, 1);
  const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (e.dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(raw);
      else for (let i = 0; i < n; i++) out[i] = v.getFloat32(i * 4, true);
      return new Tensor(out, e.shape);
    }
    case 'F16':
    case 'BF16': {
      const conv = e.dtype === 'F16' ? float16ToFloat32 : bfloat16ToFloat32;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = conv(v.getUint16(i * 2, true));
      return new Tensor(out, e.shape);
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(i * 8, true);
      return new Tensor(out, e.shape);
    }
    default: {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        let x: number;
        switch (e.dtype) {
          case 'I64': {
            const hi = v.getInt32(i * 8 + 4, true);
            const lo = v.getUint32(i * 8, true);
            x = hi === 0 && lo <= 0x7fffffff ? lo : hi === -1 && lo >= 0x80000000 ? lo - 4294967296 : NaN;
            break;
          }
          case 'I32': x = v.getInt32(i * 4, true); break;
          case 'I16': x = v.getInt16(i * 2, true); break;
          case 'I8': x = v.getInt8(i); break;
          case 'U8': x = v.getUint8(i); break;
          case 'BOOL': x = v.getUint8(i) ? 1 : 0; break;
          case 'U16': x = v.getUint16(i * 2, true); break;
          default: x = v.getUint32(i * 4, true); if (x > 0x7fffffff) x = NaN; break; // U32
        }
        if (Number.isNaN(x)) throw new FcnkitError('UNSUPPORTED_OP', `safetensors: tensor '${e.name}' (${e.dtype}) holds a value outside int32, which fcnkit's int32 tensors cannot hold`);
        out[i] = x;
      }
      return new Tensor(out, e.shape);
    }
  }
}

/** Reads a .safetensors file (path or bytes) into Tensors by name (in the file's header order). */
export async function loadSafetensors(pathOrBytes: string | Uint8Array): Promise<Record<string, Tensor>> {
  let bytes: Uint8Array;
  if (typeof pathOrBytes === 'string') {
    if (!pathOrBytes) throw invalidArgument('loadSafetensors source', 'a file path or bytes', pathOrBytes);
    bytes = await readRegularFile(pathOrBytes, { what: 'safetensors file', maxBytes: FILE_LIMITS.model });
  } else if (pathOrBytes instanceof Uint8Array) bytes = pathOrBytes;
  else throw invalidArgument('loadSafetensors source', 'a file path or bytes', pathOrBytes);
  return loadSafetensorsSync(bytes);
}

/** loadSafetensors on bytes already in memory, synchronously. */
export function loadSafetensorsSync(bytes: Uint8Array): Record<string, Tensor> {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument('loadSafetensors bytes', 'a Uint8Array', bytes);
  const { entries, dataStart } = parseHeader(bytes);
  const out: Record<string, Tensor> = {};
  for (const e of entries) out[e.name] = toTensor(bytes, e, dataStart);
  return out;
}

/**
 * How state_dict names become parameter names: an exact-name table, a function (return
 * undefined to drop a tensor), or rules [pattern, replacement] tried in order, the first whose
 * pattern matches winning (a string pattern matches as a prefix; replacement undefined drops).
 */
export type StateDictMapping =
  | Record<string, string>
  | ((name: string) => string | undefined)
  | ReadonlyArray<readonly [RegExp | string, string | undefined]>;

/**
 * Renames a state dict's tensors for loadWeights: `mapStateDict(state, UNET_TORCH_MAPPING)`.
 * Names the mapping drops (or, for a table, does not list) are left out; two names mapped to
 * one parameter are INVALID_ARGUMENT.
 */
export function mapStateDict(state: Record<string, Tensor>, mapping: StateDictMapping): Record<string, Tensor> {
  if (typeof state !== 'object' || state === null) throw invalidArgument('mapStateDict state', 'an object of Tensors by name', state);
  let fn: (name: string) => string | undefined;
  if (typeof mapping === 'function') fn = mapping;
  else if (Array.isArray(mapping)) {
    const rules = mapping as ReadonlyArray<readonly [RegExp | string, string | undefined]>;
    fn = (name) => {
      for (const [pattern, repl] of rules) {
        if (typeof pattern === 'string') {
          if (name.startsWith(pattern)) return repl === undefined ? undefined : repl + name.slice(pattern.length);
        } else if (pattern.test(name)) {
          pattern.lastIndex = 0;
          return repl === undefined ? undefined : name.replace(pattern, repl);
        }
      }
      return name;
    };
  } else if (typeof mapping === 'object' && mapping !== null) {
    const table = mapping as Record<string, string>;
    fn = (name) => (Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined);
  } else throw invalidArgument('mapStateDict mapping', 'a table, a function or a list of [pattern, replacement] rules', mapping);
  const out: Record<string, Tensor> = {};
  const from: Record<string, string> = {};
  for (const [name, t] of Object.entries(state)) {
    const to = fn(name);
    if (to === undefined) continue;
    if (typeof to !== 'string' || to.length === 0) throw new FcnkitError('INVALID_ARGUMENT', `mapStateDict: the mapping gave ${JSON.stringify(to)} for '${name}'`);
    if (to in out) throw new FcnkitError('INVALID_ARGUMENT', `mapStateDict: '${from[to]}' and '${name}' both map to '${to}'`);
    out[to] = t;
    from[to] = name;
  }
  return out;
}

/** A DoubleConv Sequential's indices: conv, BN, (ReLU), conv, BN. */
const DOUBLE_CONV: Record<string, string> = { 0: 'conv1', 1: 'bn1', 3: 'conv2', 4: 'bn2' };

/**
 * The common PyTorch U-Net layout (inc, down<k>.maxpool_conv.1, up<k>.up / up<k>.conv, outc; see
 * the file comment) onto `models.unet({ padding: 'same', batchNorm: true })`.
 */
export const UNET_TORCH_MAPPING = (name: string): string | undefined => {
  if (name.endsWith('.num_batches_tracked')) return undefined;
  let m = /^inc\.double_conv\.(\d+)\.(.+)$/.exec(name);
  if (m && DOUBLE_CONV[m[1]]) return `down1.${DOUBLE_CONV[m[1]]}.${m[2]}`;
  m = /^down(\d+)\.maxpool_conv\.1\.double_conv\.(\d+)\.(.+)$/.exec(name);
  if (m && DOUBLE_CONV[m[2]]) return `down${Number(m[1]) + 1}.${DOUBLE_CONV[m[2]]}.${m[3]}`;
  m = /^up(\d+)\.up\.(weight|bias)$/.exec(name);
  if (m) return `up${m[1]}.upconv.${m[2]}`;
  m = /^up(\d+)\.conv\.double_conv\.(\d+)\.(.+)$/.exec(name);
  if (m && DOUBLE_CONV[m[2]]) return `up${m[1]}.${DOUBLE_CONV[m[2]]}.${m[3]}`;
  m = /^outc\.conv\.(weight|bias)$/.exec(name);
  if (m) return `final.${m[1]}`;
  return undefined;
};
