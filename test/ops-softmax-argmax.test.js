'use strict';
// softmax against onnxruntime's Softmax (opset 13) and argmax against ArgMax (opset 13,
// keepdims both ways; ORT returns int64, compared as numbers), any rank and axis.
const t = require('tap');
const { fcnkit, onnx, seed, randTensor, randInt, rng, normError, ortRunNode } = require('./helpers');
const { native } = require('../dist/native');

const { ops } = fcnkit;
t.comment(`seed ${seed} (replay with FCNKIT_TEST_SEED=${seed})`);

const TOL = 1e-4;

async function ortSoftmax(x, axis) {
  return (await ortRunNode({ opType: 'Softmax', inputs: [['x', x]], attrs: [onnx.attr.int('axis', axis)], opset: 13 }))[0];
}

async function ortArgmax(x, axis, keepDims) {
  const r = (await ortRunNode({
    opType: 'ArgMax', inputs: [['x', x]], opset: 13, outputTypes: [onnx.DataType.INT64],
    attrs: [onnx.attr.int('axis', axis), onnx.attr.int('keepdims', keepDims ? 1 : 0)],
  }))[0];
  return { dims: r.dims, data: Array.from(r.data, Number) };
}

function randShape() {
  const rank = randInt(1, 5);
  return Array.from({ length: rank }, () => randInt(1, rank >= 4 ? 6 : 11));
}

// Fixed shapes (FCN score maps, long and short axes, size 1) plus random ones.
function shapes() {
  const fixed = [[1, 21, 8, 8], [2, 5, 3, 7], [3, 1], [1, 300], [300, 2], [1, 3, 1, 1], [7], [2, 1, 4], [1, 2, 17, 19]];
  for (let i = 0; i < 10; i++) fixed.push(randShape());
  return fixed;
}

t.test('softmax', async (t) => {
  let k = 0;
  for (const shape of shapes()) {
    const rank = shape.length;
    for (const axis of new Set([Math.min(1, rank - 1), randInt(-rank, rank - 1), rank - 1])) {
      const x = randTensor(shape, -8, 8);
      const ref = await ortSoftmax(x, axis);
      const async = k++ % 2 === 0;
      const y = async ? await ops.softmax(x, axis) : ops.sync.softmax(x, axis);
      const label = `[${shape}] axis ${axis} (${async ? 'async' : 'sync'})`;
      t.same(y.shape, ref.dims, `${label}: shape`);
      const err = normError(y.data, ref.data);
      t.ok(err <= TOL, `${label}: error ${err}`);
    }
  }
});

t.test('softmax: default axis 1, large logits, threads', async (t) => {
  const x = randTensor([2, 21, 30, 31], -60, 60);
  const ref = await ortSoftmax(x, 1);
  t.ok(normError((await ops.softmax(x)).data, ref.data) <= TOL, 'default axis is 1');
  t.ok(normError(ops.sync.softmax(x, 1, { threads: 1 }).data, ref.data) <= TOL, 'one thread');
  const big = randTensor([4, 1000], 80, 100); // exp overflows without the max subtraction
  const y = ops.sync.softmax(big, -1);
  t.ok(y.data.every(Number.isFinite), 'finite for logits near 100');
  t.ok(normError(y.data, (await ortSoftmax(big, -1)).data) <= TOL, 'matches ORT for logits near 100');
});

t.test('softmax: NaN propagates through its slice', async (t) => {
  const x = randTensor([2, 4, 3]);
  x.data[5] = NaN; // [0, 1, 2]
  for (const axis of [1, 2, 0]) {
    const ref = await ortSoftmax(x, axis);
    const y = ops.sync.softmax(x, axis);
    t.ok(normError(y.data, ref.data) <= TOL, `axis ${axis}: NaN positions and values match ORT`);
    t.ok(Array.from(y.data).some(Number.isNaN), `axis ${axis}: NaN present`);
  }
  const y = ops.sync.softmax(x, 1);
  for (let c = 0; c < 4; c++) t.ok(Number.isNaN(y.data[c * 3 + 2]), `axis 1: slice [0, :, 2] is NaN at ${c}`);
  t.ok(!Number.isNaN(y.data[0]) && !Number.isNaN(y.data[12 + 2]), 'other slices untouched');
});

t.test('argmax', async (t) => {
  let k = 0;
  for (const shape of shapes()) {
    const rank = shape.length;
    for (const axis of new Set([Math.min(1, rank - 1), randInt(-rank, rank - 1), rank - 1])) {
      // Small integers make ties common: the first index must win.
      const ties = rng() < 0.5;
      const x = ties ? randTensor(shape, 0, 4) : randTensor(shape);
      if (ties) x.data.forEach((v, i) => { x.data[i] = Math.floor(v); });
      for (const keepDims of [false, true]) {
        const ref = await ortArgmax(x, axis, keepDims);
        const async = k++ % 2 === 0;
        const y = async ? await ops.argmax(x, axis, { keepDims }) : ops.sync.argmax(x, axis, { keepDims });
        const label = `[${shape}] axis ${axis} keepDims ${keepDims} (${async ? 'async' : 'sync'})`;
        t.equal(y.dtype, 'int32', `${label}: int32`);
        t.same(y.shape, ref.dims, `${label}: shape`);
        t.same(Array.from(y.data), ref.data, `${label}: indices`);
      }
    }
  }
});

t.test('argmax: defaults, large planes, NaN like ORT', async (t) => {
  const x = randTensor([2, 21, 40, 33]);
  const ref = await ortArgmax(x, 1, false);
  const y = await ops.argmax(x);
  t.same(y.shape, [2, 40, 33], 'axis 1, keepDims false by default');
  t.same(Array.from(y.data), ref.data, 'indices');
  t.same(Array.from(ops.sync.argmax(x, 1, { threads: 1 }).data), ref.data, 'one thread');

  // ORT keeps the running maximum with `>`, so a NaN is skipped unless it is at index 0.
  const rows = [[NaN, 1, 2], [1, NaN, 0], [0, 3, NaN], [NaN, NaN, 5], [2, 5, 5], [-Infinity, NaN, -Infinity]];
  const nanX = new fcnkit.Tensor(Float32Array.from(rows.flat()), [rows.length, 3]);
  for (const [axis, tx] of [[1, nanX], [0, new fcnkit.Tensor(Float32Array.from(rows.flat()), [3, rows.length])]]) {
    const r = await ortArgmax(tx, axis, false);
    t.same(Array.from(ops.sync.argmax(tx, axis).data), r.data, `NaN rows, axis ${axis}`);
  }
  t.same(Array.from(ops.sync.argmax(nanX, 1).data), [0, 0, 1, 0, 1, 0], 'documented NaN results');
  const many = randTensor([3, 50, 7]);
  for (let i = 0; i < many.size; i += 3) many.data[i] = NaN;
  for (const axis of [0, 1, 2]) {
    const r = await ortArgmax(many, axis, true);
    t.same(Array.from(ops.sync.argmax(many, axis, { keepDims: true }).data), r.data, `scattered NaN, axis ${axis}`);
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

t.test('bad input', async (t) => {
  const x = randTensor([2, 3, 4]);
  for (const [name, fn] of [['softmax', ops.sync.softmax], ['argmax', ops.sync.argmax]]) {
    expectCode(t, () => fn(x, 3), 'INVALID_ARGUMENT', `${name}: axis 3 of rank 3`);
    expectCode(t, () => fn(x, -4), 'INVALID_ARGUMENT', `${name}: axis -4 of rank 3`);
    expectCode(t, () => fn(x, 1.5), 'INVALID_ARGUMENT', `${name}: fractional axis`);
    expectCode(t, () => fn(x, '1'), 'INVALID_ARGUMENT', `${name}: axis not a number`);
    expectCode(t, () => fn(new fcnkit.Tensor(new Float32Array(1), []), 0), 'INVALID_ARGUMENT', `${name}: scalar`);
    expectCode(t, () => fn(new fcnkit.Tensor(new Int32Array(6), [2, 3]), 1), 'INVALID_ARGUMENT', `${name}: int32 input`);
    expectCode(t, () => fn(x, 1, 'fast'), 'INVALID_ARGUMENT', `${name}: options not an object`);
    expectCode(t, () => fn(x, 1, { threads: 0 }), 'INVALID_ARGUMENT', `${name}: threads 0`);
    expectCode(t, () => native().runOpSync(name, [x], { axis: 7 }), 'INVALID_ARGUMENT', `${name} native: axis 7`);
    expectCode(t, () => native().runOpSync(name, [x], { axis: 'x' }), 'INVALID_ARGUMENT', `${name} native: axis string`);
    expectCode(t, () => native().runOpSync(name, [x, x], {}), 'INVALID_ARGUMENT', `${name} native: two inputs`);
  }
  expectCode(t, () => ops.sync.argmax(x, 1, { keepDims: 1 }), 'INVALID_ARGUMENT', 'argmax: keepDims not a boolean');
  expectCode(t, () => native().runOpSync('argmax', [x], { keepDims: 2 }), 'INVALID_ARGUMENT', 'argmax native: keepDims 2');
  expectCode(t, () => ops.sync.argmax(new fcnkit.Tensor(new Float32Array(0), [2, 0, 3]), 1), 'INVALID_ARGUMENT', 'argmax over an empty axis');
  t.same(ops.sync.softmax(new fcnkit.Tensor(new Float32Array(0), [2, 0, 3]), 1).shape, [2, 0, 3], 'softmax of an empty tensor');
  t.same(ops.sync.argmax(new fcnkit.Tensor(new Float32Array(0), [0, 3]), 1).shape, [0], 'argmax with an empty outer axis');

  const ok = await ops.softmax(x, -1);
  t.same(ok.shape, [2, 3, 4], 'process survives');
});
