'use strict';
// `device` / `precision` where users give them: models.fcn / models.unet, InferenceSession.create
// and the CLI (segment, run, bench). Without a GPU, 'cuda' must be a clean CUDA_UNAVAILABLE at
// construction (exit code 1 in the CLI); option errors are INVALID_ARGUMENT (exit 2). The wiring
// itself is checked on the CPU emulator of the device steps (cpp/cuda/emulate.cc, the internal
// `emulate` option / FCNKIT_CUDA_EMULATE=1) against the CPU path; test/gpu/ repeats it on a GPU.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
const fcnkit = require('../dist');
const { onnx, randTensor, normError } = require('./helpers');
const { fcnkit: cli, tmpdir } = require('./helpers/cli');
const { readNpy, writeNpy } = require('../dist/io/npy');

const { models, InferenceSession } = fcnkit;
const gpu = fcnkit.backendInfo().cuda.available;
const noGpu = gpu ? 'a usable GPU is present: test/gpu/ covers device runs' : false;
const EMU = { FCNKIT_CUDA_EMULATE: '1' };

t.test('builders and sessions check device and precision at construction', async (t) => {
  t.throws(() => models.fcn({ variant: '8s', device: 'tpu' }), { code: 'INVALID_ARGUMENT', message: /device/ });
  t.throws(() => models.fcn({ variant: '8s', device: 'cuda', precision: 'fp16' }), { code: 'INVALID_ARGUMENT', message: /precision/ });
  t.throws(() => models.unet({ inChannels: 1, numClasses: 2, precision: 'tf32' }), { code: 'INVALID_ARGUMENT', message: /needs device 'cuda'/ });
  await t.rejects(InferenceSession.create(new Uint8Array(4), { device: 'gpu' }), { code: 'INVALID_ARGUMENT' });
  const cpu = models.fcn({ variant: '32s', widthMultiplier: 1 / 16, numClasses: 2 });
  t.equal(cpu.device, 'cpu');
  t.equal(cpu.precision, 'fp32');
  t.same(fcnkit.DEVICES, ['cpu', 'cuda']);
  t.same(fcnkit.PRECISIONS, ['fp32', 'tf32', 'bf16']);
  t.equal(fcnkit.DEFAULT_PRECISION, 'fp32');
});

t.test("'cuda' without a GPU is CUDA_UNAVAILABLE with the reason", { skip: noGpu }, async (t) => {
  const reason = fcnkit.backendInfo().cuda.reason;
  t.ok(reason, 'backendInfo().cuda.reason is set');
  t.throws(() => models.fcn({ variant: '8s', device: 'cuda' }), { code: 'CUDA_UNAVAILABLE', message: new RegExp(reason.replace(/[()]/g, '.')) });
  t.throws(() => models.unet({ inChannels: 3, numClasses: 2, device: 'cuda', precision: 'tf32' }), { code: 'CUDA_UNAVAILABLE' });
  // Before the file is even read.
  await t.rejects(InferenceSession.create('/nonexistent/model.onnx', { device: 'cuda' }), { code: 'CUDA_UNAVAILABLE' });
});

t.test('models.fcn / models.unet with device cuda (emulated) match the CPU', async (t) => {
  const cases = [
    [(o) => models.fcn({ variant: '8s', widthMultiplier: 1 / 8, numClasses: 5, seed: 11, ...o }), [1, 3, 45, 61]],
    [(o) => models.unet({ inChannels: 2, numClasses: 3, levels: 3, baseChannels: 16, padding: 'same', batchNorm: true, seed: 12, ...o }), [2, 2, 32, 40]],
  ];
  for (const [make, shape] of cases) {
    const ref = make({});
    const x = randTensor(shape, -1, 1);
    const want = await ref.run(x);
    for (const precision of ['fp32', 'tf32', 'bf16']) {
      const m = make({ device: 'cuda', precision, emulate: true });
      t.equal(m.device, 'cuda');
      t.equal(m.precision, precision);
      const got = await m.run(x);
      t.same(got.shape, want.shape);
      const e = normError(got.data, want.data);
      t.ok(e <= (precision === 'fp32' ? 1e-5 : 2e-2), `${precision}: normalised error ${e}`);
      // The weights are the same: loadWeights on the device model reuploads them.
      await m.loadWeights(ref.getWeights());
      t.ok(normError((await m.run(x)).data, want.data) <= (precision === 'fp32' ? 1e-5 : 2e-2), `${precision} after loadWeights`);
      m.dispose();
    }
    ref.dispose();
  }
});

/** x [1, 3, H, W] -> Conv 3x3 + Relu -> Conv 1x1 -> 'scores' [1, 4, H, W] */
function convNet() {
  const w1 = randTensor([8, 3, 3, 3]);
  const b1 = randTensor([8]);
  const w2 = randTensor([4, 8, 1, 1]);
  return onnx.encodeModel(onnx.makeModel({
    nodes: [
      onnx.makeNode('Conv', ['x', 'w1', 'b1'], ['c1'], [onnx.attr.ints('pads', [1, 1, 1, 1]), onnx.attr.ints('kernel_shape', [3, 3])], 'conv1'),
      onnx.makeNode('Relu', ['c1'], ['r1'], [], 'relu1'),
      onnx.makeNode('Conv', ['r1', 'w2'], ['scores'], [onnx.attr.ints('kernel_shape', [1, 1])], 'score'),
    ],
    inputs: [onnx.valueInfo('x', onnx.DataType.FLOAT, [1, 3, 'H', 'W'])],
    outputs: [onnx.valueInfo('scores', onnx.DataType.FLOAT, [1, 4, 'H', 'W'])],
    initializers: [onnx.tensorFromFloat32('w1', [8, 3, 3, 3], w1.data), onnx.tensorFromFloat32('b1', [8], b1.data), onnx.tensorFromFloat32('w2', [4, 8, 1, 1], w2.data)],
    opset: 13,
  }));
}

t.test('InferenceSession with device cuda (emulated) matches the CPU; ops without a CUDA kernel fail at create', async (t) => {
  const bytes = convNet();
  const cpu = await InferenceSession.create(bytes);
  const dev = await InferenceSession.create(bytes, { device: 'cuda', emulate: true });
  t.equal(dev.device, 'cuda');
  t.equal(dev.precision, 'fp32');
  for (const shape of [[1, 3, 17, 23], [1, 3, 8, 8]]) {
    const x = randTensor(shape);
    const [a, b] = await Promise.all([dev.run({ x }), cpu.run({ x })]);
    t.ok(normError(a.scores.data, b.scores.data) <= 1e-5, `shape ${shape}`);
  }
  dev.dispose();
  cpu.dispose();

  // Gemm has no CUDA kernel: with a fixed input shape the session refuses it at create.
  const gemm = onnx.encodeModel(onnx.makeModel({
    nodes: [onnx.makeNode('Gemm', ['x', 'w'], ['y'], [onnx.attr.int('transB', 1)], 'fc')],
    inputs: [onnx.valueInfo('x', onnx.DataType.FLOAT, [2, 6])],
    outputs: [onnx.valueInfo('y', onnx.DataType.FLOAT, [2, 3])],
    initializers: [onnx.tensorFromFloat32('w', [3, 6], randTensor([3, 6]).data)],
    opset: 13,
  }));
  await t.rejects(InferenceSession.create(gemm, { device: 'cuda', emulate: true }), { code: 'UNSUPPORTED_OP', message: /'fc'.*no CUDA kernel/ });
});

t.test('CLI: --device and --precision', async (t) => {
  const dir = tmpdir(t);
  const bad = await cli(['segment', '--device', 'tpu', 'examples/astronaut.png', '--out', dir]);
  t.equal(bad.code, 2, 'bad --device: exit 2');
  t.match(bad.stderr, /--device/);
  const prec = await cli(['run', 'default', '--precision', 'tf32', '--input', 'x.npy', '--output', 'y.npy']);
  t.equal(prec.code, 2, '--precision on cpu: exit 2');
  t.match(prec.stderr, /needs --device cuda/);
  if (!gpu) {
    const r = await cli(['segment', '--device', 'cuda', 'examples/astronaut.png', '--out', dir]);
    t.equal(r.code, 1, r.stderr);
    t.match(r.stderr, /CUDA_UNAVAILABLE/);
    t.same(fs.readdirSync(dir), [], 'nothing written');
  }
});

t.test('CLI segment --device cuda (emulated, tf32) labels agree with the CPU run', async (t) => {
  const dir = tmpdir(t);
  const cpuDir = path.join(dir, 'cpu');
  const devDir = path.join(dir, 'cuda');
  const imgs = ['examples/astronaut.png', 'examples/horse.png'];
  const a = await cli(['segment', '--out', cpuDir, ...imgs]);
  t.equal(a.code, 0, a.stderr);
  const b = await cli(['segment', '--device', 'cuda', '--precision', 'tf32', '--json', '--out', devDir, ...imgs], { env: EMU });
  t.equal(b.code, 0, b.stderr);
  t.equal(b.json().ok, 2);
  for (const name of ['astronaut', 'horse']) {
    const x = await sharp(path.join(cpuDir, `${name}.labels.png`)).raw().toBuffer({ resolveWithObject: true });
    const y = await sharp(path.join(devDir, `${name}.labels.png`)).raw().toBuffer({ resolveWithObject: true });
    t.same([y.info.width, y.info.height], [x.info.width, x.info.height]);
    let same = 0;
    for (let i = 0; i < x.data.length; i++) same += x.data[i] === y.data[i];
    t.ok(same / x.data.length >= 0.999, `${name}: labels agree on ${(100 * same / x.data.length).toFixed(3)}%`);
  }
});

t.test('CLI run and bench --device cuda (emulated)', async (t) => {
  const dir = tmpdir(t);
  const model = path.join(dir, 'net.onnx');
  fs.writeFileSync(model, convNet());
  const x = randTensor([1, 3, 12, 10]);
  await writeNpy(path.join(dir, 'x.npy'), x);
  const r1 = await cli(['run', model, '--input', path.join(dir, 'x.npy'), '--output', path.join(dir, 'cpu.npy')]);
  t.equal(r1.code, 0, r1.stderr);
  const r2 = await cli(['run', model, '--device', 'cuda', '--input', path.join(dir, 'x.npy'), '--output', path.join(dir, 'cuda.npy')], { env: EMU });
  t.equal(r2.code, 0, r2.stderr);
  const a = await readNpy(path.join(dir, 'cpu.npy'));
  const b = await readNpy(path.join(dir, 'cuda.npy'));
  t.same(b.shape, a.shape);
  t.ok(normError(b.data, a.data) <= 1e-5);
  const r3 = await cli(['bench', model, '--device', 'cuda', '--shape', '1x3x16x16', '--runs', '2'], { env: EMU });
  t.equal(r3.code, 0, r3.stderr);
  t.match(r3.stdout, /cuda \(fp32\)/);
});
