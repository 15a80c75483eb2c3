'use strict';
// concat against onnxruntime-node's Concat, crop against its Slice (starts/ends/axes as int64
// initializers); every call made four ways: async / sync, default threads / threads 1.
const t = require('tap');
const { fcnkit, onnx, seed, randTensor, randInt, normError, ortRunNode } = require('./helpers');
const { native } = require('../dist/native');

const { ops, Tensor } = fcnkit;
const TOL = 1e-4;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

async function allModes(call) {
  const out = [];
  for (const sync of [false, true]) {
    for (const threads of [undefined, 1]) {
      const extra = threads === undefined ? {} : { threads };
      out.push({ mode: `${sync ? 'sync' : 'async'} threads=${threads ?? 'default'}`, y: await call(sync ? ops.sync : ops, extra) });
    }
  }
  return out;
}

function check(t, label, results, ref) {
  for (const { mode, y } of results) {
    t.same([...y.shape], ref.dims, `${label} ${mode}: shape`);
    const err = normError(y.data, ref.data);
    t.ok(err <= TOL, `${label} ${mode}: normError ${err}`);
  }
}

async function concatCase(t, shapes, axis) {
  const xs = shapes.map((s) => randTensor(s));
  const [ref] = await ortRunNode({ opType: 'Concat', inputs: xs.map((x, i) => [`x${i}`, x]), attrs: [onnx.attr.int('axis', axis)] });
  const label = `concat ${JSON.stringify(shapes)} axis ${axis}`;
  check(t, label, await allModes((X, extra) => X.concat(xs, axis, extra)), ref);
}

t.test('concat: fixed cases', async (t) => {
  await concatCase(t, [[1, 3, 4, 4], [1, 5, 4, 4]], 1);
  await concatCase(t, [[2, 3, 4, 4], [2, 1, 4, 4], [2, 7, 4, 4]], -3);
  await concatCase(t, [[2, 3, 5, 7], [2, 3, 5, 2]], -1);
  await concatCase(t, [[2, 3, 5, 7], [1, 3, 5, 7]], 0);
  await concatCase(t, [[1, 1, 1, 1]], 1);
  await concatCase(t, [[7], [13], [1]], 0);
  await concatCase(t, [[3, 1], [3, 2]], -1);
  await concatCase(t, [[2, 3, 1, 2, 3], [2, 3, 4, 2, 3]], 2);
  // Large enough for many chunks, pieces crossing chunk boundaries.
  await concatCase(t, [[1, 64, 67, 61], [1, 32, 67, 61]], 1);
  await concatCase(t, [[2, 16, 67, 61], [2, 16, 67, 3], [2, 16, 67, 1]], -1);
  await concatCase(t, [[3, 17, 64, 64], [5, 17, 64, 64]], 0);
});

t.test('concat: random shapes', async (t) => {
  for (let i = 0; i < 30; i++) {
    const rank = randInt(1, 5);
    const base = Array.from({ length: rank }, () => [1, 2, 3, 5, 7][randInt(0, 4)]);
    const axis = randInt(-rank, rank - 1);
    const k = randInt(1, 4);
    const shapes = Array.from({ length: k }, () => base.map((d, j) => (j === (axis + rank) % rank ? randInt(1, 6) : d)));
    await concatCase(t, shapes, axis);
  }
});

t.test('concat: NaN, Inf and zero-size inputs are copied as they are', async (t) => {
  const a = new Tensor(Float32Array.from([NaN, Infinity, -Infinity, -0]), [1, 1, 2, 2]);
  const b = new Tensor(new Float32Array(0), [1, 0, 2, 2]);
  const y = ops.sync.concat([a, b, a], 1);
  t.same([...y.shape], [1, 2, 2, 2]);
  t.same([...y.data].map(String), ['NaN', 'Infinity', '-Infinity', '0', 'NaN', 'Infinity', '-Infinity', '0']);
  t.ok(Object.is(y.data[7], -0), '-0 stays -0');
  t.same([...ops.sync.concat([b, b], 1).shape], [1, 0, 2, 2], 'all inputs empty');
});

async function cropCase(t, shape, offset, size) {
  const x = randTensor(shape);
  const [oy, ox] = Array.isArray(offset) ? offset : [offset ?? 0, offset ?? 0];
  const [h, w] = Array.isArray(size) ? size : [size, size];
  const [ref] = await ortRunNode({
    opType: 'Slice',
    inputs: [['x', x], 'starts', 'ends', 'axes'],
    initializers: [
      onnx.tensorFromInt64('starts', [2], [oy, ox]),
      onnx.tensorFromInt64('ends', [2], [oy + h, ox + w]),
      onnx.tensorFromInt64('axes', [2], [2, 3]),
    ],
  });
  const o = offset === undefined ? { size } : { offset, size };
  check(t, `crop ${JSON.stringify(shape)} ${JSON.stringify(o)}`, await allModes((X, extra) => X.crop(x, { ...o, ...extra })), ref);
}

t.test('crop against Slice', async (t) => {
  await cropCase(t, [1, 1, 1, 1], [0, 0], [1, 1]);
  await cropCase(t, [2, 3, 7, 5], undefined, [7, 5]);
  await cropCase(t, [2, 3, 7, 5], [6, 4], [1, 1]);
  await cropCase(t, [2, 3, 7, 5], 1, 3);
  await cropCase(t, [1, 21, 34, 34], [5, 5], [24, 24]); // FCN-32s score crop, smaller
  await cropCase(t, [2, 64, 67, 61], [19, 13], [45, 47]);
  for (let i = 0; i < 20; i++) {
    const shape = [randInt(1, 2), randInt(1, 5), randInt(1, 13), randInt(1, 13)];
    const size = [randInt(1, shape[2]), randInt(1, shape[3])];
    await cropCase(t, shape, [randInt(0, shape[2] - size[0]), randInt(0, shape[3] - size[1])], size);
  }
});

t.test('crop: hand-computed indices', async (t) => {
  const x = new Tensor(new Float32Array(2 * 4 * 5).map((_, i) => i), [1, 2, 4, 5]);
  x.data[7] = NaN;
  const y = ops.sync.crop(x, { offset: [1, 2], size: [2, 3] });
  t.same([...y.shape], [1, 2, 2, 3]);
  t.same([...y.data].map(String), ['NaN', '8', '9', '12', '13', '14', '27', '28', '29', '32', '33', '34']);
});

function expectCode(t, fn, code, re, label) {
  try {
    fn();
    t.fail(`${label}: no error`);
  } catch (e) {
    t.equal(e.code, code, `${label}: ${code} (${e.message})`);
    if (re) t.match(e.message, re, `${label}: message`);
  }
}

t.test('bad input', async (t) => {
  const a = randTensor([1, 3, 4, 4]);
  const concatBad = [
    [[a, randTensor([1, 3, 5, 4])], 1, 'SHAPE_MISMATCH', 'concat: input 1 has shape [1, 3, 5, 4] but input 0 has shape [1, 3, 4, 4]; all dims but axis 1 must match'],
    [[a, a, randTensor([1, 3, 4])], 1, 'SHAPE_MISMATCH', /input 2 has shape \[1, 3, 4\]/],
    [[a, randTensor([2, 3, 4, 4])], -1, 'SHAPE_MISMATCH', /input 1 .* axis 3/],
    [[a], 4, 'INVALID_ARGUMENT', 'concat: axis 4 is out of range for inputs of rank 4 (expected -4 to 3)'],
    [[a], -5, 'INVALID_ARGUMENT', /axis -5/],
    [[a], 1.5, 'INVALID_ARGUMENT', /axis/],
    [[a], '1', 'INVALID_ARGUMENT', /axis/],
    [[], 1, 'INVALID_ARGUMENT', /non-empty array/],
    [a, 1, 'INVALID_ARGUMENT', /array/],
    [[a, null], 1, 'INVALID_ARGUMENT', /concat input 1/],
    [[a, new Tensor(new Int32Array(48), [1, 3, 4, 4])], 1, 'INVALID_ARGUMENT', /float32/],
  ];
  for (const [xs, axis, code, re] of concatBad) {
    expectCode(t, () => ops.sync.concat(xs, axis), code, re, `concat axis ${axis}`);
    await t.rejects(ops.concat(xs, axis), { code }, `concat async axis ${axis}`);
  }
  const cropBad = [
    [{ offset: [1, 1], size: [4, 2] }, 'SHAPE_MISMATCH',
      'crop: offset [1, 1] + size [4, 2] reaches [5, 3], beyond the input\'s spatial size [4, 4] (input [1, 3, 4, 4])'],
    [{ offset: [0, 3], size: 2 }, 'SHAPE_MISMATCH', /reaches \[2, 5\]/],
    [{ offset: [0, 0] }, 'INVALID_ARGUMENT', /crop size/],
    [{ offset: [-1, 0], size: 2 }, 'INVALID_ARGUMENT', /offset/],
    [{ size: [0, 2] }, 'INVALID_ARGUMENT', /size/],
    [{ size: [1, 2, 3] }, 'INVALID_ARGUMENT', /size/],
    [undefined, 'INVALID_ARGUMENT', /size/],
  ];
  for (const [o, code, re] of cropBad) {
    expectCode(t, () => ops.sync.crop(a, o), code, re, `crop ${JSON.stringify(o)}`);
    await t.rejects(ops.crop(a, o), { code }, `crop async ${JSON.stringify(o)}`);
  }
  expectCode(t, () => ops.sync.crop(randTensor([3, 4, 4]), { size: 1 }), 'SHAPE_MISMATCH', /crop: expected input \[N, C, H, W\] of rank 4/, 'crop rank 3');

  // Graph plans skip the TS checks: the core validates the same things itself.
  const nativeBad = [
    ['concat', [a], { axis: 9 }, 'INVALID_ARGUMENT', /^concat: axis 9 is out of range/],
    ['concat', [a], { axis: 0.5 }, 'INVALID_ARGUMENT', /^concat: attribute 'axis' must be an integer/],
    ['concat', [], {}, 'INVALID_ARGUMENT', /^concat: expected at least 1 input/],
    ['concat', [a, randTensor([1, 2, 4, 5])], {}, 'SHAPE_MISMATCH', /^concat: input 1 has shape \[1, 2, 4, 5\]/],
    ['crop', [a], { offset: [0, 0] }, 'INVALID_ARGUMENT', /^crop: attribute 'size' \[h, w\] is required/],
    ['crop', [a], { offset: [-1, 0], size: [1, 1] }, 'INVALID_ARGUMENT', /^crop: offset must be >= 0/],
    ['crop', [a], { size: [1, 0] }, 'INVALID_ARGUMENT', /^crop: offset must be >= 0 and size >= 1/],
    ['crop', [a], { offset: [1e15, 0], size: [1e15, 1] }, 'INVALID_ARGUMENT', /^crop: offset/],
    ['crop', [a], { offset: [2, 2], size: [3, 3] }, 'SHAPE_MISMATCH', /^crop: offset \[2, 2\] \+ size \[3, 3\]/],
    ['crop', [a, a], { size: [1, 1] }, 'INVALID_ARGUMENT', /^crop: expected 1 inputs but received 2/],
  ];
  for (const [type, inputs, attrs, code, re] of nativeBad) {
    expectCode(t, () => native().runOpSync(type, inputs, attrs), code, re, `native ${type} ${JSON.stringify(attrs)}`);
  }
  t.same([...ops.sync.concat([a, a]).shape], [1, 6, 4, 4], 'process survives (default axis 1)');
});
