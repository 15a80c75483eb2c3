'use strict';
// Writes the seed corpora, fuzz/corpus/<target>/, from the test fixtures, the test builders and
// small hand-made variants (run after `npm run build:ts`; the seeds are committed):
//   node fuzz/make-corpus.js
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dist = (m) => require(path.join(root, 'dist', m));
const out = path.join(__dirname, 'corpus');

function put(target, name, bytes) {
  const dir = path.join(out, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), typeof bytes === 'string' ? bytes : Buffer.from(bytes));
}

async function main() {
  const { Tensor } = dist('tensor');
  const onnx = dist('io/onnx-proto');
  const { DataType } = onnx;

  // ONNX: a conv net with symbolic sizes, and ops that fold (Shape, Expand) or carry attributes.
  const conv = onnx.encodeModel(onnx.makeModel({
    nodes: [
      onnx.makeNode('Conv', ['x', 'w', 'b'], ['c'], [onnx.attr.ints('pads', [1, 1, 1, 1]), onnx.attr.ints('kernel_shape', [3, 3])], 'conv1'),
      onnx.makeNode('Relu', ['c'], ['r'], [], 'relu1'),
      onnx.makeNode('MaxPool', ['r'], ['p'], [onnx.attr.ints('kernel_shape', [2, 2]), onnx.attr.ints('strides', [2, 2])], 'pool'),
      onnx.makeNode('ConvTranspose', ['p', 'wt'], ['u'], [onnx.attr.ints('strides', [2, 2]), onnx.attr.ints('kernel_shape', [2, 2])], 'up'),
      onnx.makeNode('Softmax', ['u'], ['s'], [onnx.attr.int('axis', 1)], 'sm'),
      onnx.makeNode('ArgMax', ['s'], ['labels'], [onnx.attr.int('axis', 1), onnx.attr.int('keepdims', 1)], 'argmax'),
    ],
    inputs: [onnx.valueInfo('x', DataType.FLOAT, [1, 3, 'H', 'W'])],
    outputs: [onnx.valueInfo('s', DataType.FLOAT, [1, 2, 'H', 'W']), onnx.valueInfo('labels', DataType.INT64, [1, 1, 'H', 'W'])],
    initializers: [
      onnx.tensorFromFloat32('w', [4, 3, 3, 3], new Float32Array(108).map((_, i) => (i % 5) - 2)),
      onnx.tensorFromFloat32('b', [4], new Float32Array([0.5, -1, 0, 2])),
      onnx.tensorFromFloat32('wt', [4, 2, 2, 2], new Float32Array(32).fill(0.25)),
    ],
    opset: 13,
  }));
  put('onnx', 'conv-net.onnx', conv);
  put('onnx-proto', 'conv-net.onnx', conv);
  const fold = onnx.encodeModel(onnx.makeModel({
    nodes: [
      onnx.makeNode('Shape', ['x'], ['shape'], [], 'shape'),
      onnx.makeNode('Expand', ['one', 'shape'], ['ones'], [], 'expand'),
      onnx.makeNode('Add', ['x', 'ones'], ['y0'], [], 'add'),
      onnx.makeNode('Resize', ['y0', '', 'scales'], ['y1'], [onnx.attr.string('mode', 'linear')], 'resize'),
      onnx.makeNode('Pad', ['y1', 'pads'], ['y'], [onnx.attr.string('mode', 'reflect')], 'pad'),
    ],
    inputs: [onnx.valueInfo('x', DataType.FLOAT, [1, 2, 4, 4])],
    outputs: [onnx.valueInfo('y', DataType.FLOAT, [1, 2, 10, 10])],
    initializers: [
      onnx.tensorFromFloat32('one', [1], new Float32Array([1])),
      onnx.tensorFromFloat32('scales', [4], new Float32Array([1, 1, 2, 2])),
      onnx.tensorFromInt64('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
    ],
    opset: 17,
  }));
  put('onnx', 'fold-resize-pad.onnx', fold);
  put('onnx-proto', 'fold-resize-pad.onnx', fold);

  // Caffe: the FCN deploy prototxts of test/fixtures, a small net, and its weights.
  const fixtures = path.join(root, 'test', 'fixtures');
  for (const f of fs.readdirSync(fixtures).filter((f) => f.endsWith('.prototxt'))) put('caffe-prototxt', f, fs.readFileSync(path.join(fixtures, f)));
  put('caffe-prototxt', 'small.prototxt', [
    'name: "small"', 'input: "data"', 'input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }',
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }',
    'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }',
    'layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }',
    'layer { name: "up" type: "Deconvolution" bottom: "pool1" top: "up" convolution_param { num_output: 2 kernel_size: 4 stride: 2 pad: 1 bias_term: false } }',
    'layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "score" crop_param { axis: 2 offset: 0 } }',
    'layer { name: "prob" type: "Softmax" bottom: "score" top: "prob" }', '',
  ].join('\n'));
  const { encodeCaffemodel } = dist('io/caffe-import');
  put('caffemodel', 'small.caffemodel', encodeCaffemodel([
    { name: 'conv1', type: 'Convolution', bottom: ['data'], top: ['conv1'], blobs: [new Tensor(new Float32Array(108).fill(0.1), [4, 3, 3, 3]), new Tensor(new Float32Array(4), [4])] },
    { name: 'up', type: 'Deconvolution', blobs: [new Tensor(new Float32Array(128).fill(0.5), [4, 2, 4, 4])] },
    { name: 'bn', type: 'BatchNorm', blobs: [new Tensor(new Float32Array([1, 2]), [2]), new Tensor(new Float32Array([1, 1]), [2]), new Tensor(new Float32Array([1]), [1])] },
  ]));

  // TFLite: the shipped selfie model, and a small one from the test builder (fp16 weights,
  // DEQUANTIZE, a custom transposed convolution).
  // (The selfie model is a symbolic link, fuzz/corpus/tflite/selfie_segmentation.tflite, not a copy.)
  const tfl = require(path.join(root, 'test', 'helpers', 'tflite.js'));
  put('tflite', 'small.tflite', tfl.buildTflite({
    tensors: [
      { name: 'x', shape: [1, 4, 4, 2] },
      { name: 'w16', shape: [3, 3, 3, 2], type: 'FLOAT16', data: Array.from({ length: 54 }, (_, i) => (i % 7) / 7 - 0.5) },
      { name: 'w', shape: [3, 3, 3, 2] },
      { name: 'b', shape: [3], data: [0.25, -0.5, 0.125] },
      { name: 'conv', shape: [1, 4, 4, 3] },
      { name: 'relu', shape: [1, 4, 4, 3] },
      { name: 'size', shape: [2], type: 'INT32', data: [6, 6] },
      { name: 'up', shape: [1, 6, 6, 3] },
      { name: 'tw', shape: [1, 2, 2, 3], data: Array.from({ length: 12 }, (_, i) => i / 16) },
      { name: 'tb', shape: [1], data: [0.5] },
      { name: 'y', shape: [1, 12, 12, 1] },
    ],
    inputs: [0],
    outputs: [10],
    operators: [
      { op: 'DEQUANTIZE', inputs: [1], outputs: [2] },
      { op: 'CONV_2D', inputs: [0, 2, 3], outputs: [4], options: { padding: 'SAME', stride: [1, 1] } },
      { op: 'RELU', inputs: [4], outputs: [5] },
      { op: 'RESIZE_BILINEAR', inputs: [5, 6], outputs: [7], options: { halfPixelCenters: true } },
      { op: 'Convolution2DTransposeBias', inputs: [7, 8, 9], outputs: [10], custom: tfl.transposeConvOptions('SAME', 2, 2) },
    ],
  }));

  // safetensors: header JSON (8-byte little-endian length) then the data.
  const st = (header, data) => {
    const h = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([len, h, Buffer.from(data)]);
  };
  put('safetensors', 'two.safetensors', st({
    __metadata__: { format: 'pt' },
    'enc.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    'enc.bias': { dtype: 'F16', shape: [2], data_offsets: [16, 20] },
    steps: { dtype: 'I64', shape: [], data_offsets: [20, 28] },
  }, new Uint8Array(28).map((_, i) => i * 7)));
  put('safetensors', 'bf16.safetensors', st({ w: { dtype: 'BF16', shape: [1, 3], data_offsets: [0, 6] } }, new Uint8Array([0, 63, 0, 64, 128, 191])));

  // NPY: what encodeNpy writes, and headers it does not (big-endian, Fortran order, v2).
  const { encodeNpy } = dist('io/npy');
  put('npy', 'f32.npy', encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }));
  put('npy', 'i64.npy', encodeNpy({ dtype: 'int64', shape: [3], data: new BigInt64Array([1n, -2n, 3n]) }));
  const npy = (header, data, version = 1) => {
    let h = header;
    const pre = version === 1 ? 10 : 12;
    while ((pre + h.length + 1) % 64) h += ' ';
    h += '\n';
    const head = Buffer.alloc(pre);
    Buffer.from('\x93NUMPY', 'latin1').copy(head);
    head[6] = version;
    if (version === 1) head.writeUInt16LE(h.length, 8);
    else head.writeUInt32LE(h.length, 8);
    return Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(data)]);
  };
  put('npy', 'be-fortran.npy', npy("{'descr': '>f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16).fill(63)));
  put('npy', 'u8-v2.npy', npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", [1, 2, 3], 2));
  put('npy', 'bool-scalar.npy', npy("{'descr': '|b1', 'fortran_order': False, 'shape': (), }", [1]));

  // PNG: the fixture label map and one encodeIndexedPng writes at every palette size.
  put('png', 'astronaut-person-mask.png', fs.readFileSync(path.join(fixtures, 'astronaut-person-mask.png')));
  const { encodeIndexedPng } = dist('io/png-indexed');
  put('png', 'indexed-3x2.png', await encodeIndexedPng(new Uint8Array([0, 1, 2, 2, 1, 0]), 3, 2, [[0, 0, 0], [255, 0, 0], [0, 255, 0]]));
  put('png', 'indexed-1x1.png', await encodeIndexedPng(new Uint8Array([0]), 1, 1, [[9, 9, 9]]));

  // Sidecar JSON: the default model's, and the keys the README documents.
  put('sidecar', 'selfie.json', fs.readFileSync(path.join(root, 'models', 'selfie_segmentation.json')));
  put('sidecar', 'caffe.json', JSON.stringify({ preprocessing: { size: [512, 512], resize: 'letterbox', channelOrder: 'bgr', range: [0, 255], mean: [104.00699, 116.66877, 122.67892], padValue: 0 } }));
  put('sidecar', 'torch.json', JSON.stringify({ preprocessing: { preset: 'torchvision', std: [0.229, 0.224, 0.225], kernel: 'cubic' } }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
