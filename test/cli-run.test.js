'use strict';
// `fcnkit run` against onnxruntime-node on an ONNX model built here (a float output and an
// integer ArgMax output), `fcnkit info` against counts worked out by hand, and `fcnkit bench
// --vs onnxruntime`.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const ort = require('onnxruntime-node');
const { onnx, randTensor, normError } = require('./helpers');
const { fcnkit, tmpdir } = require('./helpers/cli');
const { readNpy, writeNpy } = require('../dist/io/npy');

const { DataType } = onnx;

/** x [1, 3, H, W] -> Conv 3x3 (4 maps, pad 1) + Relu -> 'scores'; ArgMax over channels -> 'labels' (int64). */
function buildModel(w, b) {
  return onnx.encodeModel(onnx.makeModel({
    nodes: [
      onnx.makeNode('Conv', ['x', 'w', 'b'], ['conv'], [onnx.attr.ints('pads', [1, 1, 1, 1]), onnx.attr.ints('kernel_shape', [3, 3])], 'conv1'),
      onnx.makeNode('Relu', ['conv'], ['scores/relu:0'], [], 'relu1'),
      onnx.makeNode('ArgMax', ['scores/relu:0'], ['labels'], [onnx.attr.int('axis', 1), onnx.attr.int('keepdims', 1)], 'argmax'),
    ],
    inputs: [onnx.valueInfo('x', DataType.FLOAT, [1, 3, 'H', 'W'])],
    outputs: [onnx.valueInfo('scores/relu:0', DataType.FLOAT, [1, 4, 'H', 'W']), onnx.valueInfo('labels', DataType.INT64, [1, 1, 'H', 'W'])],
    initializers: [onnx.tensorFromFloat32('w', [4, 3, 3, 3], w.data), onnx.tensorFromFloat32('b', [4], b.data)],
    opset: 13,
  }));
}

t.test('run: outputs equal onnxruntime (float32 and int64)', async (t) => {
  const dir = tmpdir(t);
  const w = randTensor([4, 3, 3, 3]);
  const b = randTensor([4]);
  const model = path.join(dir, 'net.onnx');
  fs.writeFileSync(model, buildModel(w, b));
  const x = randTensor([1, 3, 7, 9]);
  const xFile = path.join(dir, 'x.npy');
  await writeNpy(xFile, x);

  const session = await ort.InferenceSession.create(model);
  const ref = await session.run({ x: new ort.Tensor('float32', x.data, [1, 3, 7, 9]) });

  const outDir = path.join(dir, 'out');
  const r = await fcnkit(['run', model, '--input', xFile, '--output', outDir, '--json']);
  t.equal(r.code, 0, r.stderr);
  t.same(r.json().outputs.map((o) => path.basename(o.file)).sort(), ['labels.npy', 'scores_relu_0.npy'], 'one file per output, names made safe');
  const scores = await readNpy(path.join(outDir, 'scores_relu_0.npy'));
  t.same([scores.dtype, scores.shape], ['float32', [1, 4, 7, 9]]);
  t.ok(normError(scores.data, ref['scores/relu:0'].data) < 1e-5, 'scores match onnxruntime');
  const labels = await readNpy(path.join(outDir, 'labels.npy'));
  t.same([labels.dtype, labels.shape], ['int64', [1, 1, 7, 9]], 'integer output written as int64');
  t.same(Array.from(labels.data), Array.from(ref.labels.data), 'labels match onnxruntime');

  // By name, float64 input converted.
  const x64 = path.join(dir, 'x64.npy');
  await writeNpy(x64, { dtype: 'float64', shape: [1, 3, 7, 9], data: Float64Array.from(x.data) });
  const out2 = path.join(dir, 'out2');
  const r2 = await fcnkit(['run', model, '--input', `x=${x64}`, '--output', out2]);
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.stdout, /labels -> .*labels\.npy \(int64 \[1, 1, 7, 9\]\)/);
  const s2 = await readNpy(path.join(out2, 'scores_relu_0.npy'));
  t.ok(normError(s2.data, ref['scores/relu:0'].data) < 1e-5, 'same from a float64 file');
  await session.release();
});

t.test('run: a single output goes to the --output file; errors', async (t) => {
  const dir = tmpdir(t);
  const model = path.join(dir, 'sig.onnx');
  fs.writeFileSync(model, onnx.encodeModel(onnx.makeModel({
    nodes: [onnx.makeNode('Sigmoid', ['x'], ['y'])],
    inputs: [onnx.valueInfo('x', DataType.FLOAT, [2, 3])],
    outputs: [onnx.valueInfo('y', DataType.FLOAT, [2, 3])],
  })));
  const xFile = path.join(dir, 'x.npy');
  await writeNpy(xFile, { dtype: 'float32', shape: [2, 3], data: Float32Array.of(-2, -1, 0, 1, 2, 3) });
  const yFile = path.join(dir, 'y.npy');
  const r = await fcnkit(['run', model, '--input', xFile, '--output', yFile]);
  t.equal(r.code, 0, r.stderr);
  const y = await readNpy(yFile);
  t.same(y.shape, [2, 3]);
  t.ok(Math.abs(y.data[3] - 1 / (1 + Math.exp(-1))) < 1e-6);

  const wrong = path.join(dir, 'wrong.npy');
  await writeNpy(wrong, { dtype: 'float32', shape: [3, 3], data: new Float32Array(9) });
  const bad = await fcnkit(['run', model, '--input', wrong, '--output', yFile]);
  t.equal(bad.code, 1, 'a tensor of the wrong shape: exit 1');
  t.match(bad.stderr, /SHAPE_MISMATCH/);

  const fortran = path.join(dir, 'f.npy');
  const header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
  const pad = 64 - ((10 + header.length + 1) % 64);
  fs.writeFileSync(fortran, Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length + pad + 1, 0]), Buffer.from(header + ' '.repeat(pad) + '\n'), Buffer.alloc(24)]));
  const f = await fcnkit(['run', model, '--input', fortran, '--output', yFile]);
  t.equal(f.code, 1);
  t.match(f.stderr, /INVALID_ARGUMENT.*Fortran order/);

  const u = await fcnkit(['run', model, '--input', `nope=${xFile}`, '--output', yFile]);
  t.equal(u.code, 2, 'an input name the model lacks is bad usage');
  t.match(u.stderr, /no input 'nope'/);
});

t.test('info: op counts, parameters and FLOPs by hand', async (t) => {
  const dir = tmpdir(t);
  const model = path.join(dir, 'net.onnx');
  fs.writeFileSync(model, buildModel(randTensor([4, 3, 3, 3]), randTensor([4])));
  const r = await fcnkit(['info', model, '--shape', '1x3x8x10', '--json']);
  t.equal(r.code, 0, r.stderr);
  const info = r.json();
  t.equal(info.format, 'onnx');
  t.equal(info.parameters, 4 * 3 * 3 * 3 + 4, 'weights + biases');
  t.equal(info.flops, 2 * (4 * 8 * 10) * (3 * 3 * 3), '2 x outputs x (Cin kh kw)');
  t.equal(info.opCounts.conv2d, 1);
  t.equal(info.opCounts.argmax, 1);
  t.same(info.outputShapes['scores/relu:0'], [1, 4, 8, 10]);
  t.same(info.inputs[0].shape, [1, 3, 'H', 'W'], 'symbolic dims as declared');
  const text = await fcnkit(['info', model]);
  t.equal(text.code, 0);
  t.match(text.stdout, /at\s+x 1x3x512x512 {2}\(--shape changes it\)/, 'open H and W default to 512');
  t.match(text.stdout, /FLOPs\s+\d/);
  const bad = await fcnkit(['info', model, '--shape', '1x4x8x8']);
  t.equal(bad.code, 2, 'a shape against a fixed dimension is bad usage');
  t.match(bad.stderr, /dimension 1 fixed at 3/);
  const usage = await fcnkit(['info', model, '--shape', '1x3x8']);
  t.equal(usage.code, 2, 'a shape of the wrong rank is bad usage');
});

t.test('bench --vs onnxruntime: both timed, outputs compared', async (t) => {
  const dir = tmpdir(t);
  const model = path.join(dir, 'net.onnx');
  fs.writeFileSync(model, buildModel(randTensor([4, 3, 3, 3]), randTensor([4])));
  const r = await fcnkit(['bench', model, '--shape', '1x3x64x64', '--runs', '3', '--vs', 'onnxruntime', '--json']);
  t.equal(r.code, 0, r.stderr);
  const b = r.json();
  t.equal(b.fcnkit.runsMs.length, 3);
  t.ok(b.fcnkit.medianMs > 0 && b.onnxruntime.medianMs > 0);
  t.ok(b.onnxruntime.outputError < 1e-5, `outputs agree (${b.onnxruntime.outputError})`);
  t.ok(b.fcnkit.gflops > 0);
  const text = await fcnkit(['bench', model, '--shape', '1x3x32x32', '--runs', '2']);
  t.match(text.stdout, /fcnkit\s+median [\d.]+ ms\s+\(min [\d.]+, max [\d.]+, IQR [\d.]+%\) {2}[\d.]+ GFLOP\/s/);
  const wrong = await fcnkit(['bench', 'default', '--vs', 'onnxruntime', '--runs', '1']);
  t.equal(wrong.code, 2, '--vs onnxruntime on a TFLite model is bad usage');
  t.match(wrong.stderr, /needs an ONNX model/);
});

t.test('Caffe: prototxt with its caffemodel beside it, for info and segment', async (t) => {
  const { fcnkit: lib } = require('./helpers');
  const dir = tmpdir(t);
  const proto = `name: "tiny"
input: "data"
input_shape { dim: 1 dim: 3 dim: 32 dim: 32 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 pad: 1 } }
layer { name: "prob" type: "Softmax" bottom: "conv" top: "prob" }`;
  fs.writeFileSync(path.join(dir, 'tiny.prototxt'), proto);
  fs.writeFileSync(path.join(dir, 'tiny.caffemodel'), lib.encodeCaffemodel([{ name: 'conv', type: 'Convolution', blobs: [randTensor([2, 3, 3, 3]), randTensor([2])] }]));
  const info = await fcnkit(['info', path.join(dir, 'tiny.prototxt'), '--json']);
  t.equal(info.code, 0, info.stderr);
  t.equal(info.json().format, 'caffe');
  t.equal(info.json().parameters, 2 * 3 * 3 * 3 + 2);
  const out = path.join(dir, 'out');
  const { EXAMPLES } = require('./helpers/cli');
  const r = await fcnkit(['segment', '--model', path.join(dir, 'tiny.prototxt'), path.join(EXAMPLES, 'horse.png'), '--out', out, '--format', 'labels,cutout', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /"ok": 1/);
  t.ok(fs.existsSync(path.join(out, 'horse.cutout.png')), 'a two-class softmax model gives a cutout');
});
