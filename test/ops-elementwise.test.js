'use strict';
// relu, leakyRelu, sigmoid, hardSigmoid, hardSwish, add, mul against onnxruntime-node, every
// call made four ways: async / sync, default threads / threads 1.
const t = require('tap');
const { fcnkit, onnx, seed, rng, randTensor, randInt, normError, ortRunNode } = require('./helpers');
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

// [fcnkit name, ONNX op, fcnkit options, ONNX attributes]
const unaries = [
  ['relu', 'Relu', {}, []],
  ['leakyRelu', 'LeakyRelu', {}, [onnx.attr.float('alpha', 0.01)]],
  ['leakyRelu', 'LeakyRelu', { alpha: 0.3 }, [onnx.attr.float('alpha', 0.3)]],
  ['leakyRelu', 'LeakyRelu', { alpha: -1.5 }, [onnx.attr.float('alpha', -1.5)]],
  ['sigmoid', 'Sigmoid', {}, []],
  ['hardSigmoid', 'HardSigmoid', {}, []],
  ['hardSigmoid', 'HardSigmoid', { alpha: 1 / 6, beta: 0.5 }, [onnx.attr.float('alpha', 1 / 6), onnx.attr.float('beta', 0.5)]],
  ['hardSigmoid', 'HardSigmoid', { alpha: -0.7, beta: 0.1 }, [onnx.attr.float('alpha', -0.7), onnx.attr.float('beta', 0.1)]],
  ['hardSwish', 'HardSwish', {}, []],
];

async function unaryCase(t, x, [name, onnxOp, o, attrs]) {
  const [ref] = await ortRunNode({ opType: onnxOp, inputs: [['x', x]], attrs });
  const label = `${name} ${JSON.stringify(x.shape)} ${JSON.stringify(o)}`;
  const results = await allModes((X, extra) => X[name](x, { ...o, ...extra }));
  if (name !== 'sigmoid') {
    check(t, label, results, ref);
    return;
  }
  // onnxruntime's Sigmoid is an approximation good to about 1e-7 absolute (2e-4 relative near
  // x = -8), so a tensor of small outputs only would fail on the oracle's error: compare with
  // exact (float64) values by normalised error, and with onnxruntime by absolute error.
  const exact = { data: Float64Array.from(x.data, (v) => 1 / (1 + Math.exp(-v))), dims: ref.dims };
  check(t, `${label} (exact)`, results, exact);
  for (const { mode, y } of results) {
    let worst = 0;
    for (let i = 0; i < y.data.length; i++) {
      if (Number.isNaN(y.data[i]) !== Number.isNaN(ref.data[i])) worst = Infinity;
      else if (!Number.isNaN(y.data[i])) worst = Math.max(worst, Math.abs(y.data[i] - ref.data[i]));
    }
    t.ok(worst <= 1e-6, `${label} ${mode}: max |fcnkit - onnxruntime| ${worst}`);
  }
}

t.test('activations, any rank', async (t) => {
  const shapes = [[], [1], [7], [3, 5], [2, 3, 5, 7], [1, 1, 1, 1, 13], [2, 3, 1, 2, 3, 2]];
  for (const u of unaries) {
    for (const shape of shapes) await unaryCase(t, randTensor(shape, -8, 8), u);
  }
  // Several parallel chunks, with a tail.
  const big = randTensor([2, 8, 101, 103], -8, 8);
  for (const u of unaries) await unaryCase(t, big, u);
});

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 3, -3, 2.5, -2.5, 1e30, -1e30, 88.8, -88.8, 1e-40];

t.test('activations: NaN and Inf follow IEEE (as onnxruntime)', async (t) => {
  const x = new Tensor(Float32Array.from(SPECIAL), [2, SPECIAL.length / 2]);
  for (const u of unaries) await unaryCase(t, x, u);
  t.ok(Number.isNaN(ops.sync.relu(x).data[0]), 'relu(NaN) = NaN');
  t.ok(Number.isNaN(ops.sync.hardSwish(x).data[2]), 'hardSwish(-inf) = NaN (-inf * 0)');
  t.equal(ops.sync.sigmoid(x).data[2], 0, 'sigmoid(-inf) = 0');
});

// Shapes for binary ops: [a, b].
const broadcastCases = [
  [[2, 3, 5, 7], [2, 3, 5, 7]], // equal
  [[2, 3, 5, 7], [1, 3, 1, 1]], // per-channel
  [[2, 3, 5, 7], [3, 1, 1]],
  [[1, 3, 1, 1], [2, 3, 5, 7]], // per-channel on the left
  [[3, 1, 1], [1, 3, 4, 4]],
  [[5, 7], [7]], // rank differences
  [[7], [2, 3, 5, 7]],
  [[], [2, 3]], // a scalar
  [[2, 3], []],
  [[1], [4, 1, 3]],
  [[4, 1, 3], [1, 5, 1]], // size 1 on both sides
  [[2, 1, 7, 1], [1, 3, 1, 5]],
  [[5, 1], [1, 5]],
  [[1, 1, 1], [1, 1]],
  [[13, 11], [13, 1, 11]],
  [[2, 1, 2, 1, 3, 1, 2, 1], [1, 2, 1, 2, 1, 3, 1, 2]], // eight dims
  [[3, 2, 1, 1, 1, 1, 1, 5], [2, 7, 1, 1, 3, 5]],
  [[2, 32, 67, 61], [1, 32, 1, 1]], // several chunks per path
  [[2, 32, 67, 61], [2, 32, 67, 61]],
  [[4, 1, 67, 128], [1, 16, 1, 128]],
  [[1, 16, 131, 1], [1, 1, 1, 127]],
];

function randomBroadcastPair() {
  const rank = randInt(1, 6);
  const out = Array.from({ length: rank }, () => [1, 2, 3, 5, 7][randInt(0, 4)]);
  const operand = () => {
    const drop = randInt(0, rank);
    return out.slice(drop).map((d) => (rng() < 0.35 ? 1 : d));
  };
  return [operand(), operand()];
}

async function binaryCase(t, name, sa, sb) {
  const a = randTensor(sa, -4, 4);
  const b = randTensor(sb, -4, 4);
  const [ref] = await ortRunNode({ opType: name === 'add' ? 'Add' : 'Mul', inputs: [['a', a], ['b', b]] });
  check(t, `${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, await allModes((X, extra) => X[name](a, b, extra)), ref);
}

t.test('add and mul: broadcasting of every kind', async (t) => {
  for (const name of ['add', 'mul']) {
    for (const [sa, sb] of broadcastCases) await binaryCase(t, name, sa, sb);
    for (let i = 0; i < 20; i++) await binaryCase(t, name, ...randomBroadcastPair());
  }
  // Zero-size dims broadcast like numpy (0 against 1).
  const y = ops.sync.add(new Tensor(new Float32Array(0), [0, 3]), randTensor([1, 3]));
  t.same([...y.shape], [0, 3], 'a zero-size dim against 1');
});

t.test('add and mul: NaN and Inf', async (t) => {
  const a = new Tensor(Float32Array.from(SPECIAL), [1, SPECIAL.length, 1, 1]);
  const b = new Tensor(Float32Array.from([...SPECIAL].reverse()), [SPECIAL.length, 1, 1]);
  for (const name of ['add', 'mul']) {
    for (const [x, y] of [[a, b], [a, a], [a.reshape([SPECIAL.length, 1]), b.reshape([1, SPECIAL.length])]]) {
      const [ref] = await ortRunNode({ opType: name === 'add' ? 'Add' : 'Mul', inputs: [['a', x], ['b', y]] });
      check(t, `${name} special ${JSON.stringify(x.shape)} ${JSON.stringify(y.shape)}`, await allModes((X, extra) => X[name](x, y, extra)), ref);
    }
  }
  const inf = new Tensor(Float32Array.from([Infinity]), [1]);
  t.ok(Number.isNaN(ops.sync.add(inf, new Tensor(Float32Array.from([-Infinity]), [1])).data[0]), 'inf + -inf = NaN');
  t.ok(Number.isNaN(ops.sync.mul(inf, new Tensor(Float32Array.from([0]), [1])).data[0]), 'inf * 0 = NaN');
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
  const x = randTensor([1, 3, 4, 4]);
  for (const name of ['add', 'mul']) {
    expectCode(t, () => ops.sync[name](x, randTensor([1, 2, 4, 4])), 'SHAPE_MISMATCH',
      `${name}: shapes [1, 3, 4, 4] and [1, 2, 4, 4] cannot be broadcast`, `${name} mismatch`);
    await t.rejects(ops[name](x, randTensor([4, 3])), { code: 'SHAPE_MISMATCH', message: /\[1, 3, 4, 4\] and \[4, 3\]/ }, `${name} async mismatch`);
    expectCode(t, () => ops.sync[name](randTensor([1, 1, 1, 1, 1, 1, 1, 1, 2]), randTensor([2])), 'INVALID_ARGUMENT', /at most 8 dimensions|maximum rank of 8/,
      `${name} rank 9`);
    expectCode(t, () => ops.sync[name](x, new Tensor(new Int32Array(1), [1])), 'INVALID_ARGUMENT', /float32/, `${name} int32`);
    expectCode(t, () => ops.sync[name](x), 'INVALID_ARGUMENT', /Tensor/, `${name} missing b`);
    expectCode(t, () => ops.sync[name](x, x, 3), 'INVALID_ARGUMENT', /options/, `${name} bad options`);
  }
  const badOptions = [
    ['leakyRelu', { alpha: 'big' }, /alpha/],
    ['leakyRelu', { alpha: NaN }, /alpha/],
    ['leakyRelu', { alpha: Infinity }, /finite/],
    ['hardSigmoid', { beta: -Infinity }, /beta/],
    ['hardSigmoid', { alpha: [1] }, /alpha/],
    ['relu', { threads: -1 }, /threads/],
  ];
  for (const [name, o, re] of badOptions) {
    expectCode(t, () => ops.sync[name](x, o), 'INVALID_ARGUMENT', re, `${name} ${JSON.stringify(o)}`);
    await t.rejects(ops[name](x, o), { code: 'INVALID_ARGUMENT' }, `${name} async ${JSON.stringify(o)}`);
  }
  for (const [name] of unaries) {
    expectCode(t, () => ops.sync[name](new Tensor(new Int32Array(4), [4])), 'INVALID_ARGUMENT', /float32/, `${name} int32`);
    expectCode(t, () => ops.sync[name](null), 'INVALID_ARGUMENT', /Tensor/, `${name} null`);
  }
  // Graph plans skip the TS checks: the core validates the same things itself.
  const nativeBad = [
    ['leakyRelu', [x], { alpha: NaN }, 'INVALID_ARGUMENT', /^leakyRelu: attribute 'alpha' must be a finite/],
    ['hardSigmoid', [x], { beta: 1e39 }, 'INVALID_ARGUMENT', /^hardSigmoid: attribute 'beta' must be a finite/],
    ['hardSigmoid', [x], { alpha: 'x' }, 'INVALID_ARGUMENT', /^hardSigmoid: attribute 'alpha' must be numeric/],
    ['relu', [x, x], {}, 'INVALID_ARGUMENT', /^relu: expected 1 inputs but received 2/],
    ['add', [x], {}, 'INVALID_ARGUMENT', /^add: expected 2 inputs but received 1/],
    ['mul', [x, randTensor([2, 4])], {}, 'SHAPE_MISMATCH', /^mul: shapes \[1, 3, 4, 4\] and \[2, 4\] cannot be broadcast/],
  ];
  for (const [type, inputs, attrs, code, re] of nativeBad) {
    expectCode(t, () => native().runOpSync(type, inputs, attrs), code, re, `native ${type} ${JSON.stringify(attrs)}`);
  }
  t.same([...ops.sync.add(x, x).shape], [1, 3, 4, 4], 'process survives');
});
