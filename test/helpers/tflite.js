'use strict';
// TFLite test helpers, written from the schema and TFLite's kernel semantics, independent of
// fcnkit's importer:
// - a tiny FlatBuffers builder (front to back: every child is written after the field that
//   points at it, so all uoffsets are positive; each vtable sits just before its table);
// - buildTflite(): a TFLite model from a plain description;
// - float16 encode/decode;
// - a naive NHWC reference interpreter for the ops fcnkit imports.

// ---- flatbuffer builder ------------------------------------------------------------------

// Field values for fb.table({ id: value }).
const fb = {
  u8: (v) => ({ kind: 'scalar', size: 1, write: (dv, p) => dv.setUint8(p, v) }),
  i8: (v) => ({ kind: 'scalar', size: 1, write: (dv, p) => dv.setInt8(p, v) }),
  bool: (v) => ({ kind: 'scalar', size: 1, write: (dv, p) => dv.setUint8(p, v ? 1 : 0) }),
  i32: (v) => ({ kind: 'scalar', size: 4, write: (dv, p) => dv.setInt32(p, v, true) }),
  u32: (v) => ({ kind: 'scalar', size: 4, write: (dv, p) => dv.setUint32(p, v, true) }),
  u64: (v) => ({ kind: 'scalar', size: 8, write: (dv, p) => dv.setBigUint64(p, BigInt(v), true) }),
  str: (s) => ({ kind: 'bytes', bytes: Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]), length: Buffer.byteLength(s, 'utf8') }),
  bytes: (b) => ({ kind: 'bytes', bytes: Buffer.from(b.buffer, b.byteOffset, b.byteLength), length: b.byteLength }),
  i32s: (a) => {
    const b = Buffer.alloc(4 * a.length);
    a.forEach((v, i) => b.writeInt32LE(v, 4 * i));
    return { kind: 'bytes', bytes: b, length: a.length };
  },
  table: (fields) => ({ kind: 'table', fields }),
  tables: (list) => ({ kind: 'tables', list }),
};

class Writer {
  constructor() {
    this.buf = Buffer.alloc(1024);
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
  }
  align(a) {
    const pad = (a - (this.len % a)) % a;
    this.reserve(pad);
    this.len += pad;
  }
  alloc(n) {
    this.reserve(n);
    const p = this.len;
    this.len += n;
    return p;
  }
  get dv() {
    return new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }
  patchOffset(at, target) {
    this.dv.setUint32(at, target - at, true);
  }
  /** Writes a value referenced by an offset; returns its position. */
  object(v) {
    if (v.kind === 'table') return this.table(v.fields);
    if (v.kind === 'bytes') {
      this.align(4);
      const p = this.alloc(4 + v.bytes.length);
      this.dv.setUint32(p, v.length, true);
      v.bytes.copy(this.buf, p + 4);
      return p;
    }
    if (v.kind === 'tables') {
      this.align(4);
      const p = this.alloc(4 + 4 * v.list.length);
      this.dv.setUint32(p, v.list.length, true);
      v.list.forEach((t, i) => this.patchOffset(p + 4 + 4 * i, this.table(t.fields)));
      return p;
    }
    throw new Error(`not an object: ${v.kind}`);
  }
  table(fields) {
    const ids = Object.keys(fields).map(Number).filter((id) => fields[id] !== undefined);
    const maxId = ids.length ? Math.max(...ids) : -1;
    // Inline layout: soffset, then each field aligned to its size (offsets 4 bytes).
    let inline = 4;
    const at = {};
    for (const id of ids) {
      const size = fields[id].kind === 'scalar' ? fields[id].size : 4;
      inline = Math.ceil(inline / size) * size;
      at[id] = inline;
      inline += size;
    }
    inline = Math.ceil(inline / 4) * 4;
    const vtBytes = 4 + 2 * (maxId + 1);
    this.align(2);
    // The table must start 8-aligned (u64 fields); pad before the vtable as needed.
    const pad = (8 - ((this.len + vtBytes) % 8)) % 8;
    this.alloc(pad);
    const vt = this.alloc(vtBytes);
    const t = this.alloc(inline);
    const dv = this.dv;
    dv.setUint16(vt, vtBytes, true);
    dv.setUint16(vt + 2, inline, true);
    for (let id = 0; id <= maxId; id++) dv.setUint16(vt + 4 + 2 * id, at[id] ?? 0, true);
    dv.setInt32(t, t - vt, true);
    for (const id of ids) if (fields[id].kind === 'scalar') fields[id].write(this.dv, t + at[id]);
    for (const id of ids) if (fields[id].kind !== 'scalar') this.patchOffset(t + at[id], this.object(fields[id]));
    return t;
  }
}

/** Serialises a root table (from fb.table) with a 4-character file identifier. */
function finishFlatbuffer(root, identifier) {
  const w = new Writer();
  w.alloc(8);
  w.buf.write(identifier, 4, 'latin1');
  w.patchOffset(0, w.table(root.fields));
  return new Uint8Array(w.buf.subarray(0, w.len));
}

// ---- float16 -----------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> float16 bits, round to nearest even (finite inputs within the half range). */
function toHalf(x) {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  let e = exp - 127 + 15;
  if (exp === 0 && mant === 0) return sign;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

function fromHalf(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * Math.pow(2, -24);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * Math.pow(2, e - 15);
}

// ---- TFLite model builder ----------------------------------------------------------------

const BUILTIN = {
  ADD: 0, AVERAGE_POOL_2D: 1, CONCATENATION: 2, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, DEQUANTIZE: 6, LOGISTIC: 14,
  MAX_POOL_2D: 17, MUL: 18, RELU: 19, RESHAPE: 22, RESIZE_BILINEAR: 23, CUSTOM: 32, HARD_SWISH: 117,
};
const TYPE = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT8: 9 };
const ACT = { NONE: 0, RELU: 1, RELU6: 3, TANH: 4 };
const PAD = { SAME: 0, VALID: 1 };

function tensorBytes(t) {
  if (t.data === undefined) return undefined;
  if (t.type === TYPE.FLOAT16) {
    const b = Buffer.alloc(2 * t.data.length);
    t.data.forEach((v, i) => b.writeUInt16LE(toHalf(v), 2 * i));
    return b;
  }
  if (t.type === TYPE.INT32) {
    const b = Buffer.alloc(4 * t.data.length);
    t.data.forEach((v, i) => b.writeInt32LE(v, 4 * i));
    return b;
  }
  const b = Buffer.alloc(4 * t.data.length);
  t.data.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return b;
}

// builtin_options: [union type, table fields] per op.
function builtinOptions(op) {
  const o = op.options ?? {};
  switch (op.op) {
    case 'CONV_2D':
      return [1, { 0: fb.i8(PAD[o.padding ?? 'SAME']), 1: fb.i32(o.stride?.[1] ?? 1), 2: fb.i32(o.stride?.[0] ?? 1),
        3: fb.i8(ACT[o.activation ?? 'NONE']), 4: fb.i32(o.dilation?.[1] ?? 1), 5: fb.i32(o.dilation?.[0] ?? 1) }];
    case 'DEPTHWISE_CONV_2D':
      return [2, { 0: fb.i8(PAD[o.padding ?? 'SAME']), 1: fb.i32(o.stride?.[1] ?? 1), 2: fb.i32(o.stride?.[0] ?? 1),
        3: fb.i32(o.depthMultiplier ?? 1), 4: fb.i8(ACT[o.activation ?? 'NONE']), 5: fb.i32(o.dilation?.[1] ?? 1),
        6: fb.i32(o.dilation?.[0] ?? 1) }];
    case 'AVERAGE_POOL_2D':
    case 'MAX_POOL_2D':
      return [5, { 0: fb.i8(PAD[o.padding ?? 'VALID']), 1: fb.i32(o.stride[1]), 2: fb.i32(o.stride[0]),
        3: fb.i32(o.filter[1]), 4: fb.i32(o.filter[0]), 5: fb.i8(ACT[o.activation ?? 'NONE']) }];
    case 'ADD':
      return [11, { 0: fb.i8(ACT[o.activation ?? 'NONE']) }];
    case 'MUL':
      return [21, { 0: fb.i8(ACT[o.activation ?? 'NONE']) }];
    case 'RESIZE_BILINEAR':
      return [15, { 2: fb.bool(!!o.alignCorners), 3: fb.bool(!!o.halfPixelCenters) }];
    default:
      return undefined;
  }
}

/**
 * model: { tensors: [{ name, shape, type: 'FLOAT32' | 'FLOAT16' | 'INT32' | number, data? }],
 *          inputs: [i], outputs: [i],
 *          operators: [{ op: 'CONV_2D' | ... | custom name, inputs: [i], outputs: [i], options?, custom?: Uint8Array }],
 *          version?: 3 }
 */
function buildTflite(model) {
  const codes = [];
  const codeIndex = (op) => {
    let i = codes.findIndex((c) => c.op === op);
    if (i < 0) {
      codes.push({ op });
      i = codes.length - 1;
    }
    return i;
  };
  const buffers = [fb.table({})];
  const tensors = model.tensors.map((t, i) => {
    const type = typeof t.type === 'number' ? t.type : TYPE[t.type ?? 'FLOAT32'];
    const bytes = tensorBytes({ ...t, type });
    let buffer = 0;
    if (bytes) {
      buffers.push(fb.table({ 0: fb.bytes(bytes) }));
      buffer = buffers.length - 1;
    }
    return fb.table({ 0: fb.i32s(t.shape), 1: fb.i8(type), 2: fb.u32(buffer), 3: fb.str(t.name ?? `t${i}`) });
  });
  const operators = model.operators.map((op) => {
    const fields = { 0: fb.u32(codeIndex(op.op)), 1: fb.i32s(op.inputs), 2: fb.i32s(op.outputs) };
    const opts = builtinOptions(op);
    if (opts) {
      fields[3] = fb.u8(opts[0]);
      fields[4] = fb.table(opts[1]);
    }
    if (op.custom) fields[5] = fb.bytes(op.custom);
    return fb.table(fields);
  });
  const opcodes = codes.map(({ op }) => {
    const builtin = BUILTIN[op] ?? BUILTIN.CUSTOM;
    const f = { 0: fb.i8(Math.min(builtin, 127)), 2: fb.i32(1), 3: fb.i32(builtin) };
    if (BUILTIN[op] === undefined) f[1] = fb.str(op);
    return fb.table(f);
  });
  const subgraph = fb.table({
    0: fb.tables(tensors), 1: fb.i32s(model.inputs), 2: fb.i32s(model.outputs), 3: fb.tables(operators), 4: fb.str('main'),
  });
  const root = fb.table({
    0: fb.u32(model.version ?? 3), 1: fb.tables(opcodes), 2: fb.tables([subgraph]), 3: fb.str('fcnkit test model'),
    4: fb.tables(buffers),
  });
  return finishFlatbuffer(root, 'TFL3');
}

/** custom_options of Convolution2DTransposeBias: int32 padding (1 SAME, 2 VALID), stride_w, stride_h. */
function transposeConvOptions(padding, strideW, strideH) {
  const b = Buffer.alloc(12);
  b.writeInt32LE(padding === 'SAME' ? 1 : 2, 0);
  b.writeInt32LE(strideW, 4);
  b.writeInt32LE(strideH, 8);
  return new Uint8Array(b);
}

// ---- naive NHWC reference ----------------------------------------------------------------
// Tensors: { shape: [n, h, w, c] (or any rank for constants), data: Float64Array | number[] }.

function size(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function samePad(inSize, k, s, d) {
  const out = Math.floor((inSize + s - 1) / s);
  const total = Math.max((out - 1) * s + (k - 1) * d + 1 - inSize, 0);
  return { out, before: Math.floor(total / 2) };
}

function outAndPad(inSize, k, s, d, padding) {
  if (padding === 'SAME') return samePad(inSize, k, s, d);
  return { out: Math.floor((inSize - ((k - 1) * d + 1)) / s) + 1, before: 0 };
}

function activate(v, act) {
  if (act === 'RELU') return Math.max(0, v);
  if (act === 'RELU6') return Math.min(6, Math.max(0, v));
  return v;
}

/** CONV_2D: filter [O, kh, kw, I] (I may divide C: grouped). */
function refConv2d(x, w, bias, o = {}) {
  const [n, h, wd, c] = x.shape;
  const [oc, kh, kw, ic] = w.shape;
  const [sh, sw] = o.stride ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const H = outAndPad(h, kh, sh, dh, o.padding ?? 'SAME');
  const W = outAndPad(wd, kw, sw, dw, o.padding ?? 'SAME');
  const groups = c / ic;
  const perGroup = oc / groups;
  const out = new Float64Array(n * H.out * W.out * oc);
  for (let b = 0; b < n; b++) for (let y = 0; y < H.out; y++) for (let xo = 0; xo < W.out; xo++) for (let k = 0; k < oc; k++) {
    const g = Math.floor(k / perGroup);
    let s = bias ? bias.data[k] : 0;
    for (let ky = 0; ky < kh; ky++) {
      const iy = y * sh - H.before + ky * dh;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = xo * sw - W.before + kx * dw;
        if (ix < 0 || ix >= wd) continue;
        for (let i = 0; i < ic; i++) {
          s += x.data[((b * h + iy) * wd + ix) * c + g * ic + i] * w.data[((k * kh + ky) * kw + kx) * ic + i];
        }
      }
    }
    out[((b * H.out + y) * W.out + xo) * oc + k] = activate(s, o.activation);
  }
  return { shape: [n, H.out, W.out, oc], data: out };
}

/** DEPTHWISE_CONV_2D: filter [1, kh, kw, C * M]; output channel k reads input channel floor(k / M). */
function refDepthwise(x, w, bias, o = {}) {
  const [n, h, wd, c] = x.shape;
  const [, kh, kw, oc] = w.shape;
  const m = oc / c;
  const [sh, sw] = o.stride ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const H = outAndPad(h, kh, sh, dh, o.padding ?? 'SAME');
  const W = outAndPad(wd, kw, sw, dw, o.padding ?? 'SAME');
  const out = new Float64Array(n * H.out * W.out * oc);
  for (let b = 0; b < n; b++) for (let y = 0; y < H.out; y++) for (let xo = 0; xo < W.out; xo++) for (let k = 0; k < oc; k++) {
    const ic = Math.floor(k / m);
    let s = bias ? bias.data[k] : 0;
    for (let ky = 0; ky < kh; ky++) {
      const iy = y * sh - H.before + ky * dh;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = xo * sw - W.before + kx * dw;
        if (ix < 0 || ix >= wd) continue;
        s += x.data[((b * h + iy) * wd + ix) * c + ic] * w.data[(ky * kw + kx) * oc + k];
      }
    }
    out[((b * H.out + y) * W.out + xo) * oc + k] = activate(s, o.activation);
  }
  return { shape: [n, H.out, W.out, oc], data: out };
}

/** AVERAGE_POOL_2D: the mean over the window's real pixels. */
function refAvgPool(x, o) {
  const [n, h, wd, c] = x.shape;
  const [fh, fw] = o.filter;
  const [sh, sw] = o.stride;
  const H = outAndPad(h, fh, sh, 1, o.padding ?? 'VALID');
  const W = outAndPad(wd, fw, sw, 1, o.padding ?? 'VALID');
  const out = new Float64Array(n * H.out * W.out * c);
  for (let b = 0; b < n; b++) for (let y = 0; y < H.out; y++) for (let xo = 0; xo < W.out; xo++) for (let k = 0; k < c; k++) {
    let s = 0;
    let cnt = 0;
    for (let ky = 0; ky < fh; ky++) for (let kx = 0; kx < fw; kx++) {
      const iy = y * sh - H.before + ky;
      const ix = xo * sw - W.before + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
      s += x.data[((b * h + iy) * wd + ix) * c + k];
      cnt++;
    }
    out[((b * H.out + y) * W.out + xo) * c + k] = activate(s / cnt, o.activation);
  }
  return { shape: [n, H.out, W.out, c], data: out };
}

/** RESIZE_BILINEAR as TFLite's reference kernel. */
function refResizeBilinear(x, [oh, ow], o = {}) {
  const [n, h, wd, c] = x.shape;
  const scale = (inS, outS) => (o.alignCorners && outS > 1 ? (inS - 1) / (outS - 1) : inS / outS);
  const sy = scale(h, oh);
  const sx = scale(wd, ow);
  const src = (i, s, inS) => {
    if (o.halfPixelCenters) {
      const v = (i + 0.5) * s - 0.5;
      return { lo: Math.max(Math.floor(v), 0), hi: Math.min(Math.ceil(v), inS - 1), f: v - Math.floor(v) };
    }
    const v = i * s;
    const lo = Math.floor(v);
    return { lo, hi: Math.min(lo + 1, inS - 1), f: v - lo };
  };
  const out = new Float64Array(n * oh * ow * c);
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) {
    const Y = src(y, sy, h);
    for (let xo = 0; xo < ow; xo++) {
      const X = src(xo, sx, wd);
      for (let k = 0; k < c; k++) {
        const at = (yy, xx) => x.data[((b * h + yy) * wd + xx) * c + k];
        out[((b * oh + y) * ow + xo) * c + k] =
          at(Y.lo, X.lo) * (1 - Y.f) * (1 - X.f) + at(Y.hi, X.lo) * Y.f * (1 - X.f) +
          at(Y.lo, X.hi) * (1 - Y.f) * X.f + at(Y.hi, X.hi) * Y.f * X.f;
      }
    }
  }
  return { shape: [n, oh, ow, c], data: out };
}

/** ADD / MUL with numpy broadcasting (right-aligned shapes). */
function refBinary(a, b, fn, act) {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pa = [...Array(rank - a.shape.length).fill(1), ...a.shape];
  const pb = [...Array(rank - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const out = new Float64Array(size(shape));
  const idx = new Array(rank).fill(0);
  for (let i = 0; i < out.length; i++) {
    let r = i;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r = Math.floor(r / shape[d]);
    }
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      ia = ia * pa[d] + (pa[d] === 1 ? 0 : idx[d]);
      ib = ib * pb[d] + (pb[d] === 1 ? 0 : idx[d]);
    }
    out[i] = activate(fn(a.data[ia], b.data[ib]), act);
  }
  return { shape, data: out };
}

function refUnary(x, fn) {
  return { shape: x.shape, data: Float64Array.from(x.data, fn) };
}
const refRelu = (x) => refUnary(x, (v) => Math.max(0, v));
const refLogistic = (x) => refUnary(x, (v) => 1 / (1 + Math.exp(-v)));
const refHardSwish = (x) => refUnary(x, (v) => (v * Math.min(6, Math.max(0, v + 3))) / 6);

/** MediaPipe's Convolution2DTransposeBias: filter [O, kh, kw, I], scatter with padding P / 2. */
function refTransposeConvBias(x, w, bias, { padding, stride: [sh, sw] }) {
  const [n, h, wd, c] = x.shape;
  const [oc, kh, kw] = w.shape;
  const pH = padding === 'SAME' ? Math.max(0, kh - ((h - 1) % sh) - 1) : 0;
  const pW = padding === 'SAME' ? Math.max(0, kw - ((wd - 1) % sw) - 1) : 0;
  const oh = sh * (h - 1) + kh - pH;
  const ow = sw * (wd - 1) + kw - pW;
  const out = new Float64Array(n * oh * ow * oc);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh * ow; i++) for (let k = 0; k < oc; k++) out[(b * oh * ow + i) * oc + k] = bias.data[k];
    for (let y = 0; y < h; y++) for (let xi = 0; xi < wd; xi++) for (let ic = 0; ic < c; ic++) {
      const v = x.data[((b * h + y) * wd + xi) * c + ic];
      for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const oy = y * sh - Math.floor(pH / 2) + ky;
        const ox = xi * sw - Math.floor(pW / 2) + kx;
        if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
        for (let k = 0; k < oc; k++) out[((b * oh + oy) * ow + ox) * oc + k] += v * w.data[((k * kh + ky) * kw + kx) * c + ic];
      }
    }
  }
  return { shape: [n, oh, ow, oc], data: out };
}

/**
 * Runs a model description (as given to buildTflite, float16 data already rounded) with the
 * reference ops. feeds: { tensorIndex: { shape, data } } in NHWC. Returns every tensor.
 */
function referenceRun(model, feeds) {
  const vals = {};
  model.tensors.forEach((t, i) => {
    if (t.data !== undefined) {
      const type = t.type ?? 'FLOAT32';
      const data = type === 'FLOAT16' ? t.data.map((v) => fromHalf(toHalf(v))) : type === 'FLOAT32' ? t.data.map(Math.fround) : t.data;
      vals[i] = { shape: t.shape, data };
    }
  });
  Object.assign(vals, feeds);
  for (const op of model.operators) {
    const ins = op.inputs.map((i) => (i < 0 ? undefined : vals[i]));
    const o = op.options ?? {};
    let y;
    switch (op.op) {
      case 'CONV_2D': y = refConv2d(ins[0], ins[1], ins[2], o); break;
      case 'DEPTHWISE_CONV_2D': y = refDepthwise(ins[0], ins[1], ins[2], o); break;
      case 'AVERAGE_POOL_2D': y = refAvgPool(ins[0], o); break;
      case 'RESIZE_BILINEAR': y = refResizeBilinear(ins[0], Array.from(ins[1].data), o); break;
      case 'ADD': y = refBinary(ins[0], ins[1], (p, q) => p + q, o.activation); break;
      case 'MUL': y = refBinary(ins[0], ins[1], (p, q) => p * q, o.activation); break;
      case 'RELU': y = refRelu(ins[0]); break;
      case 'LOGISTIC': y = refLogistic(ins[0]); break;
      case 'HARD_SWISH': y = refHardSwish(ins[0]); break;
      case 'DEQUANTIZE': y = ins[0]; break;
      case 'Convolution2DTransposeBias': {
        const b = Buffer.from(op.custom);
        y = refTransposeConvBias(ins[0], ins[1], ins[2], {
          padding: b.readInt32LE(0) === 1 ? 'SAME' : 'VALID', stride: [b.readInt32LE(8), b.readInt32LE(4)],
        });
        break;
      }
      default: throw new Error(`reference has no ${op.op}`);
    }
    vals[op.outputs[0]] = y;
  }
  return vals;
}

function nhwcToNchw({ shape: [n, h, w, c], data }) {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
    out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k];
  }
  return out;
}

function nchwToNhwc(data, [n, c, h, w]) {
  const out = new Float64Array(n * c * h * w);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[((b * h + y) * w + x) * c + k] = data[((b * c + k) * h + y) * w + x];
  }
  return { shape: [n, h, w, c], data: out };
}

/**
 * Reads a real .tflite file into the description referenceRun() takes, with fcnkit's generic
 * flatbuffer reader (field ids from schema.fbs written out here again; the importer's own
 * conversion is not used).
 */
function describeTflite(bytes) {
  const { FlatBuffer } = require('../../dist/io/flatbuffer');
  const names = Object.fromEntries(Object.entries(BUILTIN).map(([k, v]) => [v, k]));
  const typeNames = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
  const buf = new FlatBuffer(bytes, 'reference');
  const m = buf.root();
  const codes = m.tables(1, () => 'opcode').map((c) => Math.max(c.i8(0), c.i32(3)) === 32 ? c.string(1) : names[Math.max(c.i8(0), c.i32(3))]);
  const buffers = m.tables(4, () => 'buffer');
  const sg = m.tableAt(2, 0, 'subgraph');
  const tensors = sg.tables(0, () => 'tensor').map((t) => {
    const type = typeNames[t.i8(1)];
    const raw = buffers[t.u32(2)].bytes(0);
    let data;
    if (raw && raw.length) {
      const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      const n = raw.length / (type === 'FLOAT16' ? 2 : 4);
      data = Array.from({ length: n }, (_, i) =>
        type === 'FLOAT16' ? fromHalf(b.readUInt16LE(2 * i)) : type === 'INT32' ? b.readInt32LE(4 * i) : b.readFloatLE(4 * i));
    }
    return { name: t.string(3), shape: t.int32s(0), type, data };
  });
  const pad = (v) => (v === 1 ? 'VALID' : 'SAME');
  const act = (v) => ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6'][v];
  const operators = sg.tables(3, () => 'operator').map((o) => {
    const op = codes[o.u32(0)];
    const t = o.table(4, 'options');
    let options = {};
    if (op === 'CONV_2D') options = { padding: pad(t.i8(0)), stride: [t.i32(2), t.i32(1)], activation: act(t.i8(3)), dilation: [t.i32(5, 1), t.i32(4, 1)] };
    if (op === 'DEPTHWISE_CONV_2D') options = { padding: pad(t.i8(0)), stride: [t.i32(2), t.i32(1)], activation: act(t.i8(4)), dilation: [t.i32(6, 1), t.i32(5, 1)] };
    if (op === 'AVERAGE_POOL_2D') options = { padding: pad(t.i8(0)), stride: [t.i32(2), t.i32(1)], filter: [t.i32(4), t.i32(3)], activation: act(t.i8(5)) };
    if (op === 'ADD' || op === 'MUL') options = { activation: t ? act(t.i8(0)) : 'NONE' };
    if (op === 'RESIZE_BILINEAR') options = { alignCorners: t.bool(2), halfPixelCenters: t.bool(3) };
    const custom = o.bytes(5);
    return { op, inputs: o.int32s(1), outputs: o.int32s(2), options, custom: custom && Uint8Array.from(custom) };
  });
  return { tensors, inputs: sg.int32s(1), outputs: sg.int32s(2), operators };
}

module.exports = {
  describeTflite,
  fb, finishFlatbuffer, toHalf, fromHalf, buildTflite, transposeConvOptions, BUILTIN, TYPE,
  refConv2d, refDepthwise, refAvgPool, refResizeBilinear, refBinary, refRelu, refLogistic, refHardSwish,
  refTransposeConvBias, referenceRun, nhwcToNchw, nchwToNhwc,
};
