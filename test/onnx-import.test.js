'use strict';
// The ONNX importer, op by op and attribute by attribute, against onnxruntime-node on models
// built here with the project's codec: every ONNX model runs in both and each output is compared
// (max normalised error <= 1e-4; int outputs exactly).
const t = require('tap');
const { fcnkit, seed, randTensor } = require('./helpers');
const { f32, i64, buildModel, compareOrt, attr, makeNode, DataType } = require('./helpers/onnx-build');

t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);
const X = [1, 4, 11, 13];

function rand(shape, lo = -1, hi = 1) {
  return randTensor(shape, lo, hi);
}

/** One node over input x (and extra initializers); opset; compares. */
async function one(t, label, { op, attrs = [], inputs = ['x'], inits = [], opset = 17, x = X, outputs = ['y'], outElem, extraInputs = [] }) {
  const node = makeNode(op, inputs, outputs, attrs, 'n0');
  const bytes = buildModel({
    nodes: [node],
    inputs: [['x', x], ...extraInputs.map(([n, v]) => [n, [...v.shape]])],
    outputs: outputs.map((o) => (outElem ? [o, outElem] : o)),
    initializers: inits,
    opset,
  });
  const feeds = { x: rand(x) };
  for (const [n, v] of extraInputs) feeds[n] = v;
  return compareOrt(t, label, bytes, feeds);
}

t.test('Conv: pads, strides, dilations, groups, bias, auto_pad', async (t) => {
  const w = (o, c, k = 3) => f32('w', [o, c, k, k], rand([o, c, k, k]).data);
  const b = (o) => f32('b', [o], rand([o]).data);
  const cases = [
    ['plain 3x3', [], [w(6, 4)], ['x', 'w']],
    ['bias + pads asymmetric', [attr.ints('pads', [1, 0, 2, 1])], [w(6, 4), b(6)], ['x', 'w', 'b']],
    ['stride 2 pads 1', [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])], [w(5, 4), b(5)], ['x', 'w', 'b']],
    ['stride [1,2] dilation 2', [attr.ints('strides', [1, 2]), attr.ints('dilations', [2, 2]), attr.ints('pads', [2, 2, 2, 2])], [w(3, 4)], ['x', 'w']],
    ['group 2', [attr.int('group', 2), attr.ints('kernel_shape', [3, 3])], [w(6, 2), b(6)], ['x', 'w', 'b']],
    ['depthwise', [attr.int('group', 4), attr.ints('pads', [1, 1, 1, 1])], [w(4, 1), b(4)], ['x', 'w', 'b']],
    ['auto_pad SAME_UPPER stride 2', [attr.string('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2, 2])], [w(4, 4, 4), b(4)], ['x', 'w', 'b']],
    ['auto_pad SAME_LOWER stride 2', [attr.string('auto_pad', 'SAME_LOWER'), attr.ints('strides', [2, 2])], [w(4, 4, 4), b(4)], ['x', 'w', 'b']],
    ['auto_pad SAME_LOWER stride 1 even kernel', [attr.string('auto_pad', 'SAME_LOWER')], [w(4, 4, 2)], ['x', 'w']],
    ['auto_pad VALID stride 3', [attr.string('auto_pad', 'VALID'), attr.ints('strides', [3, 3])], [w(2, 4, 5)], ['x', 'w']],
    ['1x1', [], [w(7, 4, 1), b(7)], ['x', 'w', 'b']],
  ];
  for (const [label, attrs, inits, inputs] of cases) await one(t, `Conv ${label}`, { op: 'Conv', attrs, inputs, inits });
  // opset 7 (oldest) and 21 (newest)
  await one(t, 'Conv opset 7', { op: 'Conv', inputs: ['x', 'w'], inits: [w(3, 4)], opset: 7 });
  await one(t, 'Conv opset 21', { op: 'Conv', inputs: ['x', 'w'], inits: [w(3, 4)], opset: 21 });
});

t.test('ConvTranspose: strides, pads, output_padding, output_shape, auto_pad, group, dilation', async (t) => {
  const w = (c, o, k) => f32('w', [c, o, k, k], rand([c, o, k, k]).data);
  const b = (o) => f32('b', [o], rand([o]).data);
  const cases = [
    ['stride 2 k4 pads 1', [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])], [w(4, 3, 4), b(3)], ['x', 'w', 'b']],
    ['stride 2 output_padding 1', [attr.ints('strides', [2, 2]), attr.ints('output_padding', [1, 0])], [w(4, 3, 3)], ['x', 'w']],
    ['output_shape', [attr.ints('strides', [2, 2]), attr.ints('output_shape', [22, 26])], [w(4, 2, 3), b(2)], ['x', 'w', 'b']],
    ['output_shape odd total, k4', [attr.ints('strides', [2, 2]), attr.ints('output_shape', [21, 25])], [w(4, 2, 4)], ['x', 'w']],
    ['output_shape + SAME_UPPER', [attr.ints('strides', [2, 2]), attr.ints('output_shape', [22, 26]), attr.string('auto_pad', 'SAME_UPPER')], [w(4, 2, 3)], ['x', 'w']],
    ['output_shape + SAME_LOWER', [attr.ints('strides', [2, 2]), attr.ints('output_shape', [22, 26]), attr.string('auto_pad', 'SAME_LOWER')], [w(4, 2, 3)], ['x', 'w']],
    ['auto_pad SAME_UPPER k4 (even total)', [attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_UPPER')], [w(4, 2, 4)], ['x', 'w']],
    ['auto_pad SAME_UPPER stride 3', [attr.ints('strides', [3, 3]), attr.string('auto_pad', 'SAME_UPPER')], [w(4, 2, 2)], ['x', 'w']],
    ['output_shape one beyond natural', [attr.ints('strides', [2, 2]), attr.ints('output_shape', [24, 28])], [w(4, 2, 3), b(2)], ['x', 'w', 'b']],
    ['auto_pad SAME_UPPER', [attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_UPPER')], [w(4, 2, 3), b(2)], ['x', 'w', 'b']],
    ['auto_pad SAME_LOWER', [attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_LOWER')], [w(4, 2, 3)], ['x', 'w']],
    ['group 2', [attr.int('group', 2), attr.ints('strides', [2, 2])], [w(4, 3, 2), b(6)], ['x', 'w', 'b']],
    ['dilation 2', [attr.ints('dilations', [2, 2]), attr.ints('pads', [1, 2, 0, 1])], [w(4, 2, 3)], ['x', 'w']],
  ];
  for (const [label, attrs, inits, inputs] of cases) await one(t, `ConvTranspose ${label}`, { op: 'ConvTranspose', attrs, inputs, inits });
});

t.test('BatchNormalization: folded into Conv, with Relu fused, and standalone', async (t) => {
  const c = 5;
  const stats = () => [
    f32('s', [c], rand([c], 0.5, 1.5).data), f32('bb', [c], rand([c]).data), f32('m', [c], rand([c]).data), f32('v', [c], rand([c], 0.2, 1.2).data),
  ];
  const w = f32('w', [c, 4, 3, 3], rand([c, 4, 3, 3]).data);
  const cb = f32('cb', [c], rand([c]).data);
  for (const [label, convIns, relu] of [['conv+bias -> BN', ['x', 'w', 'cb'], false], ['conv -> BN -> Relu', ['x', 'w'], true]]) {
    const nodes = [makeNode('Conv', convIns, ['c'], [attr.ints('pads', [1, 1, 1, 1])], 'conv'),
      makeNode('BatchNormalization', ['c', 's', 'bb', 'm', 'v'], [relu ? 'bn' : 'y'], [attr.float('epsilon', 1e-3)], 'bn')];
    if (relu) nodes.push(makeNode('Relu', ['bn'], ['y'], [], 'relu'));
    const bytes = buildModel({ nodes, inputs: [['x', X]], outputs: ['y'], initializers: [w, cb, ...stats()] });
    await compareOrt(t, label, bytes, { x: rand(X) });
  }
  // Standalone: BN after an Add (nothing to fold into), opset 9 and 15.
  for (const opset of [9, 15]) {
    const nodes = [makeNode('Add', ['x', 'x'], ['a'], [], 'add'), makeNode('BatchNormalization', ['a', 's', 'bb', 'm', 'v'], ['y'], [], 'bn')];
    const bytes = buildModel({ nodes, inputs: [['x', [2, c, 6, 7]]], outputs: ['y'], initializers: stats(), opset });
    await compareOrt(t, `standalone BN opset ${opset}`, bytes, { x: rand([2, c, 6, 7]) });
  }
  // A Conv whose output is also a graph output is not folded (BN runs standalone).
  const nodes = [makeNode('Conv', ['x', 'w'], ['c'], [], 'conv'), makeNode('BatchNormalization', ['c', 's', 'bb', 'm', 'v'], ['y'], [], 'bn')];
  const bytes = buildModel({ nodes, inputs: [['x', X]], outputs: ['y', 'c'], initializers: [w, ...stats()] });
  await compareOrt(t, 'conv output also returned', bytes, { x: rand(X) });
});

t.test('activations: Relu, LeakyRelu, PRelu, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish', async (t) => {
  const x = [2, 3, 5, 7];
  await one(t, 'Relu', { op: 'Relu', x });
  await one(t, 'LeakyRelu default', { op: 'LeakyRelu', x });
  await one(t, 'LeakyRelu alpha 0.2', { op: 'LeakyRelu', attrs: [attr.float('alpha', 0.2)], x });
  await one(t, 'PRelu slope [C,1,1]', { op: 'PRelu', inputs: ['x', 'sl'], inits: [f32('sl', [3, 1, 1], [0.1, -0.3, 0.7])], x });
  await one(t, 'PRelu slope [1]', { op: 'PRelu', inputs: ['x', 'sl'], inits: [f32('sl', [1], [0.25])], x });
  await one(t, 'PRelu slope [W] (numpy broadcast)', { op: 'PRelu', inputs: ['x', 'sl'], inits: [f32('sl', [7], rand([7]).data)], x });
  await one(t, 'Sigmoid', { op: 'Sigmoid', x });
  await one(t, 'Tanh', { op: 'Tanh', x });
  await one(t, 'HardSigmoid default', { op: 'HardSigmoid', x });
  await one(t, 'HardSigmoid alpha beta', { op: 'HardSigmoid', attrs: [attr.float('alpha', 0.3), attr.float('beta', 0.4)], x });
  await one(t, 'HardSwish', { op: 'HardSwish', x, opset: 14 });
  await one(t, 'Clip opset 6-10 attributes', { op: 'Clip', attrs: [attr.float('min', -0.3), attr.float('max', 0.5)], x, opset: 10 });
  await one(t, 'Clip opset 10 min only', { op: 'Clip', attrs: [attr.float('min', 0)], x, opset: 10 });
  await one(t, 'Clip opset 13 inputs', { op: 'Clip', inputs: ['x', 'lo', 'hi'], inits: [f32('lo', [], [-0.2]), f32('hi', [], [0.6])], x, opset: 13 });
  await one(t, 'Clip opset 13 max only', { op: 'Clip', inputs: ['x', '', 'hi'], inits: [f32('hi', [], [0.1])], x, opset: 13 });
  await one(t, 'Clip opset 13 none (identity)', { op: 'Clip', inputs: ['x'], x, opset: 13 });
  await one(t, 'Clip as Relu6', { op: 'Clip', inputs: ['x', 'lo', 'hi'], inits: [f32('lo', [], [0]), f32('hi', [], [6])], x: [1, 2, 3, 3], opset: 12 });
});

t.test('Softmax: axis semantics before and after opset 13', async (t) => {
  const x = [2, 3, 4, 5];
  await one(t, 'Softmax opset 11 axis 1 (coerced to 2-D)', { op: 'Softmax', attrs: [attr.int('axis', 1)], x, opset: 11 });
  await one(t, 'Softmax opset 11 default axis', { op: 'Softmax', x, opset: 11 });
  await one(t, 'Softmax opset 11 axis 2', { op: 'Softmax', attrs: [attr.int('axis', 2)], x, opset: 11 });
  await one(t, 'Softmax opset 11 axis -1', { op: 'Softmax', attrs: [attr.int('axis', -1)], x, opset: 11 });
  await one(t, 'Softmax opset 13 axis 1', { op: 'Softmax', attrs: [attr.int('axis', 1)], x, opset: 13 });
  await one(t, 'Softmax opset 13 default (-1)', { op: 'Softmax', x, opset: 13 });
});

t.test('pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean', async (t) => {
  const x = [1, 3, 13, 12];
  const cases = [
    ['MaxPool 2x2', 'MaxPool', [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])], 17],
    ['MaxPool 3x3 stride 1 (default)', 'MaxPool', [attr.ints('kernel_shape', [3, 3])], 17],
    ['MaxPool ceil pads', 'MaxPool', [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 0, 1, 1]), attr.int('ceil_mode', 1)], 17],
    ['MaxPool dilation', 'MaxPool', [attr.ints('kernel_shape', [2, 3]), attr.ints('dilations', [2, 2])], 12],
    ['MaxPool SAME_UPPER', 'MaxPool', [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_UPPER')], 17],
    ['MaxPool SAME_LOWER', 'MaxPool', [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_LOWER')], 17],
    ['MaxPool opset 7', 'MaxPool', [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])], 7],
    ['AveragePool exclude pad', 'AveragePool', [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])], 17],
    ['AveragePool include pad', 'AveragePool', [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.int('count_include_pad', 1)], 17],
    ['AveragePool ceil', 'AveragePool', [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.int('ceil_mode', 1)], 17],
    ['AveragePool SAME_UPPER', 'AveragePool', [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_UPPER')], 17],
  ];
  for (const [label, op, attrs, opset] of cases) await one(t, label, { op, attrs, x, opset });
  await one(t, 'GlobalAveragePool', { op: 'GlobalAveragePool', x });
  await one(t, 'GlobalMaxPool', { op: 'GlobalMaxPool', x });
  await one(t, 'ReduceMean [2,3] keepdims', { op: 'ReduceMean', attrs: [attr.ints('axes', [2, 3])], x, opset: 13 });
  await one(t, 'ReduceMean [-1,-2] no keepdims', { op: 'ReduceMean', attrs: [attr.ints('axes', [-1, -2]), attr.int('keepdims', 0)], x, opset: 13 });
  await one(t, 'ReduceMean opset 18 axes input', { op: 'ReduceMean', inputs: ['x', 'ax'], inits: [i64('ax', [2, 3])], x, opset: 18 });
});

t.test('Add, Sub, Mul, Div with broadcasting (run-time and constant operands)', async (t) => {
  const x = [2, 3, 4, 5];
  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    await one(t, `${op} x, x`, { op, inputs: ['x', 'x'], x });
    await one(t, `${op} x, const [C,1,1]`, { op, inputs: ['x', 'c'], inits: [f32('c', [3, 1, 1], rand([3, 1, 1], 0.5, 2).data)], x });
    await one(t, `${op} const scalar, x`, { op, inputs: ['c', 'x'], inits: [f32('c', [], [1.5])], x });
    const z = rand([1, 3, 1, 5], 0.5, 2);
    await one(t, `${op} x, run-time [1,3,1,5]`, { op, inputs: ['x', 'z'], x, extraInputs: [['z', z]] });
    const w = rand([4, 1], 0.5, 2);
    await one(t, `${op} run-time [4,1], x`, { op, inputs: ['z', 'x'], x, extraInputs: [['z', w]] });
  }
});

t.test('Concat, Slice, Pad', async (t) => {
  const x = [1, 3, 8, 9];
  await one(t, 'Concat axis 1 with a constant', { op: 'Concat', inputs: ['x', 'c', 'x'], attrs: [attr.int('axis', 1)], inits: [f32('c', [1, 2, 8, 9], rand([1, 2, 8, 9]).data)], x });
  await one(t, 'Concat axis -1', { op: 'Concat', inputs: ['x', 'x'], attrs: [attr.int('axis', -1)], x });
  await one(t, 'Slice opset 9 attributes', { op: 'Slice', attrs: [attr.ints('starts', [1, 2]), attr.ints('ends', [7, 100]), attr.ints('axes', [2, 3])], x, opset: 9 });
  await one(t, 'Slice opset 13 negative starts, INT64_MAX ends', {
    op: 'Slice', inputs: ['x', 'st', 'en', 'ax'], inits: [i64('st', [-6, 1]), i64('en', [2 ** 53, 8]), i64('ax', [2, 3])], x,
  });
  // INT64_MAX itself, written as raw bytes (beyond what JS numbers hold exactly).
  const big = i64('en', [0]);
  new DataView(big.rawData.buffer).setBigInt64(0, 9223372036854775807n, true);
  await one(t, 'Slice ends INT64_MAX', { op: 'Slice', inputs: ['x', 'st', 'en', 'ax'], inits: [i64('st', [2]), big, i64('ax', [3])], x });
  await one(t, 'Slice negative steps', {
    op: 'Slice', inputs: ['x', 'st', 'en', 'ax', 'sp'], inits: [i64('st', [-1, 7]), i64('en', [-100, 0]), i64('ax', [-1, 2]), i64('sp', [-2, -3])], x,
  });
  await one(t, 'Slice channels, step 2', { op: 'Slice', inputs: ['x', 'st', 'en', 'ax', 'sp'], inits: [i64('st', [0]), i64('en', [3]), i64('ax', [1]), i64('sp', [2])], x });
  await one(t, 'Pad opset 10 constant', { op: 'Pad', attrs: [attr.ints('pads', [0, 0, 1, 2, 0, 0, 3, 0]), attr.float('value', 0.5)], x, opset: 10 });
  await one(t, 'Pad opset 10 reflect', { op: 'Pad', attrs: [attr.string('mode', 'reflect'), attr.ints('pads', [0, 0, 2, 1, 0, 0, 1, 2])], x, opset: 10 });
  await one(t, 'Pad opset 13 edge', { op: 'Pad', attrs: [attr.string('mode', 'edge')], inputs: ['x', 'p'], inits: [i64('p', [0, 0, 3, 1, 0, 0, 0, 2])], x, opset: 13 });
  await one(t, 'Pad opset 13 constant value input', { op: 'Pad', inputs: ['x', 'p', 'v'], inits: [i64('p', [0, 0, 1, 1, 0, 0, 1, 1]), f32('v', [], [-2])], x, opset: 13 });
  await one(t, 'Pad opset 13 negative (crop)', { op: 'Pad', inputs: ['x', 'p'], inits: [i64('p', [0, 0, -1, 2, 0, 0, 1, -3])], x, opset: 13 });
  await one(t, 'Pad opset 18 axes', { op: 'Pad', inputs: ['x', 'p', '', 'ax'], attrs: [attr.string('mode', 'reflect')], inits: [i64('p', [2, 1, 1, 2]), i64('ax', [-1, 2])], x, opset: 18 });
});

t.test('Resize and Upsample: modes, coordinate modes, nearest modes, scales and sizes, opsets 7 to 19', async (t) => {
  const x = [1, 2, 5, 7];
  const empty = f32('roi', [0], []);
  const sc = (v) => f32('sc', [4], v);
  const sz = (v) => i64('sz', v);
  // Upsample (opset 7 attribute scales, opset 9 input)
  await one(t, 'Upsample opset 7 nearest', { op: 'Upsample', attrs: [attr.floats('scales', [1, 1, 2, 3])], x, opset: 7 });
  await one(t, 'Upsample opset 7 linear', { op: 'Upsample', attrs: [attr.string('mode', 'linear'), attr.floats('scales', [1, 1, 2, 2])], x, opset: 7 });
  await one(t, 'Upsample opset 9 nearest', { op: 'Upsample', inputs: ['x', 'sc'], inits: [sc([1, 1, 2, 2])], x, opset: 9 });
  await one(t, 'Upsample opset 9 linear', { op: 'Upsample', inputs: ['x', 'sc'], attrs: [attr.string('mode', 'linear')], inits: [sc([1, 1, 3, 2])], x, opset: 9 });
  // Resize opset 10
  await one(t, 'Resize opset 10 nearest x2', { op: 'Resize', inputs: ['x', 'sc'], inits: [sc([1, 1, 2, 2])], x, opset: 10 });
  await one(t, 'Resize opset 10 nearest down', { op: 'Resize', inputs: ['x', 'sc'], inits: [sc([1, 1, 0.6, 0.5])], x, opset: 10 });
  await one(t, 'Resize opset 10 linear', { op: 'Resize', inputs: ['x', 'sc'], attrs: [attr.string('mode', 'linear')], inits: [sc([1, 1, 2, 1.5])], x, opset: 10 });
  // opset 11/13: every coordinate mode x (nearest with every nearest mode | linear), scales and sizes
  for (const opset of [11, 13]) {
    for (const coord of ['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel']) {
      const lin = [attr.string('mode', 'linear'), attr.string('coordinate_transformation_mode', coord)];
      const inputs = opset === 11 ? ['x', 'roi', 'sc'] : ['x', '', 'sc'];
      const inits = opset === 11 ? [empty] : [];
      await one(t, `Resize ${opset} linear ${coord} scales`, { op: 'Resize', inputs, attrs: lin, inits: [...inits, sc([1, 1, 2.5, 1.5])], x, opset });
      await one(t, `Resize ${opset} linear ${coord} sizes down`, {
        op: 'Resize', inputs: opset === 11 ? ['x', 'roi', 'e', 'sz'] : ['x', '', '', 'sz'], attrs: lin,
        inits: [...inits, ...(opset === 11 ? [f32('e', [0], [])] : []), sz([1, 2, 3, 4])], x, opset,
      });
      for (const nm of ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']) {
        const near = [attr.string('mode', 'nearest'), attr.string('coordinate_transformation_mode', coord), attr.string('nearest_mode', nm)];
        await one(t, `Resize ${opset} nearest ${coord} ${nm}`, { op: 'Resize', inputs, attrs: near, inits: [...inits, sc([1, 1, 3, 0.8])], x, opset });
      }
    }
  }
  await one(t, 'Resize 13 nearest default attrs sizes up', { op: 'Resize', inputs: ['x', '', '', 'sz'], inits: [sz([1, 2, 12, 9])], x, opset: 13 });
  await one(t, 'Resize 18 axes [2,3] sizes', { op: 'Resize', inputs: ['x', '', '', 'sz'], attrs: [attr.ints('axes', [2, 3]), attr.string('mode', 'linear')], inits: [sz([9, 4])], x, opset: 18 });
  await one(t, 'Resize 18 keep_aspect_ratio not_larger', {
    op: 'Resize', inputs: ['x', '', '', 'sz'], attrs: [attr.ints('axes', [2, 3]), attr.string('keep_aspect_ratio_policy', 'not_larger')], inits: [sz([10, 10])], x, opset: 18,
  });
  await one(t, 'Resize 19 linear scales', { op: 'Resize', inputs: ['x', '', 'sc'], attrs: [attr.string('mode', 'linear')], inits: [sc([1, 1, 1.7, 2.2])], x, opset: 19 });
});

t.test('classifier heads: Gemm, MatMul, Flatten, Reshape, Transpose, Squeeze, Unsqueeze', async (t) => {
  const x = [2, 3, 4, 4];
  const K = 48;
  const nodes = (extra) => [makeNode('Flatten', ['x'], ['f'], [attr.int('axis', 1)], 'flat'), ...extra];
  const run = async (label, extra, inits, opset = 13) => {
    const bytes = buildModel({ nodes: nodes(extra), inputs: [['x', x]], outputs: ['y'], initializers: inits, opset });
    await compareOrt(t, label, bytes, { x: rand(x) });
  };
  await run('Flatten + Gemm transB bias', [makeNode('Gemm', ['f', 'w', 'b'], ['y'], [attr.int('transB', 1)], 'fc')],
    [f32('w', [10, K], rand([10, K]).data), f32('b', [10], rand([10]).data)]);
  await run('Gemm alpha beta C [M,N]', [makeNode('Gemm', ['f', 'w', 'c'], ['y'], [attr.float('alpha', 0.5), attr.float('beta', 2)], 'fc')],
    [f32('w', [K, 7], rand([K, 7]).data), f32('c', [2, 7], rand([2, 7]).data)]);
  await run('Gemm transA', [makeNode('Transpose', ['f'], ['ft'], [], 'tr'), makeNode('Gemm', ['ft', 'w'], ['y'], [attr.int('transA', 1), attr.int('transB', 1)], 'fc')],
    [f32('w', [5, K], rand([5, K]).data)]);
  await run('Gemm opset 7 C broadcast [1]', [makeNode('Gemm', ['f', 'w', 'c'], ['y'], [attr.int('transB', 1)], 'fc')],
    [f32('w', [4, K], rand([4, K]).data), f32('c', [1], [0.3])], 7);
  await run('MatMul const weight', [makeNode('MatMul', ['f', 'w'], ['y'], [], 'mm')], [f32('w', [K, 9], rand([K, 9]).data)]);
  // A big batch for the GEMM-plan path (M > 4).
  {
    const xb = [9, 3, 4, 4];
    const bytes = buildModel({ nodes: nodes([makeNode('Gemm', ['f', 'w', 'b'], ['y'], [attr.int('transB', 1)], 'fc')]), inputs: [['x', xb]], outputs: ['y'],
      initializers: [f32('w', [33, K], rand([33, K]).data), f32('b', [33], rand([33]).data)] });
    await compareOrt(t, 'Gemm M=9 (packed GEMM path)', bytes, { x: rand(xb) });
    const bytes2 = buildModel({ nodes: nodes([makeNode('Gemm', ['f', 'w'], ['y'], [], 'fc')]), inputs: [['x', xb]], outputs: ['y'],
      initializers: [f32('w', [K, 21], rand([K, 21]).data)] });
    await compareOrt(t, 'Gemm M=9 transB 0', bytes2, { x: rand(xb) });
  }
  // MatMul on 3-D and batched run-time operands, 1-D operands.
  await one(t, 'MatMul 4-D x [W, N] weight', { op: 'MatMul', inputs: ['x', 'w'], inits: [f32('w', [4, 6], rand([4, 6]).data)], x });
  await one(t, 'MatMul batched run-time', { op: 'MatMul', inputs: ['x', 'z'], x: [2, 3, 5, 4], extraInputs: [['z', rand([3, 4, 6])]] });
  await one(t, 'MatMul 1-D weight', { op: 'MatMul', inputs: ['x', 'w'], inits: [f32('w', [4], rand([4]).data)], x });
  await one(t, 'Reshape 0 and -1', { op: 'Reshape', inputs: ['x', 's'], inits: [i64('s', [0, -1, 2])], x });
  await one(t, 'Transpose NCHW -> NHWC', { op: 'Transpose', attrs: [attr.ints('perm', [0, 2, 3, 1])], x });
  await one(t, 'Transpose default (reverse)', { op: 'Transpose', x });
  await one(t, 'Squeeze + Unsqueeze opset 11', { op: 'Unsqueeze', attrs: [attr.ints('axes', [0, 3])], x: [3, 4, 5], opset: 11 });
  await one(t, 'Squeeze opset 13 axes input', { op: 'Squeeze', inputs: ['x', 'a'], inits: [i64('a', [0, 2])], x: [1, 4, 1, 5], opset: 13 });
  await one(t, 'Squeeze opset 11 all ones', { op: 'Squeeze', x: [1, 4, 1, 5], opset: 11 });
});

t.test('Dropout and Identity removed; ArgMax (int32); Cast', async (t) => {
  const x = [2, 5, 6, 7];
  const bytes = buildModel({
    nodes: [makeNode('Identity', ['x'], ['i'], [], 'id'), makeNode('Dropout', ['i'], ['d'], [], 'drop'), makeNode('Relu', ['d'], ['y'], [], 'relu')],
    inputs: [['x', x]], outputs: ['y'], opset: 13,
  });
  await compareOrt(t, 'Identity -> Dropout -> Relu', bytes, { x: rand(x) });
  const sess = await fcnkit.InferenceSession.create(bytes);
  t.equal(sess.outputNames[0], 'y');
  await one(t, 'Dropout opset 7 (ratio attribute)', { op: 'Dropout', attrs: [attr.float('ratio', 0.5)], x, opset: 7 });
  await one(t, 'ArgMax axis 1 keepdims', { op: 'ArgMax', attrs: [attr.int('axis', 1)], x, outElem: DataType.INT64 });
  await one(t, 'ArgMax axis 1 no keepdims', { op: 'ArgMax', attrs: [attr.int('axis', 1), attr.int('keepdims', 0)], x, outElem: DataType.INT64 });
  await one(t, 'ArgMax default axis 0', { op: 'ArgMax', x, outElem: DataType.INT64 });
  const am = buildModel({
    nodes: [makeNode('Softmax', ['x'], ['p'], [attr.int('axis', 1)], 'sm'), makeNode('ArgMax', ['p'], ['y'], [attr.int('axis', 1), attr.int('keepdims', 0)], 'am')],
    inputs: [['x', x]], outputs: [['y', DataType.INT64]],
  });
  const s2 = await fcnkit.InferenceSession.create(am);
  t.equal(s2.outputMetadata[0].dtype, 'int32', 'ArgMax output metadata: int32');
  await one(t, 'Cast float -> float', { op: 'Cast', attrs: [attr.int('to', DataType.FLOAT)], x });
});

t.test('shape subgraphs: Resize sizes and Reshape targets computed from Shape', async (t) => {
  // sizes = concat(shape(x)[0:2], shape(x)[2:4] * 2) : a PyTorch interpolate(scale_factor=2) export.
  const nodes = [
    makeNode('Shape', ['x'], ['shp'], [], 'shape'),
    makeNode('Slice', ['shp', 's0', 's2', 'a0'], ['nc'], [], 'slice_nc'),
    makeNode('Slice', ['shp', 's2', 's4', 'a0'], ['hw'], [], 'slice_hw'),
    makeNode('Cast', ['hw'], ['hwf'], [attr.int('to', DataType.FLOAT)], 'cast1'),
    makeNode('Mul', ['hwf', 'two'], ['hw2f'], [], 'mul'),
    makeNode('Floor', ['hw2f'], ['hw2ff'], [], 'floor'),
    makeNode('Cast', ['hw2ff'], ['hw2'], [attr.int('to', DataType.INT64)], 'cast2'),
    makeNode('Concat', ['nc', 'hw2'], ['sizes'], [attr.int('axis', 0)], 'concat'),
    makeNode('Resize', ['x', '', '', 'sizes'], ['r'], [attr.string('mode', 'linear'), attr.string('coordinate_transformation_mode', 'pytorch_half_pixel')], 'resize'),
    // flatten back with a Reshape built from Gather + Unsqueeze + Concat
    makeNode('Gather', ['shp', 'zero'], ['n'], [attr.int('axis', 0)], 'gather'),
    makeNode('Unsqueeze', ['n', 'a0'], ['n1'], [], 'unsq'),
    makeNode('Concat', ['n1', 'minus1'], ['target'], [attr.int('axis', 0)], 'concat2'),
    makeNode('Reshape', ['r', 'target'], ['y'], [], 'reshape'),
  ];
  const inits = [i64('s0', [0]), i64('s2', [2]), i64('s4', [4]), i64('a0', [0]), f32('two', [], [1.75]), i64('zero', [0], []), i64('minus1', [-1])];
  const bytes = buildModel({ nodes, inputs: [['x', ['N', 3, 'H', 'W']]], outputs: ['y', 'r'], initializers: inits, opset: 13 });
  for (const shape of [[1, 3, 6, 7], [2, 3, 9, 4]]) await compareOrt(t, `Resize from Shape ${shape}`, bytes, { x: rand(shape) });
  // Constant / ConstantOfShape / Range / Where / Equal / Expand folded (the pattern of torch's view(-1)).
  const n2 = [
    makeNode('Constant', [], ['c4'], [attr.tensor('value', i64('c4v', [4]))], 'const'),
    makeNode('ConstantOfShape', ['c4'], ['ones'], [attr.tensor('value', i64('one', [1]))], 'cos'),
    makeNode('Range', ['r0', 'r4', 'r1'], ['rng'], [], 'range'),
    makeNode('Equal', ['rng', 'r1v'], ['eq'], [], 'eq'),
    makeNode('Shape', ['x'], ['sh'], [], 'shape'),
    makeNode('Where', ['eq', 'ones', 'sh'], ['t'], [], 'where'),
    makeNode('Mul', ['t', 'sh'], ['t2'], [], 'mul'),
    makeNode('Expand', ['x', 'ones'], ['xe'], [], 'expand_ident'),
    makeNode('Relu', ['x'], ['rx'], [], 'relu'),
    makeNode('Reshape', ['rx', 'flat'], ['y'], [], 'reshape'),
  ];
  // (Expand of run-time data is unsupported, so it is not on an output path: it is dropped at load.)
  const bytes2 = buildModel({
    nodes: n2, inputs: [['x', ['N', 2, 'H', 'W']]], outputs: ['y', ['t2', DataType.INT64]], opset: 13,
    initializers: [i64('r0', [0], []), i64('r4', [4], []), i64('r1', [1], []), i64('r1v', [1], []), i64('flat', [-1])],
  });
  const got = await compareOrt(t, 'ConstantOfShape / Range / Where folded; Reshape(-1)', bytes2, { x: rand([2, 2, 3, 5]) });
  t.same(Array.from(got.t2.data), [2, 2, 3, 5].map((d, i) => (i === 1 ? d : d * d)), 'folded int output returned as int32');
});

t.test('dynamic input dims and inputShapes', async (t) => {
  const w = f32('w', [4, 3, 3, 3], rand([4, 3, 3, 3]).data);
  const bytes = buildModel({
    nodes: [makeNode('Conv', ['x', 'w'], ['c'], [attr.ints('pads', [1, 1, 1, 1])], 'conv'), makeNode('Relu', ['c'], ['y'], [], 'relu')],
    inputs: [['x', [null, 3, 'H', 'W']]], outputs: ['y'], initializers: [w],
  });
  const sess = await fcnkit.InferenceSession.create(bytes);
  t.same(sess.inputMetadata[0].shape, [null, 3, 'H', 'W'], 'symbolic dims reported');
  for (const shape of [[1, 3, 5, 6], [3, 3, 17, 2], [1, 3, 5, 6]]) await compareOrt(t, `dynamic ${shape}`, bytes, { x: rand(shape) });
  const fixed = await fcnkit.InferenceSession.create(bytes, { inputShapes: { x: [2, 3, 8, 8] } });
  t.same(fixed.inputMetadata[0].shape, [2, 3, 8, 8], 'inputShapes fixes the dims');
  await t.rejects(fixed.run({ x: rand([1, 3, 8, 8]) }), { code: 'SHAPE_MISMATCH' }, 'other shapes refused');
  t.ok((await fixed.run({ x: rand([2, 3, 8, 8]) })).y, 'the fixed shape runs');
  await t.rejects(fcnkit.InferenceSession.create(bytes, { inputShapes: { x: [1, 4, 8, 8] } }), { code: 'SHAPE_MISMATCH' }, 'a shape against a fixed dim refused');
});

t.test('unsupported ops are refused at load with UNSUPPORTED_OP naming op, node and opset', async (t) => {
  const cases = [
    ['LRN', [makeNode('LRN', ['x'], ['y'], [attr.int('size', 3)], 'norm1')], 13, /LRN.*norm1.*opset 13/],
    ['Resize cubic', [makeNode('Resize', ['x', '', 'sc'], ['y'], [attr.string('mode', 'cubic')], 'up')], 13, /Resize.*'up'.*cubic/],
    ['Resize tf_crop_and_resize', [makeNode('Resize', ['x', '', 'sc'], ['y'], [attr.string('coordinate_transformation_mode', 'tf_crop_and_resize')], 'up')], 13, /tf_crop_and_resize/],
    ['Resize half_pixel_symmetric', [makeNode('Resize', ['x', '', 'sc'], ['y'], [attr.string('coordinate_transformation_mode', 'half_pixel_symmetric')], 'up')], 19, /half_pixel_symmetric/],
    ['Pad wrap', [makeNode('Pad', ['x', 'p'], ['y'], [attr.string('mode', 'wrap')], 'pad')], 19, /wrap/],
    ['ArgMax select_last_index', [makeNode('ArgMax', ['x'], ['y'], [attr.int('select_last_index', 1)], 'am')], 13, /select_last_index/],
    ['custom domain', [{ ...makeNode('Foo', ['x'], ['y'], [], 'foo'), domain: 'com.example' }], 13, /com\.example/],
    ['Conv3D', [makeNode('Conv', ['x', 'w3'], ['y'], [], 'c3')], 13, /2-D/],
  ];
  const inits = [f32('sc', [4], [1, 1, 2, 2]), i64('p', [0, 0, 1, 1, 0, 0, 1, 1]), f32('w3', [2, 4, 1, 1, 1], rand([2, 4, 1, 1, 1]).data)];
  for (const [label, nodes, opset, re] of cases) {
    const used = inits.filter((i) => nodes.some((n) => n.input.includes(i.name)));
    const bytes = buildModel({ nodes, inputs: [['x', X]], outputs: ['y'], initializers: used, opset });
    try {
      fcnkit.importOnnx(bytes);
      t.fail(`${label}: accepted`);
    } catch (err) {
      t.equal(err.code, 'UNSUPPORTED_OP', `${label}: UNSUPPORTED_OP`);
      t.match(err.message, re, `${label}: ${err.message}`);
    }
  }
  // Opsets outside 7..21.
  for (const opset of [6, 22]) {
    const bytes = buildModel({ nodes: [makeNode('Relu', ['x'], ['y'], [], 'r')], inputs: [['x', X]], outputs: ['y'], opset });
    t.throws(() => fcnkit.importOnnx(bytes), { code: 'UNSUPPORTED_OP', message: new RegExp(`opset ${opset}`) }, `opset ${opset} refused`);
  }
  // An unsupported node that feeds no output is dropped, not refused.
  const dead = buildModel({ nodes: [makeNode('LRN', ['x'], ['z'], [attr.int('size', 3)], 'unused'), makeNode('Relu', ['x'], ['y'], [], 'r')], inputs: [['x', X]], outputs: ['y'] });
  t.ok(fcnkit.importOnnx(dead), 'dead unsupported node ignored');
});

// ---- whole networks -------------------------------------------------------------------------

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { withFloat16Weights, ortRun } = require('./helpers/onnx-build');
const { normError } = require('./helpers');

async function randomizeBatchNorm(model) {
  const w = model.getWeights();
  for (const [name, p] of Object.entries(w)) {
    if (!/\.bn\d\./.test(name)) continue;
    for (let i = 0; i < p.data.length; i++) {
      if (name.endsWith('running_var')) p.data[i] = 0.3 + Math.random();
      else if (name.endsWith('.weight')) p.data[i] = 0.5 + Math.random();
      else p.data[i] = Math.random() - 0.5;
    }
  }
  await model.loadWeights(w);
}

t.test('FCN-8s and U-Net exports re-imported (float32 and float16 weights, several sizes)', async (t) => {
  const nets = [
    ['fcn-8s', fcnkit.models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 5, seed: 7 }), [[1, 3, 37, 45], [2, 3, 64, 50]]],
    ['fcn-32s', fcnkit.models.fcn({ variant: '32s', widthMultiplier: 1 / 16, numClasses: 3, seed: 8 }), [[1, 3, 29, 53]]],
    ['unet valid bn', fcnkit.models.unet({ inChannels: 3, numClasses: 4, levels: 3, baseChannels: 8, batchNorm: true, seed: 2 }), [[1, 3, 44, 44], [1, 3, 60, 76]]],
    ['unet same', fcnkit.models.unet({ inChannels: 1, numClasses: 2, levels: 4, baseChannels: 8, padding: 'same', seed: 3 }), [[2, 1, 32, 48]]],
  ];
  for (const [label, model, shapes] of nets) {
    if (label.startsWith('unet valid')) await randomizeBatchNorm(model);
    const bytes = model.exportOnnxBytes();
    const half = withFloat16Weights(bytes);
    const sess = await fcnkit.InferenceSession.create(bytes);
    const sessHalf = await fcnkit.InferenceSession.create(half);
    for (const shape of shapes) {
      const x = randTensor(shape);
      const ref = (await ortRun(bytes, { input: x })).score;
      const own = await model.run(x);
      const y = (await sess.run({ input: x })).score;
      t.same([...y.shape], ref.dims, `${label} ${shape}: shape`);
      t.ok(normError(y.data, ref.data) <= 1e-4, `${label} ${shape}: vs onnxruntime ${normError(y.data, ref.data).toExponential(2)}`);
      t.ok(normError(y.data, own.data) <= 1e-5, `${label} ${shape}: vs the Model itself ${normError(y.data, own.data).toExponential(2)}`);
      const refHalf = (await ortRun(half, { input: x })).score;
      const yh = (await sessHalf.run({ input: x })).score;
      t.ok(normError(yh.data, refHalf.data) <= 1e-4, `${label} ${shape} float16 weights: vs onnxruntime ${normError(yh.data, refHalf.data).toExponential(2)}`);
      // Against the float32 network the difference is the weights' float16 rounding itself
      // (about 5e-4 relative per weight, compounding over the layers), not fcnkit's.
      t.ok(normError(yh.data, ref.data) <= 1e-2, `${label} ${shape} float16 weights: vs float32 weights ${normError(yh.data, ref.data).toExponential(2)} (rounding only)`);
    }
    sess.dispose();
    sessHalf.dispose();
    model.dispose();
  }
});

t.test('external data: initializers in a side file, resolved in the model folder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-ext-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = fcnkit.models.fcn({ variant: '32s', widthMultiplier: 1 / 16, numClasses: 3, seed: 4 });
  const m = fcnkit.importOnnx ? require('../dist/io/onnx-proto').decodeModel(model.exportOnnxBytes()) : null;
  // Move every float initializer to weights/data.bin (aligned at 64 bytes, as onnx's save does).
  fs.mkdirSync(path.join(dir, 'weights'));
  const chunks = [];
  let offset = 0;
  for (const init of m.graph.initializer) {
    if (!init.rawData || init.rawData.length < 64) continue;
    const pad = (64 - (offset % 64)) % 64;
    if (pad) chunks.push(Buffer.alloc(pad));
    offset += pad;
    chunks.push(Buffer.from(init.rawData));
    init.externalData = [{ key: 'location', value: 'weights/data.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(init.rawData.length) }];
    init.dataLocation = 1;
    offset += init.rawData.length;
    delete init.rawData;
  }
  fs.writeFileSync(path.join(dir, 'weights', 'data.bin'), Buffer.concat(chunks));
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, require('../dist/io/onnx-proto').encodeModel(m));
  const x = randTensor([1, 3, 33, 41]);
  const sessOrt = await require('onnxruntime-node').InferenceSession.create(file);
  const ref = (await sessOrt.run({ input: new (require('onnxruntime-node').Tensor)('float32', x.data, x.shape) })).score;
  const sess = await fcnkit.InferenceSession.create(file);
  const y = (await sess.run({ input: x })).score;
  t.ok(normError(y.data, ref.data) <= 1e-4, `external data model vs onnxruntime ${normError(y.data, ref.data).toExponential(2)}`);
  t.ok(normError(y.data, (await model.run(x)).data) <= 1e-5, 'and vs the Model');
  // Given as bytes, the importer cannot know the folder unless told.
  await t.rejects(fcnkit.InferenceSession.create(fs.readFileSync(file)), { code: 'BAD_MODEL', message: /external file/ }, 'bytes without baseDir refused');
  t.ok(fcnkit.importOnnx(fs.readFileSync(file), { baseDir: dir }), 'bytes with baseDir load');
});

t.test('toModel: exports come back as Models with the same parameters and outputs', async (t) => {
  const nets = [
    ['fcn-16s', fcnkit.models.fcn({ variant: '16s', widthMultiplier: 1 / 16, numClasses: 3, seed: 9 }), [1, 3, 41, 39]],
    ['fcn-8s-atonce', fcnkit.models.fcn({ variant: '8s-atonce', widthMultiplier: 1 / 16, numClasses: 3, seed: 9 }), [1, 3, 35, 50]],
    ['unet valid bn', fcnkit.models.unet({ inChannels: 2, numClasses: 3, levels: 3, baseChannels: 4, batchNorm: true, seed: 4 }), [1, 2, 60, 44]],
    ['unet same', fcnkit.models.unet({ inChannels: 1, numClasses: 2, levels: 3, baseChannels: 4, padding: 'same', seed: 5 }), [1, 1, 24, 16]],
  ];
  for (const [label, model, shape] of nets) {
    if (label.includes('bn')) await randomizeBatchNorm(model);
    const imported = fcnkit.importOnnx(model.exportOnnxBytes());
    t.type(imported.toModel, 'function', `${label}: expressible`);
    const back = imported.toModel();
    t.same(back.parameters(), model.parameters(), `${label}: the same parameters (names and shapes, in order)`);
    const x = randTensor(shape);
    t.ok(normError((await back.run(x)).data, (await model.run(x)).data) <= 1e-5, `${label}: the same output`);
    // And its own export runs in onnxruntime like the original.
    const ref = (await ortRun(back.exportOnnxBytes(), { input: x })).score;
    t.ok(normError((await back.run(x)).data, ref.data) <= 1e-4, `${label}: re-export agrees with onnxruntime`);
    back.dispose();
    model.dispose();
  }
  // Hand-built: SAME_UPPER conv, pool, and the Flatten -> Gemm -> Relu head with opaque initializer names.
  const nodes = [
    makeNode('Conv', ['x', 'onnx::Conv_1', 'onnx::Conv_2'], ['c'], [attr.string('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2, 2])], 'Conv_0'),
    makeNode('Relu', ['c'], ['r'], [], 'Relu_1'),
    makeNode('MaxPool', ['r'], ['p'], [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])], 'MaxPool_2'),
    makeNode('Flatten', ['p'], ['f'], [attr.int('axis', 1)], 'Flatten_3'),
    makeNode('Gemm', ['f', 'fc.weight', 'fc.bias'], ['g'], [attr.int('transB', 1)], 'Gemm_4'),
    makeNode('Relu', ['g'], ['gr'], [], 'Relu_5'),
    makeNode('Unsqueeze', ['gr', 'axes23'], ['y'], [], 'Unsqueeze_6'),
  ];
  const inits = [f32('onnx::Conv_1', [4, 3, 3, 3], rand([4, 3, 3, 3]).data), f32('onnx::Conv_2', [4], rand([4]).data),
    f32('fc.weight', [6, 4 * 2 * 3], rand([6, 24]).data), f32('fc.bias', [6], rand([6]).data), i64('axes23', [2, 3])];
  const bytes = buildModel({ nodes, inputs: [['x', [1, 3, 8, 11]]], outputs: ['y'], initializers: inits });
  const m = fcnkit.importOnnx(bytes).toModel();
  t.ok(m, 'hand-built head: expressible');
  t.same(m.parameters().map((p) => p.name), ['Conv_0.weight', 'Conv_0.bias', 'fc.weight', 'fc.bias'], 'opaque names fall back to node names; builder-style names are kept');
  const x = rand([1, 3, 8, 11]);
  const ref = (await ortRun(bytes, { x })).y;
  const y = await m.run(x);
  t.same([...y.shape], [1, 6, 1, 1], 'the linear layer keeps NCHW: [N, out, 1, 1]');
  t.ok(normError(y.data, ref.data) <= 1e-4, 'and computes what onnxruntime does');
  // The same head ending 2-D ([N, out]) has no builder form (its layers are NCHW).
  const flat = buildModel({ nodes: nodes.slice(0, -1), inputs: [['x', [1, 3, 8, 11]]], outputs: ['gr'], initializers: inits.slice(0, -1) });
  t.equal(fcnkit.importOnnx(flat).toModel, undefined, 'a 2-D head output: no toModel');
  // Not expressible: Resize.
  const up = buildModel({ nodes: [makeNode('Resize', ['x', '', 'sc'], ['y'], [], 'up')], inputs: [['x', [1, 1, 2, 2]]], outputs: ['y'], initializers: [f32('sc', [4], [1, 1, 2, 2])] });
  t.equal(fcnkit.importOnnx(up).toModel, undefined, 'Resize: no toModel');
});
