'use strict';
// convolutionalize: the FCN paper's claim that a classifier's fc layers, recast as convolutions,
// score every crop of a larger image at once. A small classifier (unpadded conv/pool features of
// total stride 8, then fc layers) made for 32×32 inputs; its converted net on a 64×48 image must
// give, at (y, x), the classifier's scores on the 32×32 crop at (8y, 8x): a 5×3 map.
// The linear layer itself is checked against onnxruntime (Flatten + Gemm) and a JS dot product.
const t = require('tap');
const { fcnkit, seed, randTensor, normError } = require('./helpers');

const { GraphBuilder, Model, Tensor, convolutionalize, FcnkitError } = fcnkit;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

const TOL = 1e-5;
const CLASSES = 6;

/**
 * 32×32 → conv 3×3 (30) → pool 2 (15) → conv 3×3 (13) → pool 2 (6) → conv 3×3 (4) → pool 2 (2):
 * features [16, 2, 2], stride 8; then fc1 64 + ReLU, fc2 32 + ReLU, fc3 CLASSES.
 */
function classifierGraph() {
  const g = new GraphBuilder();
  let x = g.input('image', [null, 3, 32, 32]);
  x = g.conv2d('conv1', x, { outChannels: 8, kernel: 3, activation: 'relu' });
  x = g.maxPool2d('pool1', x, { kernel: 2 });
  x = g.conv2d('conv2', x, { outChannels: 12, kernel: 3, activation: 'relu' });
  x = g.maxPool2d('pool2', x, { kernel: 2 });
  x = g.conv2d('conv3', x, { outChannels: 16, kernel: 3 });
  x = g.relu('relu3', x);
  x = g.avgPool2d('pool3', x, { kernel: 2 });
  x = g.linear('fc1', x, { outFeatures: 64, activation: 'relu' });
  x = g.dropout('drop1', x);
  x = g.linear('fc2', x, { outFeatures: 32 });
  x = g.relu('relu_fc2', x);
  x = g.linear('fc3', x, { outFeatures: CLASSES });
  g.output('scores', x);
  return g;
}

/** image[:, :, y0:y0+h, x0:x0+w] */
function cropOf(img, y0, x0, h, w) {
  const [n, c, H, W] = img.shape;
  const out = new Float32Array(n * c * h * w);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < h; y++) out.set(img.data.subarray(p * H * W + (y0 + y) * W + x0, p * H * W + (y0 + y) * W + x0 + w), (p * h + y) * w);
  }
  return new Tensor(out, [n, c, h, w]);
}

t.test('linear layer: parameters, shapes, and the numbers (JS dot product, onnxruntime Flatten+Gemm)', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [null, 5, 3, 4]);
  const y = g.linear('fc', x, { outFeatures: 7 });
  g.output('y', y);
  t.same([...y.shape].map(String), ['N', '7', '1', '1'], 'kept 4-D: [N, out, 1, 1]');
  const m = new Model(g, { seed: 5 });
  t.same(m.parameters(), [{ name: 'fc.weight', shape: [7, 60] }, { name: 'fc.bias', shape: [7] }], 'PyTorch Linear layout');
  const input = randTensor([2, 5, 3, 4]);
  const out = await m.run(input);
  t.same(out.shape, [2, 7, 1, 1]);
  const w = m.getWeights();
  const ref = new Float32Array(14);
  for (let n = 0; n < 2; n++) {
    for (let o = 0; o < 7; o++) {
      let s = w['fc.bias'].data[o];
      for (let i = 0; i < 60; i++) s += w['fc.weight'].data[o * 60 + i] * input.data[n * 60 + i]; // C, H, W flatten order
      ref[n * 7 + o] = s;
    }
  }
  t.ok(normError(out.data, ref) <= TOL, `against a JS dot product: ${normError(out.data, ref).toExponential(2)}`);
  const spec = m.graphSpec([1, 5, 3, 4]);
  t.equal(spec.nodes[0].type, 'conv2d', 'runs natively as a conv2d');
  t.same(spec.constants[spec.nodes[0].inputs[1]].shape, [7, 5, 3, 4], 'with the weight viewed as [out, C, H, W]');

  const cls = new Model(classifierGraph(), { seed: 9 });
  const ort = require('onnxruntime-node');
  const sess = await ort.InferenceSession.create(cls.exportOnnxBytes());
  const img = randTensor([3, 3, 32, 32]);
  const res = await sess.run({ image: new ort.Tensor('float32', img.data, [3, 3, 32, 32]) });
  const mine = await cls.run(img);
  t.same(mine.shape, [3, CLASSES, 1, 1]);
  t.same([...res.scores.dims], [3, CLASSES, 1, 1], 'ONNX Flatten+Gemm+Unsqueeze keeps [N, K, 1, 1]');
  t.ok(normError(mine.data, res.scores.data) <= 1e-4, `classifier against onnxruntime: ${normError(mine.data, res.scores.data).toExponential(2)}`);
});

t.test('linear layer errors', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [1, 3, null, null]);
  t.throws(() => g.linear('fc', x, { outFeatures: 4 }), { code: 'SHAPE_MISMATCH', message: /must be known when the graph is built/ });
  t.throws(() => g.linear('fc', g.input('z', [1, 3, 2, 2]), { outFeatures: 0 }), { code: 'INVALID_ARGUMENT', message: /outFeatures/ });
});

t.test('converted classifier = classifier on every 32×32 crop at stride 8 (64×48 → 5×3)', async (t) => {
  const graph = classifierGraph();
  const cls = new Model(graph, { seed: 21 });
  const fcn = convolutionalize(cls);

  const params = Object.fromEntries(fcn.parameters().map((p) => [p.name, p.shape]));
  t.same(params['fc1.weight'], [64, 16, 2, 2], 'first fc → 2×2 conv over [16, 2, 2]');
  t.same(params['fc2.weight'], [32, 64, 1, 1], 'later fcs → 1×1 convs');
  t.same(params['fc3.weight'], [CLASSES, 32, 1, 1]);
  t.same(params['fc3.bias'], [CLASSES], 'biases kept');
  t.same(fcn.outputShape([1, 3, 64, 48]), [1, CLASSES, 5, 3]);
  const cw = cls.getWeights();
  const fw = fcn.getWeights();
  t.same(fw['fc1.weight'].data, cw['fc1.weight'].data, 'same numbers, C,H,W order');

  const img = randTensor([2, 3, 64, 48]);
  const dense = await fcn.run(img);
  t.same(dense.shape, [2, CLASSES, 5, 3]);
  const ref = new Float32Array(2 * CLASSES * 15);
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 3; x++) {
      const s = await cls.run(cropOf(img, 8 * y, 8 * x, 32, 32));
      for (let n = 0; n < 2; n++) for (let k = 0; k < CLASSES; k++) ref[((n * CLASSES + k) * 5 + y) * 3 + x] = s.data[n * CLASSES + k];
    }
  }
  const err = normError(dense.data, ref);
  t.ok(err <= TOL, `normError ${err.toExponential(2)} <= 1e-5`);

  // At the classifier's own size the converted net is the classifier.
  const one = randTensor([1, 3, 32, 32]);
  const a = await cls.run(one);
  const b = await fcn.run(one);
  t.ok(normError(b.data, a.data) <= TOL, '32×32: same scores');
});

t.test('convolutionalize of a GraphBuilder uses the seed as a Model would; inputSize fixes H×W', async (t) => {
  const fromGraph = convolutionalize(classifierGraph(), { seed: 4, inputSize: [40, 40] });
  const fromModel = convolutionalize(new Model(classifierGraph(), { seed: 4 }));
  t.same(fromGraph.inputs[0].shape, [fromGraph.inputs[0].shape[0], 3, 40, 40], 'declared 40×40');
  t.same(fromModel.inputs[0].shape.slice(2).map(String), ['H', 'W'], 'dynamic by default');
  const x = randTensor([1, 3, 40, 40]);
  const a = await fromGraph.run(x);
  const b = await fromModel.run(x);
  t.same(a.shape, [1, CLASSES, 2, 2]);
  t.same(a.data, b.data, 'same weights');
  t.throws(() => fromGraph.outputShape([1, 3, 48, 40]), { code: 'SHAPE_MISMATCH' });
});

t.test('convolutionalize errors', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [1, 3, null, null]);
  g.output('y', g.conv2d('c', x, { outChannels: 2, kernel: 1 }));
  t.throws(() => convolutionalize(g), { code: 'INVALID_ARGUMENT', message: /no fully connected/ });
  t.throws(() => convolutionalize({}), FcnkitError);
  t.throws(() => convolutionalize(classifierGraph(), { inputSize: [0, 3] }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => convolutionalize(new Model(classifierGraph()), { seed: 1 }), { code: 'INVALID_ARGUMENT', message: /seed/ });
});
