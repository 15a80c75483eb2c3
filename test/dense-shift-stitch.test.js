'use strict';
// shiftAndStitch against the convention done by hand: for each (dy, dx) the test builds the
// input shifted up by dy and left by dx (zeros in at the bottom and right) in plain JS, runs the
// model on it, and interleaves output[y*f + dy][x*f + dx] = out_(dy,dx)[y][x] itself.
const t = require('tap');
const { fcnkit, seed, randTensor, normError } = require('./helpers');

const { GraphBuilder, Model, Tensor, shiftAndStitch } = fcnkit;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

const K = 4;

/** A small net of output stride 4: two 2×2 pools. */
function stride4Net(outputs = 1) {
  const g = new GraphBuilder();
  let x = g.input('input', [null, 3, null, null]);
  x = g.conv2d('conv1', x, { outChannels: 6, kernel: 3, padding: 1, activation: 'relu' });
  x = g.maxPool2d('pool1', x, { kernel: 2 });
  x = g.conv2d('conv2', x, { outChannels: 8, kernel: 3, padding: 1, activation: 'relu' });
  x = g.maxPool2d('pool2', x, { kernel: 2 });
  const s = g.conv2d('score', x, { outChannels: K, kernel: 1 });
  g.output('score', s);
  if (outputs === 2) g.output('features', x);
  return new Model(g, { seed: 17 });
}

/** shifted[n, c, i, j] = img[n, c, i + dy, j + dx], 0 past the bottom / right edge. */
function shiftByHand(img, dy, dx) {
  const [n, c, H, W] = img.shape;
  const out = new Float32Array(img.data.length);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const si = i + dy;
        const sj = j + dx;
        out[(p * H + i) * W + j] = si < H && sj < W ? img.data[(p * H + si) * W + sj] : 0;
      }
    }
  }
  return new Tensor(out, img.shape);
}

async function stitchByHand(run, img, f) {
  let out;
  let shape;
  for (let dy = 0; dy < f; dy++) {
    for (let dx = 0; dx < f; dx++) {
      const o = await run(shiftByHand(img, dy, dx));
      const [n, k, h, w] = o.shape;
      if (!out) {
        shape = [n, k, h * f, w * f];
        out = new Float32Array(n * k * h * f * w * f);
      }
      for (let p = 0; p < n * k; p++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) out[(p * h * f + y * f + dy) * w * f + x * f + dx] = o.data[(p * h + y) * w + x];
        }
      }
    }
  }
  return { data: out, shape };
}

t.test('shift-and-stitch equals shifting and interleaving by hand (stride-4 net)', async (t) => {
  const m = stride4Net();
  const img = randTensor([2, 3, 16, 20]);
  for (const f of [4, 2]) {
    const dense = await shiftAndStitch(m, img, { factor: f });
    const ref = await stitchByHand((x) => m.run(x), img, f);
    t.same(dense.shape, ref.shape, `f=${f}: shape ${ref.shape.join('×')}`);
    t.ok(normError(dense.data, ref.data) <= 1e-6, `f=${f}: normError ${normError(dense.data, ref.data).toExponential(2)}`);
  }
  const dense4 = await shiftAndStitch(m, img, { factor: 4 });
  t.same(dense4.shape, [2, K, 16, 20], 'f = stride: one prediction per pixel');

  // Odd sizes: outputs of floor(H/4) x floor(W/4), stitched to 4x that.
  const odd = randTensor([1, 3, 13, 11]);
  const d = await shiftAndStitch(m, odd, { factor: 4, threads: 1 });
  const r = await stitchByHand((x) => m.run(x), odd, 4);
  t.same(d.shape, [1, K, 12, 8]);
  t.ok(normError(d.data, r.data) <= 1e-6, 'odd size');

  const plain = await m.run(img);
  const one = await shiftAndStitch(m, img, { factor: 1 });
  t.same(one.data, plain.data, 'factor 1 is one plain run');
});

t.test('several outputs are stitched each', async (t) => {
  const m = stride4Net(2);
  const img = randTensor([1, 3, 8, 12]);
  const dense = await shiftAndStitch(m, img, { factor: 2 });
  t.same(Object.keys(dense).sort(), ['features', 'score']);
  const ref = await stitchByHand(async (x) => (await m.run(x)).features, img, 2);
  t.same(dense.features.shape, ref.shape);
  t.ok(normError(dense.features.data, ref.data) <= 1e-6);
});

t.test('errors', async (t) => {
  const m = stride4Net();
  const img = randTensor([1, 3, 8, 8]);
  await t.rejects(shiftAndStitch(m, img, { factor: 0 }), { code: 'INVALID_ARGUMENT', message: /factor/ });
  await t.rejects(shiftAndStitch(m, img, {}), { code: 'INVALID_ARGUMENT' });
  await t.rejects(shiftAndStitch(m, randTensor([3, 8, 8]), { factor: 2 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(shiftAndStitch(m, randTensor([1, 3, 3, 8]), { factor: 4 }), { code: 'SHAPE_MISMATCH' });
  await t.rejects(shiftAndStitch(null, img, { factor: 2 }), { code: 'INVALID_ARGUMENT' });
  const ac = new AbortController();
  ac.abort();
  await t.rejects(shiftAndStitch(m, img, { factor: 2, signal: ac.signal }), { code: 'ABORTED' });
});
