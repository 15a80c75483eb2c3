'use strict';
// Helpers for the ONNX importer tests: build small models with the project's codec, run them in
// onnxruntime-node (the oracle) and in fcnkit's InferenceSession, and compare.
const { fcnkit, onnx, normError } = require('./index');

const { DataType, attr, makeNode, makeModel, valueInfo, encodeModel, tensorFromFloat32, tensorFromInt64 } = onnx;

let ortm;
const ort = () => (ortm ??= require('onnxruntime-node'));

/** float32 -> IEEE half bits, round to nearest even (for float16 initializers). */
function f32ToF16Bits(v) {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
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

function tensorFromFloat16(name, dims, data) {
  const raw = new Uint8Array(data.length * 2);
  const v = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) v.setUint16(i * 2, f32ToF16Bits(data[i]), true);
  const t = onnx.emptyTensor(name, DataType.FLOAT16, dims);
  t.rawData = raw;
  return t;
}

/**
 * Rewrites a model's float initializers as float16 followed by Cast(to FLOAT) (the
 * mixed-precision export layout that runs with float32 inputs). Returns new bytes.
 */
function withFloat16Weights(bytes) {
  const m = onnx.decodeModel(bytes);
  const g = m.graph;
  const casts = [];
  g.initializer = g.initializer.map((t) => {
    if (t.dataType !== DataType.FLOAT) return t;
    const data = onnx.tensorToFloat32(t);
    const half = tensorFromFloat16(`${t.name}__f16`, t.dims, data);
    casts.push(makeNode('Cast', [half.name], [t.name], [attr.int('to', DataType.FLOAT)], `${t.name}__cast`));
    return half;
  });
  g.node = [...casts, ...g.node];
  return encodeModel(m);
}

/** A float tensor value-info with these dims (numbers, names or null). */
function fvi(name, dims, elem = DataType.FLOAT) {
  return valueInfo(name, elem, dims);
}

/** An output value-info of unknown shape. */
function outVi(name, elem = DataType.FLOAT) {
  return { name, type: { tensorType: { elemType: elem }, denotation: '' }, docString: '' };
}

function f32(name, dims, data) {
  return tensorFromFloat32(name, dims, data instanceof Float32Array ? data : Float32Array.from(data));
}

function i64(name, values, dims = [values.length]) {
  return tensorFromInt64(name, dims, values);
}

/**
 * A one-graph model. spec: { nodes, inputs: [[name, dims]], outputs: [name | [name, elem]],
 * initializers, opset }.
 */
function buildModel({ nodes, inputs, outputs, initializers = [], opset = 17 }) {
  const ir = opset <= 8 ? 3 : opset <= 9 ? 4 : opset <= 10 ? 5 : opset <= 11 ? 6 : opset <= 14 ? 7 : opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
  return encodeModel(makeModel({
    nodes,
    inputs: inputs.map(([n, d]) => fvi(n, d)),
    outputs: outputs.map((o) => (Array.isArray(o) ? outVi(o[0], o[1]) : outVi(o))),
    initializers,
    opset,
    irVersion: ir,
  }));
}

async function ortRun(bytes, feeds) {
  const sess = await ort().InferenceSession.create(bytes);
  const f = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new (ort().Tensor)('float32', v.data, [...v.shape]);
  const res = await sess.run(f);
  const out = {};
  for (const [k, v] of Object.entries(res)) {
    out[k] = { data: v.data instanceof BigInt64Array ? Float64Array.from(v.data, Number) : v.data, dims: [...v.dims], type: v.type };
  }
  await sess.release?.();
  return out;
}

/** Runs `bytes` in both; checks every output's shape and normalised error. */
async function compareOrt(t, label, bytes, feeds, { tol = 1e-4, session: sessOpts = {} } = {}) {
  const ref = await ortRun(bytes, feeds);
  const sess = await fcnkit.InferenceSession.create(bytes, sessOpts);
  const got = await sess.run(feeds);
  for (const [name, r] of Object.entries(ref)) {
    const y = got[name];
    if (!y) {
      t.fail(`${label}: no output '${name}'`);
      continue;
    }
    t.same([...y.shape], r.dims, `${label}: '${name}' shape [${r.dims}]`);
    if (r.type === 'int64' || r.type === 'int32') {
      t.equal(y.dtype, 'int32', `${label}: '${name}' is int32`);
      t.same(Array.from(y.data), Array.from(r.data, Number), `${label}: '${name}' indices equal`);
    } else {
      const err = normError(y.data, r.data);
      t.ok(err <= tol, `${label}: '${name}' normError ${err.toExponential(2)} <= ${tol}`);
    }
  }
  sess.dispose();
  return got;
}

module.exports = {
  ort, f32ToF16Bits, tensorFromFloat16, withFloat16Weights, fvi, outVi, f32, i64, buildModel, ortRun, compareOrt,
  attr, makeNode, DataType,
};
