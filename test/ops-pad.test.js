'use strict';
// pad against onnxruntime's Pad (opset 13 and 18, pads as an int64 initializer): constant,
// reflect and edge on the spatial axes, the three pads forms, negative pads (cropping).
const t = require('tap');
const { fcnkit, onnx, seed, randTensor, randInt, rng, normError, ortRunNode } = require('./helpers');
const { native } = require('../dist/native');

const { ops } = fcnkit;
t.comment(`seed ${seed} (replay with FCNKIT_TEST_SEED=${seed})`);

const TOL = 1e-4;

function fullPads(p) {
  if (typeof p === 'number') return [p, p, p, p];
  return p.length === 2 ? [p[0], p[1], p[0], p[1]] : p;
}

async function ortPad(x, pads, mode, value, opset) {
  const [t0, l, b, r] = fullPads(pads);
  const initializers = [onnx.tensorFromInt64('pads', [8], [0, 0, t0, l, 0, 0, b, r])];
  const inputs = [['x', x], 'pads'];
  if (mode === 'constant') {
    initializers.push(onnx.tensorFromFloat32('value', [], Float32Array.of(value)));
    inputs.push('value');
  }
  return (await ortRunNode({ opType: 'Pad', inputs, attrs: [onnx.attr.string('mode', mode)], initializers, opset }))[0];
}

for (const mode of fcnkit.PAD_MODES) {
  t.test(`${mode}`, async (t) => {
    const cases = [
      [[1, 1, 1, 1], 0],
      [[1, 1, 1, 1], [0, 0, 0, 0]],
      [[1, 2, 5, 6], [1, 2, 3, 4]],
      [[2, 3, 4, 4], 2],
      [[1, 2, 5, 7], [3, 1]],
      [[1, 1, 5, 6], [4, 5, 4, 5]], // reflect's largest pads: size - 1
      [[1, 2, 1, 6], [0, 1, 0, 1]],
      [[1, 2, 7, 3], [0, 2, 0, 0]],
      // Negative pads crop first; the other side then pads from the cropped region.
      [[1, 2, 5, 6], [-1, 2, 3, -2]],
      [[1, 2, 5, 6], [-2, -1, 2, 3]],
      [[1, 2, 6, 8], [-1, -2, -1, -2]],
      [[2, 1, 9, 5], [2, -1, -3, 1]],
    ];
    // Random cases, redrawn until valid for the mode: after cropping, reflect needs each pad
    // below the kept size and edge needs something kept.
    const valid = (size, b, e) => {
      const keep = size - Math.max(0, -b) - Math.max(0, -e);
      if (mode === 'constant') return keep >= 0;
      return keep >= 1 && (mode === 'edge' || (b < keep && e < keep));
    };
    while (cases.length < 18) {
      const h = randInt(2, 12);
      const w = randInt(2, 12);
      const p = [randInt(-2, 6), randInt(-2, 6), randInt(-2, 6), randInt(-2, 6)];
      if (valid(h, p[0], p[2]) && valid(w, p[1], p[3])) cases.push([[randInt(1, 2), randInt(1, 4), h, w], p]);
    }
    let k = 0;
    for (const [shape, pads] of cases) {
      const x = randTensor(shape);
      const value = mode === 'constant' ? Math.fround(rng() * 4 - 2) : 0;
      const opset = k++ % 2 ? 18 : 13;
      const ref = await ortPad(x, pads, mode, value, opset);
      const opts = { pads, mode, value };
      const y = k % 2 ? await ops.pad(x, opts) : ops.sync.pad(x, opts);
      const label = `[${shape}] pads ${JSON.stringify(pads)} (opset ${opset}, ${k % 2 ? 'async' : 'sync'})`;
      t.same(y.shape, ref.dims, `${label}: shape`);
      const err = normError(y.data, ref.data);
      t.ok(err <= TOL, `${label}: error ${err}`);
    }
  });
}

t.test('defaults and larger planes', async (t) => {
  const x = randTensor([2, 6, 37, 41]);
  const ref = await ortPad(x, [3, 4, 5, 6], 'constant', 0, 18);
  t.ok(normError((await ops.pad(x, { pads: [3, 4, 5, 6] })).data, ref.data) <= TOL, 'mode constant, value 0 by default');
  const refR = await ortPad(x, [7, 1, 2, 9], 'reflect', 0, 18);
  t.ok(normError(ops.sync.pad(x, { pads: [7, 1, 2, 9], mode: 'reflect', threads: 1 }).data, refR.data) <= TOL, 'reflect, 1 thread');
  const refE = await ortPad(x, [-3, 8, 10, -4], 'edge', 0, 18);
  t.ok(normError((await ops.pad(x, { pads: [-3, 8, 10, -4], mode: 'edge', threads: 2 })).data, refE.data) <= TOL, 'edge with cropping');
});

t.test('NaN fill value and NaN data are kept', async (t) => {
  const x = randTensor([1, 1, 3, 3]);
  x.data[4] = NaN;
  const y = ops.sync.pad(x, { pads: 1, value: NaN });
  t.ok(Number.isNaN(y.data[0]) && Number.isNaN(y.data[12]) && y.data[6] === x.data[0]);
});

function expectCode(t, fn, code, label) {
  try {
    fn();
    t.fail(`${label}: no error`);
  } catch (e) {
    t.equal(e.code, code, `${label}: ${code} (${e.message})`);
  }
}

t.test('bad input', async (t) => {
  const x = randTensor([1, 2, 5, 6]);
  const p = ops.sync.pad;
  expectCode(t, () => p(x), 'INVALID_ARGUMENT', 'no options');
  expectCode(t, () => p(x, {}), 'INVALID_ARGUMENT', 'no pads');
  expectCode(t, () => p(x, { pads: [1, 2, 3] }), 'INVALID_ARGUMENT', 'three pads');
  expectCode(t, () => p(x, { pads: 1.5 }), 'INVALID_ARGUMENT', 'fractional pad');
  expectCode(t, () => p(x, { pads: 1, mode: 'wrap' }), 'INVALID_ARGUMENT', 'mode');
  expectCode(t, () => p(x, { pads: 1, value: '0' }), 'INVALID_ARGUMENT', 'value not a number');
  expectCode(t, () => p(x, { pads: [5, 0, 0, 0], mode: 'reflect' }), 'INVALID_ARGUMENT', 'reflect pad == height');
  expectCode(t, () => p(x, { pads: [0, 0, 0, 9], mode: 'reflect' }), 'INVALID_ARGUMENT', 'reflect pad > width');
  expectCode(t, () => p(x, { pads: [-4, 0, 3, 0], mode: 'reflect' }), 'INVALID_ARGUMENT', 'reflect pad >= cropped height');
  expectCode(t, () => p(x, { pads: [-5, 1, 0, 1], mode: 'edge' }), 'INVALID_ARGUMENT', 'edge with nothing left to copy');
  expectCode(t, () => p(x, { pads: [0, -5, 0, -2] }), 'INVALID_ARGUMENT', 'cropping more than the width');
  expectCode(t, () => p(x, { pads: [-6, 0, 1, 0] }), 'INVALID_ARGUMENT', 'cropping more than the height on one side');
  expectCode(t, () => p(randTensor([2, 5, 6]), { pads: 1 }), 'SHAPE_MISMATCH', 'rank 3 input');
  expectCode(t, () => p(new fcnkit.Tensor(new Int32Array(4), [1, 1, 2, 2]), { pads: 1 }), 'INVALID_ARGUMENT', 'int32 input');
  expectCode(t, () => p(x, { pads: [0, 0, 1e6, 1e6] }), 'TOO_LARGE', 'output beyond 2^32 elements');
  expectCode(t, () => p(x, { pads: [0, 0, 0, 9e15] }), 'TOO_LARGE', 'pad near 2^53');

  const nat = native();
  const call = (attrs) => nat.runOpSync('pad', [x], attrs);
  expectCode(t, () => call({ pads: [1, 2, 3] }), 'INVALID_ARGUMENT', 'native: three pads');
  expectCode(t, () => call({ pads: [1.5] }), 'INVALID_ARGUMENT', 'native: fractional pad');
  expectCode(t, () => call({ pads: [1], mode: 'symmetric' }), 'INVALID_ARGUMENT', 'native: mode');
  expectCode(t, () => call({ pads: [1], value: 'x' }), 'INVALID_ARGUMENT', 'native: value not a number');
  expectCode(t, () => call({ pads: [6, 0], mode: 'reflect' }), 'INVALID_ARGUMENT', 'native: reflect too wide');
  expectCode(t, () => call({ pads: [9e15, 9e15] }), 'TOO_LARGE', 'native: huge pads');

  const ok = await ops.pad(x, { pads: 1, mode: 'edge' });
  t.same(ok.shape, [1, 2, 7, 8], 'process survives');
});
