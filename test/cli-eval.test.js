'use strict';
// `fcnkit eval` against a confusion matrix worked out by hand; label images as 8-bit grey,
// 16-bit grey and indexed (VOC-style) PNGs, paired by name (b.png with b.labels.png).
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
const { fcnkit, tmpdir } = require('./helpers/cli');
const { encodeIndexedPng } = require('../dist/io/png-indexed');
const { vocPalette } = require('../dist');

const grey8 = (file, w, h, values) => sharp(Buffer.from(values), { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toFile(file);
const grey16 = (file, w, h, values) => sharp(Uint16Array.from(values), { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png().toFile(file);
const indexed = async (file, w, h, values) => fs.writeFileSync(file, await encodeIndexedPng(Uint8Array.from(values), w, h, vocPalette(256)));

// Image a (4x2): gt 0 0 1 1 / 2 2 255 1, pred 0 1 1 1 / 2 0 2 0
// Image b (3x1): gt 1 2 0, pred 1 2 2
// Pixels (gt, pred), 255 left out: a: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (1,0); b: (1,1) (2,2) (0,2)
//        pred:  0  1  2
// hist  gt 0: [ 1, 1, 1 ]   row sums 3, 4, 3; column sums 3, 4, 3; diagonal 1, 3, 2; total 10
//       gt 1: [ 1, 3, 0 ]
//       gt 2: [ 1, 0, 2 ]
// pixel accuracy 6/10; accuracy per class 1/3, 3/4, 2/3 -> mean 0.58333;
// IU per class 1/(3+3-1) = 0.2, 3/(4+4-3) = 0.6, 2/(3+3-2) = 0.5 -> mean 0.43333;
// frequency-weighted IU 0.3*0.2 + 0.4*0.6 + 0.3*0.5 = 0.45.
async function fixture(t) {
  const dir = tmpdir(t);
  const gt = path.join(dir, 'gt');
  const pred = path.join(dir, 'pred');
  fs.mkdirSync(gt);
  fs.mkdirSync(pred);
  await grey8(path.join(gt, 'a.png'), 4, 2, [0, 0, 1, 1, 2, 2, 255, 1]);
  await indexed(path.join(gt, 'b.png'), 3, 1, [1, 2, 0]);
  await grey16(path.join(pred, 'a.png'), 4, 2, [0, 1, 1, 1, 2, 0, 2, 0]);
  await grey8(path.join(pred, 'b.labels.png'), 3, 1, [1, 2, 2]);
  await grey8(path.join(pred, 'b.png.unrelated'), 1, 1, [0]);
  return { dir, gt, pred };
}

const close = (t, a, b, what) => t.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} = ${b}`);

t.test('metrics equal the hand-computed ones', async (t) => {
  const { gt, pred } = await fixture(t);
  const r = await fcnkit(['eval', '--pred', pred, '--gt', gt, '--classes', '3', '--json']);
  t.equal(r.code, 0, r.stderr);
  const m = r.json();
  t.equal(m.images, 2);
  close(t, m.pixelAccuracy, 0.6, 'pixel accuracy');
  close(t, m.meanAccuracy, (1 / 3 + 3 / 4 + 2 / 3) / 3, 'mean accuracy');
  close(t, m.meanIU, (0.2 + 0.6 + 0.5) / 3, 'mean IU');
  close(t, m.frequencyWeightedIU, 0.45, 'frequency-weighted IU');
  [0.2, 0.6, 0.5].forEach((iu, c) => close(t, m.perClass[c].iu, iu, `IU of class ${c}`));

  const text = await fcnkit(['eval', '--pred', pred, '--gt', gt, '--classes', '3']);
  t.equal(text.code, 0);
  t.match(text.stdout, /pixel accuracy\s+0\.6000\n/);
  t.match(text.stdout, /mean IU\s+0\.4333\n/);
  t.match(text.stdout, /fw IU\s+0\.4500\n/);
  t.match(text.stdout, /\n1\s+0\.6000\s+0\.7500\n/, 'the per-class table');
});

t.test('a class in neither ground truth nor prediction is NaN (null in JSON), left out of the means', async (t) => {
  const { gt, pred } = await fixture(t);
  const r = await fcnkit(['eval', '--pred', pred, '--gt', gt, '--classes', '4', '--json']);
  t.equal(r.code, 0, r.stderr);
  const m = r.json();
  t.equal(m.perClass[3].iu, null);
  t.equal(m.perClass[3].accuracy, null);
  close(t, m.meanIU, (0.2 + 0.6 + 0.5) / 3, 'mean IU unchanged');
});

t.test('--ignore none counts 255 as a label outside the classes (left out all the same)', async (t) => {
  const { gt, pred } = await fixture(t);
  const r = await fcnkit(['eval', '--pred', pred, '--gt', gt, '--classes', '3', '--ignore', 'none', '--json']);
  t.equal(r.code, 0, r.stderr);
  close(t, r.json().pixelAccuracy, 0.6, 'as the reference: only 0 <= gt < n counts');
  const ign = await fcnkit(['eval', '--pred', pred, '--gt', gt, '--classes', '3', '--ignore', '2', '--json']);
  // gt 2 left out: hist rows 0 and 1 only: [1,1,1], [1,3,0]: 4 of 7 right.
  close(t, ign.json().pixelAccuracy, 4 / 7, '--ignore 2');
});

t.test('a missing prediction or a size mismatch is named; the rest still scored; exit 1', async (t) => {
  const { gt, pred } = await fixture(t);
  await grey8(path.join(gt, 'c.png'), 2, 2, [0, 0, 0, 0]);
  await grey8(path.join(gt, 'd.png'), 2, 2, [0, 0, 0, 0]);
  await grey8(path.join(pred, 'd.png'), 3, 2, [0, 0, 0, 0, 0, 0]);
  const r = await fcnkit(['eval', '--pred', pred, '--gt', gt, '--classes', '3']);
  t.equal(r.code, 1);
  t.match(r.stderr, /c\.png: no prediction named 'c'/);
  t.match(r.stderr, /d\.png: size mismatch/);
  t.match(r.stdout, /images evaluated\s+2 {2}\(2 failed\)/);
  t.match(r.stdout, /pixel accuracy\s+0\.6000/);
});

t.test('bad usage', async (t) => {
  const { gt, pred } = await fixture(t);
  for (const [args, re] of [
    [['eval', '--pred', pred, '--gt', gt], /missing --classes/],
    [['eval', '--pred', pred, '--gt', gt, '--classes', 'x'], /--classes' expects an integer/],
    [['eval', '--pred', path.join(pred, 'nope'), '--gt', gt, '--classes', '3'], /--pred .* is not a folder/],
    [['eval', '--pred', pred, '--gt', gt, '--classes', '3', '--ignore=-1'], /--ignore' expects a label/],
  ]) {
    const r = await fcnkit(args);
    t.equal(r.code, 2, args.slice(-2).join(' '));
    t.match(r.stderr, re);
  }
});
