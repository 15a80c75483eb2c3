'use strict';
// resize against onnxruntime's Resize (opset 13 and 18): every coordinate mode x interpolation
// (nearest with every rounding), up- and down-scaling, odd sizes, size 1, scale and size forms.
const t = require('tap');
const { fcnkit, onnx, seed, randTensor, randInt, rng, normError, ortRunNode } = require('./helpers');
const { native } = require('../dist/native');

const { ops } = fcnkit;
t.comment(`seed ${seed} (replay with FCNKIT_TEST_SEED=${seed})`);

const TOL = 1e-4;

async function ortResize(x, o, opset) {
  const attrs = [
    onnx.attr.string('mode', o.mode === 'bilinear' ? 'linear' : o.mode),
    onnx.attr.string('coordinate_transformation_mode', o.coordinate),
  ];
  if (o.mode === 'nearest') attrs.push(onnx.attr.string('nearest_mode', o.nearestMode));
  const [n, c] = x.shape;
  if (o.size) {
    return (await ortRunNode({
      opType: 'Resize', inputs: [['x', x], '', '', 'sizes'], attrs, opset,
      initializers: [onnx.tensorFromInt64('sizes', [4], [n, c, o.size[0], o.size[1]])],
    }))[0];
  }
  const [sh, sw] = typeof o.scale === 'number' ? [o.scale, o.scale] : o.scale;
  return (await ortRunNode({
    opType: 'Resize', inputs: [['x', x], '', 'scales'], attrs, opset,
    initializers: [onnx.tensorFromFloat32('scales', [4], Float32Array.of(1, 1, sh, sw))],
  }))[0];
}

const pick = (a) => a[Math.floor(rng() * a.length)];
const SCALES = [0.25, 0.5, 0.6, 0.75, 0.8, 1, 1.25, 1.5, 1.7, 2, 2.5, 3, 1 / 3];

const interpModes = [
  { mode: 'bilinear' },
  ...fcnkit.NEAREST_MODES.map((nearestMode) => ({ mode: 'nearest', nearestMode })),
];

// Fixed edge cases (input [h, w] -> options) and random ones per combination.
function cases() {
  const fixed = [
    [[1, 1], { size: [1, 1] }],
    [[1, 1], { size: [5, 3] }],
    [[7, 5], { size: [1, 1] }],
    [[6, 9], { size: [1, 4] }],
    [[5, 4], { size: [13, 1] }],
    [[4, 4], { size: [8, 8] }],
    [[9, 7], { size: [4, 3] }],
    [[12, 10], { size: [10, 5] }],
    [[3, 5], { scale: 2 }],
    [[7, 9], { scale: 0.5 }],
    [[10, 10], { scale: [0.7, 0.3] }],
    [[5, 6], { scale: [1.5, 2.5] }],
    [[6, 6], { scale: 1 }],
    [[2, 3], { scale: [0.5, 1 / 3] }],
    // Output size equal to the input size with a scale other than 1: ORT copies the input.
    [[3, 3], { scale: 1.25 }],
    [[5, 4], { scale: [1.1, 1.2] }],
    // One axis keeps its size under a scale other than 1: that axis is still transformed.
    [[3, 3], { scale: [2, 1.25] }],
    // Coordinates that land on (or within float32 rounding of) a half.
    [[7, 7], { size: [8, 2] }],
    [[13, 10], { size: [4, 12] }],
    [[1, 20], { size: [1, 6] }],
    [[7, 7], { scale: [8 / 7, 2 / 7] }],
  ];
  const random = [];
  for (let i = 0; i < 4; i++) {
    const hw = [randInt(1, 11), randInt(1, 11)];
    if (rng() < 0.5) random.push([hw, { size: [randInt(1, 15), randInt(1, 15)] }]);
    else {
      const s = [pick(SCALES), pick(SCALES)];
      if (Math.floor(s[0] * hw[0]) < 1 || Math.floor(s[1] * hw[1]) < 1) continue;
      random.push([hw, { scale: s }]);
    }
  }
  return [...fixed, ...random];
}

for (const coordinate of fcnkit.COORDINATE_MODES) {
  for (const im of interpModes) {
    const name = `${coordinate} ${im.mode}${im.nearestMode ? ` ${im.nearestMode}` : ''}`;
    t.test(name, async (t) => {
      let k = 0;
      for (const [[h, w], form] of cases()) {
        const opts = { ...form, ...im, coordinate };
        const n = randInt(1, 2);
        const c = randInt(1, 3);
        const x = randTensor([n, c, h, w]);
        const opset = k++ % 2 ? 18 : 13;
        const ref = await ortResize(x, opts, opset);
        const label = `[${x.shape}] ${JSON.stringify(form)} (opset ${opset})`;
        const y = k % 2 ? await ops.resize(x, opts) : ops.sync.resize(x, opts);
        t.same(y.shape, ref.dims, `${label}: shape`);
        const err = normError(y.data, ref.data);
        if (!(err <= TOL)) t.fail(`${label}: error ${err}`);
        else t.pass(`${label}: error ${err.toExponential(2)}`);
      }
    });
  }
}

t.test('nearest ties sweep', async (t) => {
  // 1 x W -> 1 x OW with values 0..W-1, so the output is the chosen index map.
  let bad = 0;
  let n = 0;
  for (const w of [7, 10, 13, 20]) {
    const x = new fcnkit.Tensor(Float32Array.from({ length: w }, (_, i) => i), [1, 1, 1, w]);
    for (const ow of [2, 4, 6, 8, 12, 16]) {
      for (const coordinate of fcnkit.COORDINATE_MODES) {
        for (const nearestMode of ['round_prefer_floor', 'round_prefer_ceil']) {
          const opts = { size: [1, ow], mode: 'nearest', coordinate, nearestMode };
          const ref = await ortResize(x, opts, 13);
          const y = ops.sync.resize(x, opts);
          n++;
          if (y.data.join() !== Array.from(ref.data).join()) {
            bad++;
            t.fail(`${w} -> ${ow} ${coordinate} ${nearestMode}: ${Array.from(ref.data)} vs ${Array.from(y.data)}`);
          }
        }
      }
    }
  }
  t.equal(bad, 0, `${n} index maps equal to ORT's`);
});

t.test('defaults: bilinear, half_pixel', async (t) => {
  const x = randTensor([1, 2, 5, 7]);
  const ref = await ortResize(x, { size: [9, 4], mode: 'bilinear', coordinate: 'half_pixel' }, 13);
  const y = await ops.resize(x, { size: [9, 4] });
  t.ok(normError(y.data, ref.data) <= TOL);
});

t.test('larger planes and threads option', async (t) => {
  const x = randTensor([2, 5, 33, 47]);
  for (const opts of [{ scale: 2 }, { size: [20, 21] }, { scale: 1.5, mode: 'nearest' }]) {
    const full = { mode: 'bilinear', coordinate: 'half_pixel', nearestMode: 'round_prefer_floor', ...opts };
    const ref = await ortResize(x, full, 13);
    t.ok(normError((await ops.resize(x, full)).data, ref.data) <= TOL, `${JSON.stringify(opts)} async`);
    t.ok(normError(ops.sync.resize(x, { ...full, threads: 1 }).data, ref.data) <= TOL, `${JSON.stringify(opts)} sync, 1 thread`);
  }
});

function expectCode(t, fn, code, label) {
  try {
    fn();
    t.fail(`${label}: no error`);
  } catch (e) {
    t.equal(e.code, code, `${label}: ${code} (${e.message})`);
  }
}

async function expectCodeAsync(t, p, code, label) {
  try {
    await p;
    t.fail(`${label}: no error`);
  } catch (e) {
    t.equal(e.code, code, `${label}: ${code} (${e.message})`);
  }
}

t.test('bad input', async (t) => {
  const x = randTensor([1, 2, 5, 5]);
  const r = ops.sync.resize;
  expectCode(t, () => r(x, {}), 'INVALID_ARGUMENT', 'neither size nor scale');
  expectCode(t, () => r(x), 'INVALID_ARGUMENT', 'no options');
  expectCode(t, () => r(x, { size: [2, 2], scale: 2 }), 'INVALID_ARGUMENT', 'both size and scale');
  expectCode(t, () => r(x, { size: [0, 2] }), 'INVALID_ARGUMENT', 'size 0');
  expectCode(t, () => r(x, { size: [2.5, 2] }), 'INVALID_ARGUMENT', 'fractional size');
  expectCode(t, () => r(x, { size: 4 }), 'INVALID_ARGUMENT', 'size not [h, w]');
  for (const s of [0, -1, NaN, Infinity, [1, 0], [2, -2], '2'])
    expectCode(t, () => r(x, { scale: s }), 'INVALID_ARGUMENT', `scale ${JSON.stringify(s)}`);
  expectCode(t, () => r(x, { scale: 2, mode: 'cubic' }), 'INVALID_ARGUMENT', 'mode');
  expectCode(t, () => r(x, { scale: 2, coordinate: 'tf_crop_and_resize' }), 'INVALID_ARGUMENT', 'coordinate');
  expectCode(t, () => r(x, { scale: 2, mode: 'nearest', nearestMode: 'round' }), 'INVALID_ARGUMENT', 'nearestMode');
  expectCode(t, () => r(x, { scale: 0.1 }), 'INVALID_ARGUMENT', 'scale that empties the output');
  expectCode(t, () => r(randTensor([2, 5, 5]), { scale: 2 }), 'SHAPE_MISMATCH', 'rank 3 input');
  expectCode(t, () => r(new fcnkit.Tensor(new Int32Array(4), [1, 1, 2, 2]), { scale: 2 }), 'INVALID_ARGUMENT', 'int32 input');
  expectCode(t, () => r(new fcnkit.Tensor(new Float32Array(0), [1, 1, 0, 3]), { scale: 2 }), 'INVALID_ARGUMENT', 'empty image');
  expectCode(t, () => r('x', { scale: 2 }), 'INVALID_ARGUMENT', 'not a tensor');

  // TOO_LARGE is decided from shapes alone, before anything is allocated.
  const big = new fcnkit.Tensor(new Float32Array(64 * 4 * 4), [1, 64, 4, 4]);
  const t0 = Date.now();
  expectCode(t, () => r(big, { size: [1e6, 1e6] }), 'TOO_LARGE', 'size [1e6, 1e6] on 64 channels');
  expectCode(t, () => r(big, { scale: 1e30 }), 'TOO_LARGE', 'scale 1e30');
  expectCode(t, () => r(big, { scale: 1e300 }), 'TOO_LARGE', 'scale beyond float32');
  await expectCodeAsync(t, ops.resize(big, { size: [1e6, 1e6] }), 'TOO_LARGE', 'async size [1e6, 1e6]');
  t.ok(Date.now() - t0 < 1000, 'failed fast');

  // The core's own checks, below the TS argument checks.
  const nat = native();
  const call = (attrs) => nat.runOpSync('resize', [x], attrs);
  expectCode(t, () => call({}), 'INVALID_ARGUMENT', 'native: neither');
  expectCode(t, () => call({ size: [3, 3], scale: [2, 2] }), 'INVALID_ARGUMENT', 'native: both');
  expectCode(t, () => call({ size: [3] }), 'INVALID_ARGUMENT', 'native: size of one value');
  expectCode(t, () => call({ size: [3, -1] }), 'INVALID_ARGUMENT', 'native: negative size');
  expectCode(t, () => call({ size: [3, 1.5] }), 'INVALID_ARGUMENT', 'native: fractional size');
  expectCode(t, () => call({ scale: [2, 0] }), 'INVALID_ARGUMENT', 'native: scale 0');
  expectCode(t, () => call({ scale: [1, 2, 3] }), 'INVALID_ARGUMENT', 'native: three scales');
  expectCode(t, () => call({ scale: [1e-60] }), 'INVALID_ARGUMENT', 'native: scale underflowing float32');
  expectCode(t, () => call({ size: [3, 3], mode: 'linear' }), 'INVALID_ARGUMENT', 'native: mode');
  expectCode(t, () => call({ size: [3, 3], mode: 2 }), 'INVALID_ARGUMENT', 'native: mode not a string');
  expectCode(t, () => call({ size: [9e15, 9e15] }), 'TOO_LARGE', 'native: huge size');

  // Still alive and correct afterwards.
  const ok = await ops.resize(x, { scale: 2 });
  t.same(ok.shape, [1, 2, 10, 10], 'process survives');
});
