'use strict';
// Images in: decoding (EXIF orientation, grey, alpha, 16-bit, CMYK, WebP), channel order and
// normalisation checked by hand on tiny images, resize modes and the mapping back, presets and
// sidecars, and the errors (corrupt -> BAD_IMAGE, oversized -> TOO_LARGE, missing -> IO_ERROR).
const t = require('tap');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sharp = require('sharp');
const { fcnkit } = require('./helpers');
const { encodePng } = require('./helpers/png');

const { loadImage, resizeScoresToOriginal, Tensor, PREPROCESSING_PRESETS } = fcnkit;
const ASTRONAUT = path.join(__dirname, '..', 'examples', 'astronaut.png');

/** Tensor [1, 3, H, W] -> planes[c][y][x] as plain numbers. */
function planes(tensor) {
  const [, c, h, w] = tensor.shape;
  return Array.from({ length: c }, (_, k) =>
    Array.from({ length: h }, (_, y) => Array.from(tensor.data.subarray((k * h + y) * w, (k * h + y + 1) * w))));
}

function close(t, got, want, tol, label) {
  const flat = (a) => (Array.isArray(a) ? a.flat(Infinity) : [a]);
  const g = flat(got);
  const w = flat(want);
  t.equal(g.length, w.length, `${label}: size`);
  let worst = 0;
  for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]));
  t.ok(worst <= tol, `${label}: max error ${worst.toExponential(2)} <= ${tol}`);
}

// A 2 x 2 RGB image: (row-major) red-ish, green-ish / blue-ish, grey.
const PIX = [
  [200, 10, 20], [30, 220, 40],
  [50, 60, 230], [128, 128, 128],
];
const tiny = encodePng({ width: 2, height: 2, colorType: 2, data: PIX.flat() });
/** Expected plane k (source channel s) as [[p00, p01], [p10, p11]] after f. */
const plane = (s, f) => [[f(PIX[0][s]), f(PIX[1][s])], [f(PIX[2][s]), f(PIX[3][s])]];

t.test('channel order and normalisation, by hand', async (t) => {
  const def = await loadImage(tiny);
  t.same(def.tensor.shape, [1, 3, 2, 2]);
  t.same(def.original, { width: 2, height: 2 });
  t.equal(def.format, 'png');
  close(t, planes(def.tensor), [0, 1, 2].map((s) => plane(s, (v) => v / 255)), 1e-7, 'default: RGB in [0, 1]');

  const caffe = await loadImage(tiny, 'caffeFcn');
  const bgrMean = [104.00699, 116.66877, 122.67892];
  close(t, planes(caffe.tensor), [2, 1, 0].map((s, k) => plane(s, (v) => v - bgrMean[k])), 1e-4, 'caffeFcn: BGR, 0..255 minus the BGR mean');

  const inet = await loadImage(tiny, { preset: 'imagenet' });
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  close(t, planes(inet.tensor), [0, 1, 2].map((s) => plane(s, (v) => (v / 255 - mean[s]) / std[s])), 1e-5, 'imagenet: (x / 255 - mean) / std');

  const selfie = await loadImage(tiny, { preset: 'selfie', size: [2, 2] });
  close(t, planes(selfie.tensor), [0, 1, 2].map((s) => plane(s, (v) => v / 255)), 1e-7, 'selfie (at native 2x2): RGB in [0, 1]');

  const custom = await loadImage(tiny, { channelOrder: 'bgr', range: [-1, 1], mean: [0.5, 0, 0], std: [2, 1, 1] });
  close(t, planes(custom.tensor), [2, 1, 0].map((s, k) => plane(s, (v) => (-1 + (2 * v) / 255 - [0.5, 0, 0][k]) / [2, 1, 1][k])), 1e-6, 'custom range, BGR, mean/std');
});

t.test('the presets', async (t) => {
  t.same(PREPROCESSING_PRESETS.caffeFcn, { channelOrder: 'bgr', range: [0, 255], mean: [104.00699, 116.66877, 122.67892] });
  t.same(PREPROCESSING_PRESETS.imagenet, { channelOrder: 'rgb', range: [0, 1], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  t.same(PREPROCESSING_PRESETS.selfie, { size: [256, 256], resize: 'stretch', channelOrder: 'rgb', range: [0, 1] });
  t.ok(Object.isFrozen(PREPROCESSING_PRESETS.selfie), 'frozen');
  const img = await loadImage(ASTRONAUT, 'selfie');
  t.same(img.tensor.shape, [1, 3, 256, 256]);
  t.same(img.mapping.box, { left: 0, top: 0, width: 256, height: 256 }, 'stretched');
  t.ok(img.tensor.data.every((v) => v >= 0 && v <= 1), 'values in [0, 1]');
});

t.test('grey, grey + alpha, RGBA: flatten and drop', async (t) => {
  const grey = encodePng({ width: 2, height: 1, colorType: 0, data: [0, 200] });
  close(t, planes((await loadImage(grey)).tensor), [0, 1, 2].map(() => [[0, 200 / 255]]), 1e-7, 'grey -> 3 equal channels');

  const ga = encodePng({ width: 2, height: 1, colorType: 4, data: [50, 0, 200, 255] });
  close(t, planes((await loadImage(ga)).tensor), [0, 1, 2].map(() => [[1, 200 / 255]]), 1e-7, 'grey + alpha flattened on white');
  close(t, planes((await loadImage(ga, { alpha: 'drop' })).tensor), [0, 1, 2].map(() => [[50 / 255, 200 / 255]]), 1e-7, 'grey + alpha dropped');

  const rgba = encodePng({ width: 2, height: 1, colorType: 6, data: [255, 0, 0, 0, 0, 255, 0, 255] });
  close(t, planes((await loadImage(rgba)).tensor), [[[1, 0]], [[1, 1]], [[1, 0]]], 1e-7, 'RGBA flattened on white');
  close(t, planes((await loadImage(rgba, { background: [0, 0, 0] })).tensor), [[[0, 0]], [[0, 1]], [[0, 0]]], 1e-7, 'RGBA flattened on black');
  close(t, planes((await loadImage(rgba, { alpha: 'drop' })).tensor), [[[1, 0]], [[0, 1]], [[0, 0]]], 1e-7, 'RGBA alpha dropped');
});

t.test('16-bit PNGs keep 16-bit precision', async (t) => {
  const vals = [65535, 32768, 1, 0, 25700, 65534];
  const rgb16 = encodePng({ width: 2, height: 1, colorType: 2, bitDepth: 16, data: vals });
  const img = await loadImage(rgb16);
  close(t, planes(img.tensor), [[[vals[0], vals[3]]], [[vals[1], vals[4]]], [[vals[2], vals[5]]]].map((p) => p.map((r) => r.map((v) => v / 65535))), 1e-7, 'RGB 16-bit / 65535');
  t.ok(img.tensor.data[2 * 2] > 0, 'a value of 1 / 65535 is not rounded to 0');

  const g16 = encodePng({ width: 3, height: 1, colorType: 0, bitDepth: 16, data: [0, 1000, 65535] });
  close(t, planes((await loadImage(g16)).tensor), [0, 1, 2].map(() => [[0, 1000 / 65535, 1]]), 1e-7, 'grey 16-bit');

  const caffe = await loadImage(rgb16, 'caffeFcn');
  // Tensor channel 0 is blue: pixel 0's blue is 1 / 65535 of full scale.
  t.ok(Math.abs(caffe.tensor.data[0] - (255 / 65535 - 104.00699)) < 1e-4, 'presets see 16-bit images on the 0..255 scale, unrounded');
  t.ok(Math.abs(caffe.tensor.data[4] - (255 - 122.67892)) < 1e-4, 'full scale is 255');

  const resized = await loadImage(encodePng({ width: 4, height: 4, colorType: 2, bitDepth: 16, data: new Array(48).fill(40000) }), { size: [2, 2] });
  t.ok(resized.tensor.data.every((v) => Math.abs(v - 40000 / 65535) < 1e-6), 'resizing keeps 16-bit values');
});

t.test('EXIF orientation is applied', async (t) => {
  // Stored 3 wide x 2 high: row 0 = red green blue, row 1 = white black grey.
  const stored = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [128, 128, 128]];
  const png = encodePng({ width: 3, height: 2, colorType: 2, data: stored.flat() });
  for (const [orientation, rotate] of [[6, 90], [3, 180], [8, 270]]) {
    const tagged = await sharp(png).withMetadata({ orientation }).png().toBuffer();
    t.equal((await sharp(tagged).metadata()).orientation, orientation, `orientation ${orientation} written`);
    const img = await loadImage(tagged);
    const upright = await loadImage(await sharp(png).rotate(rotate).png().toBuffer());
    t.same(img.original, upright.original, `orientation ${orientation}: upright size ${img.original.width}x${img.original.height}`);
    close(t, Array.from(img.tensor.data), Array.from(upright.tensor.data), 0, `orientation ${orientation}: same pixels as rotating by ${rotate}`);
  }
  // Orientation 6 by hand: the upright image is 2 wide x 3 high, its top row = white, red.
  const six = await loadImage(await sharp(png).withMetadata({ orientation: 6 }).png().toBuffer());
  t.same(six.original, { width: 2, height: 3 });
  close(t, planes(six.tensor).map((p) => p[0]), [[1, 1], [1, 0], [1, 0]], 0, 'orientation 6: top row is white then red');

  // A JPEG (what cameras write), with big blocks so compression does not matter.
  const jpeg = await sharp(png).resize(48, 32, { kernel: 'nearest' }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
  const j = await loadImage(jpeg);
  t.same(j.original, { width: 32, height: 48 }, 'JPEG orientation 6: upright 32x48');
  const px = (x, y) => [0, 1, 2].map((c) => j.tensor.data[(c * 48 + y) * 32 + x]);
  close(t, px(8, 8), [1, 1, 1], 0.05, 'JPEG: top left is white');
  close(t, px(24, 8), [1, 0, 0], 0.08, 'JPEG: top right is red');
  close(t, px(24, 40), [0, 0, 1], 0.08, 'JPEG: bottom right is blue');
});

t.test('CMYK JPEG and WebP', async (t) => {
  const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 30, g: 80, b: 200 } } })
    .toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
  t.equal((await sharp(cmyk).metadata()).space, 'cmyk', 'sharp wrote a CMYK JPEG');
  const img = await loadImage(cmyk);
  t.same(img.tensor.shape, [1, 3, 8, 8], 'CMYK becomes 3 RGB channels');
  const [r, g, b] = [0, 1, 2].map((c) => img.tensor.data[c * 64]);
  t.ok(b > r && b > g && b > 0.5 && r < 0.35, `CMYK blue decodes as blue (${[r, g, b].map((v) => v.toFixed(3))})`);

  const webp = await sharp(tiny).webp({ lossless: true }).toBuffer();
  const w = await loadImage(webp);
  t.equal(w.format, 'webp');
  close(t, planes(w.tensor), [0, 1, 2].map((s) => plane(s, (v) => v / 255)), 1e-7, 'lossless WebP decodes exactly');
});

t.test('resize modes and the mapping back', async (t) => {
  // 8 wide x 4 high, value = x + 10 y in every channel.
  const data = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) data.push(x + 10 * y, x + 10 * y, x + 10 * y);
  const png = encodePng({ width: 8, height: 4, colorType: 2, data });

  const none = await loadImage(png, { range: [0, 255] });
  t.same(none.tensor.shape, [1, 3, 4, 8], "'none': native size");
  t.same(none.mapping, { original: { width: 8, height: 4 }, tensor: { width: 8, height: 4 }, box: { left: 0, top: 0, width: 8, height: 4 }, resize: 'none' });
  close(t, planes(none.tensor)[0], Array.from({ length: 4 }, (_, y) => Array.from({ length: 8 }, (_, x) => x + 10 * y)), 1e-5, "'none': pixels as stored");

  const stretch = await loadImage(png, { size: [6, 5] });
  t.same(stretch.tensor.shape, [1, 3, 6, 5], "'stretch' to [6, 5]");
  t.same(stretch.mapping.box, { left: 0, top: 0, width: 5, height: 6 });

  const box = await loadImage(png, { size: [8, 8], resize: 'letterbox', range: [0, 255], padValue: 77 });
  t.same(box.tensor.shape, [1, 3, 8, 8]);
  t.same(box.mapping.box, { left: 0, top: 2, width: 8, height: 4 }, 'letterbox: centred box');
  const p = planes(box.tensor)[1];
  t.ok([0, 1, 6, 7].every((y) => p[y].every((v) => v === 77)), 'letterbox: padding rows hold padValue');
  close(t, p.slice(2, 6), Array.from({ length: 4 }, (_, y) => Array.from({ length: 8 }, (_, x) => x + 10 * y)), 1e-4, 'letterbox: the image, unscaled, in the box');

  const caffeBox = await loadImage(png, { preset: 'caffeFcn', size: [8, 8], resize: 'letterbox', padValue: [122.67892, 116.66877, 104.00699] });
  t.ok([0, 1, 2].every((c) => Math.abs(caffeBox.tensor.data[c * 64]) < 1e-4), 'padValue is in pixel units (RGB) and normalised like the image: the mean pads to 0');

  // Scores at the tensor's size: letterbox padding cropped away, then back to 8 x 4 exactly.
  const scores = new Float32Array(64).fill(-100);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) scores[(y + 2) * 8 + x] = x + 10 * y;
  const back = await resizeScoresToOriginal(new Tensor(scores, [8, 8]), box.mapping);
  t.same([...back.shape], [4, 8], '[H, W] in, [H, W] out at the photo size');
  close(t, Array.from(back.data), Array.from({ length: 32 }, (_, i) => (i % 8) + 10 * Math.floor(i / 8)), 1e-6, 'letterbox undone exactly');

  // Scores at a coarser output stride (4 x 4 for the 8 x 8 tensor): no padding leaks in.
  const coarse = new Float32Array(2 * 16).fill(-100);
  for (let c = 0; c < 2; c++) for (let y = 1; y < 3; y++) for (let x = 0; x < 4; x++) coarse[c * 16 + y * 4 + x] = 5 + c;
  const up = await resizeScoresToOriginal(new Tensor(coarse, [1, 2, 4, 4]), box.mapping);
  t.same([...up.shape], [1, 2, 4, 8], '[N, C, h, w] in, [N, C, H, W] out');
  t.ok(up.data.every((v) => v > -100), 'values come from inside the box');

  // Stretch: any score size resized straight to the photo.
  const s = await resizeScoresToOriginal(new Tensor(new Float32Array(30).fill(0.25), [1, 1, 6, 5]), stretch.mapping);
  t.same([...s.shape], [1, 1, 4, 8]);
  t.ok(s.data.every((v) => Math.abs(v - 0.25) < 1e-7), 'constant stays constant');
  await t.rejects(resizeScoresToOriginal(new Tensor(new Float32Array(4), [4]), stretch.mapping), { code: 'INVALID_ARGUMENT' });
});

t.test('corrupt and unsupported images are BAD_IMAGE', async (t) => {
  const png = await sharp(ASTRONAUT).resize(64, 64).png().toBuffer();
  for (const n of [0, 1, 8, 20, 33, 60, Math.floor(png.length / 2), png.length - 13]) {
    await t.rejects(loadImage(png.subarray(0, n)), { code: 'BAD_IMAGE' }, `PNG truncated to ${n} of ${png.length} bytes`);
  }
  const jpeg = await sharp(ASTRONAUT).resize(64, 64).jpeg().toBuffer();
  await t.rejects(loadImage(jpeg.subarray(0, Math.floor(jpeg.length * 0.6))), { code: 'BAD_IMAGE' }, 'truncated JPEG');
  const bad = Buffer.from(png);
  for (let i = 40; i < 200; i++) bad[i] ^= 0x5a;
  await t.rejects(loadImage(bad), { code: 'BAD_IMAGE' }, 'scrambled PNG data');
  await t.rejects(loadImage(Buffer.from('hello, not an image')), { code: 'BAD_IMAGE' }, 'text');
  const gif = await sharp(tiny).gif().toBuffer();
  await t.rejects(loadImage(gif), { code: 'BAD_IMAGE', message: /gif.*png, jpeg, webp/ }, 'GIF is not a supported format');
});

t.test('oversized images are TOO_LARGE before decoding', async (t) => {
  // A PNG of a few dozen bytes whose header claims 50000 x 50000 (2.5 gigapixels).
  const bomb = encodePng({ width: 1, height: 1, colorType: 2, data: [1, 2, 3], headerWidth: 50000, headerHeight: 50000 });
  t.ok(bomb.length < 200, `${bomb.length}-byte file`);
  await t.rejects(loadImage(bomb), { code: 'TOO_LARGE', message: /50000x50000/ }, 'decompression bomb header');
  await t.rejects(loadImage(ASTRONAUT, { maxPixels: 512 * 511 }), { code: 'TOO_LARGE' }, 'maxPixels just under the image');
  t.ok(await loadImage(ASTRONAUT, { maxPixels: 512 * 512 }), 'maxPixels equal to the image');
});

t.test('missing files and bad arguments', async (t) => {
  await t.rejects(loadImage(path.join(__dirname, 'fixtures', 'does-not-exist.png')), { code: 'IO_ERROR', message: /ENOENT/ });
  await t.rejects(loadImage(__dirname), { code: 'IO_ERROR' }, 'a directory');
  await t.rejects(loadImage(42), { code: 'INVALID_ARGUMENT' });
  await t.rejects(loadImage(tiny, { resize: 'letterbox' }), { code: 'INVALID_ARGUMENT', message: /needs a size/ });
  await t.rejects(loadImage(tiny, { preset: 'nope' }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(loadImage(tiny, { colour: 'rgb' }), { code: 'INVALID_ARGUMENT', message: /unknown image option 'colour'/ });
  await t.rejects(loadImage(tiny, { std: [1, 0, 1] }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(loadImage(tiny, { size: [0, 4] }), { code: 'INVALID_ARGUMENT' });
});

t.test('preprocessing sidecars', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-sidecar-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'net.onnx');
  fs.writeFileSync(model, 'x');
  t.equal(await fcnkit.loadPreprocessingSidecar(model), undefined, 'none');
  fs.writeFileSync(path.join(dir, 'net.json'), JSON.stringify({ preprocessing: { preset: 'caffeFcn', size: [500, 500], resize: 'letterbox' } }));
  const p = await fcnkit.loadPreprocessingSidecar(model);
  t.same(p, { preset: 'caffeFcn', size: [500, 500], resize: 'letterbox' }, '<model minus extension>.json');
  const r = fcnkit.resolvePreprocessing(p);
  t.same([r.channelOrder, r.mean, r.size, r.resize], ['bgr', [104.00699, 116.66877, 122.67892], [500, 500], 'letterbox'], 'preset plus overrides');
  fs.writeFileSync(`${model}.json`, JSON.stringify({ preprocessing: { preset: 'imagenet' } }));
  t.same(await fcnkit.loadPreprocessingSidecar(model), { preset: 'imagenet' }, '<model>.json comes first');
  fs.writeFileSync(`${model}.json`, '{ not json');
  await t.rejects(fcnkit.loadPreprocessingSidecar(model), { code: 'BAD_MODEL', message: /not valid JSON/ });
  fs.writeFileSync(`${model}.json`, JSON.stringify({ preprocessing: { channelOrder: 'gbr' } }));
  await t.rejects(fcnkit.loadPreprocessingSidecar(model), { code: 'BAD_MODEL', message: /channelOrder/ });
  fs.writeFileSync(`${model}.json`, JSON.stringify({ something: 1 }));
  await t.rejects(fcnkit.loadPreprocessingSidecar(model), { code: 'BAD_MODEL', message: /no "preprocessing"/ });
});
