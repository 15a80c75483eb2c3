'use strict';
// overlapTile on a small valid U-Net: the tiled result must equal one untiled pass over the
// image mirror-padded by hand (ops.pad 'reflect', then the output cropped to H×W), for an image
// that is not a multiple of the tile, with several tile shapes, batching, and zero padding.
const t = require('tap');
const { fcnkit, seed, randTensor, normError } = require('./helpers');

const { models, ops, overlapTile, overlapTileGeometry } = fcnkit;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

const TOL = 1e-5;
// levels 3: context (52 - 12) / 2 = 20 per side; legal output tiles 4, 8, 12, 16, ... (multiples of 4)
const unet = () => models.unet({ inChannels: 2, numClasses: 3, levels: 3, baseChannels: 4, padding: 'valid', seed: 3 });

/** One pass over the image padded to an output of outH×outW (legal sizes ≥ H, W), cropped back. */
async function untiled(t, m, img, context, outH, outW, mode) {
  const [, , H, W] = img.shape;
  const padded = await ops.pad(img, { pads: [context, context, context + outH - H, context + outW - W], mode });
  const y = await m.run(padded);
  t.same(y.shape.slice(2), [outH, outW], `untiled reference output ${outH}×${outW}`);
  return ops.crop(y, { offset: [0, 0], size: [H, W] });
}

t.test('geometry from shape inference', async (t) => {
  const m = unet();
  t.same(overlapTileGeometry(m, 12, 2), { context: [20, 20], tile: [12, 12], inputTile: [52, 52] });
  t.same(overlapTileGeometry(m, [20, 12], 2).inputTile, [60, 52]);
  const paper = models.unet({ inChannels: 1, numClasses: 2 });
  t.same(overlapTileGeometry(paper, 388, 1), { context: [92, 92], tile: [388, 388], inputTile: [572, 572] }, "the paper's 572 → 388");
  t.throws(() => overlapTileGeometry(m, 13, 2), { code: 'SHAPE_MISMATCH', message: /try 12 or 16/ });
});

t.test('tiled = untiled on a 37×29 image (not a multiple of the tile)', async (t) => {
  const m = unet();
  const img = randTensor([1, 2, 37, 29]);
  const ref = await untiled(t, m, img, 20, 44, 36, 'reflect');
  for (const [tile, batch] of [[12, 1], [20, 3], [[12, 28], 2], [44, 1]]) {
    const y = await overlapTile(m, img, { tile, batch });
    t.same(y.shape, [1, 3, 37, 29], `tile ${tile} batch ${batch}: H×W kept`);
    const err = normError(y.data, ref.data);
    t.ok(err <= TOL, `tile ${tile} batch ${batch}: normError ${err.toExponential(2)}`);
  }
});

t.test('batch of images, zero padding with mirror: false', async (t) => {
  const m = unet();
  const img = randTensor([2, 2, 30, 23]);
  const ref = await untiled(t, m, img, 20, 36, 28, 'constant');
  const y = await overlapTile(m, img, { tile: 12, mirror: false, batch: 4 });
  t.same(y.shape, [2, 3, 30, 23]);
  t.ok(normError(y.data, ref.data) <= TOL, `normError ${normError(y.data, ref.data).toExponential(2)}`);
  const mirrored = await overlapTile(m, img, { tile: 12 });
  t.ok(normError(mirrored.data, ref.data) > 1e-3, 'mirroring changes the border');
});

t.test('an image smaller than the context (mirroring repeats periodically)', async (t) => {
  const m = unet();
  const img = randTensor([1, 2, 5, 7]);
  const y = await overlapTile(m, img, { tile: 4 });
  t.same(y.shape, [1, 3, 5, 7]);
  const y2 = await overlapTile(m, img, { tile: 12 });
  t.ok(normError(y2.data, y.data) <= TOL, 'tile 4 and tile 12 agree');
});

t.test('errors', async (t) => {
  const m = unet();
  const img = randTensor([1, 2, 16, 16]);
  await t.rejects(overlapTile(m, img, { tile: 13 }), { code: 'SHAPE_MISMATCH' });
  await t.rejects(overlapTile(m, img, { tile: 0 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(overlapTile(m, img, {}), { code: 'INVALID_ARGUMENT' });
  await t.rejects(overlapTile(m, randTensor([1, 3, 16, 16]), { tile: 12 }), { code: 'SHAPE_MISMATCH', message: /channels/ });
  await t.rejects(overlapTile(m, img, { tile: 12, batch: 0 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(overlapTile({ run() {} }, img, { tile: 12 }), { code: 'INVALID_ARGUMENT' });
});
