'use strict';
// Models run natively against onnxruntime-node running the same model's exportOnnxBytes() with
// the same weights; the exported FCN at several input sizes proves dynamic H and W. Skip fusions,
// crops and the conv+BN+ReLU merging are checked separately on small hand-made graphs.
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fcnkit, onnx, seed, rng, randTensor, normError } = require('./helpers');

const { models, GraphBuilder, Model, Tensor } = fcnkit;
const TOL = 1e-4;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

let ortm;
const ort = () => (ortm ??= require('onnxruntime-node'));

async function session(bytes) {
  return ort().InferenceSession.create(bytes);
}

/** Runs an ORT session on fcnkit Tensors; returns { name: { data, dims } }. */
async function ortRun(sess, feeds) {
  const ortFeeds = {};
  for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = new (ort().Tensor)('float32', v.data, [...v.shape]);
  const res = await sess.run(ortFeeds);
  const out = {};
  for (const [k, v] of Object.entries(res)) out[k] = { data: v.data, dims: [...v.dims] };
  return out;
}

function check(t, label, y, ref) {
  t.same([...y.shape], ref.dims, `${label}: shape ${ref.dims}`);
  const err = normError(y.data, ref.data);
  t.ok(err <= TOL, `${label}: normError ${err.toExponential(2)}`);
}

/** Random BN statistics so that folding is really exercised. */
async function randomizeBatchNorm(model) {
  const w = model.getWeights();
  for (const [name, p] of Object.entries(w)) {
    if (!/\.bn\d\./.test(name) && !/^bn/.test(name)) continue;
    for (let i = 0; i < p.data.length; i++) {
      if (name.endsWith('running_var')) p.data[i] = 0.3 + rng();
      else if (name.endsWith('.weight')) p.data[i] = 0.5 + rng();
      else p.data[i] = rng() - 0.5;
    }
  }
  await model.loadWeights(w);
}

t.test('small FCN-8s against onnxruntime at three input sizes (dynamic H, W)', async (t) => {
  const m = models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 5, seed: 11 });
  const sess = await session(m.exportOnnxBytes());
  for (const shape of [[1, 3, 37, 45], [2, 3, 64, 50], [1, 3, 1, 1]]) {
    const x = randTensor(shape);
    const y = await m.run(x);
    const ref = (await ortRun(sess, { input: x })).score;
    check(t, `fcn-8s ${shape.join('×')}`, y, ref);
    t.same(y.shape, [shape[0], 5, shape[2], shape[3]], 'output H×W = input H×W');
    const ys = m.runSync(x, { threads: 1 });
    t.ok(normError(ys.data, y.data) <= 1e-5, 'runSync (1 thread) agrees with run');
  }
  t.ok(m.getWeights()['upscore2.weight'].data.some((v) => v !== 0), 'the deconvolutions have weights');
  m.dispose();
});

t.test('small FCN-32s, 16s and 8s-atonce against onnxruntime', async (t) => {
  for (const variant of ['32s', '16s', '8s-atonce']) {
    const m = models.fcn({ variant, widthMultiplier: 1 / 16, numClasses: 4, seed: 5 });
    const sess = await session(m.exportOnnxBytes());
    for (const shape of [[1, 3, 29, 53], [1, 3, 70, 40]]) {
      const x = randTensor(shape);
      check(t, `fcn-${variant} ${shape.join('×')}`, await m.run(x), (await ortRun(sess, { input: x })).score);
    }
    m.dispose();
  }
});

t.test('the exported FCN declares dynamic N, H, W', async (t) => {
  const m = models.fcn({ variant: '16s', widthMultiplier: 1 / 32, numClasses: 3 });
  const decoded = onnx.decodeModel(m.exportOnnxBytes());
  const dims = (vi) => vi.type.tensorType.shape.dim.map((d) => d.dimParam || d.dimValue);
  t.same(dims(decoded.graph.input[0]), ['N', 3, 'H', 'W']);
  t.same(dims(decoded.graph.output[0]), ['N', 3, 'H', 'W']);
  t.equal(decoded.opsetImport[0].version, 17);
  const ops = new Set(decoded.graph.node.map((n) => n.opType));
  for (const op of ['Conv', 'Relu', 'MaxPool', 'ConvTranspose', 'Shape', 'Slice', 'Add']) t.ok(ops.has(op), `uses ${op}`);
  t.ok(decoded.graph.initializer.some((i) => i.name === 'fc6.weight'), 'weights are initializers named as parameters');
});

t.test('small U-Net (valid and same, with and without batchNorm) against onnxruntime', async (t) => {
  const cases = [
    { padding: 'valid', batchNorm: false, sizes: [[1, 2, 188, 188], [1, 2, 204, 220]] },
    { padding: 'valid', batchNorm: true, sizes: [[1, 2, 188, 204]] },
    { padding: 'same', batchNorm: false, sizes: [[1, 2, 64, 64], [2, 2, 32, 48]] },
    { padding: 'same', batchNorm: true, sizes: [[1, 2, 48, 80]] },
  ];
  for (const c of cases) {
    const m = models.unet({ inChannels: 2, numClasses: 3, baseChannels: 8, padding: c.padding, batchNorm: c.batchNorm, seed: 9 });
    if (c.batchNorm) await randomizeBatchNorm(m);
    const sess = await session(m.exportOnnxBytes());
    for (const shape of c.sizes) {
      const x = randTensor(shape);
      const y = await m.run(x);
      check(t, `unet ${c.padding}${c.batchNorm ? '+bn' : ''} ${shape.join('×')}`, y, (await ortRun(sess, { input: x })).score);
    }
    m.dispose();
  }
  const m = models.unet({ inChannels: 1, numClasses: 2, baseChannels: 8 });
  t.same((await m.run(randTensor([1, 1, 572, 572]))).shape, [1, 2, 388, 388], '572×572 -> 388×388 natively');
  await t.rejects(m.run(randTensor([1, 1, 500, 500])), { code: 'SHAPE_MISMATCH', message: /492 and 508/ });
  m.dispose();
});

// ---- hand-made graphs ---------------------------------------------------------------------

/** x[:, :, oy:oy+h, ox:ox+w] by hand. */
function sliceHW(x, oy, ox, h, w) {
  const [n, c, H, W] = x.shape;
  const out = new Float32Array(n * c * h * w);
  let k = 0;
  for (let p = 0; p < n * c; p++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[k++] = x.data[(p * H + oy + i) * W + ox + j];
  return new Tensor(out, [n, c, h, w]);
}

t.test('crop to a reference tensor at a fixed offset, then skip fusion by sum', async (t) => {
  const g = new GraphBuilder();
  const big = g.input('big', [1, 2, null, null]);
  const ref = g.input('ref', [1, 2, null, null]);
  const c = g.crop('crop', big, { like: ref, offset: [3, 1] });
  const sum = g.add('fuse', ref, c);
  g.output('out', sum);
  g.output('cropped', c);
  const m = new Model(g);
  t.same(m.parameters(), [], 'crop and add have no parameters');
  const sess = await session(m.exportOnnxBytes());
  for (const [bh, bw, rh, rw] of [[9, 7, 4, 5], [20, 11, 17, 2], [4, 2, 1, 1]]) {
    const x = randTensor([1, 2, bh, bw]);
    const r = randTensor([1, 2, rh, rw]);
    const out = await m.run({ big: x, ref: r });
    const want = sliceHW(x, 3, 1, rh, rw);
    t.same([...out.cropped.data], [...want.data], `${bh}×${bw} -> ${rh}×${rw}: crop is exactly x[3:3+h, 1:1+w]`);
    t.same([...out.out.data], [...want.data].map((v, i) => Math.fround(v + r.data[i])), 'fusion is the element-wise sum');
    const o = await ortRun(sess, { big: x, ref: r });
    check(t, `onnx ${bh}×${bw}`, out.out, o.out);
    check(t, `onnx crop ${bh}×${bw}`, out.cropped, o.cropped);
  }
  await t.rejects(m.run({ big: randTensor([1, 2, 5, 5]), ref: randTensor([1, 2, 4, 4]) }), { code: 'SHAPE_MISMATCH', message: /crop 'crop'/ });
});

t.test('centre crop and concat (U-Net copy-and-crop)', async (t) => {
  const g = new GraphBuilder();
  const skip = g.input('skip', [1, 3, null, null]);
  const up = g.input('up', [1, 2, null, null]);
  const c = g.crop('crop', skip, { like: up, offset: 'center' });
  g.output('out', g.concat('cat', [c, up], 1));
  const fixed = g.crop('fixed', skip, { like: [2, 3], offset: 'center' });
  g.output('fixed', fixed);
  const m = new Model(g);
  const sess = await session(m.exportOnnxBytes());
  for (const [sh, sw, uh, uw] of [[10, 9, 6, 6], [7, 8, 2, 3], [5, 5, 5, 4]]) {
    const s = randTensor([1, 3, sh, sw]);
    const u = randTensor([1, 2, uh, uw]);
    const out = await m.run({ skip: s, up: u });
    const oy = Math.floor((sh - uh) / 2);
    const ox = Math.floor((sw - uw) / 2);
    const want = sliceHW(s, oy, ox, uh, uw);
    t.same([...out.out.data.subarray(0, want.data.length)], [...want.data], `${sh}×${sw} -> ${uh}×${uw}: centre at [${oy}, ${ox}]`);
    t.same([...out.out.data.subarray(want.data.length)], [...u.data], 'then the upsampled tensor');
    t.same([...out.fixed.data], [...sliceHW(s, Math.floor((sh - 2) / 2), Math.floor((sw - 3) / 2), 2, 3).data], 'fixed-size centre crop');
    const o = await ortRun(sess, { skip: s, up: u });
    check(t, `onnx ${sh}×${sw}`, out.out, o.out);
    check(t, `onnx fixed ${sh}×${sw}`, out.fixed, o.fixed);
  }
});

t.test('conv/BN/ReLU merging, unfused BN, scale, pools and softmax against onnxruntime', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [null, 3, null, null]);
  // conv -> bn -> relu, merged into one native conv.
  let a = g.conv2d('c1', x, { outChannels: 5, kernel: 3, padding: 1, bias: false });
  a = g.batchNorm('bn1', a);
  a = g.relu('r1', a);
  // conv with its output used twice: not merged with the relu after it.
  const b = g.conv2d('c2', a, { outChannels: 5, kernel: 3, padding: [1, 0, 2, 1], stride: 2 });
  const br = g.relu('r2', b);
  const sum = g.add('sum', g.scale('half', b, 0.5), br);
  // BN after a pool: no conv to fold into (mul + add natively).
  let p = g.avgPool2d('pool', sum, { kernel: 3, stride: 2, padding: 1, ceilMode: true });
  p = g.batchNorm('bn2', p, { eps: 1e-3 });
  const mp = g.maxPool2d('mpool', p, { kernel: 2, stride: 2, ceilMode: true });
  const d = g.convTranspose2d('deconv', mp, { outChannels: 4, kernel: 3, stride: 2, padding: 1, outputPadding: 1, activation: 'relu' });
  const s = g.conv2d('same', d, { outChannels: 3, kernel: 3, padding: 'same', dilation: 2, groups: 1 });
  const dw = g.conv2d('dw', s, { outChannels: 6, kernel: 3, groups: 3, padding: 1 });
  g.output('probs', g.softmax('softmax', dw, 1));
  g.output('features', b);
  const m = new Model(g, { seed: 4 });
  await randomizeBatchNorm(m);
  const sess = await session(m.exportOnnxBytes());
  for (const shape of [[1, 3, 17, 23], [2, 3, 9, 8], [1, 3, 30, 5]]) {
    const inp = randTensor(shape);
    const out = await m.run(inp);
    const o = await ortRun(sess, { x: inp });
    check(t, `probs ${shape.join('×')}`, out.probs, o.probs);
    check(t, `features ${shape.join('×')}`, out.features, o.features);
  }
  // c2 (3×3/2, pads t1 l0 b2 r1): 9×11; avg 3/2 pad 1 ceil: 5×6; max 2/2 ceil: 3×3; deconv
  // 3/2 pad 1 outputPadding 1: (3 - 1) * 2 - 2 + 3 + 1 = 6.
  t.same(m.outputShape([1, 3, 17, 23]), { probs: [1, 6, 6, 6], features: [1, 5, 9, 11] });
});

t.test('bilinear transposed convolution upsamples like onnxruntime, depthwise too', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [1, 3, null, null]);
  const u = g.convTranspose2d('up', x, { outChannels: 3, kernel: 4, stride: 2, bias: false, init: 'bilinear' });
  const v = g.convTranspose2d('updw', x, { outChannels: 3, kernel: 5, stride: 3, groups: 3, bias: false, init: 'bilinear' });
  g.output('u', u);
  g.output('v', v);
  const m = new Model(g);
  const ones = new Tensor(new Float32Array(3 * 6 * 6).fill(1), [1, 3, 6, 6]);
  const out = await m.run(ones);
  // Away from the border every output pixel of a constant input is covered by the filter's
  // taps at stride 2, which sum to 1 per phase: the constant comes back.
  const [, , h, w] = out.u.shape;
  t.same([h, w], [14, 14]);
  let interior = true;
  for (let c = 0; c < 3; c++) for (let i = 2; i < h - 2; i++) for (let j = 2; j < w - 2; j++) interior &&= Math.abs(out.u.data[(c * h + i) * w + j] - 1) < 1e-6;
  t.ok(interior, 'bilinear 4/2 keeps a constant image constant inside');
  const sess = await session(m.exportOnnxBytes());
  const r = randTensor([1, 3, 7, 5]);
  const mine = await m.run(r);
  const o = await ortRun(sess, { x: r });
  check(t, 'bilinear 4/2', mine.u, o.u);
  check(t, 'depthwise bilinear 5/3', mine.v, o.v);
});

t.test('exportOnnx writes a file onnxruntime loads; opsets 13 and 21; IO_ERROR', async (t) => {
  const m = models.fcn({ variant: '8s', widthMultiplier: 1 / 32, numClasses: 2, seed: 1 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-models-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'fcn8s.onnx');
  await m.exportOnnx(file);
  const x = randTensor([1, 3, 21, 34]);
  const y = await m.run(x);
  check(t, 'from file', y, (await ortRun(await session(file), { input: x })).score);
  for (const opset of [13, 21]) {
    const sess = await session(m.exportOnnxBytes({ opset }));
    check(t, `opset ${opset}`, y, (await ortRun(sess, { input: x })).score);
  }
  t.throws(() => m.exportOnnxBytes({ opset: 11 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(m.exportOnnx(path.join(dir, 'missing', 'x.onnx')), { code: 'IO_ERROR' });
});

t.test('abort, dispose, bad inputs', async (t) => {
  const m = models.fcn({ variant: '32s', widthMultiplier: 1 / 32, numClasses: 2 });
  const ac = new AbortController();
  ac.abort();
  await t.rejects(m.run(randTensor([1, 3, 16, 16]), { signal: ac.signal }), { code: 'ABORTED' });
  await t.rejects(m.run(randTensor([1, 4, 16, 16])), { code: 'SHAPE_MISMATCH', message: /input 'input': expected shape \[N, 3, H, W\]/ });
  await t.rejects(m.run(new Tensor(new Int32Array(3 * 16 * 16), [1, 3, 16, 16])), { code: 'INVALID_ARGUMENT' });
  await t.rejects(m.run('image'), { code: 'INVALID_ARGUMENT' });
  const y = await m.run(randTensor([1, 3, 16, 16]));
  t.same(y.shape, [1, 2, 16, 16]);
  m.dispose();
  await t.rejects(m.run(randTensor([1, 3, 16, 16])), { code: 'INVALID_ARGUMENT', message: /disposed/ });
});
