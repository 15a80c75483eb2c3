'use strict';
// COCO RLE (pycocotools' compressed string form) on hand-encoded cases and round trips, the
// instance label map, and COCO AP (cocoEvaluate, as pycocotools COCOeval) on hand-computed cases.
const t = require('tap');
const { fcnkit, rng, randInt } = require('./helpers');
const { cocoEvaluate } = require('../dist/dense/coco-eval');

const { encodeRle, decodeRle, instanceLabelMap } = fcnkit;
// pycocotools' own RLE strings and COCOeval summaries (test/fixtures/maskrcnn/make_coco.py).
const coco = require('./fixtures/maskrcnn/coco.json');

t.test('encodeRle: hand-encoded pycocotools strings', async (t) => {
  // All ones, 2×2: runs [0, 4].
  t.same(encodeRle(Uint8Array.of(1, 1, 1, 1), 2, 2), { size: [2, 2], counts: '04' });
  // 2 rows × 3 columns, rows [0 1 0] [1 0 1]: column-major 0 1 | 1 0 | 0 1 = runs [1, 2, 2, 1];
  // the 4th count is stored as 1 - 2 = -1: 5-bit group 31 with no continuation -> 'O'.
  t.same(encodeRle(Uint8Array.of(0, 1, 0, 1, 0, 1), 3, 2), { size: [2, 3], counts: '122O' });
  // 10×10 zeros: one run of 100 = 4 + 3·32 -> (4 | 0x20) + 48 = 'T', then 3 + 48 = '3'.
  t.same(encodeRle(new Uint8Array(100), 10, 10), { size: [10, 10], counts: 'T3' });
  t.same(Array.from(decodeRle({ size: [2, 3], counts: '122O' })), [0, 1, 0, 1, 0, 1]);
});

t.test('RLE round trips random masks', async (t) => {
  for (let trial = 0; trial < 20; trial++) {
    const w = randInt(1, 70), h = randInt(1, 70);
    const p = rng();
    const m = Uint8Array.from({ length: w * h }, () => (rng() < p ? 1 : 0));
    const r = encodeRle(m, w, h);
    t.ok(/^[0-o]*$/.test(r.counts));
    t.same(Array.from(decodeRle(r)), Array.from(m));
  }
  t.throws(() => decodeRle({ size: [2, 2], counts: '05' }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => decodeRle({ size: [2, 2], counts: 'z' }), { code: 'INVALID_ARGUMENT' });
});

t.test('instanceLabelMap: earlier (higher-score) instances on top', async (t) => {
  const a = Uint8Array.of(1, 1, 0, 0), b = Uint8Array.of(0, 1, 1, 0);
  t.same(Array.from(instanceLabelMap([{ mask: a }, { mask: b }], 2, 2)), [1, 1, 2, 0]);
  t.throws(() => instanceLabelMap([{ mask: new Uint8Array(3) }], 2, 2), { code: 'INVALID_ARGUMENT' });
});

const box = (x, y, w, h) => ({ bbox: [x, y, w, h] });
function gtOf(anns) {
  return { images: [{ id: 1, width: 100, height: 100 }], categories: [{ id: 1 }], annotations: anns.map((a, i) => ({ id: i + 1, image_id: 1, category_id: 1, iscrowd: 0, area: a.bbox[2] * a.bbox[3], ...a })) };
}
const det = (b, score) => ({ image_id: 1, category_id: 1, score, ...b });
// Precision is tp / (tp + fp + eps) with eps = 2^-52, as pycocotools (np.spacing(1)).
const near = (a, b) => Math.abs(a - b) < 1e-12;

t.test('COCO AP, hand-computed', async (t) => {
  // A perfect detection: AP 1 at every threshold.
  let m = cocoEvaluate(gtOf([box(10, 10, 40, 40)]), [det(box(10, 10, 40, 40), 0.9)], 'bbox');
  t.ok(near(m.AP, 1) && near(m.AP50, 1) && near(m.AP75, 1));
  t.ok(near(m.APm, 1));
  t.equal(m.APs, -1, 'no small ground truth: -1');
  // A false positive scored above the true one: precision 1/2 at every recall -> AP 0.5.
  m = cocoEvaluate(gtOf([box(10, 10, 40, 40)]), [det(box(60, 60, 30, 30), 0.95), det(box(10, 10, 40, 40), 0.9)], 'bbox');
  t.ok(near(m.AP, 0.5));
  t.ok(near(m.APm, 1), 'the 30×30 false positive is small: ignored for the medium range');
  // Two ground truths, one found: precision 1 up to recall 0.5 (51 of 101 points) -> 51/101.
  m = cocoEvaluate(gtOf([box(10, 10, 40, 40), box(60, 60, 30, 30)]), [det(box(10, 10, 40, 40), 0.9)], 'bbox');
  t.ok(near(m.AP, 51 / 101));
  // IoU 1320/1600 = 0.825: matched at thresholds .50 to .80 (7 of 10).
  m = cocoEvaluate(gtOf([box(10, 10, 40, 40)]), [det(box(10, 10, 33, 40), 0.9)], 'bbox');
  t.ok(near(m.AP, 0.7), `AP ${m.AP}`);
  t.ok(near(m.AP50, 1) && near(m.AP75, 1));
  // Masks: the same cases through RLE segmentations.
  const mask = (x0, y0, w, h) => {
    const a = new Uint8Array(100 * 100);
    for (let y = y0; y < y0 + h; y++) a.fill(1, y * 100 + x0, y * 100 + x0 + w);
    return encodeRle(a, 100, 100);
  };
  const g = gtOf([{ ...box(10, 10, 40, 40), segmentation: mask(10, 10, 40, 40) }]);
  m = cocoEvaluate(g, [det({ ...box(10, 10, 33, 40), segmentation: mask(10, 10, 33, 40) }, 0.9)], 'segm');
  t.ok(near(m.AP, 0.7), `mask AP ${m.AP}`);
  // Crowd ground truth is never a miss and a detection on it is not a false positive.
  const crowd = gtOf([box(10, 10, 40, 40), { ...box(60, 60, 30, 30), iscrowd: 1 }]);
  m = cocoEvaluate(crowd, [det(box(62, 62, 20, 20), 0.99), det(box(10, 10, 40, 40), 0.9)], 'bbox');
  t.ok(near(m.AP, 1), `AP ${m.AP}`);
});

t.test('encodeRle gives pycocotools.mask.encode strings', async (t) => {
  for (const m of coco.masks) {
    const a = new Uint8Array(m.width * m.height);
    for (const i of m.ones) a[i] = 1;
    t.equal(encodeRle(a, m.width, m.height).counts, m.counts);
    t.same(Array.from(decodeRle({ size: [m.height, m.width], counts: m.counts })), Array.from(a));
  }
});

t.test('cocoEvaluate gives COCOeval stats (AP, AP50, AP75, APs, APm, APl) for segm and bbox', async (t) => {
  for (const type of ['segm', 'bbox']) {
    const m = cocoEvaluate(coco.gt, coco.dets, type);
    const got = [m.AP, m.AP50, m.AP75, m.APs, m.APm, m.APl];
    coco.stats[type].forEach((v, i) => t.ok(Math.abs(got[i] - v) < 1e-9, `${type} stat ${i}: ${got[i]} vs pycocotools ${v}`));
  }
});
