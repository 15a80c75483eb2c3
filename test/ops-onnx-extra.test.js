'use strict';
// The native ops added for imported ONNX models, called directly (ops.* and ops.sync.*) against
// onnxruntime-node: tanh, clip, sub, div, prelu, gemm, matmul, slice, transpose, reshape.
const t = require('tap');
const { fcnkit, onnx, seed, randTensor, normError, ortRunNode } = require('./helpers');

const { ops, Tensor } = fcnkit;
const TOL = 1e-4;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

async function both(call) {
  const a = await call(ops, {});
  const s = call(ops.sync, { threads: 1 });
  return [a, s];
}

function check(t, label, ys, ref, tol = TOL) {
  for (const [i, y] of ys.entries()) {
    t.same([...y.shape], ref.dims, `${label} (${i ? 'sync, 1 thread' : 'async'}): shape`);
    const err = normError(y.data, ref.data);
    t.ok(err <= tol, `${label} (${i ? 'sync' : 'async'}): normError ${err.toExponential(2)}`);
  }
}

t.test('tanh and clip', async (t) => {
  for (const shape of [[1], [3, 7], [2, 3, 17, 5], [1, 1, 300, 301]]) {
    const x = randTensor(shape, -4, 4);
    check(t, `tanh ${shape}`, await both((X, o) => X.tanh(x, o)), (await ortRunNode({ opType: 'Tanh', inputs: [['x', x]] }))[0]);
    const lo = onnx.tensorFromFloat32('lo', [], new Float32Array([-0.5]));
    const hi = onnx.tensorFromFloat32('hi', [], new Float32Array([1.25]));
    check(t, `clip ${shape}`, await both((X, o) => X.clip(x, { min: -0.5, max: 1.25, ...o })),
      (await ortRunNode({ opType: 'Clip', inputs: [['x', x], 'lo', 'hi'], initializers: [lo, hi] }))[0]);
    check(t, `clip max only ${shape}`, await both((X, o) => X.clip(x, { max: 0, ...o })),
      (await ortRunNode({ opType: 'Clip', inputs: [['x', x], null, 'hi'], initializers: [onnx.tensorFromFloat32('hi', [], new Float32Array([0]))] }))[0]);
  }
  const y = ops.sync.clip(new Tensor(new Float32Array([NaN, -Infinity, Infinity, 2]), [4]), { min: -1, max: 1 });
  t.ok(Number.isNaN(y.data[0]), 'clip keeps NaN');
  t.same(Array.from(y.data.slice(1)), [-1, 1, 1], 'clip clamps infinities');
});

t.test('sub, div, prelu with broadcasting', async (t) => {
  const pairs = [
    [[2, 3, 4, 5], [2, 3, 4, 5]],
    [[2, 3, 4, 5], [3, 1, 1]],
    [[1], [2, 3, 17]],
    [[4, 1, 6], [1, 5, 1]],
    [[2, 1, 33, 1], [7, 1, 31]],
    [[3, 65536 + 3], [1]],
  ];
  for (const [sa, sb] of pairs) {
    const a = randTensor(sa);
    const b = randTensor(sb, 0.5, 2);
    check(t, `sub ${sa} ${sb}`, await both((X, o) => X.sub(a, b, o)), (await ortRunNode({ opType: 'Sub', inputs: [['a', a], ['b', b]] }))[0]);
    check(t, `div ${sa} ${sb}`, await both((X, o) => X.div(a, b, o)), (await ortRunNode({ opType: 'Div', inputs: [['a', a], ['b', b]] }))[0]);
  }
  for (const [sx, ss] of [[[2, 3, 5, 7], [3, 1, 1]], [[2, 3, 5, 7], [1]], [[2, 3, 5, 7], [7]], [[1, 4, 9, 9], [1, 4, 9, 9]]]) {
    const x = randTensor(sx);
    const s = randTensor(ss);
    check(t, `prelu ${sx} ${ss}`, await both((X, o) => X.prelu(x, s, o)), (await ortRunNode({ opType: 'PRelu', inputs: [['x', x], ['s', s]] }))[0]);
  }
  await t.rejects(ops.prelu(randTensor([3]), randTensor([2, 3])), { code: 'SHAPE_MISMATCH' }, 'prelu slope must broadcast to x');
  await t.rejects(ops.sub(randTensor([3]), randTensor([4])), { code: 'SHAPE_MISMATCH' });
});

t.test('gemm (both paths, every transpose, alpha, beta, C broadcasts) and matmul', async (t) => {
  for (const [m, k, n] of [[1, 7, 5], [3, 64, 33], [5, 17, 9], [37, 129, 70], [6, 1, 1]]) {
    for (const [tA, tB] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
      const a = randTensor(tA ? [k, m] : [m, k]);
      const b = randTensor(tB ? [n, k] : [k, n]);
      for (const [cs, alpha, beta] of [[null, 1, 1], [[n], 1, 1], [[m, n], 0.5, -2], [[m, 1], 1, 0.25], [[1], 2, 1]]) {
        const c = cs ? randTensor(cs) : null;
        const label = `gemm m${m} k${k} n${n} tA${tA} tB${tB} C${cs ? `[${cs}]` : '-'} a${alpha} b${beta}`;
        const ref = (await ortRunNode({
          opType: 'Gemm', inputs: [['a', a], ['b', b], ...(c ? [['c', c]] : [])],
          attrs: [onnx.attr.int('transA', tA), onnx.attr.int('transB', tB), onnx.attr.float('alpha', alpha), onnx.attr.float('beta', beta)],
        }))[0];
        check(t, label, await both((X, o) => X.gemm(a, b, c, { transA: !!tA, transB: !!tB, alpha, beta, ...o })), ref);
      }
    }
  }
  for (const [sa, sb] of [[[3, 4], [4, 5]], [[2, 3, 4], [4, 6]], [[2, 3, 4], [2, 4, 6]], [[2, 1, 3, 4], [5, 4, 2]], [[1, 1], [1, 9]]]) {
    const a = randTensor(sa);
    const b = randTensor(sb);
    check(t, `matmul ${sa} x ${sb}`, await both((X, o) => X.matmul(a, b, o)), (await ortRunNode({ opType: 'MatMul', inputs: [['a', a], ['b', b]] }))[0]);
  }
  await t.rejects(ops.gemm(randTensor([2, 3]), randTensor([4, 5])), { code: 'SHAPE_MISMATCH' });
  await t.rejects(ops.matmul(randTensor([2, 3]), randTensor([4, 5])), { code: 'SHAPE_MISMATCH' });
});

t.test('slice, transpose, reshape (float32 and int32)', async (t) => {
  const x = randTensor([2, 5, 7, 9]);
  const i64 = (name, v) => onnx.tensorFromInt64(name, [v.length], v);
  const cases = [
    [{ starts: [0, 0, 1, 2], steps: [1, 1, 1, 1], sizes: [2, 2, 3, 4] }, [0, 1, 2], [2, 4, 6], [1, 2, 3]],
    [{ starts: [1, 4, 6, 8], steps: [1, -1, -2, -3], sizes: [1, 5, 4, 3] }, [1, 4, 6, 8], [2, -100, -100, -100], [0, 1, 2, 3], [1, -1, -2, -3]],
    [{ starts: [0, 0, 0, 1], steps: [1, 2, 3, 2], sizes: [2, 3, 3, 4] }, [0, 0, 1], [5, 7, 9], [1, 2, 3], [2, 3, 2]],
  ];
  for (const [opts, st, en, ax, sp] of cases) {
    const inits = [i64('st', st), i64('en', en), i64('ax', ax), ...(sp ? [i64('sp', sp)] : [])];
    const ref = (await ortRunNode({ opType: 'Slice', inputs: [['x', x], 'st', 'en', 'ax', ...(sp ? ['sp'] : [])], initializers: inits }))[0];
    check(t, `slice ${JSON.stringify(opts)}`, await both((X, o) => X.slice(x, { ...opts, ...o })), ref, 0);
  }
  await t.rejects(ops.slice(x, { starts: [0, 0, 0, 5], steps: [1, 1, 1, 1], sizes: [2, 5, 7, 5] }), { code: 'SHAPE_MISMATCH' }, 'reading past the end refused');
  for (const perm of [[0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3]]) {
    const ref = (await ortRunNode({ opType: 'Transpose', inputs: [['x', x]], attrs: [onnx.attr.ints('perm', perm)] }))[0];
    check(t, `transpose ${perm}`, await both((X, o) => X.transpose(x, { perm, ...o })), ref, 0);
  }
  const r = ops.sync.reshape(x, [10, 63]);
  t.same(r.shape, [10, 63]);
  t.same(Array.from(r.data), Array.from(x.data), 'reshape keeps the element order');
  t.throws(() => ops.sync.reshape(x, [10, 64]), { code: 'SHAPE_MISMATCH' });
  const ints = new Tensor(Int32Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
  const tr = ops.sync.transpose(ints, { perm: [2, 0, 1] });
  t.equal(tr.dtype, 'int32', 'int32 transpose');
  t.same(tr.shape, [4, 2, 3]);
  t.equal(tr.data[1], 4, 'int32 transpose values');
  t.same(Array.from(ops.sync.slice(ints, { starts: [1, 2, 3], steps: [1, 1, 1], sizes: [1, 1, 1] }).data), [23], 'int32 slice');
});
