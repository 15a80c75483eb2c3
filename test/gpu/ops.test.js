'use strict';
// Every CUDA op against the CPU path, on awkward shapes: sizes 1 and primes, channel counts that
// are not multiples of the tiles, stride, dilation, groups (depthwise included), padding wider
// than the kernel, the FCN upsamplers' large strides. fp32 to 1e-5 normalised error; the
// convolutions also in tf32 and bf16 to 1e-2. Runs on the emulator everywhere and on the GPU
// where there is one (else those tests skip, saying why).
const test = require('node:test');
const assert = require('node:assert');
const h = require('./helpers');

const CONV_PRECISIONS = ['fp32', 'tf32', 'bf16'];

function conv(name, x, w, attrs, opts = {}) {
  return { name, type: 'conv2d', x, w, bias: opts.bias ?? true, attrs, kernel: opts.kernel ?? 'conv-implicit-gemm', weightInput: opts.weightInput };
}
function deconv(name, x, w, attrs, opts = {}) {
  return { name, type: 'convTranspose2d', x, w, bias: opts.bias ?? true, attrs, kernel: opts.kernel ?? 'conv-implicit-gemm' };
}

const CONVS = [
  conv('3x3 pad 1, 3->8, relu', [1, 3, 13, 17], [8, 3, 3, 3], { pads: [1, 1, 1, 1], activation: 'relu' }),
  conv('3x3 stride 2, 5->7, batch 2', [2, 5, 11, 9], [7, 5, 3, 3], { stride: 2, pads: 1 }),
  conv('5x5 dilation 2 pad 4, 16->33', [1, 16, 10, 12], [33, 16, 5, 5], { dilation: 2, pads: 4 }),
  conv('1x1 fast path (12x12), 17->40', [2, 17, 12, 12], [40, 17, 1, 1], {}),
  conv('1x1 odd plane (7x7), 13->70', [1, 13, 7, 7], [70, 13, 1, 1], { activation: 'relu' }),
  conv('1x1 stride 2', [1, 9, 9, 11], [5, 9, 1, 1], { stride: 2 }),
  conv('groups 2, 8->12', [1, 8, 9, 9], [12, 4, 3, 3], { groups: 2, pads: 1 }),
  conv('depthwise 6', [1, 6, 10, 7], [6, 1, 3, 3], { groups: 6, pads: 1 }, { kernel: 'conv-direct' }),
  conv('depthwise x2 multiplier', [2, 4, 8, 8], [8, 1, 3, 3], { groups: 4, stride: 2, pads: 1 }, { kernel: 'conv-direct' }),
  conv('7x7 no pad (fc6-like)', [1, 24, 7, 8], [37, 24, 7, 7], {}),
  conv('padding wider than the kernel', [1, 4, 5, 6], [3, 4, 3, 3], { pads: 4 }),
  conv('asymmetric pads', [1, 5, 9, 8], [6, 5, 3, 2], { pads: [0, 1, 2, 3] }),
  conv('autoPad same, stride 2', [1, 7, 13, 10], [9, 7, 4, 3], { autoPad: 'same', stride: 2 }),
  conv('wide 70->130 (BN 128 and a tail)', [1, 70, 9, 10], [130, 70, 3, 3], { pads: 1 }),
  conv('size 1 image', [1, 3, 1, 1], [4, 3, 1, 1], {}, { bias: false }),
  conv('weights at run time', [1, 3, 8, 8], [5, 3, 3, 3], { pads: 1 }, { kernel: 'conv-direct', weightInput: true }),
  deconv('k4 s2 p1, 5->6', [1, 5, 7, 6], [5, 6, 4, 4], { stride: 2, pads: 1 }),
  deconv('FCN upscore8 k16 s8', [1, 3, 5, 4], [3, 3, 16, 16], { stride: 8 }, { bias: false }),
  deconv('FCN upscore32 k64 s32', [1, 2, 2, 3], [2, 2, 64, 64], { stride: 32 }, { bias: false }),
  deconv('k3 s2 p1 output padding 1', [2, 4, 5, 5], [4, 3, 3, 3], { stride: 2, pads: 1, outputPadding: 1 }),
  deconv('U-Net up k2 s2, 8->4', [1, 8, 6, 7], [8, 4, 2, 2], { stride: 2, activation: 'relu' }),
  deconv('groups 2', [1, 6, 5, 5], [6, 2, 3, 3], { stride: 2, groups: 2 }),
  deconv('stride 1', [1, 5, 6, 6], [5, 3, 3, 3], { pads: 1 }),
  deconv('kernel smaller than stride (k2 s3)', [1, 3, 4, 5], [3, 2, 2, 2], { stride: 3 }),
  deconv('dilation 2', [1, 3, 5, 5], [3, 4, 3, 3], { stride: 2, dilation: 2 }, { kernel: 'deconv-direct' }),
  deconv('depthwise', [1, 4, 5, 5], [4, 1, 4, 4], { stride: 2, groups: 4, pads: 1 }, { kernel: 'deconv-direct' }),
];

function convSpec(c) {
  const x = h.randTensor(c.x);
  const w = h.randTensor(c.w, -0.5, 0.5);
  const outC = c.type === 'conv2d' ? c.w[0] : c.w[1] * (c.attrs.groups ?? 1);
  const constants = { w };
  if (c.bias) constants.b = h.randTensor([outC]);
  const inputs = { x: c.x };
  const feeds = { x };
  if (c.weightInput) {
    delete constants.w;
    inputs.w = c.w;
    feeds.w = w;
  }
  const spec = h.opSpec(c.type, inputs, c.attrs, constants);
  // Keep the node's input order x, w, b.
  spec.nodes[0].inputs = ['x', 'w', ...(c.bias ? ['b'] : [])];
  return { spec, feeds };
}

for (const b of h.backends()) {
  test(`convolutions on ${b.name}`, { skip: b.skip }, async (t) => {
    for (const c of CONVS) {
      const { spec, feeds } = convSpec(c);
      const ref = h.cpuRun(spec, feeds).y0;
      for (const precision of CONV_PRECISIONS) {
        await t.test(`${c.type} ${c.name} (${precision})`, () => {
          const { outputs, kernels } = h.deviceRun(spec, feeds, { ...b.options, precision });
          const y = outputs.y0;
          assert.deepStrictEqual([...y.shape], [...ref.shape]);
          assert.deepStrictEqual(kernels, [c.kernel]);
          const tol = c.kernel === 'conv-implicit-gemm' ? h.TOLERANCE[precision] : h.TOLERANCE.fp32;
          const e = h.normError(y.data, ref.data);
          assert.ok(e <= tol, `normalised error ${e} > ${tol} (seed ${h.seed})`);
        });
      }
    }
  });
}

// Single-node cases of the other ops: [name, type, input shapes, attrs, constants?, expected kernels?]
const OPS = [
  ['max pool 2x2/2 ceil, odd sizes', 'maxPool2d', { x: [2, 3, 7, 9] }, { kernel: 2, stride: 2, ceilMode: true }],
  ['max pool 3x3/2 pad 1', 'maxPool2d', { x: [1, 5, 10, 11] }, { kernel: 3, stride: 2, pads: 1 }],
  ['max pool dilation 2', 'maxPool2d', { x: [1, 2, 9, 9] }, { kernel: 2, stride: 1, dilation: 2 }],
  ['avg pool 3x3/2 pad 1 ceil', 'avgPool2d', { x: [1, 4, 8, 13] }, { kernel: 3, stride: 2, pads: 1, ceilMode: true }],
  ['avg pool countIncludePad', 'avgPool2d', { x: [2, 3, 7, 7] }, { kernel: 3, stride: 2, pads: 1, countIncludePad: true, ceilMode: true }],
  ['global avg pool', 'globalAvgPool2d', { x: [2, 5, 13, 17] }, {}],
  ['relu', 'relu', { x: [2, 3, 5, 7] }, {}],
  ['leakyRelu', 'leakyRelu', { x: [1, 3, 4, 5] }, { alpha: 0.2 }],
  ['sigmoid', 'sigmoid', { x: [1, 3, 4, 5] }, {}],
  ['hardSigmoid', 'hardSigmoid', { x: [1, 3, 4, 5] }, { alpha: 0.3, beta: 0.4 }],
  ['hardSwish', 'hardSwish', { x: [1, 3, 4, 5] }, {}],
  ['tanh', 'tanh', { x: [1, 3, 4, 5] }, {}],
  ['clip', 'clip', { x: [1, 3, 4, 5] }, { min: -0.25, max: 0.5 }],
  ['add same shape', 'add', { a: [2, 3, 5, 7], b: [2, 3, 5, 7] }, {}],
  ['add per channel [C,1,1]', 'add', { a: [2, 6, 5, 7], b: [6, 1, 1] }, {}],
  ['mul per channel [1,C,1,1] first', 'mul', { a: [1, 6, 1, 1], b: [2, 6, 4, 3] }, {}],
  ['mul row broadcast', 'mul', { a: [2, 3, 5, 7], b: [1, 1, 5, 1] }, {}],
  ['sub', 'sub', { a: [2, 3, 4, 4], b: [3, 1, 4] }, {}],
  ['div', 'div', { a: [1, 3, 4, 4], b: [1, 3, 4, 4] }, {}],
  ['prelu per channel', 'prelu', { a: [2, 4, 3, 3], b: [4, 1, 1] }, {}],
  ['max of 3', 'max', { a: [2, 3, 4, 5], b: [2, 3, 4, 5], c: [2, 3, 4, 5] }, {}],
  ['concat channels of 3', 'concat', { a: [2, 3, 4, 5], b: [2, 1, 4, 5], c: [2, 6, 4, 5] }, { axis: 1 }],
  ['concat height', 'concat', { a: [1, 2, 3, 5], b: [1, 2, 4, 5] }, { axis: 2 }],
  ['crop', 'crop', { x: [2, 3, 11, 13] }, { offset: [3, 5], size: [6, 7] }],
  ['pad constant, negative left', 'pad', { x: [1, 2, 5, 6] }, { pads: [2, -1, 1, 3], value: 0.5 }],
  ['pad reflect', 'pad', { x: [1, 2, 5, 6] }, { pads: [2, 3, 1, 2], mode: 'reflect' }],
  ['pad edge', 'pad', { x: [2, 1, 4, 3] }, { pads: [3, 1, 0, 4], mode: 'edge' }],
  ['resize bilinear x2 half_pixel', 'resize', { x: [1, 3, 5, 7] }, { scale: 2 }],
  ['resize bilinear to size align_corners', 'resize', { x: [2, 2, 6, 5] }, { size: [11, 13], coordinate: 'align_corners' }],
  ['resize bilinear down pytorch_half_pixel', 'resize', { x: [1, 2, 9, 10] }, { size: [4, 3], coordinate: 'pytorch_half_pixel' }],
  ['resize nearest asymmetric floor', 'resize', { x: [1, 3, 4, 6] }, { scale: [2.5, 1.5], mode: 'nearest', coordinate: 'asymmetric', nearestMode: 'floor' }],
  ['resize nearest round_prefer_ceil', 'resize', { x: [1, 1, 7, 3] }, { size: [8, 9], mode: 'nearest', nearestMode: 'round_prefer_ceil' }],
  ['resize same size (copy)', 'resize', { x: [1, 2, 4, 4] }, { size: [4, 4] }],
  ['softmax channels', 'softmax', { x: [2, 21, 5, 6] }, { axis: 1 }],
  ['softmax last axis', 'softmax', { x: [3, 7] }, { axis: -1 }],
  ['argmax channels', 'argmax', { x: [2, 21, 5, 6] }, { axis: 1 }],
  ['argmax keepDims', 'argmax', { x: [1, 5, 3, 4] }, { axis: 1, keepDims: true }],
  ['slice with steps', 'slice', { x: [2, 5, 7, 9] }, { starts: [1, 0, 6, 1], steps: [1, 2, -2, 3], sizes: [1, 3, 3, 3] }],
  ['transpose NCHW->NHWC', 'transpose', { x: [2, 3, 4, 5] }, { perm: [0, 2, 3, 1] }],
  ['reshape', 'reshape', { x: [2, 3, 4, 5] }, { shape: [6, 20] }],
];

for (const b of h.backends()) {
  test(`other ops on ${b.name}`, { skip: b.skip }, async (t) => {
    for (const [name, type, inputs, attrs] of OPS) {
      await t.test(`${type}: ${name}`, () => {
        const feeds = {};
        for (const [k, s] of Object.entries(inputs)) feeds[k] = h.randTensor(s, -3, 3);
        const spec = h.opSpec(type, inputs, attrs);
        const ref = h.cpuRun(spec, feeds).y0;
        const { outputs } = h.deviceRun(spec, feeds, b.options);
        const y = outputs.y0;
        assert.deepStrictEqual([...y.shape], [...ref.shape]);
        if (ref.data instanceof Int32Array) assert.deepStrictEqual(Array.from(y.data), Array.from(ref.data));
        else {
          const e = h.normError(y.data, ref.data);
          assert.ok(e <= h.TOLERANCE.fp32, `normalised error ${e} (seed ${h.seed})`);
        }
      });
    }
  });
}

for (const b of h.backends()) {
  test(`NaN and infinities on ${b.name}`, { skip: b.skip }, async () => {
    const x = h.randTensor([1, 2, 4, 4]);
    x.data[3] = NaN;
    x.data[9] = Infinity;
    x.data[20] = -Infinity;
    for (const [type, attrs] of [['maxPool2d', { kernel: 2 }], ['relu', {}], ['hardSwish', {}], ['clip', { min: 0, max: 1 }]]) {
      const spec = h.opSpec(type, { x: [1, 2, 4, 4] }, attrs);
      const ref = h.cpuRun(spec, { x }).y0;
      const y = h.deviceRun(spec, { x }, b.options).outputs.y0;
      assert.strictEqual(h.normError(y.data, ref.data) <= 1e-6, true, `${type}: NaN/inf handling differs`);
    }
  });
}

test('int32 graph inputs and outputs copy through on the emulator', () => {
  const spec = {
    inputs: [{ name: 'i', shape: [2, 3], dtype: 'int32' }],
    constants: {},
    nodes: [{ name: 't', type: 'transpose', inputs: ['i'], outputs: ['o'], attrs: {} }],
    outputs: ['o', 'i'],
  };
  const i = new h.fcnkit.Tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const { outputs } = h.deviceRun(spec, { i }, { emulate: true });
  assert.deepStrictEqual(Array.from(outputs.o.data), [1, 4, 2, 5, 3, 6]);
  assert.deepStrictEqual(Array.from(outputs.i.data), [1, 2, 3, 4, 5, 6]);
});
