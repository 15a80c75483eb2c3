'use strict';
// conv2d and convTranspose2d against onnxruntime-node (Conv / ConvTranspose) on random shapes,
// including the awkward ones: sizes 1 and primes, stride 2, dilation, groups and depthwise,
// asymmetric padding wider than the kernel, channels not a multiple of 16, batch 2.
const t = require('tap');
const { fcnkit, onnx, seed, randTensor, normError, ortRunNode } = require('./helpers');
const { ops, Tensor } = fcnkit;

t.comment(`seed ${seed} (FCNKIT_TEST_SEED to replay), isa ${fcnkit.backendInfo().isa}`);

const convCases = [
  { n: 1, c: 3, h: 17, w: 13, oc: 8, k: [3, 3], stride: [1, 1], dil: [1, 1], pads: [1, 1, 1, 1], groups: 1 },
  { n: 2, c: 5, h: 7, w: 11, oc: 7, k: [3, 3], stride: [2, 2], dil: [1, 1], pads: [0, 1, 2, 1], groups: 1 },
  { n: 1, c: 1, h: 1, w: 1, oc: 1, k: [1, 1], stride: [1, 1], dil: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { n: 1, c: 17, h: 13, w: 13, oc: 31, k: [1, 1], stride: [1, 1], dil: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { n: 1, c: 19, h: 9, w: 8, oc: 33, k: [1, 1], stride: [2, 2], dil: [1, 1], pads: [1, 0, 1, 0], groups: 1 },
  { n: 1, c: 6, h: 12, w: 10, oc: 9, k: [3, 3], stride: [1, 1], dil: [2, 2], pads: [2, 2, 2, 2], groups: 3 },
  { n: 2, c: 12, h: 9, w: 9, oc: 12, k: [3, 3], stride: [1, 1], dil: [1, 1], pads: [1, 1, 1, 1], groups: 12 },
  { n: 1, c: 16, h: 10, w: 7, oc: 16, k: [3, 3], stride: [2, 2], dil: [1, 1], pads: [1, 1, 1, 1], groups: 16 },
  { n: 1, c: 4, h: 5, w: 6, oc: 6, k: [2, 3], stride: [1, 2], dil: [1, 1], pads: [4, 5, 3, 4], groups: 2 },
  { n: 1, c: 3, h: 23, w: 23, oc: 5, k: [7, 7], stride: [1, 1], dil: [1, 1], pads: [0, 0, 0, 0], groups: 1 },
  { n: 1, c: 2, h: 40, w: 40, oc: 3, k: [3, 3], stride: [1, 1], dil: [1, 1], pads: [100, 100, 100, 100], groups: 1 },
  { n: 1, c: 20, h: 16, w: 16, oc: 40, k: [3, 3], stride: [1, 1], dil: [1, 1], pads: [1, 1, 1, 1], groups: 1 },
  // Big enough for the Winograd F(2x2, 3x3) path (>= 64 channels each side, >= 64 x 64 output):
  // odd output size, asymmetric padding.
  { n: 1, c: 128, h: 67, w: 65, oc: 256, k: [3, 3], stride: [1, 1], dil: [1, 1], pads: [1, 0, 2, 1], groups: 1 },
];

function convAttrs(c) {
  return [
    onnx.attr.ints('kernel_shape', c.k),
    onnx.attr.ints('strides', c.stride),
    onnx.attr.ints('dilations', c.dil),
    onnx.attr.ints('pads', [c.pads[0], c.pads[1], c.pads[2], c.pads[3]]),
    onnx.attr.int('group', c.groups),
  ];
}

t.test('conv2d matches onnxruntime Conv', async (t) => {
  for (const c of convCases) {
    for (const withBias of [true, false]) {
      const x = randTensor([c.n, c.c, c.h, c.w]);
      const w = randTensor([c.oc, c.c / c.groups, c.k[0], c.k[1]]);
      const b = withBias ? randTensor([c.oc]) : null;
      const [ref] = await ortRunNode({
        opType: 'Conv',
        inputs: [['x', x], ['w', w], ...(b ? [['b', b]] : [])],
        attrs: convAttrs(c),
      });
      const opts = { stride: c.stride, dilation: c.dil, padding: c.pads, groups: c.groups };
      const y = await ops.conv2d(x, w, b, opts);
      t.same(y.shape, ref.dims, `shape ${JSON.stringify(c)}`);
      t.ok(normError(y.data, ref.data) <= 1e-4, `async ${JSON.stringify(c)} bias=${withBias} err=${normError(y.data, ref.data)}`);
      const ys = ops.sync.conv2d(x, w, b, { ...opts, threads: 1 });
      t.ok(normError(ys.data, ref.data) <= 1e-4, `sync threads=1 ${JSON.stringify(c)}`);
      const yr = await ops.conv2d(x, w, b, { ...opts, activation: 'relu' });
      const refRelu = Float32Array.from(ref.data, (v) => Math.max(v, 0));
      t.ok(normError(yr.data, refRelu) <= 1e-4, `fused relu ${JSON.stringify(c)}`);
    }
  }
});

t.test("conv2d padding 'same' and 'valid' match ONNX auto_pad", async (t) => {
  for (const [h, k, s] of [[7, 3, 2], [8, 4, 3], [5, 2, 1], [13, 5, 2]]) {
    const x = randTensor([1, 3, h, h + 1]);
    const w = randTensor([4, 3, k, k]);
    for (const [mode, autoPad] of [['same', 'SAME_UPPER'], ['valid', 'VALID']]) {
      const [ref] = await ortRunNode({
        opType: 'Conv',
        inputs: [['x', x], ['w', w]],
        attrs: [onnx.attr.ints('kernel_shape', [k, k]), onnx.attr.ints('strides', [s, s]), onnx.attr.string('auto_pad', autoPad)],
      });
      const y = await ops.conv2d(x, w, null, { stride: s, padding: mode });
      t.same(y.shape, ref.dims, `${mode} h=${h} k=${k} s=${s} shape`);
      t.ok(normError(y.data, ref.data) <= 1e-4, `${mode} h=${h} k=${k} s=${s}`);
    }
  }
});

const deconvCases = [
  { n: 1, c: 21, h: 5, w: 6, oc: 21, k: [4, 4], stride: [2, 2], pads: [0, 0, 0, 0], outPad: [0, 0], groups: 1, dil: [1, 1] },
  { n: 1, c: 21, h: 3, w: 3, oc: 21, k: [16, 16], stride: [8, 8], pads: [0, 0, 0, 0], outPad: [0, 0], groups: 1, dil: [1, 1] },
  { n: 1, c: 3, h: 2, w: 3, oc: 3, k: [64, 64], stride: [32, 32], pads: [0, 0, 0, 0], outPad: [0, 0], groups: 1, dil: [1, 1] },
  { n: 2, c: 8, h: 7, w: 5, oc: 4, k: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0], outPad: [0, 0], groups: 1, dil: [1, 1] },
  { n: 1, c: 6, h: 7, w: 7, oc: 9, k: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], outPad: [1, 1], groups: 3, dil: [1, 1] },
  { n: 1, c: 5, h: 6, w: 4, oc: 7, k: [4, 3], stride: [2, 1], pads: [1, 0, 2, 1], outPad: [0, 0], groups: 1, dil: [1, 1] },
  { n: 1, c: 4, h: 5, w: 5, oc: 4, k: [3, 3], stride: [1, 1], pads: [0, 0, 0, 0], outPad: [0, 0], groups: 4, dil: [2, 2] },
  { n: 1, c: 1, h: 1, w: 1, oc: 1, k: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], outPad: [0, 0], groups: 1, dil: [1, 1] },
];

t.test('convTranspose2d matches onnxruntime ConvTranspose', async (t) => {
  for (const c of deconvCases) {
    for (const withBias of [true, false]) {
      const x = randTensor([c.n, c.c, c.h, c.w]);
      const w = randTensor([c.c, c.oc / c.groups, c.k[0], c.k[1]]);
      const b = withBias ? randTensor([c.oc]) : null;
      const [ref] = await ortRunNode({
        opType: 'ConvTranspose',
        inputs: [['x', x], ['w', w], ...(b ? [['b', b]] : [])],
        attrs: [
          onnx.attr.ints('kernel_shape', c.k), onnx.attr.ints('strides', c.stride), onnx.attr.ints('pads', c.pads),
          onnx.attr.ints('output_padding', c.outPad), onnx.attr.int('group', c.groups), onnx.attr.ints('dilations', c.dil),
        ],
      });
      const opts = { stride: c.stride, padding: c.pads, outputPadding: c.outPad, groups: c.groups, dilation: c.dil };
      const y = await ops.convTranspose2d(x, w, b, opts);
      t.same(y.shape, ref.dims, `shape ${JSON.stringify(c)}`);
      t.ok(normError(y.data, ref.data) <= 1e-4, `async ${JSON.stringify(c)} bias=${withBias} err=${normError(y.data, ref.data)}`);
      const ys = ops.sync.convTranspose2d(x, w, b, { ...opts, threads: 1 });
      t.ok(normError(ys.data, ref.data) <= 1e-4, `sync threads=1 ${JSON.stringify(c)}`);
    }
  }
});

t.test('NaN and Inf propagate through conv2d', async (t) => {
  const x = randTensor([1, 2, 6, 6]);
  x.data[2 * 6 + 3] = NaN;
  x.data[36 + 0] = Infinity;
  const w = randTensor([3, 2, 3, 3]);
  const [ref] = await ortRunNode({ opType: 'Conv', inputs: [['x', x], ['w', w]], attrs: [onnx.attr.ints('pads', [1, 1, 1, 1])] });
  const y = await ops.conv2d(x, w, null, { padding: 1 });
  let same = true;
  for (let i = 0; i < y.data.length; i++) {
    if (Number.isNaN(ref.data[i]) !== Number.isNaN(y.data[i])) same = false;
  }
  t.ok(same, 'NaN positions match onnxruntime');
  t.ok(y.data.some(Number.isNaN), 'some outputs are NaN');
});
