'use strict';
// Detection ops against torchvision.ops (fixtures from test/fixtures/maskrcnn/make_ops.py) and,
// where ONNX defines the op, onnxruntime-node on fresh random inputs: RoiAlign-16 (half_pixel),
// TopK, NonMaxSuppression.
const t = require('tap');
const path = require('path');
const fs = require('fs');
const { fcnkit, onnx, seed, rng, randTensor, randInt, normError, ortRunNode } = require('./helpers');

const { ops, Tensor } = fcnkit;
const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/maskrcnn/ops.json'), 'utf8'));
t.comment(`seed ${seed} (replay with FCNKIT_TEST_SEED=${seed})`);

const f32 = (a, shape) => new Tensor(Float32Array.from(a), shape);

t.test('roiAlign matches torchvision.ops.roi_align', async (t) => {
  for (const c of fx.roiAlign) {
    const y = await ops.roiAlign(f32(c.x, c.xShape), f32(c.rois, [c.rois.length / 5, 5]), {
      outputSize: c.outputSize, spatialScale: c.spatialScale, samplingRatio: c.samplingRatio, aligned: c.aligned,
    });
    t.same(y.shape, c.yShape);
    t.ok(normError(y.data, c.y) < 1e-6, `x ${c.xShape} ratio ${c.samplingRatio} aligned ${c.aligned}: ${normError(y.data, c.y)}`);
  }
});

t.test('roiAlignMultiLevel matches MultiScaleRoIAlign', async (t) => {
  for (const c of fx.roiAlignMultiLevel) {
    const k = c.boxes.length / 4;
    const rois = new Float32Array(k * 5);
    for (let i = 0; i < k; i++) rois.set(c.boxes.slice(i * 4, i * 4 + 4), i * 5 + 1);
    const y = await ops.roiAlignMultiLevel(new Tensor(rois, [k, 5]), c.feats.map((f, i) => f32(f, c.shapes[i])), {
      outputSize: c.outputSize, samplingRatio: c.samplingRatio, scales: c.scales,
    });
    t.same(y.shape, c.yShape);
    t.ok(normError(y.data, c.y) < 1e-6, `image ${c.imageSize}: ${normError(y.data, c.y)}`);
  }
});

t.test('nms and batched nms keep what torchvision keeps, in its order', async (t) => {
  for (const c of fx.nms) {
    const k = c.scores.length;
    const opts = { iouThreshold: c.iouThreshold };
    if (c.idxs) opts.idxs = new Tensor(Int32Array.from(c.idxs), [k]);
    const keep = await ops.nms(f32(c.boxes, [k, 4]), f32(c.scores, [k]), opts);
    t.same(Array.from(keep.data), c.keep, `K ${k} classes ${c.idxs ? 'yes' : 'no'} thr ${c.iouThreshold}`);
    t.same(Array.from(ops.sync.nms(f32(c.boxes, [k, 4]), f32(c.scores, [k]), opts).data), c.keep);
  }
});

t.test('boxDecode matches BoxCoder.decode_single', async (t) => {
  for (const c of fx.boxDecode) {
    const k = c.boxes.length / 4;
    const y = await ops.boxDecode(f32(c.deltas, [k, c.cols]), f32(c.boxes, [k, 4]), { weights: c.weights });
    t.ok(normError(y.data, c.y) < 1e-6, `weights ${c.weights}: ${normError(y.data, c.y)}`);
  }
});

t.test('anchors match AnchorGenerator on every FPN level', async (t) => {
  for (const c of fx.anchors) {
    const all = [];
    c.grids.forEach((g, l) => {
      const a = ops.sync.anchors({
        sizes: [c.sizes[l]], aspectRatios: c.aspectRatios, gridSize: g,
        stride: [Math.floor(c.imageSize[0] / g[0]), Math.floor(c.imageSize[1] / g[1])],
      });
      all.push(...a.data);
    });
    t.same(all, c.y, `image ${c.imageSize}`);
  }
});

t.test('topk matches torch.topk', async (t) => {
  for (const c of fx.topk) {
    const r = await ops.topk(f32(c.x, c.shape), c.k);
    t.same(Array.from(r.values.data), c.values.map(Math.fround));
    t.same(Array.from(r.indices.data), c.indices);
  }
});

t.test('roiAlign matches onnxruntime RoiAlign-16 (half_pixel, avg) on random inputs', async (t) => {
  for (let trial = 0; trial < 6; trial++) {
    const [n, c, h, w] = [randInt(1, 3), randInt(1, 4), randInt(1, 20), randInt(1, 20)];
    const x = randTensor([n, c, h, w]);
    const k = randInt(1, 8);
    const scale = [1, 0.5, 0.25][randInt(0, 2)];
    const rois = new Float32Array(k * 5);
    const rois4 = new Float32Array(k * 4);
    const bi = [];
    for (let i = 0; i < k; i++) {
      const b = randInt(0, n - 1);
      const x1 = (rng() * w - 2) / scale, y1 = (rng() * h - 2) / scale;
      const box = [x1, y1, x1 + (rng() * w) / scale, y1 + (rng() * h) / scale];
      rois.set([b, ...box], i * 5);
      rois4.set(box, i * 4);
      bi.push(b);
    }
    const [oh, ow] = [randInt(1, 8), randInt(1, 8)];
    const ratio = randInt(0, 4);
    const y = await ops.roiAlign(x, new Tensor(rois, [k, 5]), { outputSize: [oh, ow], spatialScale: scale, samplingRatio: ratio });
    const ref = (await ortRunNode({
      opType: 'RoiAlign', opset: 16,
      inputs: [['x', x], ['rois', new Tensor(rois4, [k, 4])], 'bi'],
      initializers: [onnx.tensorFromInt64('bi', [k], bi)],
      attrs: [onnx.attr.int('output_height', oh), onnx.attr.int('output_width', ow), onnx.attr.float('spatial_scale', scale),
        onnx.attr.int('sampling_ratio', ratio), onnx.attr.string('coordinate_transformation_mode', 'half_pixel'), onnx.attr.string('mode', 'avg')],
    }))[0];
    t.same(y.shape, ref.dims);
    t.ok(normError(y.data, ref.data) < 1e-5, `trial ${trial}: ${normError(y.data, ref.data)}`);
  }
});

t.test('topk matches onnxruntime TopK on random inputs', async (t) => {
  for (let trial = 0; trial < 5; trial++) {
    const shape = [randInt(1, 4), randInt(1, 60)];
    const x = randTensor(shape);
    const k = randInt(1, shape[1]);
    const r = await ops.topk(x, k);
    const [v, i] = await ortRunNode({
      opType: 'TopK', opset: 11, inputs: [['x', x], 'k'], outputs: ['v', 'i'], outputTypes: [onnx.DataType.FLOAT, onnx.DataType.INT64],
      initializers: [onnx.tensorFromInt64('k', [1], [k])],
    });
    t.same(Array.from(r.values.data), Array.from(v.data));
    t.same(Array.from(r.indices.data), Array.from(i.data, Number));
  }
});

t.test('nms matches onnxruntime NonMaxSuppression on random boxes', async (t) => {
  for (let trial = 0; trial < 4; trial++) {
    const k = randInt(1, 60);
    const b = new Float32Array(k * 4);
    for (let i = 0; i < k; i++) {
      const x = rng() * 100, y = rng() * 100;
      b.set([x, y, x + 5 + rng() * 40, y + 5 + rng() * 40], i * 4);
    }
    const s = Float32Array.from({ length: k }, () => rng());
    const thr = 0.3 + rng() * 0.5;
    const keep = await ops.nms(new Tensor(b, [k, 4]), new Tensor(s, [k]), { iouThreshold: thr });
    const [sel] = await ortRunNode({
      opType: 'NonMaxSuppression', opset: 11, inputs: [['b', new Tensor(b, [1, k, 4])], ['s', new Tensor(s, [1, 1, k])], 'm', 'iou'],
      outputs: ['sel'], outputTypes: [onnx.DataType.INT64],
      initializers: [onnx.tensorFromInt64('m', [1], [k]), onnx.tensorFromFloat32('iou', [1], Float32Array.of(thr))],
    });
    const ref = [];
    for (let i = 0; i < sel.dims[0]; i++) ref.push(Number(sel.data[i * 3 + 2]));
    t.same(Array.from(keep.data), ref, `trial ${trial}`);
  }
});

t.test('bad arguments are FcnkitErrors', async (t) => {
  const x = randTensor([1, 1, 4, 4]);
  await t.rejects(ops.roiAlign(x, f32([0, 0, 0, 1, 1], [1, 5]), { outputSize: 0 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(ops.roiAlign(x, f32([0, 0, 0, 1], [1, 4])), { code: 'SHAPE_MISMATCH' });
  await t.rejects(ops.roiAlign(x, f32([3, 0, 0, 1, 1], [1, 5])), { code: 'INVALID_ARGUMENT' });
  await t.rejects(ops.nms(f32([0, 0, 1, 1], [1, 4]), f32([1, 2], [2])), { code: 'SHAPE_MISMATCH' });
  await t.rejects(ops.nms(f32([0, 0, NaN, 1], [1, 4]), f32([1], [1])), { code: 'INVALID_ARGUMENT' });
  await t.rejects(ops.boxDecode(f32([0, 0, 0], [1, 3]), f32([0, 0, 1, 1], [1, 4])), { code: 'SHAPE_MISMATCH' });
  await t.rejects(ops.topk(x, -1), { code: 'INVALID_ARGUMENT' });
  await t.rejects(ops.roiAlignMultiLevel(f32([0, 0, 0, 1, 1], [1, 5]), [x, x], { scales: [0.25, 0.5] }), { code: 'INVALID_ARGUMENT' });
  t.same(ops.sync.nms(f32([], [0, 4]), f32([], [0])).shape, [0]);
});
