'use strict';
// precision 'bf16' on the CPU (AVX512-BF16): sessions, models, segmentPerson and the CLI; a
// clear INVALID_ARGUMENT naming the missing CPU feature where the kernels cannot run (forced
// with FCNKIT_ISA=avx2 in a child process); 'tf32' refused on the CPU. Numbers are checked
// against references computed here: a bf16 twin in JS (operands rounded to nearest even, sums
// in double: tight), the fp32 path (loose), and masks of the embedded selfie model on real
// photos (IoU >= 0.995 against fp32). The kernels themselves: fcn_kernel_test's bf16 section.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const sharp = require('sharp');
const fcnkit = require('../dist');
const { onnx, randTensor, normError } = require('./helpers');
const { fcnkit: cli, tmpdir } = require('./helpers/cli');

const { models, InferenceSession, segmentPerson } = fcnkit;
const info = fcnkit.backendInfo().bf16;
const noBf16 = info.available ? false : `no bf16 on this CPU: ${info.reason}`;

// Round to bfloat16, nearest even (denormals to zero), as the kernels do.
const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);
function bf16(x) {
  f[0] = x;
  let b = u[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return x;
  if ((b & 0x7f800000) === 0) return 0 * Math.sign(x);
  b = (b + 0x7fff + ((b >>> 16) & 1)) >>> 0;
  u[0] = (b >>> 16) << 16;
  return f[0];
}

t.test('backendInfo().bf16 describes the CPU', async (t) => {
  t.type(info.available, 'boolean');
  t.type(info.avx512Bf16, 'boolean');
  t.type(info.amxBf16, 'boolean');
  const flags = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  if (flags) t.equal(info.avx512Bf16, /\bavx512_bf16\b/.test(flags), 'avx512Bf16 agrees with /proc/cpuinfo');
  if (flags) t.equal(info.amxBf16, /\bamx_bf16\b/.test(flags) && /\bamx_tile\b/.test(flags), 'amxBf16 agrees with /proc/cpuinfo');
  if (!info.available) t.match(info.reason, /AVX512-BF16/);
});

t.test("'tf32' stays refused on the CPU", async (t) => {
  t.throws(() => models.unet({ inChannels: 1, numClasses: 2, precision: 'tf32' }), { code: 'INVALID_ARGUMENT', message: /needs device 'cuda'/ });
  await t.rejects(InferenceSession.create(convGemmNet().bytes, { precision: 'tf32' }), { code: 'INVALID_ARGUMENT' });
  const r = await cli(['run', 'x.onnx', '--input', 'x.npy', '--output', 'y.npy', '--precision', 'tf32']);
  t.equal(r.code, 2, 'usage error');
  t.match(r.stderr, /tf32 needs --device cuda/);
});

t.test('without AVX512-BF16 (FCNKIT_ISA=avx2) bf16 is INVALID_ARGUMENT naming the feature', async (t) => {
  const script = `
    const f = require('./dist');
    const out = { info: f.backendInfo().bf16 };
    try { f.models.fcn({ variant: '32s', widthMultiplier: 1 / 16, numClasses: 2, precision: 'bf16' }); } catch (e) { out.model = { code: e.code, message: e.message }; }
    f.segmentPerson('examples/astronaut.png', { precision: 'bf16' }).then(() => { out.person = 'ran'; }, (e) => { out.person = { code: e.code, message: e.message }; })
      .then(() => f.ops.conv2d ? null : null).then(() => process.stdout.write(JSON.stringify(out)));`;
  const root = path.join(__dirname, '..');
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env: { ...process.env, FCNKIT_ISA: 'avx2' } }).toString());
  t.equal(out.info.available, false);
  t.match(out.info.reason, /AVX512-BF16/);
  for (const what of ['model', 'person']) {
    t.equal(out[what].code, 'INVALID_ARGUMENT', what);
    t.match(out[what].message, /precision 'bf16' is not available on this CPU: .*AVX512-BF16/, what);
  }
  const r = await cli(['segment', path.join(root, 'examples', 'horse.png'), '--precision', 'bf16', '--out', tmpdir(t)], { env: { FCNKIT_ISA: 'avx2' } });
  t.not(r.code, 0, 'the CLI fails');
  t.match(r.stderr, /AVX512-BF16/);
});

// A 3x3 convolution (K = 16*9 = 144), ReLU, and a Gemm head with 6 rows (the planned product,
// K = 210): both above kBf16MinK (128), under which a layer stays fp32.
function convGemmNet() {
  const w = randTensor([7, 16, 3, 3]);
  const b = randTensor([7]);
  const g = randTensor([11, 7 * 6 * 5]);
  const bytes = onnx.encodeModel(onnx.makeModel({
    nodes: [
      onnx.makeNode('Conv', ['x', 'w', 'b'], ['c'], [onnx.attr.ints('pads', [1, 1, 1, 1]), onnx.attr.ints('kernel_shape', [3, 3]), onnx.attr.ints('strides', [2, 2])], 'conv'),
      onnx.makeNode('Relu', ['c'], ['r'], [], 'relu'),
      onnx.makeNode('Reshape', ['r', 'shape'], ['flat'], [], 'flatten'),
      onnx.makeNode('Gemm', ['flat', 'g'], ['y'], [onnx.attr.int('transB', 1)], 'head'),
    ],
    inputs: [onnx.valueInfo('x', onnx.DataType.FLOAT, [6, 16, 11, 9])],
    outputs: [onnx.valueInfo('r', onnx.DataType.FLOAT, [6, 7, 6, 5]), onnx.valueInfo('y', onnx.DataType.FLOAT, [6, 11])],
    initializers: [onnx.tensorFromFloat32('w', [7, 16, 3, 3], w.data), onnx.tensorFromFloat32('b', [7], b.data),
      onnx.tensorFromFloat32('g', [11, 210], g.data), onnx.tensorFromInt64('shape', [2], [6, 210])],
    opset: 13,
  }));
  return { bytes, w, b, g };
}

// The bf16 twin of convGemmNet in plain loops (double sums): conv -> relu -> flatten -> gemm,
// each operand of the conv and the gemm rounded to bfloat16.
function twin(net, x, round) {
  const [n, c, h, wd] = x.shape;
  const oc = 7, oh = 6, ow = 5;
  const r = new Float32Array(n * oc * oh * ow);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < oc; o++)
      for (let y = 0; y < oh; y++)
        for (let z = 0; z < ow; z++) {
          let s = net.b.data[o];
          for (let ci = 0; ci < c; ci++)
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const iy = y * 2 - 1 + ky, ix = z * 2 - 1 + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += round(x.data[((i * c + ci) * h + iy) * wd + ix]) * round(net.w.data[((o * c + ci) * 3 + ky) * 3 + kx]);
              }
          r[((i * oc + o) * oh + y) * ow + z] = Math.max(0, s);
        }
  const y = new Float32Array(n * 11);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < 11; j++) {
      let s = 0;
      for (let k = 0; k < 210; k++) s += round(r[i * 210 + k]) * round(net.g.data[j * 210 + k]);
      y[i * 11 + j] = s;
    }
  return { r, y };
}

t.test('InferenceSession precision bf16: conv and Gemm against the bf16 twin', { skip: noBf16 }, async (t) => {
  const net = convGemmNet();
  const sess = await InferenceSession.create(net.bytes, { precision: 'bf16' });
  const exact = await InferenceSession.create(net.bytes);
  t.equal(sess.precision, 'bf16');
  for (let rep = 0; rep < 2; rep++) {
    const x = randTensor([6, 16, 11, 9]);
    const got = await sess.run({ x });
    const want16 = twin(net, x, bf16);
    const want32 = twin(net, x, (v) => v);
    t.ok(normError(got.r.data, want16.r) <= 1e-5, `conv vs bf16 twin ${normError(got.r.data, want16.r).toExponential(2)}`);
    t.ok(normError(got.y.data, want16.y) <= 1e-4, `gemm vs bf16 twin ${normError(got.y.data, want16.y).toExponential(2)}`);
    t.ok(normError(got.r.data, want32.r) <= 2e-2, 'conv vs fp32 twin (bfloat16 level)');
    t.ok(normError(got.r.data, want32.r) > 1e-6, 'bf16 really rounds (differs from fp32)');
    const e32 = normError((await exact.run({ x })).r.data, want32.r);
    t.ok(e32 <= 1e-5, `the fp32 session stays exact (${e32.toExponential(2)})`);
  }
  sess.dispose();
  exact.dispose();
});

t.test('models.fcn / models.unet with precision bf16 stay close to fp32', { skip: noBf16 }, async (t) => {
  const cases = [
    [(o) => models.fcn({ variant: '8s', widthMultiplier: 1 / 8, numClasses: 5, seed: 11, ...o }), [1, 3, 45, 61]],
    [(o) => models.unet({ inChannels: 2, numClasses: 3, levels: 3, baseChannels: 16, padding: 'same', batchNorm: true, seed: 12, ...o }), [2, 2, 32, 40]],
  ];
  for (const [make, shape] of cases) {
    const ref = make({});
    const m = make({ precision: 'bf16' });
    t.equal(m.device, 'cpu');
    t.equal(m.precision, 'bf16');
    const x = randTensor(shape, -1, 1);
    const [a, b] = [await m.run(x), await ref.run(x)];
    const e = normError(a.data, b.data);
    t.ok(e <= 3e-2 && e > 0, `normalised error vs fp32 ${e.toExponential(2)}`);
  }
});

// Foreground IoU of two 0/1 masks; 1 when both are empty.
function iou(a, b) {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i] & b[i];
    union += a[i] | b[i];
  }
  return union === 0 ? 1 : inter / union;
}

const PHOTO_DIRS = [path.join(__dirname, '..', 'examples'), '/work/shared/data/images'];
const photos = PHOTO_DIRS.filter((d) => fs.existsSync(d))
  .flatMap((d) => fs.readdirSync(d).filter((f) => /\.png$/.test(f) && !/overlay/.test(f)).map((f) => path.join(d, f)));

t.test('segmentPerson bf16 masks: IoU >= 0.995 against fp32 on real photos', { skip: noBf16 }, async (t) => {
  t.ok(photos.length >= 4, `${photos.length} photos`);
  for (const photo of photos) {
    const [a, b] = [await segmentPerson(photo, { precision: 'bf16' }), await segmentPerson(photo)];
    const v = iou(a.mask, b.mask);
    const fg = b.mask.reduce((s, m) => s + m, 0) / b.mask.length;
    t.ok(v >= 0.995, `${path.basename(photo)}: IoU ${v.toFixed(5)} (foreground ${(100 * fg).toFixed(1)}%)`);
  }
});

t.test('fcnkit segment --precision bf16 (default model) matches fp32 labels', { skip: noBf16 }, async (t) => {
  const photo = path.join(__dirname, '..', 'examples', 'astronaut.png');
  const outs = {};
  for (const precision of ['fp32', 'bf16']) {
    const out = tmpdir(t);
    const r = await cli(['segment', photo, '--out', out, '--format', 'labels', '--precision', precision, '--workers', precision === 'bf16' ? '1' : '0']);
    t.equal(r.code, 0, `${precision}: ${r.stderr}`);
    if (precision === 'bf16') t.match(r.stdout + r.stderr, /precision bf16/);
    const file = fs.readdirSync(out).find((f) => f.endsWith('.png'));
    outs[precision] = await sharp(path.join(out, file)).raw().toBuffer();
  }
  const fg = (buf) => Uint8Array.from(buf, (v) => (v > 0 ? 1 : 0));
  const v = iou(fg(outs.bf16), fg(outs.fp32));
  t.ok(v >= 0.995, `IoU ${v.toFixed(5)}`);
});
