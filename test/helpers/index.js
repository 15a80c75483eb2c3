'use strict';
// Shared test helpers: seeded random tensors (a fresh seed per run, printed for replay),
// error measures, and onnxruntime-node as the independent oracle on one-node ONNX models.
const fcnkit = require('../../dist');
const onnx = require('../../dist/io/onnx-proto');

const seed = process.env.FCNKIT_TEST_SEED ? Number(process.env.FCNKIT_TEST_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;

// mulberry32
function makeRng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = makeRng(seed);

/** Uniform in [lo, hi). */
function randTensor(shape, lo = -1, hi = 1) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * rng();
  return new fcnkit.Tensor(data, shape);
}

function randInt(lo, hi) {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** max |a - b| / (max |ref| + 1e-6): error normalised by the reference's scale. NaN-aware. */
function normError(a, ref) {
  if (a.length !== ref.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = ref[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Infinity;
      continue;
    }
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (x !== y) return Infinity;
      continue;
    }
    maxDiff = Math.max(maxDiff, Math.abs(x - y));
    maxRef = Math.max(maxRef, Math.abs(y));
  }
  return maxDiff / (maxRef + 1e-6);
}

let ortPromise;
function ort() {
  ortPromise ??= Promise.resolve().then(() => require('onnxruntime-node'));
  return ortPromise;
}

/**
 * Runs one ONNX node in onnxruntime-node.
 * inputs: Array<[name, fcnkit.Tensor] | string | null>: a fed tensor, the name of an initializer,
 *   or null for an omitted optional input;
 * attrs: AttributeProto[] built with onnx.attr.*, outputs: output names.
 * initializers: TensorProto[] for constant inputs (e.g. int64 pads/sizes).
 * Returns Array<{ data, dims }>.
 */
async function ortRunNode({ opType, inputs, attrs = [], outputs = ['y'], outputTypes = [], initializers = [], opset = 17 }) {
  const ortm = await ort();
  const fed = inputs.filter((i) => Array.isArray(i));
  const graphInputs = fed.map(([name, t]) =>
    onnx.valueInfo(name, t.dtype === 'int32' ? onnx.DataType.INT32 : onnx.DataType.FLOAT, [...t.shape]));
  const nodeInputs = inputs.map((i) => (i === null ? '' : typeof i === 'string' ? i : i[0]));
  const node = onnx.makeNode(opType, nodeInputs, outputs, attrs);
  const model = onnx.makeModel({
    nodes: [node],
    inputs: graphInputs,
    outputs: outputs.map((o, k) => ({ name: o, type: { tensorType: { elemType: outputTypes[k] ?? onnx.DataType.FLOAT }, denotation: '' }, docString: '' })),
    initializers,
    opset,
  });
  const bytes = onnx.encodeModel(model);
  const session = await ortm.InferenceSession.create(bytes);
  const feeds = {};
  for (const [name, t] of fed) {
    feeds[name] = new ortm.Tensor(t.dtype === 'int32' ? 'int32' : 'float32', t.data, [...t.shape]);
  }
  const res = await session.run(feeds);
  await session.release?.();
  return outputs.map((o) => ({ data: res[o].data, dims: [...res[o].dims] }));
}

module.exports = { fcnkit, onnx, seed, rng, randTensor, randInt, normError, ortRunNode };
