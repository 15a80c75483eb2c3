'use strict';
// The FCN reference evaluation (score.py) on confusion matrices worked out by hand, the NaN
// rules of its nanmeans, the accumulating evaluator; and the label helpers (argmaxLabels, the
// VOC palette, colorize).
const t = require('tap');
const { fcnkit } = require('./helpers');

const {
  Tensor, confusionMatrix, segmentationMetrics, SegmentationEvaluator, argmaxLabels, argmaxLabelsSync, colorize,
  vocPalette, VOC_CLASSES,
} = fcnkit;

const close = (t, a, b, msg) => t.ok(Math.abs(a - b) < 1e-12, `${msg}: ${a} vs ${b}`);

// Example 1, three classes, ten pixels (pixel 8 has the ignore label 255):
//   gt   0 0 0 1 1 1 2 2 255 1
//   pred 0 0 1 1 1 2 2 0 1   1
// (gt, pred) pairs counted: (0,0) ×2, (0,1), (1,1) ×3, (1,2), (2,2), (2,0)
//   hist (rows gt, cols pred)   row sums   col sums
//     2 1 0                      3          3
//     0 3 1                      4          4
//     1 0 1                      2          2
// total 9, diag 2 + 3 + 1 = 6:   pixel accuracy 6/9
// accuracy by class 2/3, 3/4, 1/2: mean (2/3 + 3/4 + 1/2) / 3 = 23/36
// IU: 2/(3+3-2) = 1/2, 3/(4+4-3) = 3/5, 1/(2+2-1) = 1/3: mean (1/2 + 3/5 + 1/3) / 3 = 43/90
// frequency-weighted: (3·1/2 + 4·3/5 + 2·1/3) / 9 = (3/2 + 12/5 + 2/3) / 9 = 137/270
const GT1 = [0, 0, 0, 1, 1, 1, 2, 2, 255, 1];
const PRED1 = [0, 0, 1, 1, 1, 2, 2, 0, 1, 1];

t.test('example 1: a full 3-class confusion matrix', async (t) => {
  const hist = confusionMatrix(new Int32Array(PRED1), new Uint8Array(GT1), 3);
  t.ok(hist instanceof Float64Array);
  t.same([...hist], [2, 1, 0, 0, 3, 1, 1, 0, 1]);
  const m = segmentationMetrics(hist);
  close(t, m.pixelAccuracy, 6 / 9, 'pixel accuracy');
  close(t, m.meanAccuracy, 23 / 36, 'mean accuracy');
  close(t, m.meanIU, 43 / 90, 'mean IU');
  close(t, m.frequencyWeightedIU, 137 / 270, 'frequency-weighted IU');
  t.same(m.perClassIU.map((v) => +v.toFixed(12)), [0.5, 0.6, +(1 / 3).toFixed(12)]);
  t.same(m.perClassAccuracy.map((v) => +v.toFixed(12)), [+(2 / 3).toFixed(12), 0.75, 0.5]);
});

// Example 2, NaN handling: class 1 only predicted, class 2 in neither; gt 7 is outside [0, 3)
// and skipped although it is not the ignore label (and its prediction 2 is not counted):
//   gt   0 0 0 0 7
//   pred 0 0 1 1 2
//   hist  2 2 0 / 0 0 0 / 0 0 0: total 4, diag 2 → pixel accuracy 1/2
// accuracy: 2/4, 0/0 = NaN, NaN → mean 1/2
// IU: 2/(4+2-2) = 1/2, 0/(0+2-0) = 0, 0/0 = NaN → mean (1/2 + 0) / 2 = 1/4
// frequency-weighted: freq 1, 0, 0 → 1 · 1/2 = 1/2
t.test('example 2: absent classes give NaN and leave the means', async (t) => {
  const hist = confusionMatrix(new Int32Array([0, 0, 1, 1, 2]), new Int32Array([0, 0, 0, 0, 7]), 3);
  t.same([...hist], [2, 2, 0, 0, 0, 0, 0, 0, 0]);
  const m = segmentationMetrics(hist);
  close(t, m.pixelAccuracy, 0.5, 'pixel accuracy');
  close(t, m.meanAccuracy, 0.5, 'mean accuracy (NaNs left out)');
  close(t, m.meanIU, 0.25, 'mean IU (class 2 left out, class 1 counted as 0)');
  close(t, m.frequencyWeightedIU, 0.5, 'frequency-weighted IU');
  t.equal(m.perClassIU[1], 0, 'predicted only: IU 0');
  t.ok(Number.isNaN(m.perClassIU[2]), 'in neither: IU NaN');
  t.ok(Number.isNaN(m.perClassAccuracy[1]) && Number.isNaN(m.perClassAccuracy[2]), 'not in gt: accuracy NaN');

  const empty = segmentationMetrics(new Float64Array(9));
  t.ok(Number.isNaN(empty.pixelAccuracy) && Number.isNaN(empty.meanAccuracy) && Number.isNaN(empty.meanIU), 'no pixels: NaN');
  t.equal(empty.frequencyWeightedIU, 0, "no pixels: the reference's empty sum, 0");
});

// Example 3, the ignore option: ignore 0 skips background pixels of example 1 (pixels 0-2), so
//   hist 0 0 0 / 0 3 1 / 1 0 1 : total 6, diag 4 → 2/3
// ignore null: 255 is still outside [0, 3) and skipped → example 1's matrix.
t.test('example 3: the ignore label', async (t) => {
  t.same([...confusionMatrix(new Int32Array(PRED1), new Int32Array(GT1), 3, { ignore: 0 })], [0, 0, 0, 0, 3, 1, 1, 0, 1]);
  t.same([...confusionMatrix(new Int32Array(PRED1), new Int32Array(GT1), 3, { ignore: null })], [2, 1, 0, 0, 3, 1, 1, 0, 1]);
  close(t, segmentationMetrics(confusionMatrix(new Int32Array(PRED1), new Int32Array(GT1), 3, { ignore: 0 })).pixelAccuracy, 4 / 6, 'pixel accuracy');
});

t.test('SegmentationEvaluator accumulates over images', async (t) => {
  const ev = new SegmentationEvaluator(3);
  ev.add(new Int32Array(PRED1.slice(0, 4)), new Uint8Array(GT1.slice(0, 4)));
  ev.add(new Tensor(new Int32Array(PRED1.slice(4)), [2, 3]), new Tensor(new Int32Array(GT1.slice(4)), [2, 3]));
  t.equal(ev.count, 2);
  t.same([...ev.hist], [2, 1, 0, 0, 3, 1, 1, 0, 1], 'same matrix as in one piece');
  close(t, ev.result().meanIU, 43 / 90, 'mean IU');
  t.throws(() => ev.add(new Int32Array([0, 3]), new Int32Array([0, 1])), { code: 'INVALID_ARGUMENT', message: /prediction 3 at pixel 1/ });
  t.same([...ev.hist], [2, 1, 0, 0, 3, 1, 1, 0, 1], 'a refused image counts nothing');
  t.throws(() => ev.add(new Int32Array(3), new Int32Array(4)), { code: 'SHAPE_MISMATCH' });
  ev.reset();
  t.equal(ev.count, 0);
  t.same([...ev.hist], new Array(9).fill(0));
});

t.test('metrics argument errors', async (t) => {
  t.throws(() => confusionMatrix([0, 1], new Int32Array(2), 3), { code: 'INVALID_ARGUMENT' });
  t.throws(() => confusionMatrix(new Int32Array(2), new Int32Array(2), 0), { code: 'INVALID_ARGUMENT' });
  t.throws(() => confusionMatrix(new Int32Array(2), new Int32Array(2), 3, { ignore: 'x' }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => segmentationMetrics(new Float64Array(5)), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new SegmentationEvaluator(2.5), { code: 'INVALID_ARGUMENT' });
});

t.test('argmaxLabels: int32 [N, H, W], first maximum on ties', async (t) => {
  // [1, 3, 2, 2]: pixel 0 → class 2, pixel 1 → 0, pixel 2 → tie of 1 and 2 → 1, pixel 3 → 1.
  const scores = new Tensor(new Float32Array([
    0, 5, 1, 0,
    1, 0, 3, 2,
    2, 1, 3, 1,
  ]), [1, 3, 2, 2]);
  const labels = await argmaxLabels(scores);
  t.equal(labels.dtype, 'int32');
  t.same(labels.shape, [1, 2, 2]);
  t.same([...labels.data], [2, 0, 1, 1]);
  t.same([...argmaxLabelsSync(scores).data], [2, 0, 1, 1], 'sync twin');
  await t.rejects(argmaxLabels(new Tensor(new Float32Array(4), [2, 2])), { code: 'INVALID_ARGUMENT' });
});

t.test('VOC palette by bit interleaving, colorize', async (t) => {
  const p = vocPalette();
  t.equal(p.length, 256);
  t.same(p[0], [0, 0, 0]);
  t.same(p[1], [128, 0, 0], 'aeroplane');
  t.same(p[2], [0, 128, 0], 'bicycle');
  t.same(p[12], [64, 0, 128], 'dog');
  t.same(p[15], [192, 128, 128], 'person');
  t.same(p[20], [0, 64, 128], 'tvmonitor');
  t.same(p[255], [224, 224, 192], 'void');
  t.equal(new Set(p.map((c) => c.join())).size, 256, 'all distinct');
  t.equal(VOC_CLASSES.length, 21);
  t.equal(VOC_CLASSES[15], 'person');

  const labels = new Tensor(new Int32Array([0, 1, 15, 255, 21, -1]), [1, 2, 3]);
  const img = colorize(labels);
  t.same({ width: img.width, height: img.height, channels: img.channels }, { width: 3, height: 2, channels: 3 });
  t.ok(img.data instanceof Uint8Array);
  // 21 = 0b010101: r bit 7 and b bit 7 from the low triple, g bit 6 from the next: (128, 64, 128).
  t.same([...img.data], [0, 0, 0, 128, 0, 0, 192, 128, 128, 224, 224, 192, 128, 64, 128, 0, 0, 0]);
  const custom = colorize(new Tensor(new Int32Array([1, 0, 2]), [3, 1]), [[1, 2, 3], [4, 5, 6]]);
  t.same([...custom.data], [4, 5, 6, 1, 2, 3, 0, 0, 0], 'custom palette; past its end: black');
  t.same({ w: custom.width, h: custom.height }, { w: 1, h: 3 });
  t.throws(() => colorize(new Tensor(new Int32Array(8), [2, 2, 2])), { code: 'SHAPE_MISMATCH' });
  t.throws(() => colorize(new Tensor(new Float32Array(4), [2, 2])), { code: 'INVALID_ARGUMENT' });
  t.throws(() => colorize(labels, [[0, 0, 256]]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => colorize(labels, 'cityscapes'), { code: 'INVALID_ARGUMENT' });
});
