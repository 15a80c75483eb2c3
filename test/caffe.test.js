'use strict';
// Caffe import: the prototxt text parser, caffemodel decoding, every supported layer against
// hand-computed values (Caffe's own rules written out here: ceil-mode pooling with its
// padding clip, AVE divisors, Crop axes and offsets, Deconvolution's weight layout, BatchNorm's
// moving-average factor), FCN-8s caffemodels against models.fcn, the reference deploy
// prototxts' shapes, and hostile caffemodels.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { fcnkit, seed, randTensor, normError, rng } = require('./helpers');
const { CompiledGraph } = require('../dist/graph/compiled');
const { Writer } = require('../dist/io/onnx-proto');

const { importCaffe, loadCaffeWeights, encodeCaffemodel, parsePrototxt, models, Tensor, FcnkitError } = fcnkit;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

const fixture = (v) => fs.readFileSync(path.join(__dirname, 'fixtures', `voc-fcn${v}-deploy.prototxt`), 'utf8');

/** Runs an imported graph natively on named inputs; returns outputs by name. */
async function runImported(g, feeds) {
  const shapes = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.shape]));
  const cg = new CompiledGraph(g.specFor(shapes));
  try {
    return await cg.run(feeds);
  } finally {
    cg.dispose();
  }
}

function throwsCode(t, fn, code, pattern, msg) {
  try {
    fn();
  } catch (err) {
    t.ok(err instanceof FcnkitError, `${msg}: an FcnkitError (${err && err.message})`);
    t.equal(err.code, code, `${msg}: code ${code}`);
    if (pattern) t.match(err.message, pattern, `${msg}: message`);
    return err;
  }
  t.fail(`${msg}: did not throw`);
  return undefined;
}

const input = (name, shape) => `layer { name: "${name}" type: "Input" top: "${name}" input_param { shape { ${shape.map((d) => `dim: ${d}`).join(' ')} } } }\n`;

// =========================================================================================
// (a) the text parser
// =========================================================================================

t.test('prototxt parser: nesting, lists, strings, numbers, comments', async (t) => {
  const text = '\ufeff# leading comment\n' +
    'name: "a\\"b\\n\\x41\\101\\u00e9" \'c\' "d"  # adjacent strings join\n' +
    'outer { inner < x: 0x1F y: 010 z: -1.5e-3f w: .5 > ; list: [1, -2, 3] ; empty: [] }\n' +
    'outer: { flag: true e: -inf n: nan id: SOME_ENUM }, tail: 7\n';
  const m = parsePrototxt(text);
  t.same(m.fields.map((f) => f.name), ['name', 'outer', 'outer', 'tail']);
  t.equal(m.fields[0].value.value, 'a"b\nAAécd', 'escapes and concatenation');
  t.same(m.fields[0].pos, { line: 2, col: 1 });
  const o1 = m.fields[1].value;
  const inner = o1.fields[0].value.fields;
  t.same(inner.map((f) => [f.name, f.value.value]), [['x', 31], ['y', 8], ['z', -0.0015], ['w', 0.5]]);
  t.same(o1.fields.filter((f) => f.name === 'list').map((f) => f.value.value), [1, -2, 3]);
  t.notOk(o1.fields.some((f) => f.name === 'empty'), 'an empty list gives no values');
  const o2 = m.fields[2].value.fields;
  t.same(o2.map((f) => [f.name, f.value.kind, f.value.value]), [
    ['flag', 'ident', 'true'], ['e', 'ident', '-inf'], ['n', 'ident', 'nan'], ['id', 'ident', 'SOME_ENUM'],
  ]);
  t.same(m.fields[3].pos, { line: 4, col: 53 });

  const bad = [
    ['name: "abc\n', /prototxt 1:7: unterminated string/],
    ['a { b: 1 ', /prototxt 1:10: expected '}' to close the message opened at 1:3 but found the end of the file/],
    ['a: 1 }', /prototxt 1:6: expected a field name but found '}'/],
    ['a 1', /prototxt 1:3: expected ':' after field name 'a'/],
    ['a: @', /prototxt 1:4: unexpected character '@'/],
    ['a: 12ab', /prototxt 1:4: malformed number '12ab'/],
    ['x {\n  [ext.foo]: 1 }', /prototxt 2:3: extension and Any fields/],
    ['a: "\\q"', /prototxt 1:5: unknown escape/],
    ['a: [1, 2', /prototxt 1:9: expected ']' to close the list of 'a'/],
  ];
  for (const [src, re] of bad) throwsCode(t, () => parsePrototxt(src), 'BAD_MODEL', re, JSON.stringify(src));
  throwsCode(t, () => parsePrototxt('a {'.repeat(200)), 'BAD_MODEL', /nested deeper than 100/, 'deep nesting');
});

t.test('prototxt typed by caffe.proto: types, enums, duplicates, phases, V1', async (t) => {
  const base = input('data', [1, 1, 4, 4]);
  const conv = (body) => `${base}layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { ${body} } }`;
  throwsCode(t, () => importCaffe(conv('num_output: "x" kernel_size: 1')), 'BAD_MODEL', /prototxt 2:\d+: field 'num_output' of ConvolutionParameter takes an integer but has "x"/, 'string for int');
  throwsCode(t, () => importCaffe(conv('num_output: 1.5 kernel_size: 1')), 'BAD_MODEL', /takes an integer but has 1.5/, 'float for int');
  throwsCode(t, () => importCaffe(conv('num_output: -2 kernel_size: 1')), 'BAD_MODEL', /unsigned integer/, 'negative uint');
  throwsCode(t, () => importCaffe(conv('num_output: 2 num_output: 3 kernel_size: 1')), 'BAD_MODEL', /field 'num_output' of ConvolutionParameter is given more than once/, 'duplicate');
  throwsCode(t, () => importCaffe(conv('num_output: 2 bias_term: maybe kernel_size: 1')), 'BAD_MODEL', /takes true or false/, 'bool');
  throwsCode(t, () => importCaffe(conv('num_output: 2')), 'BAD_MODEL', /Convolution layer 'c': kernel_size .* is required/, 'no kernel');
  throwsCode(t, () => importCaffe(`${base}layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MEDIAN kernel_size: 2 } }`),
    'BAD_MODEL', /takes one of MAX, AVE, STOCHASTIC but has MEDIAN/, 'enum');
  // Unknown fields (training settings) are skipped; TRAIN-phase layers are left out.
  const g = importCaffe(`name: 'n' force_backward: true\n${base}` +
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" top: "loss" include { phase: TRAIN } }\n' +
    'layer { name: "r" type: "ReLU" bottom: "data" top: "r" engine: CUDNN relu_param { negative_slope: 0.25 engine: CAFFE } }');
  t.equal(g.name, 'n');
  t.same(g.outputs.map((o) => o.name), ['r']);
  throwsCode(t, () => importCaffe('layers { name: "c" type: CONVOLUTION bottom: "data" top: "c" }\ninput: "data"\ninput_dim: [1, 1, 2, 2]'),
    'UNSUPPORTED_OP', /legacy V1 `layers`/, 'V1 net');
  throwsCode(t, () => importCaffe(`${base}layer { name: "n1" type: "LRN" bottom: "data" top: "n1" }`), 'UNSUPPORTED_OP', /LRN layer 'n1': layer type 'LRN' is not supported/, 'unknown type');
  throwsCode(t, () => importCaffe(`${base}layer { name: "l" type: "SoftmaxWithLoss" bottom: "data" top: "l" }`), 'UNSUPPORTED_OP', /training layer/, 'loss layer');
  throwsCode(t, () => importCaffe(`${base}layer { name: "r" type: "ReLU" bottom: "nothing" top: "r" }`), 'BAD_MODEL', /reads blob 'nothing', which no earlier layer makes/, 'unknown bottom');
  // Net-level inputs, old style.
  const g2 = importCaffe('input: "img"\ninput_dim: 2 input_dim: 3 input_dim: 5 input_dim: 7\nlayer { name: "s" type: "Softmax" bottom: "img" top: "prob" }');
  t.same(g2.declaredShapes, { img: [2, 3, 5, 7] });
  t.same(g2.inputs[0].shape, ['N', 3, 'H', 'W']);
  t.same(g2.outputs, [{ name: 'prob', dtype: 'float32', shape: ['N', 3, 'H', 'W'] }]);
});

// =========================================================================================
// (b) a generated FCN-8s caffemodel against models.fcn
// =========================================================================================

/** The fixture at a smaller width: num_output values mapped (classes too). */
function narrowPrototxt(variant, map) {
  return fixture(variant).replace(/num_output: (\d+)/g, (_, n) => `num_output: ${map[n] ?? n}`);
}

/** A Model's weights as caffemodel layers (Caffe layer name = the parameter's prefix). */
function caffeLayersOf(weights) {
  const layers = new Map();
  for (const [name, tensor] of Object.entries(weights)) {
    const [layer, kind] = name.split('.');
    if (!layers.has(layer)) layers.set(layer, { name: layer, type: layer.startsWith('upscore') ? 'Deconvolution' : 'Convolution', blobs: [] });
    layers.get(layer).blobs[kind === 'weight' ? 0 : 1] = tensor;
  }
  return [...layers.values()];
}

t.test('FCN-8s caffemodel (width 1/16, 5 classes) runs like models.fcn with the same weights', async (t) => {
  const ref = models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 5, seed: 11 });
  const w = ref.getWeights();
  const bytes = encodeCaffemodel(caffeLayersOf(w), { name: 'FCN' });
  const proto = narrowPrototxt('8s', { 64: 4, 128: 8, 256: 16, 512: 32, 4096: 256, 21: 5 });
  const x = randTensor([1, 3, 61, 47], -100, 100);
  const want = await ref.run(x);
  t.same(want.shape, [1, 5, 61, 47]);

  const g = importCaffe(proto, bytes);
  t.ok(g.hasWeights);
  t.same(g.outputs, [{ name: 'score', dtype: 'float32', shape: ['N', 5, 'H', 'W'] }]);
  const spec = g.specFor({ data: x.shape });
  const types = spec.nodes.map((n) => n.type);
  t.notOk(types.includes('relu'), 'every ReLU fused into its conv');
  t.same(spec.nodes.filter((n) => n.type === 'crop').map((n) => [n.name, n.attrs.offset]), [['score_pool4c', [5, 5]], ['score_pool3c', [9, 9]], ['score', [31, 31]]]);
  const got = (await runImported(g, { data: x })).score;
  t.same(got.shape, want.shape);
  const e1 = normError(got.data, want.data);
  t.ok(e1 <= 1e-5, `importCaffe + specFor + CompiledGraph: normError ${e1}`);

  // loadWeights by layer name into a model built with other weights.
  const m = models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 5, seed: 99 });
  const res = await m.loadWeights(loadCaffeWeights(bytes));
  t.same(res, { missing: [], unexpected: [] });
  const e2 = normError((await m.run(x)).data, want.data);
  t.ok(e2 <= 1e-5, `models.fcn.loadWeights(loadCaffeWeights): normError ${e2}`);

  // toModel: the same graph as a builder Model with the imported weights.
  const tm = g.toModel();
  t.same(tm.parameters(), ref.parameters(), 'toModel has the parameters of models.fcn');
  const e3 = normError((await tm.run({ data: x })).data, want.data);
  t.ok(e3 <= 1e-5, `toModel(): normError ${e3}`);

  // Legacy num/channels/height/width shapes and double_data read the same.
  const legacy = encodeCaffemodel(caffeLayersOf(w), { legacyShapes: true, doubleData: true });
  const lw = loadCaffeWeights(legacy);
  t.same(lw['score_fr.bias'].shape, [5], 'legacy bias 1x1x1xN is [N]');
  t.same(lw['conv1_1.weight'].shape, [4, 3, 3, 3]);
  t.same([...lw['fc6.weight'].data.subarray(0, 10)], [...w['fc6.weight'].data.subarray(0, 10)]);
  const gl = importCaffe(proto, legacy);
  const e4 = normError((await runImported(gl, { data: x })).score.data, want.data);
  t.ok(e4 <= 1e-5, `legacy shapes + double_data: normError ${e4}`);

  // Another size through the same import, batch 2.
  const x2 = randTensor([2, 3, 20, 33], -100, 100);
  const e5 = normError((await runImported(g, { data: x2 })).score.data, (await ref.run(x2)).data);
  t.ok(e5 <= 1e-5, `batch 2 at 20x33: normError ${e5}`);
  ref.dispose();
  m.dispose();
  tm.dispose();
});

// =========================================================================================
// (c) the full-width reference deploy prototxts
// =========================================================================================

t.test('reference FCN-32s/16s/8s deploy prototxts: structure and shapes (no weights)', async (t) => {
  for (const v of ['32s', '16s', '8s']) {
    const g = importCaffe(fixture(v));
    t.notOk(g.hasWeights);
    t.same(g.inputs, [{ name: 'data', dtype: 'float32', shape: ['N', 3, 'H', 'W'] }], `${v} input`);
    t.same(g.declaredShapes, { data: [1, 3, 500, 500] });
    t.same(g.outputs, [{ name: 'score', dtype: 'float32', shape: ['N', 21, 'H', 'W'] }], `${v} output`);
    const s = g.inferShapes({ data: [1, 3, 500, 500] });
    t.same(s.score, [1, 21, 500, 500], `${v} score at 500x500`);
    t.same(s.pool5, [1, 512, 22, 22]);
    t.same(s.fc7, [1, 4096, 16, 16]);
    t.same(g.inferShapes({ data: [1, 3, 1, 1] }).score, [1, 21, 1, 1], `${v} at 1x1`);
    t.same(g.inferShapes({ data: [3, 3, 333, 217] }).score, [3, 21, 333, 217]);
    const m = g.toModel();
    t.same(m.parameters(), models.fcn({ variant: v }).parameters(), `${v}: toModel has models.fcn's parameters`);
    t.same(m.outputShape([1, 3, 500, 500]), [1, 21, 500, 500]);
    throwsCode(t, () => g.specFor({ data: [1, 3, 64, 64] }), 'BAD_MODEL', /has no weights: importCaffe was given no caffemodel/, `${v} specFor without weights`);
    throwsCode(t, () => g.inferShapes({ data: [1, 4, 64, 64] }), 'SHAPE_MISMATCH', /input 'data': expected shape \[N, 3, H, W\]/, 'channel count');
  }
  const s8 = importCaffe(fixture('8s')).inferShapes({ data: [1, 3, 500, 500] });
  t.same([s8.upscore2, s8.score_pool4c, s8.upscore_pool4, s8.score_pool3c, s8.upscore8], [
    [1, 21, 34, 34], [1, 21, 34, 34], [1, 21, 70, 70], [1, 21, 70, 70], [1, 21, 568, 568],
  ]);
});

// =========================================================================================
// (d) layers against hand-computed values
// =========================================================================================

const get4 = (x, n, c, h, w) => x.data[((n * x.shape[1] + c) * x.shape[2] + h) * x.shape[3] + w];

/** Caffe's pooling written out (pooling_layer.cpp's loops), in float64. */
function caffePool(x, { k, s, p, max, ceil = true }) {
  const [N, C, H, W] = x.shape;
  const out = (d) => {
    let o = ceil ? Math.ceil((d + 2 * p - k) / s) + 1 : Math.floor((d + 2 * p - k) / s) + 1;
    if (p > 0 && (o - 1) * s >= d + p) o--;
    return o;
  };
  const OH = out(H);
  const OW = out(W);
  const y = new Float32Array(N * C * OH * OW);
  let i = 0;
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let hs = oh * s - p;
    let ws = ow * s - p;
    let he = Math.min(hs + k, H + p);
    let we = Math.min(ws + k, W + p);
    const size = (he - hs) * (we - ws);
    hs = Math.max(hs, 0);
    ws = Math.max(ws, 0);
    he = Math.min(he, H);
    we = Math.min(we, W);
    let acc = max ? -Infinity : 0;
    for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) acc = max ? Math.max(acc, get4(x, n, c, h, w)) : acc + get4(x, n, c, h, w);
    y[i++] = max ? acc : acc / size;
  }
  return { data: y, shape: [N, C, OH, OW] };
}

t.test('Pooling: ceil mode with the padding clip, AVE divisors, FLOOR, global', async (t) => {
  const cases = [
    { h: 5, w: 5, k: 3, s: 2, p: 0, max: true },
    { h: 5, w: 6, k: 2, s: 2, p: 1, max: true }, // ceil gives 4 rows, the clip drops the last: 3
    { h: 5, w: 6, k: 2, s: 2, p: 1, max: false },
    { h: 7, w: 4, k: 3, s: 2, p: 1, max: false },
    { h: 6, w: 9, k: 3, s: 3, p: 2, max: false },
    { h: 7, w: 8, k: 3, s: 2, p: 1, max: true, ceil: false },
  ];
  for (const c of cases) {
    const x = randTensor([1, 2, c.h, c.w]);
    const proto = input('data', [1, 2, c.h, c.w]) + `layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param {
      pool: ${c.max ? 'MAX' : 'AVE'} kernel_size: ${c.k} stride: ${c.s} pad: ${c.p} ${c.ceil === false ? 'round_mode: FLOOR' : ''} } }`;
    const g = importCaffe(proto);
    const want = caffePool(x, c);
    const got = (await runImported(g, { data: x })).pool;
    t.same(got.shape, want.shape, `${JSON.stringify(c)} shape`);
    t.ok(normError(got.data, want.data) <= 1e-6, `${JSON.stringify(c)} values`);
  }
  t.same(importCaffe(input('data', [1, 1, 5, 6]) + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { kernel_size: 2 stride: 2 pad: 1 } }')
    .inferShapes({ data: [1, 1, 5, 6] }).p, [1, 1, 3, 4], 'Caffe clip: 5 rows -> 3, 6 columns -> 4');
  const x = randTensor([2, 3, 4, 5]);
  for (const pool of ['MAX', 'AVE']) {
    const g = importCaffe(input('data', [2, 3, 4, 5]) + `layer { name: "gp" type: "Pooling" bottom: "data" top: "gp" pooling_param { pool: ${pool} global_pooling: true } }`);
    const got = (await runImported(g, { data: x })).gp;
    t.same(got.shape, [2, 3, 1, 1]);
    const want = new Float32Array(6).map((_, i) => {
      const v = x.data.subarray(i * 20, i * 20 + 20);
      return pool === 'MAX' ? Math.max(...v) : v.reduce((a, b) => a + b, 0) / 20;
    });
    t.ok(normError(got.data, want) <= 1e-6, `global ${pool}`);
  }
  throwsCode(t, () => importCaffe(input('data', [1, 1, 6, 6]) + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { kernel_size: 1 stride: 3 } }'),
    'UNSUPPORTED_OP', /Pooling layer 'p': its last 1-wide window \(stride 3\) would start past the input/, 'window outside the input');
  throwsCode(t, () => importCaffe(input('data', [1, 1, 6, 6]) + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: STOCHASTIC kernel_size: 2 } }'),
    'UNSUPPORTED_OP', /STOCHASTIC/, 'stochastic');
  throwsCode(t, () => importCaffe(input('data', [1, 1, 6, 6]) + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { kernel_size: 2 pad: 2 } }'),
    'BAD_MODEL', /pad \[2, 2\] must be smaller than the kernel/, 'pad >= kernel');
});

t.test('Eltwise SUM (coeffs) / PROD / MAX, Concat, ReLU slope, Sigmoid, TanH, Softmax, Dropout, Split', async (t) => {
  const a = randTensor([1, 2, 3, 4]);
  const b = randTensor([1, 2, 3, 4]);
  const c = randTensor([1, 2, 3, 4]);
  b.data[5] = NaN;
  const proto = input('a', [1, 2, 3, 4]) + input('b', [1, 2, 3, 4]) + input('c', [1, 2, 3, 4]) + `
    layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "sum" eltwise_param { operation: SUM coeff: 2 coeff: 1 coeff: -0.5 } }
    layer { name: "prod" type: "Eltwise" bottom: "a" bottom: "c" top: "prod" eltwise_param { operation: PROD } }
    layer { name: "max" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "max" eltwise_param { operation: MAX } }
    layer { name: "cat" type: "Concat" bottom: "a" bottom: "c" top: "cat" concat_param { concat_dim: 3 } }
    layer { name: "cat1" type: "Concat" bottom: "a" bottom: "b" top: "cat1" }
    layer { name: "split" type: "Split" bottom: "c" top: "c1" top: "c2" }
    layer { name: "leaky" type: "ReLU" bottom: "c1" top: "leaky" relu_param { negative_slope: 0.1 } }
    layer { name: "drop" type: "Dropout" bottom: "c2" top: "c2" dropout_param { dropout_ratio: 0.3 } }
    layer { name: "sig" type: "Sigmoid" bottom: "c2" top: "sig" }
    layer { name: "th" type: "TanH" bottom: "a" top: "th" }
    layer { name: "sm" type: "Softmax" bottom: "a" top: "sm" softmax_param { axis: -1 } }`;
  const g = importCaffe(proto);
  t.same(g.outputs.map((o) => o.name).sort(), ['cat', 'cat1', 'leaky', 'max', 'prod', 'sig', 'sm', 'sum', 'th']);
  const out = await runImported(g, { a, b, c });
  const n = a.size;
  const f32 = (fn) => Float32Array.from({ length: n }, (_, i) => fn(i));
  t.ok(normError(out.sum.data, f32((i) => 2 * a.data[i] + b.data[i] - 0.5 * c.data[i])) <= 1e-6, 'SUM with coeffs (NaN kept)');
  t.ok(Number.isNaN(out.sum.data[5]));
  t.same([...out.prod.data], [...f32((i) => a.data[i] * c.data[i])], 'PROD');
  const mx = f32((i) => (Number.isNaN(b.data[i]) ? NaN : Math.max(a.data[i], b.data[i], c.data[i])));
  t.same([...out.max.data].map(String), [...mx].map(String), 'MAX (a NaN wins)');
  t.same(out.cat.shape, [1, 2, 3, 8]);
  t.equal(out.cat.data[4], c.data[0], 'concat_dim 3');
  t.same(out.cat1.shape, [1, 4, 3, 4]);
  t.same([...out.leaky.data], [...f32((i) => (c.data[i] < 0 ? Math.fround(0.1) * c.data[i] : c.data[i]))], 'negative_slope: leakyRelu');
  t.ok(normError(out.sig.data, f32((i) => 1 / (1 + Math.exp(-c.data[i])))) <= 1e-6, 'Sigmoid after Dropout (identity)');
  t.ok(normError(out.th.data, f32((i) => Math.tanh(a.data[i]))) <= 1e-6, 'TanH');
  const sm = new Float32Array(n);
  for (let r = 0; r < n / 4; r++) {
    const row = a.data.subarray(r * 4, r * 4 + 4);
    const m = Math.max(...row);
    const e = [...row].map((v) => Math.exp(v - m));
    const sum = e.reduce((x, y) => x + y, 0);
    e.forEach((v, j) => { sm[r * 4 + j] = v / sum; });
  }
  t.ok(normError(out.sm.data, sm) <= 1e-6, 'Softmax axis -1');
  throwsCode(t, () => importCaffe(input('a', [1, 2, 3, 4]) + input('b', [1, 2, 3, 5]) + 'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" }'),
    'SHAPE_MISMATCH', /Eltwise layer 'e': bottom 1 'b' \[1, 2, 3, 5\] differs from bottom 0 \[1, 2, 3, 4\]/, 'eltwise shapes');
  throwsCode(t, () => importCaffe(input('a', [1, 2, 3, 4]) + input('b', [1, 2, 3, 4]) + 'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" eltwise_param { operation: MAX coeff: 1 coeff: 2 } }'),
    'BAD_MODEL', /coeff is only for operation SUM/, 'coeff with MAX');
});

t.test('Crop: axis and offset variants (Caffe semantics)', async (t) => {
  const x = randTensor([2, 5, 7, 9]);
  const slice = (src, starts, sizes) => {
    const out = new Float32Array(sizes.reduce((p, q) => p * q, 1));
    let i = 0;
    for (let n = 0; n < sizes[0]; n++) for (let c = 0; c < sizes[1]; c++) for (let h = 0; h < sizes[2]; h++) for (let w = 0; w < sizes[3]; w++) {
      out[i++] = get4(src, n + starts[0], c + starts[1], h + starts[2], w + starts[3]);
    }
    return out;
  };
  const cases = [
    { axis: 2, offset: [3], ref: [1, 1, 4, 5], starts: [0, 0, 3, 3], sizes: [2, 5, 4, 5] },
    { axis: 2, offset: [1, 2], ref: [1, 1, 4, 5], starts: [0, 0, 1, 2], sizes: [2, 5, 4, 5] },
    { axis: 3, offset: [4], ref: [1, 1, 1, 5], starts: [0, 0, 0, 4], sizes: [2, 5, 7, 5] },
    { axis: -1, offset: [], ref: [1, 1, 1, 2], starts: [0, 0, 0, 0], sizes: [2, 5, 7, 2] },
    { axis: 1, offset: [1, 2, 3], ref: [2, 3, 4, 5], starts: [0, 1, 2, 3], sizes: [2, 3, 4, 5] },
    { axis: 0, offset: [1], ref: [1, 2, 3, 4], starts: [1, 1, 1, 1], sizes: [1, 2, 3, 4] },
  ];
  for (const c of cases) {
    const proto = input('x', x.shape) + input('ref', c.ref) +
      `layer { name: "crop" type: "Crop" bottom: "x" bottom: "ref" top: "crop" crop_param { axis: ${c.axis} ${c.offset.map((o) => `offset: ${o}`).join(' ')} } }`;
    const g = importCaffe(proto);
    const spec = g.specFor({ x: x.shape, ref: c.ref });
    const got = (await runImported(g, { x, ref: randTensor(c.ref) })).crop;
    t.same(got.shape, c.sizes, `axis ${c.axis} offset [${c.offset}] shape`);
    t.same([...got.data], [...slice(x, c.starts, c.sizes)], `axis ${c.axis} offset [${c.offset}] values (${spec.nodes[0].type})`);
  }
  throwsCode(t, () => importCaffe(input('x', [1, 1, 7, 9]) + input('ref', [1, 1, 4, 5]) + 'layer { name: "crop" type: "Crop" bottom: "x" bottom: "ref" top: "crop" crop_param { axis: 2 offset: 0 offset: 5 } }'),
    'SHAPE_MISMATCH', /Crop layer 'crop': offset 5 \+ size 5 on axis 3 reaches 10, beyond bottom 0 \[1, 1, 7, 9\]/, 'offset too large on W');
  throwsCode(t, () => importCaffe(input('x', [1, 1, 7, 9]) + input('ref', [1, 1, 4, 5]) + 'layer { name: "crop" type: "Crop" bottom: "x" bottom: "ref" top: "crop" crop_param { axis: 2 offset: 4 offset: 5 } }'),
    'SHAPE_MISMATCH', /offset 4 \+ size 4 on axis 2 reaches 8, beyond bottom 0 \[1, 1, 7, 9\]/, 'offset too large');
  throwsCode(t, () => importCaffe(input('x', [1, 1, 7, 9]) + input('ref', [1, 1, 4, 5]) + 'layer { name: "crop" type: "Crop" bottom: "x" bottom: "ref" top: "crop" crop_param { axis: 1 offset: 0 offset: 1 } }'),
    'BAD_MODEL', /2 offsets for the 3 axes cropped from axis 1/, 'offset count');
});

/** Naive conv2d [N, C, H, W] * [O, C/g, kh, kw] in float64. */
function refConv(x, w, b, { stride = 1, pad = 0, group = 1 } = {}) {
  const [N, C, H, W] = x.shape;
  const [O, Cg, KH, KW] = w.shape;
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  const y = new Float32Array(N * O * OH * OW);
  const og = O / group;
  let i = 0;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let acc = b ? b[o] : 0;
    const g = Math.floor(o / og);
    for (let cg = 0; cg < Cg; cg++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const h = oh * stride - pad + kh;
      const ww = ow * stride - pad + kw;
      if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
      acc += get4(x, n, g * Cg + cg, h, ww) * w.data[((o * Cg + cg) * KH + kh) * KW + kw];
    }
    y[i++] = acc;
  }
  return { data: y, shape: [N, O, OH, OW] };
}

t.test('Convolution + BatchNorm + Scale + ReLU fold into one conv; standalone BatchNorm and Scale', async (t) => {
  const C = 3;
  const O = 4;
  const x = randTensor([2, C, 6, 5]);
  const w = randTensor([O, C, 3, 3]);
  const bias = randTensor([O]);
  const mean = randTensor([O]);
  const variance = randTensor([O], 0.5, 2);
  const factor = new Tensor(new Float32Array([4]), [1]);
  const gamma = randTensor([O]);
  const beta = randTensor([O]);
  const proto = input('data', [2, C, 6, 5]) + `
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: ${O} kernel_size: 3 pad: 1 } }
    layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" batch_norm_param { use_global_stats: true eps: 0.001 } }
    layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
    layer { name: "relu" type: "ReLU" bottom: "conv" top: "out" }
    layer { name: "bn2" type: "BatchNorm" bottom: "data" top: "bn2" }
    layer { name: "sc2" type: "Scale" bottom: "bn2" top: "sc2" scale_param { bias_term: true } }
    layer { name: "sc3" type: "Scale" bottom: "data" top: "sc3" }`;
  const bn2 = [randTensor([C]), randTensor([C], 0.5, 2), new Tensor(new Float32Array([0.5]), [1])];
  const sc2 = [randTensor([C]), randTensor([C])];
  const sc3 = [randTensor([C])];
  const bytes = encodeCaffemodel([
    { name: 'conv', type: 'Convolution', blobs: [w, bias] },
    { name: 'bn', type: 'BatchNorm', blobs: [mean, variance, factor] },
    { name: 'sc', type: 'Scale', blobs: [gamma, beta] },
    { name: 'bn2', type: 'BatchNorm', blobs: bn2 },
    { name: 'sc2', type: 'Scale', blobs: sc2 },
    { name: 'sc3', type: 'Scale', blobs: sc3 },
  ]);
  const g = importCaffe(proto, bytes);
  const spec = g.specFor({ data: x.shape });
  const conv = spec.nodes.find((n) => n.name === 'conv');
  t.equal(conv.attrs.activation, 'relu');
  t.same(conv.inputs.slice(1), ['conv#folded_weight', 'conv#folded_bias'], 'BN and Scale folded into the weights');
  t.same(spec.nodes.map((n) => n.type), ['conv2d', 'mul', 'add', 'mul'], 'bn2+sc2: one mul and one add; sc3: one mul');
  const out = await runImported(g, { data: x });
  const z = refConv(x, w, bias.data, { pad: 1 });
  const plane = 30;
  const want = z.data.map((v, i) => {
    const o = Math.floor(i / plane) % O;
    const m = mean.data[o] / 4;
    const va = variance.data[o] / 4;
    const y = gamma.data[o] * ((v - m) / Math.sqrt(va + Math.fround(0.001))) + beta.data[o];
    return Math.max(y, 0);
  });
  const e = normError(out.out.data, want);
  t.ok(e <= 1e-5, `folded conv: normError ${e}`);
  const want2 = x.data.map((v, i) => {
    const c = Math.floor(i / 30) % C;
    const y = (v - bn2[0].data[c] * 2) / Math.sqrt(bn2[1].data[c] * 2 + Math.fround(1e-5));
    return sc2[0].data[c] * y + sc2[1].data[c];
  });
  t.ok(normError(out.sc2.data, want2) <= 1e-5, 'standalone BatchNorm + Scale');
  t.same([...out.sc3.data], [...x.data.map((v, i) => v * sc3[0].data[Math.floor(i / 30) % C])], 'Scale without bias');
  // The builder Model of this net gives the same.
  const m = g.toModel();
  const mo = await m.run({ data: x });
  t.ok(normError(mo.out.data, want) <= 1e-5 && normError(mo.sc2.data, want2) <= 1e-5 && normError(mo.sc3.data, out.sc3.data) <= 1e-6, 'toModel agrees');
  m.dispose();

  throwsCode(t, () => importCaffe(proto, encodeCaffemodel([
    { name: 'conv', type: 'Convolution', blobs: [randTensor([O, C, 5, 5]), bias] },
    { name: 'bn', type: 'BatchNorm', blobs: [mean, variance, factor] },
    { name: 'sc', type: 'Scale', blobs: [gamma, beta] },
    { name: 'bn2', type: 'BatchNorm', blobs: bn2 }, { name: 'sc2', type: 'Scale', blobs: sc2 }, { name: 'sc3', type: 'Scale', blobs: sc3 },
  ])), 'BAD_MODEL', /Convolution layer 'conv': blob 0 \(weight\) has shape \[4, 3, 5, 5\] but the layer needs \[4, 3, 3, 3\]/, 'weight shape');
  throwsCode(t, () => importCaffe(proto, encodeCaffemodel([{ name: 'conv', type: 'Convolution', blobs: [w, bias] }])),
    'BAD_MODEL', /BatchNorm layer 'bn': the caffemodel has no weights for this layer/, 'missing layer');
  throwsCode(t, () => importCaffe(proto, encodeCaffemodel([{ name: 'conv', type: 'Convolution', blobs: [w] }])),
    'BAD_MODEL', /Convolution layer 'conv': has 1 blobs in the caffemodel but needs 2/, 'blob count');
  throwsCode(t, () => importCaffe(input('data', [1, 3, 4, 4]) + 'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" batch_norm_param { use_global_stats: false } }'),
    'UNSUPPORTED_OP', /use_global_stats: false/, 'batch statistics');
});

t.test('Deconvolution weight layout [in, out/group, kh, kw], groups, InnerProduct (conv and gemm)', async (t) => {
  // Transposed conv written out: every input pixel scatters its kernel.
  const x = randTensor([1, 2, 3, 4]);
  const w = randTensor([2, 3, 3, 3]);
  const b = randTensor([3]);
  const s = 2;
  const p = 1;
  const OH = (3 - 1) * s + 3 - 2 * p;
  const OW = (4 - 1) * s + 3 - 2 * p;
  const want = new Float32Array(3 * OH * OW);
  for (let o = 0; o < 3; o++) want.fill(b.data[o], o * OH * OW, (o + 1) * OH * OW);
  for (let c = 0; c < 2; c++) for (let h = 0; h < 3; h++) for (let ww = 0; ww < 4; ww++) for (let o = 0; o < 3; o++) for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 3; kw++) {
    const y = h * s - p + kh;
    const xx = ww * s - p + kw;
    if (y < 0 || y >= OH || xx < 0 || xx >= OW) continue;
    want[(o * OH + y) * OW + xx] += get4(x, 0, c, h, ww) * w.data[((c * 3 + o) * 3 + kh) * 3 + kw];
  }
  const proto = input('data', [1, 2, 3, 4]) + 'layer { name: "up" type: "Deconvolution" bottom: "data" top: "up" convolution_param { num_output: 3 kernel_size: 3 stride: 2 pad: 1 } }';
  const out = (await runImported(importCaffe(proto, encodeCaffemodel([{ name: 'up', type: 'Deconvolution', blobs: [w, b] }])), { data: x })).up;
  t.same(out.shape, [1, 3, OH, OW]);
  t.ok(normError(out.data, want) <= 1e-5, 'deconvolution');

  // Grouped conv with kernel_h/kernel_w and stride_h/stride_w.
  const xg = randTensor([1, 4, 7, 6]);
  const wg = randTensor([6, 2, 3, 2]);
  const gproto = input('data', [1, 4, 7, 6]) + 'layer { name: "g" type: "Convolution" bottom: "data" top: "g" convolution_param { num_output: 6 kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 group: 2 bias_term: false } }';
  const gout = (await runImported(importCaffe(gproto, encodeCaffemodel([{ name: 'g', type: 'Convolution', blobs: [wg] }])), { data: xg })).g;
  // stride 2 rows, 1 column: compare against the reference run at stride 1 and subsampled rows.
  const r1 = refConv(xg, wg, null, { group: 2 });
  const sub = [];
  for (let o = 0; o < 6; o++) for (let h = 0; h < r1.shape[2]; h += 2) for (let ww = 0; ww < r1.shape[3]; ww++) sub.push(r1.data[(o * r1.shape[2] + h) * r1.shape[3] + ww]);
  t.same(gout.shape, [1, 6, 3, 5]);
  t.ok(normError(gout.data, Float32Array.from(sub)) <= 1e-5, 'grouped conv, kernel_h/w, stride_h/w');

  // InnerProduct over [N, C, H, W]: convolutionalised; at a larger input it slides.
  const xi = randTensor([2, 3, 2, 2]);
  const wi = randTensor([5, 12]);
  const bi = randTensor([5]);
  const iproto = input('data', [2, 3, 2, 2]) + 'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 5 } }\n' +
    'layer { name: "relu" type: "ReLU" bottom: "fc" top: "fc" }';
  const ig = importCaffe(iproto, encodeCaffemodel([{ name: 'fc', type: 'InnerProduct', blobs: [wi, bi] }]));
  t.same(ig.outputs[0].shape, ['N', 5, null, null], 'H - 1 and W - 1 have no name');
  const fc = (await runImported(ig, { data: xi })).fc;
  t.same(fc.shape, [2, 5, 1, 1]);
  const wantFc = new Float32Array(10).map((_, i) => {
    const n = Math.floor(i / 5);
    const o = i % 5;
    let acc = bi.data[o];
    for (let k = 0; k < 12; k++) acc += xi.data[n * 12 + k] * wi.data[o * 12 + k];
    return Math.max(acc, 0);
  });
  t.ok(normError(fc.data, wantFc) <= 1e-5, 'InnerProduct as a 2x2 conv + fused ReLU');
  t.same(ig.inferShapes({ data: [1, 3, 4, 5] }).fc, [1, 5, 3, 4], 'slides at a larger input');
  throwsCode(t, () => ig.inferShapes({ data: [1, 3, 1, 5] }), 'SHAPE_MISMATCH', /smaller than the 2×2 input the layer was made for/, 'smaller input');

  // On a 2-D blob, a gemm; transpose: true stores the weight [K, out].
  const x2 = randTensor([3, 6]);
  const wt = randTensor([6, 4]);
  const g2 = importCaffe(input('v', [3, 6]) + 'layer { name: "ip" type: "InnerProduct" bottom: "v" top: "ip" inner_product_param { num_output: 4 bias_term: false transpose: true } }',
    encodeCaffemodel([{ name: 'ip', type: 'InnerProduct', blobs: [wt] }]));
  const ip = (await runImported(g2, { v: x2 })).ip;
  t.same(ip.shape, [3, 4]);
  const wantIp = new Float32Array(12).map((_, i) => {
    const n = Math.floor(i / 4);
    const o = i % 4;
    let acc = 0;
    for (let k = 0; k < 6; k++) acc += x2.data[n * 6 + k] * wt.data[k * 4 + o];
    return acc;
  });
  t.ok(normError(ip.data, wantIp) <= 1e-5, 'InnerProduct on [N, K] (gemm, transpose)');
  t.equal(g2.toModel, undefined, 'no builder Model for a 2-D net');
  throwsCode(t, () => importCaffe(input('v', [3, 6]) + 'layer { name: "ip" type: "InnerProduct" bottom: "v" top: "ip" inner_product_param { num_output: 4 } }',
    encodeCaffemodel([{ name: 'ip', type: 'InnerProduct', blobs: [randTensor([4, 7]), randTensor([4])] }])),
  'BAD_MODEL', /InnerProduct layer 'ip': blob 0 \(weight\) has shape \[4, 7\] but the layer needs \[4, 6\]/, 'IP weight shape');
});

t.test('blobs written in the prototxt, a net read from its caffemodel alone', async (t) => {
  const proto = input('data', [1, 2, 2, 2]) + `layer { name: "s" type: "Scale" bottom: "data" top: "s"
    blobs { shape { dim: 2 } data: 1.5 data: -2 } }`;
  const g = importCaffe(proto);
  t.ok(g.hasWeights);
  const x = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 2, 2]);
  t.same([...(await runImported(g, { data: x })).s.data], [1.5, 3, 4.5, 6, -10, -12, -14, -16]);
  // Structure and weights from one binary NetParameter (no layer parameters needed for these):
  // an Input with no shape is a 4-D [N, C, H, W] of any size.
  const bytes = encodeCaffemodel([
    { name: 'data', type: 'Input', top: ['data'], blobs: [] },
    { name: 's', type: 'Scale', bottom: ['data'], top: ['s'], blobs: [new Tensor(Float32Array.from([1.5, -2]), [2])] },
    { name: 'r', type: 'ReLU', bottom: ['s'], top: ['r'], blobs: [] },
  ]);
  const gb = importCaffe('', bytes);
  t.same(gb.inputs[0].shape, ['N', 'C', 'H', 'W']);
  t.same(gb.declaredShapes, {});
  t.equal(gb.toModel, undefined, 'no declared input: no builder Model');
  t.same([...(await runImported(gb, { data: x })).r.data], [1.5, 3, 4.5, 6, 0, 0, 0, 0]);
  throwsCode(t, () => gb.specFor({ data: [1, 3, 2, 2] }), 'BAD_MODEL', /Scale layer 's': blob 0 \(scale\) has shape \[2\] but the layer needs \[3\]/, 'checked once the size is known');
});

t.test('Scale and Bias with a second bottom; data layers; V1 caffemodels; the native max op', async (t) => {
  const x = randTensor([2, 2, 3, 4]);
  const sc = randTensor([2, 2]);
  const bi = randTensor([2, 3, 4]);
  const g = importCaffe(input('x', [2, 2, 3, 4]) + input('s', [2, 2]) + input('b', [2, 3, 4]) + `
    layer { name: "sc" type: "Scale" bottom: "x" bottom: "s" top: "sc" scale_param { axis: 0 } }
    layer { name: "bi" type: "Bias" bottom: "sc" bottom: "b" top: "bi" }`);
  const out = (await runImported(g, { x, s: sc, b: bi })).bi;
  const want = x.data.map((v, i) => v * sc.data[Math.floor(i / 12)] + bi.data[i % 24]);
  t.ok(normError(out.data, want) <= 1e-6, 'Scale by bottom 1 from axis 0 (reshaped), Bias by bottom 1 from axis 1');
  throwsCode(t, () => importCaffe(input('x', [2, 2, 3, 4]) + input('s', [3]) + 'layer { name: "sc" type: "Scale" bottom: "x" bottom: "s" top: "sc" }'),
    'SHAPE_MISMATCH', /Scale layer 'sc': bottom 1 's' \[3\] does not match bottom 0 \[2, 2, 3, 4\] from axis 1/, 'scale operand shape');

  // A train/val net: the data layer is an input of unknown size, its label unusable, TRAIN-only
  // layers left out.
  const tv = `name: "tv"
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TEST } data_param { source: "x" batch_size: 4 } }
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN } }
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv" bottom: "label" top: "loss" include { phase: TRAIN } }`;
  const gt = importCaffe(tv);
  t.same(gt.inputs, [{ name: 'data', dtype: 'float32', shape: ['N', 'C', 'H', 'W'] }]);
  t.same(gt.outputs, [{ name: 'conv', dtype: 'float32', shape: ['N', 2, 'H', 'W'] }]);
  throwsCode(t, () => importCaffe(`${tv}\nlayer { name: "r" type: "ReLU" bottom: "label" top: "r" }`), 'UNSUPPORTED_OP', /ReLU layer 'r': reads 'label', a training label/, 'label');
  const gm = importCaffe('layer { name: "m" type: "MemoryData" top: "data" top: "label" memory_data_param { batch_size: 2 channels: 3 height: 4 width: 5 } }\n' +
    'layer { name: "dd" type: "DummyData" top: "extra" dummy_data_param { num: 2 channels: 3 height: 4 width: 5 } }\n' +
    'layer { name: "e" type: "Eltwise" bottom: "data" bottom: "extra" top: "e" }');
  t.same(gm.declaredShapes, { data: [2, 3, 4, 5], extra: [2, 3, 4, 5] });
  t.same(gm.inputs.map((i) => i.shape), [['N', 3, 'H', 'W'], ['extra_N', 3, 'extra_H', 'extra_W']]);

  // A V1 caffemodel (NetParameter.layers): name 4, type 5 (enum), blobs 6 with legacy dims.
  const w = new Writer();
  const wt = randTensor([2, 3, 1, 1]);
  w.tag(2, 2).fork().tag(4, 2).string('conv').tag(5, 0).uint32(4);
  w.tag(6, 2).fork();
  [2, 3, 1, 1].forEach((d, i) => w.tag(i + 1, 0).int64(d));
  w.tag(5, 2).bytes(new Uint8Array(wt.data.buffer));
  w.ldelim().ldelim();
  const v1 = w.finish().slice();
  const lw = loadCaffeWeights(v1);
  t.same(Object.keys(lw), ['conv.weight']);
  t.same([...lw['conv.weight'].data], [...wt.data]);
  const gv = importCaffe(input('data', [1, 3, 2, 2]) + 'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }', v1);
  const xv = randTensor([1, 3, 2, 2]);
  t.ok(normError((await runImported(gv, { data: xv })).conv.data, refConv(xv, wt, null).data) <= 1e-6, 'weights from a V1 caffemodel');

  // The native max op behind Eltwise MAX: large enough for several threads, and its checks.
  const { native } = require('../dist/native');
  const a = randTensor([3, 70000]);
  const b = randTensor([3, 70000]);
  const [y] = native().runOpSync('max', [a, b], {});
  t.ok(y.data.every((v, i) => v === Math.max(a.data[i], b.data[i])), 'max over 210000 elements');
  const { toFcnkitError } = require('../dist/errors');
  throwsCode(t, () => { try { native().runOpSync('max', [a, randTensor([3, 7])], {}); } catch (e) { throw toFcnkitError(e); } },
    'SHAPE_MISMATCH', /max: input 1 has shape \[3, 7\] but input 0 has \[3, 70000\]/, 'max shapes');
  throwsCode(t, () => { try { native().runOpSync('max', [a], {}); } catch (e) { throw toFcnkitError(e); } },
    'INVALID_ARGUMENT', /max/, 'max arity');
});

t.test('layer parameters decoded from a binary NetParameter match the same net in text', async (t) => {
  // Field numbers of caffe.proto: LayerParameter name 1, type 2, bottom 3, top 4, blobs 7,
  // convolution_param 106, pooling_param 121, relu_param 123, input_param 143, crop_param 144.
  const w = new Writer();
  const layer = (name, type, bottoms, tops, params) => {
    w.tag(100, 2).fork().tag(1, 2).string(name).tag(2, 2).string(type);
    for (const b of bottoms) w.tag(3, 2).string(b);
    for (const x of tops) w.tag(4, 2).string(x);
    params();
    w.ldelim();
  };
  const wt = randTensor([4, 3, 3, 2]);
  const bt = randTensor([4]);
  layer('in', 'Input', [], ['data'], () => {
    w.tag(143, 2).fork().tag(1, 2).fork().tag(1, 2).fork();
    for (const d of [1, 3, 11, 9]) w.int64(d);
    w.ldelim().ldelim().ldelim();
  });
  layer('conv', 'Convolution', ['data'], ['conv'], () => {
    // num_output 4, kernel_h 3, kernel_w 2, pad 1 (unpacked repeated), stride 2, dilation 1
    w.tag(106, 2).fork().tag(1, 0).uint32(4).tag(11, 0).uint32(3).tag(12, 0).uint32(2).tag(3, 0).uint32(1).tag(6, 0).uint32(2)
      .tag(18, 0).uint32(1).ldelim();
    for (const b of [wt, bt]) {
      w.tag(7, 2).fork().tag(7, 2).fork().tag(1, 2).fork();
      for (const d of b.shape) w.int64(d);
      w.ldelim().ldelim().tag(5, 2).bytes(new Uint8Array(b.data.buffer)).ldelim();
    }
  });
  layer('relu', 'ReLU', ['conv'], ['conv'], () => { w.tag(123, 2).fork().tag(1, 5).float(0.5).ldelim(); });
  // pool AVE (1), kernel_size 3, stride 2, pad 1, round_mode FLOOR (13 = 1)
  layer('pool', 'Pooling', ['conv'], ['pool'], () => { w.tag(121, 2).fork().tag(1, 0).uint32(1).tag(2, 0).uint32(3).tag(3, 0).uint32(2).tag(4, 0).uint32(1).tag(13, 0).uint32(1).ldelim(); });
  const bin = w.finish().slice();
  const text = input('data', [1, 3, 11, 9]) + `
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 2 pad: 1 stride: 2 dilation: 1 } }
    layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.5 } }
    layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR } }`;
  const gb = importCaffe(null, bin);
  const gt = importCaffe(text, bin);
  const sb = gb.specFor({ data: [1, 3, 11, 9] });
  const st = gt.specFor({ data: [1, 3, 11, 9] });
  t.same(sb.nodes, st.nodes, 'the same native nodes');
  t.same(sb.nodes.map((n) => [n.type, n.attrs]), [
    ['conv2d', { stride: [2, 2], dilation: [1, 1], groups: 1, pads: [1, 1, 1, 1], activation: 'none' }],
    ['leakyRelu', { alpha: 0.5 }],
    ['avgPool2d', { kernel: [3, 3], stride: [2, 2], dilation: [1, 1], pads: [1, 1, 1, 1], ceilMode: false, countIncludePad: true }],
  ]);
  const x = randTensor([1, 3, 11, 9]);
  t.same([...(await runImported(gb, { data: x })).pool.data], [...(await runImported(gt, { data: x })).pool.data]);
});

// =========================================================================================
// (e) hostile caffemodels
// =========================================================================================

t.test('hostile caffemodels: clean errors with codes, nothing allocated beyond the file', async (t) => {
  const proto = input('data', [1, 3, 4, 4]) + 'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 } }';
  const good = encodeCaffemodel([{ name: 'conv', type: 'Convolution', blobs: [randTensor([2, 3, 3, 3]), randTensor([2])] }]);
  t.ok(importCaffe(proto, good).hasWeights);
  for (let cut = 1; cut < good.length; cut += Math.max(1, Math.floor(good.length / 23))) {
    throwsCode(t, () => importCaffe(proto, good.subarray(0, cut)), 'BAD_MODEL', undefined, `truncated at ${cut} of ${good.length}`);
  }
  throwsCode(t, () => loadCaffeWeights(good.subarray(0, good.length - 3)), 'BAD_MODEL', /caffemodel: (truncated|length)/, 'loadCaffeWeights truncated');

  // Hand-made blobs: [shape dims, floats] with wire control.
  const model = (dims, nFloats, { extraBytes = 0, legacy = false } = {}) => {
    const w = new Writer();
    w.tag(100, 2).fork();
    w.tag(1, 2).string('conv');
    w.tag(2, 2).string('Convolution');
    w.tag(7, 2).fork();
    if (legacy) dims.forEach((d, i) => w.tag(i + 1, 0).int64(d));
    else {
      w.tag(7, 2).fork().tag(1, 2).fork();
      for (const d of dims) w.int64(d);
      w.ldelim().ldelim();
    }
    w.tag(5, 2).bytes(new Uint8Array(nFloats * 4 + extraBytes));
    w.ldelim();
    w.ldelim();
    return w.finish().slice();
  };
  const cases = [
    [model([2, 3, 3, 3], 10), /Convolution layer 'conv' blob 0: shape \[2, 3, 3, 3\] needs 54 values but the blob holds 10/, 'wrong blob size'],
    [model([1e12], 4), /shape \[1000000000000\] needs 1000000000000 values but the blob holds 4/, 'a blob claiming 1e12 elements'],
    [model([25e9], 0), /needs 25000000000 values but the blob holds 0/, 'a 100 GB tensor in a tiny file'],
    [model([1e6, 1e6, 1e6], 1), /needs .* values but the blob holds 1/, 'dims overflowing'],
    [model([2, -3, 3, 3], 54), /blob dimension -3 .* is negative/, 'negative dim'],
    [model([2, 3, 3, 3], 54, { extraBytes: 2 }), /packed float blob data of 218 bytes is not a whole number of values/, 'ragged packed data'],
    [model([2, 3, 3, 3], 10, { legacy: true }), /needs 54 values but the blob holds 10/, 'legacy dims, wrong size'],
  ];
  const proto1 = proto.replace('kernel_size: 3', 'kernel_size: 3 bias_term: false');
  for (const [bytes, re, what] of cases) {
    t.ok(bytes.length < 1200, `${what}: a ${bytes.length}-byte file`);
    throwsCode(t, () => importCaffe(proto1, bytes), 'BAD_MODEL', re, `importCaffe: ${what}`);
    throwsCode(t, () => loadCaffeWeights(bytes), 'BAD_MODEL', re, `loadCaffeWeights: ${what}`);
  }
  // A dim of 2^60 is refused by the wire reader (beyond 2^53), before any arithmetic.
  const dim60 = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
  const hb = Uint8Array.from([0xa2, 0x06, 14, 0x3a, 12, 0x3a, 10, 0x08, ...dim60]);
  throwsCode(t, () => loadCaffeWeights(hb), 'BAD_MODEL', /needs 9007199254740991 values but the blob holds/, 'a dim of 2^60');

  const garbage = Uint8Array.from({ length: 512 }, () => Math.floor(rng() * 256));
  throwsCode(t, () => loadCaffeWeights(garbage), 'BAD_MODEL', /caffemodel:/, 'random bytes');
  throwsCode(t, () => loadCaffeWeights(new TextEncoder().encode(proto)), 'BAD_MODEL', /caffemodel:/, 'a prototxt passed as a caffemodel');
  const wrongWire = new Writer();
  wrongWire.tag(100, 2).fork().tag(1, 0).uint32(5).ldelim();
  throwsCode(t, () => loadCaffeWeights(wrongWire.finish().slice()), 'BAD_MODEL', /LayerParameter.name has wire type VARINT, expected LEN/, 'wrong wire type');
  const past = Uint8Array.from([0xa2, 0x06, 0xff, 0x01, 0x0a]);
  throwsCode(t, () => loadCaffeWeights(past), 'BAD_MODEL', /length 255 runs past end/, 'length past the end');
  throwsCode(t, () => importCaffe(proto, new Uint8Array(0)), 'BAD_MODEL', /Convolution layer 'conv': the caffemodel has no weights/, 'empty caffemodel');
  throwsCode(t, () => loadCaffeWeights('not bytes'), 'INVALID_ARGUMENT', /Uint8Array/, 'not bytes');
  t.same(Object.keys(loadCaffeWeights(new Uint8Array(0))), [], 'an empty NetParameter has no weights');
});
