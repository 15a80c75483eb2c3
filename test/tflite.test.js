'use strict';
// TFLite import: small models built here op by op (awkward sizes, every padding / stride /
// activation the importer claims) against a naive NHWC float64 reference written from
// TFLite's kernel semantics (test/helpers/tflite.js); then MediaPipe's selfie model, whole,
// against the same reference, and segmentPerson() against a stored, eyeballed mask.
const t = require('tap');
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');
const { fcnkit, seed, rng } = require('./helpers');
const tfl = require('./helpers/tflite');
const { CompiledGraph } = require('../dist/graph/compiled');

const { importTflite, Tensor } = fcnkit;
const ROOT = path.join(__dirname, '..');
const MODEL = path.join(ROOT, 'models', 'selfie_segmentation.tflite');
const ASTRONAUT = path.join(ROOT, 'examples', 'astronaut.png');
const MASK = path.join(__dirname, 'fixtures', 'astronaut-person-mask.png');
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

function rand(n, lo = -1, hi = 1) {
  return Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * rng()));
}
const size = (s) => s.reduce((a, b) => a * b, 1);

/** A model description: tensors added with tensor(), ops with op(). */
function builder() {
  const m = { tensors: [], inputs: [], outputs: [], operators: [] };
  return {
    m,
    input(shape) {
      m.tensors.push({ shape, name: `in${m.inputs.length}` });
      m.inputs.push(m.tensors.length - 1);
      return m.tensors.length - 1;
    },
    const(shape, data, type = 'FLOAT32') {
      m.tensors.push({ shape, type, data: data ?? rand(size(shape)) });
      return m.tensors.length - 1;
    },
    /** A float32 weight behind DEQUANTIZE of float16 data (as the selfie model stores them). */
    half(shape, data) {
      const src = this.const(shape, data, 'FLOAT16');
      const dst = this.tensorOnly(shape);
      m.operators.push({ op: 'DEQUANTIZE', inputs: [src], outputs: [dst] });
      return dst;
    },
    tensorOnly(shape) {
      m.tensors.push({ shape });
      return m.tensors.length - 1;
    },
    op(op, inputs, outShape, options, custom) {
      const out = this.tensorOnly(outShape);
      m.operators.push({ op, inputs, outputs: [out], options, custom });
      return out;
    },
    output(i) {
      m.outputs.push(i);
      return m;
    },
  };
}

/** Imports and runs a built model in fcnkit and in the reference; compares every output. */
async function check(t, label, model, tol = 1e-5) {
  const bytes = tfl.buildTflite(model);
  const g = importTflite(bytes);
  t.equal(g.format, 'tflite', `${label}: format`);
  const feeds = {};
  const inputs = {};
  model.inputs.forEach((ti, k) => {
    const shape = model.tensors[ti].shape;
    const data = rand(size(shape), -2, 2);
    feeds[ti] = { shape, data };
    const [n, h, w, c] = shape;
    t.same(g.inputs[k].shape, [n, c, h, w], `${label}: input ${k} is NCHW`);
    inputs[g.inputs[k].name] = new Tensor(tfl.nhwcToNchw(feeds[ti]), [n, c, h, w]);
  });
  const ref = tfl.referenceRun(model, feeds);
  const graph = new CompiledGraph(g.specFor({}));
  const outs = await graph.run(inputs);
  model.outputs.forEach((ti, k) => {
    const r = ref[ti];
    const [n, h, w, c] = r.shape;
    const y = outs[g.outputs[k].name];
    t.same([...y.shape], [n, c, h, w], `${label}: output ${k} shape [${n}, ${c}, ${h}, ${w}]`);
    const want = tfl.nhwcToNchw(r);
    let maxDiff = 0;
    let maxRef = 0;
    for (let i = 0; i < want.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(y.data[i] - want[i]));
      maxRef = Math.max(maxRef, Math.abs(want[i]));
    }
    const err = maxDiff / (maxRef + 1e-6);
    t.ok(err <= tol, `${label}: output ${k} normalised error ${err.toExponential(2)} <= ${tol}`);
  });
  graph.dispose();
}

t.test('CONV_2D: SAME / VALID, strides, dilation, fused activations, no bias, grouped', async (t) => {
  const cases = [
    { x: [1, 7, 9, 3], w: [5, 3, 3, 3], o: { padding: 'SAME', stride: [2, 2], activation: 'RELU' } },
    { x: [2, 8, 6, 4], w: [3, 3, 2, 4], o: { padding: 'VALID', stride: [1, 1], dilation: [2, 2] }, noBias: true },
    { x: [1, 9, 11, 2], w: [4, 4, 4, 2], o: { padding: 'SAME', stride: [2, 3], activation: 'RELU6' } },
    { x: [1, 5, 5, 6], w: [4, 3, 3, 3], o: { padding: 'SAME', stride: [1, 1] } }, // groups = 2
    { x: [1, 6, 7, 17], w: [13, 1, 1, 17], o: { padding: 'SAME', stride: [1, 1] }, half: true },
    { x: [1, 4, 4, 3], w: [2, 1, 1, 3], o: { padding: 'VALID', stride: [3, 3], activation: 'RELU' } }, // k < stride
  ];
  for (const [i, c] of cases.entries()) {
    const b = builder();
    const x = b.input(c.x);
    const w = c.half ? b.half(c.w) : b.const(c.w);
    const bias = c.noBias ? -1 : c.half ? b.half([c.w[0]]) : b.const([c.w[0]]);
    const ref = tfl.refConv2d({ shape: c.x, data: new Float64Array(size(c.x)) }, { shape: c.w, data: new Float64Array(size(c.w)) }, undefined, c.o);
    const y = b.op('CONV_2D', [x, w, bias], ref.shape, c.o);
    await check(t, `conv ${i} ${JSON.stringify(c)}`, b.output(y));
  }
});

t.test('DEPTHWISE_CONV_2D: multipliers 1 and 2, SAME stride 2, dilation, 5x5 float16', async (t) => {
  const cases = [
    { x: [1, 9, 6, 4], w: [1, 3, 3, 4], o: { padding: 'SAME', stride: [2, 2], activation: 'RELU' } },
    { x: [1, 8, 9, 3], w: [1, 3, 3, 6], o: { padding: 'VALID', stride: [1, 1], dilation: [2, 2], depthMultiplier: 2 } },
    { x: [2, 11, 10, 5], w: [1, 5, 5, 5], o: { padding: 'SAME', stride: [2, 2] }, half: true },
    { x: [1, 16, 16, 24], w: [1, 3, 3, 24], o: { padding: 'SAME', stride: [1, 1], activation: 'RELU6' } },
  ];
  for (const [i, c] of cases.entries()) {
    const b = builder();
    const x = b.input(c.x);
    const w = c.half ? b.half(c.w) : b.const(c.w);
    const bias = c.half ? b.half([c.w[3]]) : b.const([c.w[3]]);
    const ref = tfl.refDepthwise({ shape: c.x, data: new Float64Array(size(c.x)) }, { shape: c.w, data: new Float64Array(size(c.w)) }, undefined, c.o);
    const y = b.op('DEPTHWISE_CONV_2D', [x, w, bias], ref.shape, c.o);
    await check(t, `depthwise ${i} ${JSON.stringify(c)}`, b.output(y));
  }
});

t.test('AVERAGE_POOL_2D: SAME (padding not counted), VALID, global, fused RELU', async (t) => {
  const cases = [
    { x: [1, 7, 8, 3], o: { padding: 'SAME', filter: [3, 3], stride: [2, 2] } },
    { x: [1, 9, 9, 2], o: { padding: 'VALID', filter: [2, 3], stride: [2, 1], activation: 'RELU' } },
    { x: [2, 13, 11, 5], o: { padding: 'VALID', filter: [13, 11], stride: [13, 11] } },
    { x: [1, 6, 5, 4], o: { padding: 'SAME', filter: [4, 4], stride: [1, 1] } },
  ];
  for (const [i, c] of cases.entries()) {
    const b = builder();
    const x = b.input(c.x);
    const ref = tfl.refAvgPool({ shape: c.x, data: new Float64Array(size(c.x)) }, c.o);
    await check(t, `avgpool ${i} ${JSON.stringify(c)}`, b.output(b.op('AVERAGE_POOL_2D', [x], ref.shape, c.o)));
  }
});

t.test('RESIZE_BILINEAR: half_pixel_centers, align_corners, neither; up and down', async (t) => {
  const cases = [
    { x: [1, 5, 7, 3], size: [10, 14], o: { halfPixelCenters: true } },
    { x: [1, 5, 7, 2], size: [13, 4], o: { halfPixelCenters: true } },
    { x: [1, 4, 4, 2], size: [7, 9], o: { alignCorners: true } },
    { x: [2, 6, 6, 1], size: [4, 9], o: {} },
    { x: [1, 16, 16, 8], size: [32, 32], o: { halfPixelCenters: true } },
  ];
  for (const [i, c] of cases.entries()) {
    const b = builder();
    const x = b.input(c.x);
    const s = b.const([2], c.size, 'INT32');
    await check(t, `resize ${i} ${JSON.stringify(c)}`, b.output(b.op('RESIZE_BILINEAR', [x, s], [c.x[0], ...c.size, c.x[3]], c.o)), 1e-5);
  }
});

t.test('ADD / MUL: broadcasting activations and constants, fused activations', async (t) => {
  {
    const b = builder();
    const a = b.input([1, 5, 6, 4]);
    const c = b.input([1, 5, 6, 4]);
    await check(t, 'add same shape RELU', b.output(b.op('ADD', [a, c], [1, 5, 6, 4], { activation: 'RELU' })));
  }
  {
    const b = builder();
    const a = b.input([1, 5, 6, 4]);
    const k = b.const([4]);
    await check(t, 'add constant [C] RELU6', b.output(b.op('ADD', [a, k], [1, 5, 6, 4], { activation: 'RELU6' })));
  }
  {
    // The selfie model's squeeze-excite: feature map times a per-channel gate [1, 1, 1, C].
    const b = builder();
    const a = b.input([1, 7, 5, 6]);
    const p = b.op('AVERAGE_POOL_2D', [a], [1, 1, 1, 6], { padding: 'VALID', filter: [7, 5], stride: [7, 5] });
    const s = b.op('LOGISTIC', [p], [1, 1, 1, 6]);
    await check(t, 'mul [1,h,w,c] x [1,1,1,c]', b.output(b.op('MUL', [a, s], [1, 7, 5, 6])));
  }
  {
    const b = builder();
    const a = b.input([2, 3, 4, 5]);
    const k = b.const([1, 1, 4, 5]);
    await check(t, 'mul constant [1,1,W,C]', b.output(b.op('MUL', [k, a], [2, 3, 4, 5])));
  }
});

t.test('RELU, LOGISTIC, HARD_SWISH', async (t) => {
  for (const op of ['RELU', 'LOGISTIC', 'HARD_SWISH']) {
    const b = builder();
    const x = b.input([1, 6, 7, 3]);
    const k = b.const([3], [3, 3, 3]);
    const scaled = b.op('MUL', [x, k], [1, 6, 7, 3]);
    await check(t, op, b.output(b.op(op, [scaled], [1, 6, 7, 3])));
  }
});

t.test('Convolution2DTransposeBias (MediaPipe custom op)', async (t) => {
  const cases = [
    { x: [1, 8, 8, 16], w: [1, 2, 2, 16], padding: 'SAME', stride: [2, 2] }, // the selfie model's
    { x: [1, 5, 6, 3], w: [4, 3, 3, 3], padding: 'SAME', stride: [2, 2] }, // P differs per axis
    { x: [1, 4, 5, 2], w: [3, 3, 3, 2], padding: 'VALID', stride: [2, 2] },
    { x: [2, 3, 4, 5], w: [2, 4, 4, 5], padding: 'SAME', stride: [2, 3], half: true },
    { x: [1, 6, 6, 4], w: [3, 1, 1, 4], padding: 'SAME', stride: [3, 3] }, // k < stride
  ];
  for (const [i, c] of cases.entries()) {
    const b = builder();
    const x = b.input(c.x);
    const w = c.half ? b.half(c.w) : b.const(c.w);
    const bias = c.half ? b.half([c.w[0]]) : b.const([c.w[0]]);
    const custom = tfl.transposeConvOptions(c.padding, c.stride[1], c.stride[0]);
    const ref = tfl.refTransposeConvBias({ shape: c.x, data: new Float64Array(size(c.x)) }, { shape: c.w, data: new Float64Array(size(c.w)) }, { data: new Float64Array(c.w[0]) }, c);
    await check(t, `transposeConvBias ${i} ${JSON.stringify(c)}`, b.output(b.op('Convolution2DTransposeBias', [x, w, bias], ref.shape, undefined, custom)));
  }
});

t.test('a small selfie-like network end to end', async (t) => {
  const b = builder();
  const x = b.input([1, 32, 24, 3]);
  let y = b.op('CONV_2D', [x, b.half([8, 3, 3, 3]), b.half([8])], [1, 16, 12, 8], { padding: 'SAME', stride: [2, 2] });
  y = b.op('HARD_SWISH', [y], [1, 16, 12, 8]);
  const skip = y;
  y = b.op('DEPTHWISE_CONV_2D', [y, b.half([1, 3, 3, 8]), b.half([8])], [1, 8, 6, 8], { padding: 'SAME', stride: [2, 2] });
  y = b.op('RELU', [y], [1, 8, 6, 8]);
  const p = b.op('AVERAGE_POOL_2D', [y], [1, 1, 1, 8], { padding: 'VALID', filter: [8, 6], stride: [8, 6] });
  let s = b.op('CONV_2D', [p, b.half([4, 1, 1, 8]), b.half([4])], [1, 1, 1, 4], { activation: 'RELU' });
  s = b.op('CONV_2D', [s, b.half([8, 1, 1, 4]), b.half([8])], [1, 1, 1, 8]);
  s = b.op('LOGISTIC', [s], [1, 1, 1, 8]);
  y = b.op('MUL', [y, s], [1, 8, 6, 8]);
  y = b.op('RESIZE_BILINEAR', [y, b.const([2], [16, 12], 'INT32')], [1, 16, 12, 8], { halfPixelCenters: true });
  y = b.op('ADD', [y, skip], [1, 16, 12, 8]);
  y = b.op('Convolution2DTransposeBias', [y, b.half([1, 2, 2, 8]), b.half([1])], [1, 32, 24, 1], undefined, tfl.transposeConvOptions('SAME', 2, 2));
  y = b.op('LOGISTIC', [y], [1, 32, 24, 1]);
  await check(t, 'mini selfie', b.output(y), 1e-5);
});

/** Asserts fn throws an FcnkitError of `code` whose message matches every pattern. */
function throwsCode(t, fn, code, patterns, label) {
  try {
    fn();
    t.fail(`${label}: did not throw`);
  } catch (e) {
    t.equal(e.code, code, `${label}: ${code} (${e.message})`);
    for (const p of patterns) t.match(e.message, p, `${label}: message names ${p}`);
  }
}

t.test('unsupported ops and types are UNSUPPORTED_OP at load, naming op, operator index and schema version', async (t) => {
  const base = () => {
    const b = builder();
    const x = b.input([1, 4, 4, 2]);
    const r = b.op('RELU', [x], [1, 4, 4, 2]);
    return { b, r };
  };
  {
    const { b, r } = base();
    const y = b.op('MAX_POOL_2D', [r], [1, 2, 2, 2], { padding: 'VALID', filter: [2, 2], stride: [2, 2] });
    const bytes = tfl.buildTflite(b.output(y));
    throwsCode(t, () => importTflite(bytes), 'UNSUPPORTED_OP', [/MAX_POOL_2D/, /builtin code 17/, /operator 1\b/, /schema version 3/], 'MAX_POOL_2D');
  }
  {
    const { b, r } = base();
    const bytes = tfl.buildTflite(b.output(b.op('MyCustomOp', [r], [1, 4, 4, 2])));
    throwsCode(t, () => importTflite(bytes), 'UNSUPPORTED_OP', [/custom op 'MyCustomOp'/, /operator 1\b/, /schema version 3/], 'custom op');
  }
  {
    const { b, r } = base();
    const bytes = tfl.buildTflite(b.output(b.op('ADD', [r, r], [1, 4, 4, 2], { activation: 'TANH' })));
    throwsCode(t, () => importTflite(bytes), 'UNSUPPORTED_OP', [/TANH/, /operator 1\b/], 'fused TANH');
  }
  {
    const b = builder();
    const x = b.input([1, 4, 4, 2]);
    const r = b.op('RELU', [x], [1, 4, 4, 2]);
    b.m.tensors[r].type = 'FLOAT16';
    const bytes = tfl.buildTflite(b.output(b.op('DEQUANTIZE', [r], [1, 4, 4, 2])));
    throwsCode(t, () => importTflite(bytes), 'UNSUPPORTED_OP', [/DEQUANTIZE/], 'DEQUANTIZE of a computed tensor');
  }
  {
    const b = builder();
    const x = b.input([1, 4, 4, 2]);
    b.m.tensors[x].type = 9; // INT8 input
    const bytes = tfl.buildTflite(b.output(b.op('RELU', [x], [1, 4, 4, 2])));
    throwsCode(t, () => importTflite(bytes), 'UNSUPPORTED_OP', [/INT8/], 'int8 model');
  }
});

t.test('specFor refuses other input sizes', async (t) => {
  const b = builder();
  const x = b.input([1, 4, 4, 2]);
  const g = importTflite(tfl.buildTflite(b.output(b.op('RELU', [x], [1, 4, 4, 2]))));
  t.ok(g.specFor({ in0: [1, 2, 4, 4] }), 'declared NCHW shape accepted');
  t.throws(() => g.specFor({ in0: [1, 2, 8, 8] }), { code: 'SHAPE_MISMATCH' });
  t.throws(() => g.specFor({ in0: [1, 4, 4, 2] }), { code: 'SHAPE_MISMATCH' }, 'NHWC is not the API layout');
});

t.test('the selfie model: op list, NCHW signature, whole-model reference', async (t) => {
  const bytes = new Uint8Array(fs.readFileSync(MODEL));
  const model = tfl.describeTflite(bytes);
  const counts = {};
  for (const op of model.operators) counts[op.op] = (counts[op.op] ?? 0) + 1;
  t.same(counts, {
    CONV_2D: 43, DEPTHWISE_CONV_2D: 11, DEQUANTIZE: 110, ADD: 14, MUL: 10, HARD_SWISH: 11, RELU: 22, LOGISTIC: 11,
    AVERAGE_POOL_2D: 10, RESIZE_BILINEAR: 3, Convolution2DTransposeBias: 1,
  }, 'op list of the shipped model');

  const g = importTflite(bytes);
  t.same(g.inputs, [{ name: 'input_1', dtype: 'float32', shape: [1, 3, 256, 256] }]);
  t.same(g.outputs, [{ name: 'activation_10', dtype: 'float32', shape: [1, 1, 256, 256] }]);

  const img = await fcnkit.loadImage(ASTRONAUT, 'selfie');
  const ref = tfl.referenceRun(model, { [model.inputs[0]]: tfl.nchwToNhwc(img.tensor.data, img.tensor.shape) })[model.outputs[0]];
  const graph = new CompiledGraph(g.specFor({ input_1: [1, 3, 256, 256] }));
  const y = (await graph.run(img.tensor)).activation_10;
  const want = tfl.nhwcToNchw(ref);
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(y.data[i] - want[i]));
  t.ok(maxDiff <= 1e-3, `probabilities within ${maxDiff.toExponential(2)} of the float64 reference`);
  graph.dispose();
});

async function readMask(file, rotate) {
  let s = sharp(file);
  if (rotate) s = s.rotate(rotate);
  const { data, info } = await s.extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function iou(mask, ref) {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < mask.length; i++) {
    const a = mask[i] > 0;
    const b = ref[i] > 127;
    if (a && b) inter++;
    if (a || b) union++;
  }
  return inter / union;
}

t.test('segmentPerson on astronaut.png matches the stored mask', async (t) => {
  const res = await fcnkit.segmentPerson(ASTRONAUT);
  t.equal(res.width, 512);
  t.equal(res.height, 512);
  t.same([...res.probability.shape], [512, 512]);
  t.equal(res.probability.dtype, 'float32');
  t.equal(res.mask.length, 512 * 512);
  let agree = true;
  let inRange = true;
  for (let i = 0; i < res.mask.length; i++) {
    const p = res.probability.data[i];
    if (res.mask[i] !== (p > 0.5 ? 1 : 0)) agree = false;
    if (!(p >= 0 && p <= 1)) inRange = false;
  }
  t.ok(agree, 'mask is probability > 0.5, as 0/1 bytes');
  t.ok(inRange, 'probabilities lie in [0, 1]');
  const ref = await readMask(MASK);
  const score = iou(res.mask, ref.data);
  t.comment(`IoU against the stored mask: ${score.toFixed(4)}`);
  t.ok(score >= 0.9, `IoU ${score.toFixed(4)} >= 0.9`);
  // Plausibility independent of the fixture: the face is person, the top corners are not.
  const at = (x, y) => res.probability.data[y * 512 + x];
  t.ok(at(225, 110) > 0.9, 'face is person');
  t.ok(at(20, 20) < 0.1 && at(490, 20) < 0.1, 'top corners are background');

  const again = await fcnkit.segmentPerson(fs.readFileSync(ASTRONAUT), { threads: 1 });
  t.same(again.mask, res.mask, 'Buffer input and threads: 1 give the same mask');
});

t.test('segmentPerson applies EXIF orientation and returns the upright size', async (t) => {
  // The top 512 x 400 of the photo, stored sideways (rotated 90 degrees counter-clockwise) in a
  // JPEG tagged orientation 6 ("rotate 90 clockwise to display"): upright it is the photo again.
  const upright = await sharp(ASTRONAUT).extract({ left: 0, top: 0, width: 512, height: 400 }).png().toBuffer();
  const sideways = await sharp(upright).rotate(270).jpeg({ quality: 95 }).toBuffer();
  const tagged = await sharp(sideways).withMetadata({ orientation: 6 }).toBuffer();
  const meta = await sharp(tagged).metadata();
  t.same([meta.width, meta.height, meta.orientation], [400, 512, 6], 'stored sideways with orientation 6');
  const res = await fcnkit.segmentPerson(tagged);
  t.equal(res.width, 512, 'upright width');
  t.equal(res.height, 400, 'upright height');
  const ref = await sharp(MASK).extract({ left: 0, top: 0, width: 512, height: 400 }).extractChannel(0).raw().toBuffer();
  const score = iou(res.mask, ref);
  t.ok(score >= 0.9, `matches the stored mask's top 400 rows (IoU ${score.toFixed(4)})`);
});

t.test('segmentPerson errors', async (t) => {
  const ac = new AbortController();
  ac.abort();
  await t.rejects(fcnkit.segmentPerson(ASTRONAUT, { signal: ac.signal }), { code: 'ABORTED' });
  await t.rejects(fcnkit.segmentPerson(path.join(__dirname, 'fixtures', 'no-such.png')), { code: 'IO_ERROR' });
  await t.rejects(fcnkit.segmentPerson(Buffer.from('not an image')), { code: 'BAD_IMAGE' });
  await t.rejects(fcnkit.segmentPerson(42), { code: 'INVALID_ARGUMENT' });
});

t.test('the embedded model ships with the package', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  t.ok(pkg.files.includes('models/'), 'package.json files has models/');
  t.ok(pkg.dependencies.sharp, 'sharp is a dependency');
  t.notOk(pkg.dependencies['@mediapipe/selfie_segmentation'] || pkg.devDependencies?.['@mediapipe/selfie_segmentation'], 'the npm package is not a dependency');
  t.equal(fcnkit.SELFIE_MODEL_PATH, MODEL);
  const notice = fs.readFileSync(path.join(ROOT, 'models', 'NOTICE'), 'utf8');
  t.match(notice, /Apache License, Version 2\.0/);
  t.match(notice, /@mediapipe\/selfie_segmentation version\s+0\.1\.1675465747/);
  const sidecar = await fcnkit.loadPreprocessingSidecar(MODEL);
  t.same(fcnkit.resolvePreprocessing(sidecar), fcnkit.resolvePreprocessing('selfie'), 'sidecar holds the selfie preset');
});
