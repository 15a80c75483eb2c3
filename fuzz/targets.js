'use strict';
// The fuzz targets: one function per parser, each taking the raw bytes of one input. A target
// passes an input when it parses or throws an FcnkitError whose code is in ERROR_CODES
// (check()); anything else - another error, a crash, a hang, runaway memory - is a finding.
// Used by fuzz/run.js (under libFuzzer) and fuzz/replay.js (regressions, in `npm test`).
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const load = (m) => require(path.join(dist, m));

// Concrete input shapes for an imported graph: its own sizes, small ones where symbolic.
function shapesOf(graph) {
  const shapes = {};
  for (const input of graph.inputs) shapes[input.name] = input.shape.map((d, k) => (typeof d === 'number' ? d : k === 0 ? 1 : 8));
  return shapes;
}

const text = (bytes) => Buffer.from(bytes).toString('utf8');

const targets = {
  /** ONNX protobuf wire codec: ModelProto decoding alone. */
  'onnx-proto'(bytes) {
    const { decodeModel, BadModelError } = load('io/onnx-proto');
    const { FcnkitError } = load('errors');
    try {
      decodeModel(bytes);
    } catch (err) {
      // The codec's own coded error (importOnnx turns it into an FcnkitError).
      if (err instanceof BadModelError) throw new FcnkitError('BAD_MODEL', err.message);
      throw err;
    }
  },
  /** ONNX import: decoding, validation, constant folding, and the graph spec for concrete shapes. */
  onnx(bytes) {
    const graph = load('io/onnx-import').importOnnx(bytes);
    graph.specFor(shapesOf(graph));
  },
  /** Caffe prototxt (protobuf text format): the text parser, then the net import and its spec. */
  'caffe-prototxt'(bytes) {
    const t = text(bytes);
    load('io/caffe-prototxt').parsePrototxt(t);
    const graph = load('io/caffe-import').importCaffe(t);
    graph.specFor(shapesOf(graph));
  },
  /** Caffe binary weights (.caffemodel). */
  caffemodel(bytes) {
    load('io/caffe-import').loadCaffeWeights(bytes);
  },
  /** TFLite flatbuffer: the model import and its graph spec. */
  tflite(bytes) {
    const graph = load('io/tflite-import').importTflite(bytes);
    graph.specFor(shapesOf(graph));
  },
  safetensors(bytes) {
    load('io/safetensors').loadSafetensorsSync(bytes);
  },
  npy(bytes) {
    const { parseNpy, npyToTensor } = load('io/npy');
    const arr = parseNpy(bytes, 'fuzz.npy');
    npyToTensor(arr, 'float32', 'fuzz.npy');
  },
  /** The indexed PNG reader (label maps), pixel count bounded as readLabelImage bounds it. */
  png(bytes) {
    const { pngInfo, decodeIndexedPng } = load('io/png-indexed');
    pngInfo(bytes);
    decodeIndexedPng(bytes, 'fuzz.png', 1 << 22);
  },
  /** Preprocessing sidecar JSON (<model>.json): parsed, and its options resolved directly. */
  sidecar(bytes) {
    const { parseSidecar, resolvePreprocessing } = load('io/image');
    const t = text(bytes);
    let pre;
    try {
      pre = JSON.parse(t)?.preprocessing;
    } catch {}
    // parseSidecar reports every failure of resolvePreprocessing as BAD_MODEL; call it directly
    // too, so an uncoded error inside it is seen.
    if (typeof pre === 'object' && pre !== null && !Array.isArray(pre)) resolvePreprocessing(pre);
    parseSidecar(t, 'fuzz.json');
  },
};

/** True when `err` is what a target may throw: an FcnkitError with a listed code. */
function check(err) {
  const { FcnkitError, ERROR_CODES } = load('errors');
  return err instanceof FcnkitError && ERROR_CODES.includes(err.code);
}

module.exports = { targets, check };
