'use strict';
// Issue 10, the native side: size-safe planning that computes instead of refusing, overflow-checked
// size arithmetic, the per-run memory budget, outputs that fail as FcnkitError (never a V8 fatal
// error), inputs owned by the run, dispose() beside a run in flight. Each reproduction that once
// crashed the process runs in a child process, so a regression cannot take the runner down:
// the child must exit 0 and report a coded FcnkitError (or the right numbers).
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { fcnkit, randTensor, normError } = require('./helpers');
const { f32, i64, buildModel, attr, makeNode, ortRun } = require('./helpers/onnx-build');

const { Tensor, FcnkitError, InferenceSession, ops, models } = fcnkit;
const HELPERS = path.join(__dirname, 'helpers');
const CLI = path.join(__dirname, '..', 'bin', 'fcnkit');

/**
 * Runs `body` (the text of an async function body; `fcnkit`, `onnx` helpers and `report(obj)`
 * in scope) in a fresh node. Returns { status, signal, result, stderr }: result is what the child
 * reported (the error's code and message when the body threw).
 */
function child(body, { env = {}, shell } = {}) {
  const script = `
    const { fcnkit, randTensor } = require(${JSON.stringify(HELPERS)});
    const { f32, i64, buildModel, attr, makeNode } = require(${JSON.stringify(path.join(HELPERS, 'onnx-build.js'))});
    const { Tensor, FcnkitError, InferenceSession, ops, models } = fcnkit;
    const report = (o) => process.stdout.write('RESULT ' + JSON.stringify(o) + '\\n');
    (async () => { ${body} })().catch((e) => report({ threw: true, fcnkit: e instanceof FcnkitError, code: e && e.code, message: String(e && e.message) }));
  `;
  const file = path.join(os.tmpdir(), `fcnkit-rel-${process.pid}-${Math.random().toString(36).slice(2)}.js`);
  fs.writeFileSync(file, script);
  try {
    const r = shell
      ? spawnSync('bash', ['-c', `${shell}; exec "${process.execPath}" "${file}"`], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 })
      : spawnSync(process.execPath, [file], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
    const line = (r.stdout || '').split('\n').find((l) => l.startsWith('RESULT '));
    return { status: r.status, signal: r.signal, result: line ? JSON.parse(line.slice(7)) : undefined, stderr: r.stderr };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function expectCoded(t, label, r, code, re) {
  t.equal(r.signal, null, `${label}: not killed by a signal (${r.stderr && r.stderr.slice(-300)})`);
  t.equal(r.status, 0, `${label}: exit 0`);
  t.ok(r.result && r.result.threw && r.result.fcnkit, `${label}: an FcnkitError (${JSON.stringify(r.result)})`);
  t.equal(r.result && r.result.code, code, `${label}: ${code} — ${r.result && r.result.message}`);
  if (re) t.match(r.result && r.result.message, re, `${label}: message`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-rel-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.test('ConvTranspose stride [2^52, 1] on H = 4097: TOO_LARGE, not a wrapped shape', async (t) => {
  const r = child(`
    const x = new Tensor(new Float32Array(4097), [1, 1, 4097, 1]);
    const w = new Tensor(new Float32Array([1, 2]), [1, 1, 2, 1]);
    const y = await ops.convTranspose2d(x, w, null, { stride: [2 ** 52, 1] });
    report({ shape: y.shape });
  `);
  expectCoded(t, 'stride 2^52', r, 'TOO_LARGE', /overflow/);
  // In range, the same path still computes: stride [1000, 1] on H = 5 is 4001 rows.
  const x = randTensor([1, 1, 5, 1]);
  const w = new Tensor(new Float32Array([1, 2]), [1, 1, 2, 1]);
  const y = await ops.convTranspose2d(x, w, null, { stride: [1000, 1] });
  t.same(y.shape, [1, 1, 4002, 1], 'stride 1000: (5 - 1) * 1000 + 2 rows');
  t.equal(y.data[4000], x.data[4] * 1, 'last input row lands at 4000');
  t.equal(y.data[4001], x.data[4] * 2);
});

t.test('ONNX Conv with pads [1, 1, 1, 2^26] on 8x8: TOO_LARGE under a budget; a wide row computes', async (t) => {
  const conv = (padR) => buildModel({
    nodes: [makeNode('Conv', ['x', 'w'], ['y'], [attr.ints('pads', [1, 1, 1, padR]), attr.ints('kernel_shape', [3, 3])], 'conv')],
    inputs: [['x', [1, 1, 8, 8]]],
    outputs: ['y'],
    initializers: [f32('w', [2, 1, 3, 3], Array.from({ length: 18 }, (_, i) => (i % 7) / 7 - 0.4))],
  });
  const hostile = conv(2 ** 26);
  fs.writeFileSync(path.join(tmp, 'pads.onnx'), hostile);
  t.ok(hostile.length < 600, `a small file (${hostile.length} bytes)`);
  const r = child(`
    const s = await InferenceSession.create(${JSON.stringify(path.join(tmp, 'pads.onnx'))}, { memoryBudgetBytes: 256 * 2 ** 20 });
    const y = await s.run({ x: randTensor([1, 1, 8, 8]) });
    report({ shape: y.y.shape });
  `);
  expectCoded(t, 'pads 2^26, 256 MiB budget', r, 'TOO_LARGE', /memory budget/);

  // 2^20 columns of padding: an output row 1M pixels wide (a 12 MiB band of one channel, many
  // K blocks), against onnxruntime. (Past the 64 MiB scratch bound the im2col path takes over:
  // kernel_test runs every case with small bounds against the reference twin.)
  const wide = conv(2 ** 20);
  const x = randTensor([1, 1, 8, 8]);
  const s = await InferenceSession.create(wide);
  const got = (await s.run({ x })).y;
  const want = (await ortRun(wide, { x })).y;
  t.same(got.shape, want.dims, `shape ${got.shape}`);
  t.ok(normError(got.data, want.data) < 1e-5, `matches onnxruntime (normError ${normError(got.data, want.data)})`);
  s.dispose();
});

t.test('ops.conv2d of [1,1,131072,1] by a [1,1,65536,1] kernel computes (4.3e9 im2col elements, tiled)', async (t) => {
  const r = child(`
    const n = 131072, k = 65536, out = n - k + 1;
    // Random input, sparse weights (the kernel still runs all 65536 taps): a cheap exact reference.
    const x = randTensor([1, 1, n, 1]);
    const ws = new Float32Array(k);
    const taps = [];
    for (let j = 0; j < 40; j++) { const p = Math.floor(Math.random() * k); ws[p] = Math.random() - 0.5; taps.push(p); }
    const y2 = await ops.conv2d(x, new Tensor(ws, [1, 1, k, 1]));
    let e2 = 0;
    for (let i = 0; i < out; i += 1) {
      let ref = 0;
      for (const p of new Set(taps)) ref += x.data[i + p] * ws[p];
      e2 = Math.max(e2, Math.abs(y2.data[i] - ref));
    }
    report({ shape: y2.shape, e2 });
  `);
  t.equal(r.signal, null, `not killed (${r.stderr && r.stderr.slice(-300)})`);
  t.equal(r.status, 0, 'exit 0');
  t.notOk(r.result && r.result.threw, `computed (${JSON.stringify(r.result)})`);
  t.same(r.result && r.result.shape, [1, 1, 65537, 1], 'output shape');
  t.ok(r.result && r.result.e2 < 1e-4, `sparse kernel: max error ${r.result && r.result.e2}`);
});

t.test('a 155-byte Resize to [1, 2, 32768, 32768]: TOO_LARGE or OUT_OF_MEMORY, never a V8 fatal error', async (t) => {
  const resize = buildModel({
    nodes: [makeNode('Resize', ['x', '', '', 'sizes'], ['y'], [], 'r')],
    inputs: [['x', [1, 2, 2, 2]]],
    outputs: ['y'],
    initializers: [i64('sizes', [1, 2, 32768, 32768])],
    opset: 13,
  });
  fs.writeFileSync(path.join(tmp, 'resize.onnx'), resize);
  t.ok(resize.length < 200, `a tiny file (${resize.length} bytes)`);
  const file = JSON.stringify(path.join(tmp, 'resize.onnx'));
  const r1 = child(`
    const s = await InferenceSession.create(${file}, { memoryBudgetBytes: 2 ** 30 });
    await s.run({ x: randTensor([1, 2, 2, 2]) });
    report({ ran: true });
  `);
  expectCoded(t, '8 GiB output, 1 GiB budget', r1, 'TOO_LARGE', /output .*8\.0 GiB.*memory budget of 1\.0 GiB/);
  // With no budget to stop it, the allocation itself fails (the data segment capped at 4 GiB):
  // OUT_OF_MEMORY from the binding, where Napi::ArrayBuffer::New ended the process.
  const r2 = child(`
    const s = await InferenceSession.create(${file}, { memoryBudgetBytes: 2 ** 50 });
    await s.run({ x: randTensor([1, 2, 2, 2]) });
    report({ ran: true });
  `, { shell: 'ulimit -d 4194304' });
  expectCoded(t, '8 GiB output, data capped at 4 GiB', r2, 'OUT_OF_MEMORY', /cannot allocate/);
  // The 2^32-element cap per tensor is no budget: outputs of 16 GiB each, more of them than the
  // default budget holds, are TOO_LARGE at compile, before anything is allocated.
  const r3 = child(`
    const native = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'native.js'))}).native();
    const info = native.backendInfo();
    const outs = Math.floor(info.defaultMemoryBudgetBytes / 2 ** 34) + 1;
    const nodes = [makeNode('Resize', ['x', '', '', 'sizes'], ['y0'], [], 'r')];
    for (let i = 1; i < outs; i++) nodes.push(makeNode('Relu', ['y' + (i - 1)], ['y' + i], [], 'relu' + i));
    const bytes = buildModel({ nodes, inputs: [['x', [1, 4, 2, 2]]], outputs: nodes.map((n) => n.output[0]),
      initializers: [i64('sizes', [1, 4, 32768, 32768])], opset: 13 });
    const s = await InferenceSession.create(bytes);
    await s.run({ x: randTensor([1, 4, 2, 2]) });
    report({ ran: true });
  `);
  expectCoded(t, '16 GiB outputs past the default budget', r3, 'TOO_LARGE', /memory budget/);
});

t.test('memoryBudgetBytes: checked, plumbed to models, sessions, runs and ops', async (t) => {
  const m = models.fcn({ variant: '8s', numClasses: 3, widthMultiplier: 1 / 16 });
  const x = randTensor([1, 3, 64, 64]);
  const y = await m.run(x);
  t.same(y.shape, [1, 3, 64, 64], 'runs under the default budget');
  await t.rejects(m.run(x, { memoryBudgetBytes: 1024 }), { code: 'TOO_LARGE', message: /memory budget of 1\.0 KiB/ }, 'run budget');
  await t.rejects(m.run(x, { memoryBudgetBytes: -1 }), { code: 'INVALID_ARGUMENT' }, 'bad run budget');
  t.throws(() => models.fcn({ variant: '8s', numClasses: 3, widthMultiplier: 1 / 16, memoryBudgetBytes: 4096 }),
    { code: 'TOO_LARGE', message: /parameters/ }, 'model budget below its parameters: at construction');
  const small = models.fcn({ variant: '8s', numClasses: 3, widthMultiplier: 1 / 16, memoryBudgetBytes: 2_500_000 });
  await t.rejects(small.run(x), { code: 'TOO_LARGE', message: /past the memory budget of 2\.4 MiB/ }, 'model budget: at compile');
  t.throws(() => models.fcn({ variant: '8s', numClasses: 3, memoryBudgetBytes: 'lots' }), { code: 'INVALID_ARGUMENT' });
  m.dispose();
  small.dispose();
  // The op entry points take a budget too (outputs and workspace).
  const addon = require('../dist/native').native();
  const xs = randTensor([1, 4, 32, 32]), ws = randTensor([8, 4, 3, 3]);
  t.throws(() => addon.runOpSync('conv2d', [xs, ws], {}, undefined, 1024), { code: 'TOO_LARGE', message: /conv2d: outputs and workspace need/ }, 'runOpSync budget');
  await t.rejects(async () => addon.runOp('conv2d', [xs, ws], {}, undefined, 1024), { code: 'TOO_LARGE' }, 'runOp budget');
  t.same(addon.runOpSync('conv2d', [xs, ws], {}, undefined, 2 ** 30)[0].shape, [1, 8, 30, 30], 'within budget');
});

t.test('models.fcn({ numClasses: 2^31 }): TOO_LARGE up front', async (t) => {
  const r = child(`
    const t0 = Date.now();
    try {
      const m = models.fcn({ variant: '8s', numClasses: 2 ** 31 });
      await m.run(randTensor([1, 3, 32, 32]));
      report({ ran: true });
    } catch (e) {
      report({ threw: true, fcnkit: e instanceof FcnkitError, code: e.code, message: e.message, ms: Date.now() - t0 });
    }
  `);
  expectCoded(t, 'numClasses 2^31', r, 'TOO_LARGE', /parameter|memory budget/);
  t.ok(r.result && r.result.ms < 1000, `fails fast (${r.result && r.result.ms} ms)`);
});

t.test('a U-Net with same padding at 2048x2048: planned, not refused (fcnkit info)', async (t) => {
  const m = models.unet({ padding: 'same', numClasses: 2, inChannels: 1 });
  const file = path.join(tmp, 'unet-same.onnx');
  await m.exportOnnx(file);
  m.dispose();
  const r = spawnSync(process.execPath, [CLI, 'info', file, '--shape', '1x1x2048x2048'], { encoding: 'utf8', timeout: 300_000 });
  t.equal(r.signal, null, `not killed (${r.stderr.slice(-300)})`);
  t.equal(r.status, 0, `exit 0 (${r.stderr.slice(-300)})`);
  t.match(r.stdout, /final \[1, 2, 2048, 2048\]/, 'prints the output shape');
  t.match(r.stdout, /activations\s+[\d.]+ GiB per run/, 'and the planned activations');
});

t.test('a narrow U-Net with same padding at 2048x2048 matches onnxruntime', async (t) => {
  const m = models.unet({ padding: 'same', numClasses: 2, inChannels: 1, baseChannels: 4 });
  const bytes = m.exportOnnxBytes();
  m.dispose();
  const x = randTensor([1, 1, 2048, 2048]);
  const s = await InferenceSession.create(bytes);
  const got = (await s.run({ input: x })).score;
  s.dispose();
  const want = (await ortRun(bytes, { input: x })).score;
  t.same(got.shape, want.dims, 'shape');
  const err = normError(got.data, want.data);
  t.ok(err < 1e-4, `normError ${err}`);
});

t.test('inputs are owned by the run: transferring them mid-run changes nothing', async (t) => {
  const m = models.fcn({ variant: '8s', numClasses: 4, widthMultiplier: 1 / 16 });
  const x = randTensor([1, 3, 96, 96]);
  const want = m.runSync(new Tensor(Float32Array.from(x.data), x.shape));
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const xi = new Tensor(Float32Array.from(x.data), x.shape);
    runs.push(m.run(xi));
    // Transfer the input's buffer away, then scribble on it through its new owner.
    const moved = new Float32Array(structuredClone(xi.data.buffer, { transfer: [xi.data.buffer] }));
    moved.fill(1e6);
    t.equal(xi.data.length, 0, 'the run call left the caller its (now detached) array');
  }
  if (global.gc) global.gc();
  for (const y of await Promise.all(runs)) t.same(Array.from(y.data.slice(0, 64)), Array.from(want.data.slice(0, 64)), 'same result as an untouched input');
  m.dispose();
});

t.test('dispose() in the same tick as run(): the run finishes, later calls reject', async (t) => {
  const x = randTensor([1, 3, 64, 64]);
  for (const make of [
    () => models.fcn({ variant: '8s', numClasses: 2, widthMultiplier: 1 / 16 }),
  ]) {
    const m = make();
    await m.run(x); // a compiled plan exists
    const inflight = m.run(x);
    m.dispose();
    const y = await inflight;
    t.same(y.shape, [1, 2, 64, 64], 'in-flight run resolved');
    await t.rejects(m.run(x), { code: 'INVALID_ARGUMENT', message: /disposed/ }, 'later run rejects');
  }
  const bytes = buildModel({
    nodes: [makeNode('Conv', ['x', 'w'], ['y'], [attr.ints('pads', [1, 1, 1, 1])], 'conv')],
    inputs: [['x', [1, 3, 32, 32]]],
    outputs: ['y'],
    initializers: [f32('w', [4, 3, 3, 3], Array.from({ length: 108 }, (_, i) => Math.sin(i)))],
  });
  const s = await InferenceSession.create(bytes);
  const xs = randTensor([1, 3, 32, 32]);
  const first = await s.run({ x: xs });
  const p = s.run({ x: xs });
  s.dispose();
  t.same(Array.from((await p).y.data.slice(0, 16)), Array.from(first.y.data.slice(0, 16)), 'session: in-flight run resolved');
  await t.rejects(s.run({ x: xs }), { code: 'INVALID_ARGUMENT' }, 'session: later run rejects');
});
