'use strict';
// InferenceSession: API shape, metadata, format detection and dispatch, concurrent runs, abort,
// dispose, argument checks, toModel.
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fcnkit, randTensor, normError } = require('./helpers');
const { f32, buildModel, attr, makeNode } = require('./helpers/onnx-build');

const { InferenceSession, detectModelFormat, Tensor, models } = fcnkit;

function smallConvModel() {
  return buildModel({
    nodes: [
      makeNode('Conv', ['image', 'w', 'b'], ['c'], [attr.ints('pads', [1, 1, 1, 1])], 'conv'),
      makeNode('Relu', ['c'], ['features'], [], 'relu'),
      makeNode('Softmax', ['features'], ['prob'], [attr.int('axis', 1)], 'softmax'),
      makeNode('ArgMax', ['prob'], ['labels'], [attr.int('axis', 1), attr.int('keepdims', 0)], 'argmax'),
    ],
    inputs: [['image', ['batch', 3, 'H', 'W']]],
    outputs: ['prob', ['labels', 7]],
    initializers: [f32('w', [4, 3, 3, 3], randTensor([4, 3, 3, 3]).data), f32('b', [4], randTensor([4]).data)],
  });
}

t.test('API shape and metadata', async (t) => {
  const s = await InferenceSession.create(smallConvModel());
  t.equal(s.format, 'onnx');
  t.same(s.inputNames, ['image']);
  t.same(s.outputNames, ['prob', 'labels']);
  t.same(s.inputMetadata, [{ name: 'image', dtype: 'float32', shape: ['batch', 3, 'H', 'W'] }]);
  t.same(s.outputMetadata.map((m) => [m.name, m.dtype]), [['prob', 'float32'], ['labels', 'int32']]);
  t.ok(Object.isFrozen(s.inputMetadata), 'metadata is frozen');
  const x = randTensor([2, 3, 7, 9]);
  const out = await s.run({ image: x });
  t.same(Object.keys(out), ['prob', 'labels']);
  t.same(out.prob.shape, [2, 4, 7, 9]);
  t.same(out.labels.shape, [2, 7, 9]);
  t.equal(out.labels.dtype, 'int32');
  const sync = s.runSync({ image: x }, { threads: 1 });
  t.same(Array.from(sync.labels.data), Array.from(out.labels.data), 'runSync agrees');
  t.ok(normError(sync.prob.data, out.prob.data) <= 1e-6, 'runSync agrees (prob)');
  // Every label is the argmax of prob.
  const p = out.prob.data;
  let ok = true;
  for (let i = 0; i < 2 * 63; i++) {
    const n = Math.floor(i / 63), px = i % 63;
    let best = 0;
    for (let c = 1; c < 4; c++) if (p[(n * 4 + c) * 63 + px] > p[(n * 4 + best) * 63 + px]) best = c;
    ok &&= out.labels.data[i] === best;
  }
  t.ok(ok, 'labels are the argmax of prob');
  s.dispose();
});

t.test('plans are cached per input shape (least recently used dropped)', async (t) => {
  const s = await InferenceSession.create(smallConvModel(), { maxPlans: 2 });
  const entries = () => s.entries.size;
  await s.run({ image: randTensor([1, 3, 5, 5]) });
  await s.run({ image: randTensor([1, 3, 5, 5]) });
  t.equal(entries(), 1, 'same shape: one plan');
  await s.run({ image: randTensor([1, 3, 6, 5]) });
  await s.run({ image: randTensor([1, 3, 7, 5]) });
  t.equal(entries(), 2, 'capped at maxPlans');
  s.dispose();
});

t.test('concurrent runs of several shapes give the sequential results', async (t) => {
  const s = await InferenceSession.create(smallConvModel());
  const xs = [[1, 3, 9, 9], [2, 3, 5, 11], [1, 3, 9, 9], [1, 3, 16, 3], [3, 3, 4, 4], [2, 3, 5, 11], [1, 3, 9, 9], [1, 3, 2, 2]].map((sh) => randTensor(sh));
  const seq = xs.map((x) => s.runSync({ image: x }));
  const par = await Promise.all(xs.map((x) => s.run({ image: x })));
  t.ok(par.every((r, i) => normError(r.prob.data, seq[i].prob.data) === 0 && r.labels.data.every((v, k) => v === seq[i].labels.data[k])), '8 concurrent runs equal the sequential ones');
  s.dispose();
});

t.test('abort: before and during a run', async (t) => {
  // 16 convs of 48 channels: long enough to abort in flight.
  const c = 48;
  const nodes = [makeNode('Conv', ['x', 'w0'], ['h0'], [attr.ints('pads', [1, 1, 1, 1])], 'conv0')];
  for (let i = 1; i < 16; i++) nodes.push(makeNode('Conv', [`h${i - 1}`, 'w'], [`h${i}`], [attr.ints('pads', [1, 1, 1, 1])], `conv${i}`));
  nodes.push(makeNode('Relu', ['h15'], ['y'], [], 'relu'));
  const bytes = buildModel({
    nodes, inputs: [['x', [1, 3, null, null]]], outputs: ['y'],
    initializers: [f32('w0', [c, 3, 3, 3], randTensor([c, 3, 3, 3], -0.1, 0.1).data), f32('w', [c, c, 3, 3], randTensor([c, c, 3, 3], -0.05, 0.05).data)],
  });
  const s = await InferenceSession.create(bytes);
  const x = randTensor([1, 3, 128, 128]);
  const started = Date.now();
  await s.run({ x });
  const full = Date.now() - started;
  t.comment(`one run: ${full} ms`);
  const ac = new AbortController();
  ac.abort();
  await t.rejects(s.run({ x }, { signal: ac.signal }), { code: 'ABORTED' }, 'already aborted');
  const ac2 = new AbortController();
  setTimeout(() => ac2.abort(), Math.max(1, Math.floor(full / 4)));
  await t.rejects(s.run({ x }, { signal: ac2.signal }), { code: 'ABORTED', message: /abort/ }, 'aborted mid-run');
  const y = await s.run({ x: randTensor([1, 3, 8, 8]) });
  t.same(y.y.shape, [1, c, 8, 8], 'a later run works');
  s.dispose();
});

t.test('dispose: runs in flight finish, later calls are refused', async (t) => {
  const s = await InferenceSession.create(smallConvModel());
  const x = randTensor([1, 3, 64, 64]);
  const inflight = s.run({ image: x });
  s.dispose();
  t.equal(s.disposed, true);
  const r = await inflight.then((v) => v, (e) => e);
  t.ok(r.prob || r.code === 'INVALID_ARGUMENT', 'the in-flight run finished or was refused cleanly');
  await t.rejects(s.run({ image: x }), { code: 'INVALID_ARGUMENT', message: /disposed/ });
  t.throws(() => s.runSync({ image: x }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => s.toModel(), { code: 'INVALID_ARGUMENT' });
  s.dispose(); // twice is fine
});

t.test('argument checks', async (t) => {
  const s = await InferenceSession.create(smallConvModel());
  await t.rejects(s.run({}), { code: 'INVALID_ARGUMENT', message: /missing input 'image'/ });
  await t.rejects(s.run({ image: randTensor([1, 3, 4, 4]), other: randTensor([1]) }), { code: 'INVALID_ARGUMENT', message: /no input 'other'/ });
  await t.rejects(s.run({ image: new Tensor(new Int32Array(48), [1, 3, 4, 4]) }), { code: 'INVALID_ARGUMENT', message: /float32/ });
  await t.rejects(s.run({ image: randTensor([3, 4, 4]) }), { code: 'SHAPE_MISMATCH' });
  await t.rejects(s.run({ image: randTensor([1, 2, 4, 4]) }), { code: 'SHAPE_MISMATCH' }, 'a fixed dim differs');
  await t.rejects(s.run(randTensor([1, 3, 4, 4])), { code: 'INVALID_ARGUMENT' }, 'a bare tensor');
  await t.rejects(InferenceSession.create(smallConvModel(), { device: 'tpu' }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(InferenceSession.create(smallConvModel(), { threads: 0 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(InferenceSession.create(smallConvModel(), { inputShapes: { nope: [1] } }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(InferenceSession.create(42), { code: 'INVALID_ARGUMENT' });
  if (!fcnkit.backendInfo().cuda.available) {
    await t.rejects(InferenceSession.create(smallConvModel(), { device: 'cuda' }), { code: 'CUDA_UNAVAILABLE', message: /unavailable: / }, 'cuda refused, with the reason');
  }
  s.dispose();
});

t.test('format detection and dispatch', async (t) => {
  const onnxBytes = smallConvModel();
  t.equal(detectModelFormat(onnxBytes), 'onnx');
  const tfl = new Uint8Array(64);
  tfl.set([0x54, 0x46, 0x4c, 0x33], 4);
  t.equal(detectModelFormat(tfl), 'tflite', "'TFL3' at bytes 4..8");
  const prototxt = 'name: "tiny"\nlayer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } }\n}\n' +
    'layer {\n  name: "relu"\n  type: "ReLU"\n  bottom: "data"\n  top: "relu"\n}\n';
  t.equal(detectModelFormat(Buffer.from(prototxt)), 'caffe', 'prototxt with layer {');
  t.equal(detectModelFormat(Buffer.from('input: "data"\ninput_dim: 1\n')), 'caffe', 'legacy input:');
  t.equal(detectModelFormat(Buffer.from('just some words')), undefined);
  t.equal(detectModelFormat(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0])), undefined, 'JPEG');
  // Dispatch: TFLite garbage reaches the TFLite importer (which refuses it), a prototxt the Caffe one.
  const e = await InferenceSession.create(tfl).then(() => null, (err) => err);
  t.ok(e && ['BAD_MODEL', 'UNSUPPORTED_OP'].includes(e.code), `TFLite bytes dispatched (${e && e.code}: ${e && e.message.slice(0, 80)})`);
  const caffe = await InferenceSession.create({ prototxt: Buffer.from(prototxt) }).then((s) => s, (err) => err);
  if (caffe instanceof InferenceSession) {
    t.equal(caffe.format, 'caffe', 'Caffe prototxt dispatched');
    const x = randTensor([1, 3, 4, 4]);
    const y = await caffe.run({ [caffe.inputNames[0]]: x });
    t.same(Array.from(y[caffe.outputNames[0]].data), Array.from(x.data, (v) => Math.max(0, v)), 'the Caffe ReLU net runs');
  } else {
    t.ok(['UNSUPPORTED_OP', 'BAD_MODEL'].includes(caffe.code), `Caffe dispatched (${caffe.code}: ${caffe.message})`);
  }
  await t.rejects(InferenceSession.create(onnxBytes, { format: 'tflite' }), {}, 'format override is honoured');
  // From a path, and a prototxt path finds its sibling .caffemodel (absent here: structure only).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-session-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'm.onnx'), onnxBytes);
  const fromPath = await InferenceSession.create(path.join(dir, 'm.onnx'));
  t.same(fromPath.outputNames, ['prob', 'labels'], 'loads from a path');
});

t.test('toModel: a Model for graphs of builder layers, undefined otherwise', async (t) => {
  const m = models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 3, seed: 5 });
  const s = await InferenceSession.create(m.exportOnnxBytes());
  const back = s.toModel();
  if (!back) {
    t.fail('FCN-8s export gives no Model');
    return;
  }
  t.same(back.parameters().map((p) => p.name).sort(), m.parameters().map((p) => p.name).sort(), 'parameters named by the ONNX initializer names');
  const x = randTensor([1, 3, 40, 36]);
  t.ok(normError((await back.run(x)).data, (await m.run(x)).data) <= 1e-5, 'the Model computes the same');
  const sig = await InferenceSession.create(buildModel({ nodes: [makeNode('Sigmoid', ['x'], ['y'], [], 's')], inputs: [['x', [1, 1, 2, 2]]], outputs: ['y'] }));
  t.equal(sig.toModel(), undefined, 'Sigmoid has no builder layer: undefined');
});
