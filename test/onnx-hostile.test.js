'use strict';
// Hostile and broken ONNX files: each is a clean FcnkitError with a code, nothing is allocated
// beyond what the file itself backs, and the process carries on.
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fcnkit, onnx, randTensor } = require('./helpers');
const { f32, i64, buildModel, attr, makeNode, DataType } = require('./helpers/onnx-build');

const { FcnkitError, importOnnx, InferenceSession } = fcnkit;

/** A small valid model: Conv(w) -> Relu. */
function good(extraInits = [], wDims = [2, 3, 3, 3]) {
  return {
    nodes: [makeNode('Conv', ['x', 'w'], ['c'], [], 'conv'), makeNode('Relu', ['c'], ['y'], [], 'relu')],
    inputs: [['x', [1, 3, 8, 8]]],
    outputs: ['y'],
    initializers: [f32('w', wDims, new Float32Array(wDims.reduce((a, b) => a * b, 1)).fill(0.1)), ...extraInits],
  };
}

function expectCode(t, label, fn, code, re) {
  try {
    fn();
    t.fail(`${label}: accepted`);
  } catch (err) {
    t.ok(err instanceof FcnkitError, `${label}: FcnkitError (${err && err.constructor && err.constructor.name})`);
    t.equal(err.code, code, `${label}: ${code} — ${err.message}`);
    if (re) t.match(err.message, re, `${label}: message`);
  }
}

function withTensor(mutate) {
  const spec = good();
  mutate(spec.initializers[0]);
  return onnx.encodeModel(onnx.makeModel({
    nodes: spec.nodes,
    inputs: spec.inputs.map(([n, d]) => onnx.valueInfo(n, DataType.FLOAT, d)),
    outputs: [onnx.valueInfo('y', DataType.FLOAT, [])],
    initializers: spec.initializers,
  }));
}

t.test('not a model: empty, text, random, PNG, truncated', async (t) => {
  const bytes = buildModel(good());
  expectCode(t, 'empty', () => importOnnx(new Uint8Array(0)), 'BAD_MODEL');
  expectCode(t, 'random bytes', () => importOnnx(Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) & 0xff)), 'BAD_MODEL');
  expectCode(t, 'PNG header', () => importOnnx(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), 'BAD_MODEL');
  for (const cut of [1, 7, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2), bytes.length - 1]) {
    expectCode(t, `truncated to ${cut} of ${bytes.length} bytes`, () => importOnnx(bytes.subarray(0, cut)), 'BAD_MODEL');
  }
  await t.rejects(InferenceSession.create(Buffer.from('hello, I am not a model')), { code: 'BAD_MODEL', message: /unrecognised model format/ }, 'text: unrecognised');
  await t.rejects(InferenceSession.create(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0])), { code: 'BAD_MODEL' }, 'PNG: unrecognised');
  await t.rejects(InferenceSession.create('/nonexistent/model.onnx'), { code: 'IO_ERROR' }, 'missing file: IO_ERROR');
});

t.test('bad dims and byte lengths', async (t) => {
  expectCode(t, 'negative dim', () => importOnnx(withTensor((w) => { w.dims = [-2, 3, 3, 3]; })), 'BAD_MODEL', /bad dimension/);
  expectCode(t, 'overflowing dims (2^40 x 2^40)', () => importOnnx(withTensor((w) => { w.dims = [2 ** 40, 2 ** 40, 1, 1]; })), 'TOO_LARGE');
  expectCode(t, 'raw_data shorter than dims need', () => importOnnx(withTensor((w) => { w.dims = [2, 3, 3, 4]; })), 'BAD_MODEL', /raw_data has 216 bytes/);
  expectCode(t, 'raw_data longer than dims need', () => importOnnx(withTensor((w) => { w.dims = [2, 3, 3, 2]; })), 'BAD_MODEL');
  expectCode(t, 'float_data count mismatch', () => importOnnx(withTensor((w) => { delete w.rawData; w.floatData = [1, 2, 3]; })), 'BAD_MODEL', /holds 3 values/);
  expectCode(t, 'float16 raw_data mismatch', () => importOnnx(withTensor((w) => { w.dataType = DataType.FLOAT16; })), 'BAD_MODEL');
  expectCode(t, 'string tensor', () => importOnnx(withTensor((w) => { w.dataType = DataType.STRING; })), 'UNSUPPORTED_OP');
  expectCode(t, 'unknown data type 99', () => importOnnx(withTensor((w) => { w.dataType = 99; })), 'UNSUPPORTED_OP');
  // A negative dim on a declared input.
  const neg = buildModel({ ...good(), inputs: [['x', [1, 3, -8, 8]]] });
  expectCode(t, 'negative input dim', () => importOnnx(neg), 'BAD_MODEL');
  // A varint dim beyond 2^53: the codec saturates it and the element-count check refuses it.
  const huge = withTensor((w) => { w.dims = [2 ** 53, 1, 1, 1]; });
  const patched = Buffer.from(huge);
  const at = patched.indexOf(Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]));
  if (at >= 0) {
    patched[at + 8] = 0x7f; // 2^53 -> beyond 2^55
    expectCode(t, 'dim beyond 2^53', () => importOnnx(patched), 'TOO_LARGE', /more than 2\^32 elements/);
  } else t.pass('varint layout not found (skipped)');
});

t.test('a 1 KB file claiming a 100 GB tensor allocates nothing', async (t) => {
  const before = process.memoryUsage();
  const claim100g = withTensor((w) => { w.dims = [25_000_000_000]; w.rawData = new Uint8Array(16); });
  t.ok(claim100g.length < 1024, `file is ${claim100g.length} bytes`);
  expectCode(t, '100 GB tensor', () => importOnnx(claim100g), 'TOO_LARGE');
  const claim10g = withTensor((w) => { w.dims = [2_500_000_000]; w.rawData = new Uint8Array(16); });
  expectCode(t, '10 GB tensor (under 2^32 elements)', () => importOnnx(claim10g), 'BAD_MODEL', /need 10000000000/);
  const typed = withTensor((w) => { w.dims = [2_500_000_000]; delete w.rawData; w.floatData = [1]; });
  expectCode(t, '10 GB tensor in float_data', () => importOnnx(typed), 'BAD_MODEL');
  const int64 = withTensor((w) => { w.dims = [2_000_000_000]; w.dataType = DataType.INT64; w.rawData = new Uint8Array(8); });
  expectCode(t, 'huge int64 tensor', () => importOnnx(int64), 'TOO_LARGE');
  // A shape subgraph asked to build a huge constant.
  const cos = buildModel({
    nodes: [makeNode('ConstantOfShape', ['s'], ['big'], [], 'cos'), makeNode('Add', ['x', 'big'], ['y'], [], 'add')],
    inputs: [['x', [1, 3, 8, 8]]], outputs: ['y'], initializers: [i64('s', [100000, 100000, 100])],
  });
  expectCode(t, 'ConstantOfShape of 10^12 elements', () => importOnnx(cos), 'TOO_LARGE');
  const after = process.memoryUsage();
  t.ok(after.arrayBuffers - before.arrayBuffers < 64 * 1024 * 1024, `array buffers grew by ${((after.arrayBuffers - before.arrayBuffers) / 1e6).toFixed(1)} MB`);
});

t.test('malformed graphs', async (t) => {
  const base = good();
  const enc = (spec) => buildModel(spec);
  expectCode(t, 'input that nothing defines', () => importOnnx(enc({ ...base, nodes: [makeNode('Relu', ['nothing'], ['y'], [], 'r')] })), 'BAD_MODEL', /'nothing'/);
  expectCode(t, 'value defined twice', () => importOnnx(enc({ ...base, nodes: [makeNode('Relu', ['x'], ['y'], [], 'a'), makeNode('Relu', ['x'], ['y'], [], 'b')] })), 'BAD_MODEL', /more than once/);
  expectCode(t, 'cycle', () => importOnnx(enc({ ...base, nodes: [makeNode('Relu', ['b'], ['a'], [], 'r1'), makeNode('Add', ['x', 'a'], ['b'], [], 'r2'), makeNode('Relu', ['b'], ['y'], [], 'r3')] })), 'BAD_MODEL', /cycle/);
  expectCode(t, 'output nobody produces', () => importOnnx(enc({ ...base, outputs: ['zzz'] })), 'BAD_MODEL', /zzz/);
  expectCode(t, 'no graph', () => importOnnx(onnx.encodeModel({ ...onnx.makeModel({ nodes: [], inputs: [], outputs: [] }), graph: undefined })), 'BAD_MODEL');
  expectCode(t, 'attribute of the wrong type', () => importOnnx(enc({ ...base, nodes: [makeNode('MaxPool', ['x'], ['y'], [attr.float('kernel_shape', 2)], 'p')] })), 'BAD_MODEL', /kernel_shape/);
  const m = enc({ ...base, nodes: [makeNode('Conv', ['x', 'w'], ['y'], [attr.ints('kernel_shape', [5, 5])], 'conv')] });
  const sess = await InferenceSession.create(m);
  await t.rejects(sess.run({ x: randTensor([1, 3, 8, 8]) }), { code: 'SHAPE_MISMATCH', message: /kernel_shape/ }, 'kernel_shape disagreeing with the weight');
  const tiny = enc({ ...base, nodes: [makeNode('Conv', ['x', 'w'], ['y'], [], 'conv')] });
  const s2 = await InferenceSession.create(tiny, {});
  await t.rejects(s2.run({ x: randTensor([1, 3, 2, 2]) }), { code: 'SHAPE_MISMATCH' }, 'input smaller than the kernel');
  await t.rejects(s2.run({ x: randTensor([1, 4, 8, 8]) }), { code: 'SHAPE_MISMATCH' }, 'wrong channel count');
});

t.test('external data paths that leave the model folder are refused', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-hostile-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'model');
  fs.mkdirSync(dir);
  const data = Buffer.alloc(2 * 3 * 3 * 3 * 4);
  fs.writeFileSync(path.join(root, 'secret.bin'), data);
  fs.writeFileSync(path.join(dir, 'ok.bin'), data);
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync(path.join(root, 'secret.bin'), path.join(dir, 'link.bin'));
  fs.symlinkSync(root, path.join(dir, 'linkdir'));
  const ext = (location, extra = [], dims = [2, 3, 3, 3]) => withTensor((w) => {
    delete w.rawData;
    w.dims = dims;
    w.dataLocation = 1;
    w.externalData = [{ key: 'location', value: location }, ...extra];
  });
  const load = (bytes) => () => importOnnx(bytes, { baseDir: dir });
  t.ok(importOnnx(ext('ok.bin'), { baseDir: dir }), 'a file inside the folder loads');
  expectCode(t, 'absolute path', load(ext(path.join(root, 'secret.bin'))), 'BAD_MODEL', /relative path/);
  expectCode(t, "'..'", load(ext('../secret.bin')), 'BAD_MODEL', /relative path/);
  expectCode(t, "'sub/../../secret.bin'", load(ext('sub/../../secret.bin')), 'BAD_MODEL');
  expectCode(t, "backslash '..'", load(ext('sub\\..\\..\\secret.bin')), 'BAD_MODEL');
  expectCode(t, 'symlink leaving the folder', load(ext('link.bin')), 'BAD_MODEL', /outside the model's folder/);
  expectCode(t, 'through a symlinked folder', load(ext('linkdir/secret.bin')), 'BAD_MODEL', /outside/);
  expectCode(t, 'missing file', load(ext('nope.bin')), 'BAD_MODEL', /cannot be opened/);
  expectCode(t, 'a directory', load(ext('sub')), 'BAD_MODEL', /not a regular file/);
  expectCode(t, 'empty location', load(ext('')), 'BAD_MODEL');
  expectCode(t, 'offset beyond the file', load(ext('ok.bin', [{ key: 'offset', value: '100000' }])), 'BAD_MODEL', /beyond the end/);
  expectCode(t, 'length mismatch', load(ext('ok.bin', [{ key: 'length', value: '12' }])), 'BAD_MODEL', /does not match/);
  expectCode(t, 'offset not a number', load(ext('ok.bin', [{ key: 'offset', value: '-4' }])), 'BAD_MODEL');
  expectCode(t, 'file shorter than dims need', load(ext('ok.bin', [], [2, 3, 3, 4])), 'BAD_MODEL');
  expectCode(t, '100 GB claimed from a small side file', load(ext('ok.bin', [], [25_000_000_000])), 'TOO_LARGE');
  expectCode(t, '8 GB claimed from a small side file', load(ext('ok.bin', [], [2_000_000_000])), 'BAD_MODEL', /holds only/);
  expectCode(t, 'bytes without baseDir', () => importOnnx(ext('ok.bin')), 'BAD_MODEL', /baseDir/);
  // Through InferenceSession with a path: the folder is the model file's.
  const file = path.join(dir, 'evil.onnx');
  fs.writeFileSync(file, ext('../secret.bin'));
  await t.rejects(InferenceSession.create(file), { code: 'BAD_MODEL' }, 'session from path refuses ..');
  fs.writeFileSync(file, ext('ok.bin'));
  t.ok(await InferenceSession.create(file), 'session from path loads ok.bin');
});

t.test('the process survives: a normal model still runs after all of the above', async (t) => {
  const sess = await InferenceSession.create(buildModel(good()));
  const y = await sess.run({ x: randTensor([1, 3, 8, 8]) });
  t.same(y.y.shape, [1, 2, 6, 6]);
});
