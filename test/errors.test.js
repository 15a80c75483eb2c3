'use strict';
// Bad input: every validation path gives an FcnkitError with its code, and the process lives on.
const t = require('tap');
const { fcnkit, randTensor } = require('./helpers');
const { ops, Tensor, FcnkitError, ERROR_CODES } = fcnkit;

async function rejectsWith(t, promiseOrFn, code, pattern, name) {
  try {
    const r = typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn;
    await r;
    t.fail(`${name}: expected ${code}`);
  } catch (e) {
    t.ok(e instanceof FcnkitError, `${name}: FcnkitError (${e && e.constructor && e.constructor.name})`);
    t.equal(e.code, code, `${name}: code ${code} (${e.message})`);
    if (pattern) t.match(e.message, pattern, `${name}: message`);
    t.ok(ERROR_CODES.includes(e.code), `${name}: code is in ERROR_CODES`);
  }
}

t.test('Tensor construction', async (t) => {
  t.throws(() => new Tensor(new Float32Array(5), [2, 3]), { code: 'SHAPE_MISMATCH' });
  t.throws(() => new Tensor([1, 2, 3], [3]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new Tensor(new Float64Array(3), [3]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new Tensor(new Float32Array(3), [-3]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new Tensor(new Float32Array(3), [1.5, 2]), { code: 'INVALID_ARGUMENT' });
  const data = new Float32Array(6);
  t.equal(new Tensor(data, [2, 3]).data, data, 'data is not copied');
});

t.test('conv2d validation', async (t) => {
  const x = randTensor([1, 3, 8, 8]);
  await rejectsWith(t, ops.conv2d(x, randTensor([64, 4, 3, 3])), 'SHAPE_MISMATCH',
    /conv2d: expected weight of shape \[outC, inC\/groups, kH, kW\] = \[64, 3, 3, 3\] but received \[64, 4, 3, 3\]/, 'weight channels');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 3])), 'SHAPE_MISMATCH', /weight/, 'weight rank');
  await rejectsWith(t, ops.conv2d(randTensor([3, 8, 8]), randTensor([4, 3, 3, 3])), 'SHAPE_MISMATCH', /rank 4/, 'input rank');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 3, 3]), randTensor([5])), 'SHAPE_MISMATCH', /bias/, 'bias shape');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 9, 9])), 'SHAPE_MISMATCH', /kernel/, 'kernel larger than input');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 1, 3, 3]), null, { groups: 2 }), 'SHAPE_MISMATCH', /groups/, 'groups');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 3, 3]), null, { stride: 0 }), 'INVALID_ARGUMENT', /stride/, 'stride 0');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 3, 3]), null, { padding: 'full' }), 'INVALID_ARGUMENT', /padding/, 'padding mode');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 3, 3]), null, { padding: [1, 2, 3] }), 'INVALID_ARGUMENT', /padding/, 'padding length');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 3, 3]), null, { activation: 'gelu' }), 'INVALID_ARGUMENT', /activation/, 'activation');
  await rejectsWith(t, ops.conv2d(x, randTensor([4, 3, 3, 3]), null, { threads: -1 }), 'INVALID_ARGUMENT', /threads/, 'threads');
  await rejectsWith(t, ops.conv2d('x', randTensor([4, 3, 3, 3])), 'INVALID_ARGUMENT', /Expected a Tensor for conv2d input but received "x"/, 'not a tensor');
  await rejectsWith(t, ops.conv2d(new Tensor(new Int32Array(192), [1, 3, 8, 8]), randTensor([4, 3, 3, 3])), 'INVALID_ARGUMENT', /float32/, 'int32 input');
  t.throws(() => ops.sync.conv2d(x, randTensor([64, 4, 3, 3])), { code: 'SHAPE_MISMATCH' }, 'sync form throws the same');
});

t.test('convTranspose2d validation', async (t) => {
  const x = randTensor([1, 4, 5, 5]);
  await rejectsWith(t, ops.convTranspose2d(x, randTensor([3, 2, 4, 4])), 'SHAPE_MISMATCH', /\[inC, outC\/groups, kH, kW\]/, 'weight');
  await rejectsWith(t, ops.convTranspose2d(x, randTensor([4, 2, 2, 2]), null, { padding: 5 }), 'SHAPE_MISMATCH', /not positive/, 'padding too large');
  await rejectsWith(t, ops.convTranspose2d(x, randTensor([4, 2, 3, 3]), null, { stride: 2, outputPadding: 2 }), 'INVALID_ARGUMENT', /output padding/, 'output padding');
});

t.test('absurd sizes are TOO_LARGE before any allocation', async (t) => {
  // 2^40 output elements: a 1x1 input padded to 2^20 x 2^20.
  const x = randTensor([1, 1, 1, 1]);
  const w = randTensor([1, 1, 1, 1]);
  const before = process.memoryUsage().rss;
  await rejectsWith(t, ops.conv2d(x, w, null, { padding: 1 << 19 }), 'TOO_LARGE', /2\^32/, 'conv2d 2^40 elements');
  await rejectsWith(t, ops.convTranspose2d(randTensor([1, 1, 4, 4]), w, null, { stride: 1 << 19 }), 'TOO_LARGE', /2\^32/, 'convTranspose2d 2^40 elements');
  t.ok(process.memoryUsage().rss - before < 512 * 1024 * 1024, 'no giant allocation happened');
});

t.test('the process survives a burst of bad calls', async (t) => {
  const x = randTensor([1, 3, 8, 8]);
  const bad = [];
  for (let i = 0; i < 50; i++) bad.push(ops.conv2d(x, randTensor([2, 5, 3, 3])).catch((e) => e.code));
  const codes = await Promise.all(bad);
  t.ok(codes.every((c) => c === 'SHAPE_MISMATCH'));
  const y = await ops.conv2d(x, randTensor([2, 3, 3, 3]));
  t.same(y.shape, [1, 2, 6, 6], 'a good call still works');
});
