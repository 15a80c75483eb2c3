'use strict';
// `fcnkit segment` end to end, as a user runs it: the embedded default model on the sample
// photos (names, sizes and formats of every output; the astronaut's mask covers the person),
// folders, exit codes and messages for bad paths, corrupt images and bad usage, --skip-existing,
// and a small FCN exported to ONNX through --size, --tile and --workers 0.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
const { fcnkit: lib } = require('./helpers');
const { EXAMPLES, ROOT, fcnkit, tmpdir, listFiles } = require('./helpers/cli');
const { readLabelImage } = require('../dist/io/outputs');
const { readNpy } = require('../dist/io/npy');
const { Progress } = require('../dist/cli/progress');

const PHOTOS = ['astronaut.png', 'chelsea.png', 'coins.png', 'horse.png'];
const FORMATS = ['labels', 'color', 'overlay', 'cutout', 'npy'];
const fileOf = (name, format) => (format === 'npy' ? `${name}.scores.npy` : `${name}.${format}.png`);

t.test('default model: every format, at each photo\'s size', async (t) => {
  const out = tmpdir(t);
  const r = await fcnkit(['segment', ...PHOTOS.map((p) => path.join(EXAMPLES, p)), '--out', out, '--format', FORMATS.join(','), '--json']);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const res = r.json();
  t.equal(res.ok, 4);
  t.equal(res.failed, 0);
  t.same(listFiles(out), PHOTOS.flatMap((p) => FORMATS.map((f) => fileOf(p.replace('.png', ''), f))).sort(), 'the right file names, nothing else (no temp files)');
  for (const photo of PHOTOS) {
    const name = photo.replace('.png', '');
    const src = await sharp(path.join(EXAMPLES, photo)).metadata();
    const meta = {};
    for (const f of ['labels', 'color', 'overlay', 'cutout']) meta[f] = await sharp(path.join(out, fileOf(name, f))).metadata();
    for (const f of Object.keys(meta)) t.same([meta[f].width, meta[f].height], [src.width, src.height], `${name}.${f}.png is the photo's size`);
    t.equal(meta.labels.channels, 1, 'labels: one grey channel');
    t.equal(meta.labels.depth, 'uchar', 'labels: 8-bit (2 classes)');
    t.ok(meta.color.isPalette, 'color: an indexed PNG');
    t.equal(meta.overlay.channels, 3, 'overlay: RGB');
    t.equal(meta.cutout.channels, 4, 'cutout: RGBA');
    const npy = await readNpy(path.join(out, fileOf(name, 'npy')));
    t.same([npy.dtype, npy.shape], ['float32', [1, 1, src.height, src.width]], 'scores: float32 [1, 1, H, W]');
    // Labels and colour agree, and the cutout's alpha is the probability.
    const labels = await readLabelImage(path.join(out, fileOf(name, 'labels')));
    const color = await readLabelImage(path.join(out, fileOf(name, 'color')));
    t.same(Buffer.from(color.labels), Buffer.from(labels.labels), 'color indices = labels');
    const alpha = await sharp(path.join(out, fileOf(name, 'cutout'))).extractChannel(3).raw().toBuffer();
    let agree = 0;
    for (let i = 0; i < alpha.length; i++) if ((alpha[i] > 127.5) === (labels.labels[i] === 1) || Math.abs(alpha[i] - 127.5) < 1) agree++;
    t.ok(agree / alpha.length > 0.999, 'cutout alpha > 0.5 exactly where the label is 1');
  }
});

t.test("the default model's mask of astronaut.png covers the person", async (t) => {
  const out = tmpdir(t);
  const r = await fcnkit(['segment', path.join(EXAMPLES, 'astronaut.png'), '--out', out]);
  t.equal(r.code, 0, r.stderr);
  t.same(listFiles(out), ['astronaut.labels.png', 'astronaut.overlay.png'], 'default formats: labels, overlay');
  t.match(r.stdout, /ok .*astronaut\.png -> .*astronaut\.labels\.png/, 'a plain line per image when not on a terminal');
  const { labels, width, height } = await readLabelImage(path.join(out, 'astronaut.labels.png'));
  const frac = (x0, y0, x1, y1) => {
    let n = 0;
    let fg = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++, n++) fg += labels[y * width + x];
    return fg / n;
  };
  t.ok(frac(96, 256, 288, 448) > 0.95, 'a box on her suit is foreground');
  t.ok(frac(176, 48, 272, 144) > 0.9, 'a box on her face and hair is foreground');
  for (const [x0, y0] of [[0, 0], [width - 48, 0]]) t.ok(frac(x0, y0, x0 + 48, y0 + 48) < 0.05, `the top corner at x=${x0} is background`);
  const ref = await sharp(path.join(__dirname, 'fixtures', 'astronaut-person-mask.png')).toColourspace('b-w').raw().toBuffer();
  let inter = 0;
  let union = 0;
  for (let i = 0; i < width * height; i++) {
    const a = labels[i] === 1;
    const b = ref[i] > 127;
    inter += a && b;
    union += a || b;
  }
  t.ok(inter / union >= 0.95, `IoU with the stored person mask ${(inter / union).toFixed(4)} >= 0.95`);
});

t.test('folders are searched recursively; outputs keep the sub-folders', async (t) => {
  const dir = tmpdir(t);
  const input = path.join(dir, 'in');
  fs.mkdirSync(path.join(input, 'sub'), { recursive: true });
  fs.copyFileSync(path.join(EXAMPLES, 'horse.png'), path.join(input, 'a.png'));
  await sharp(path.join(EXAMPLES, 'chelsea.png')).resize(120, 80).jpeg().toFile(path.join(input, 'sub', 'b.jpg'));
  fs.writeFileSync(path.join(input, 'notes.txt'), 'not an image');
  const out = path.join(dir, 'out');
  const r = await fcnkit(['segment', input, '--out', out, '--format', 'labels', '--workers', '1']);
  t.equal(r.code, 0, r.stderr);
  t.same(listFiles(out), ['a.labels.png', path.join('sub', 'b.labels.png')]);
  const m = await sharp(path.join(out, 'sub', 'b.labels.png')).metadata();
  t.same([m.width, m.height], [120, 80]);
});

t.test('bad paths and corrupt images: named, skipped, the rest processed, exit 1', async (t) => {
  const dir = tmpdir(t);
  const corrupt = path.join(dir, 'corrupt.png');
  const png = fs.readFileSync(path.join(EXAMPLES, 'horse.png'));
  fs.writeFileSync(corrupt, png.subarray(0, 200));
  const text = path.join(dir, 'text.jpg');
  fs.writeFileSync(text, 'hello');
  const out = path.join(dir, 'out');
  const missing = path.join(dir, 'missing.png');
  const r = await fcnkit(['segment', missing, corrupt, path.join(EXAMPLES, 'horse.png'), text, '--out', out, '--format', 'labels']);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /missing\.png: no such file/, 'the missing file is named');
  t.match(r.stderr, /corrupt\.png: .*(BAD_IMAGE|decode|corrupt|truncat|premature|[Ii]nput)/, 'the corrupt file is named');
  t.match(r.stderr, /text\.jpg/, 'the non-image is named');
  t.same(listFiles(out), ['horse.labels.png'], 'the good image is still processed');
  t.match(r.stdout, /1 image segmented, 3 failed/);

  const j = await fcnkit(['segment', missing, path.join(EXAMPLES, 'horse.png'), '--out', out, '--json']);
  t.equal(j.code, 1);
  const res = j.json();
  t.equal(res.failed, 1);
  t.equal(res.images.find((i) => i.status === 'failed').input, missing);
});

t.test('bad usage: exit 2 with a message and the usage text', async (t) => {
  const cases = [
    [['segment', '--bogus', 'x.png'], /unknown option '--bogus'/],
    [['segment', 'x.png', '--out'], /option '--out' needs a value/],
    [['segment', '--format', 'labels,sparkles', 'x.png'], /unknown format 'sparkles'/],
    [['segment', '--threshold', '2', 'x.png'], /--threshold' must be from 0 to 1/],
    [['segment', '--workers', 'two', 'x.png'], /--workers' expects an integer/],
    [['segment'], /no images given/],
    [['segment', '--device', 'tpu', 'x.png'], /--device' must be cpu or cuda/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['eval', '--pred', 'a'], /missing --gt/],
    [['run', 'model.onnx'], /missing --input/],
    [['info'], /missing MODEL/],
  ];
  for (const [args, message] of cases) {
    const r = await fcnkit(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: says why`);
    t.match(r.stderr, /Usage: fcnkit/, `${args.join(' ')}: shows the usage`);
  }
  const h = await fcnkit(['segment', '--help']);
  t.equal(h.code, 0);
  t.match(h.stdout, /Usage: fcnkit segment/);
  const top = await fcnkit(['--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /segment.*\n.*run.*\n.*info.*\n.*bench.*\n.*eval/);
  const none = await fcnkit([]);
  t.equal(none.code, 2, 'no command: usage, exit 2');
});

t.test('--skip-existing leaves finished images alone', async (t) => {
  const out = tmpdir(t);
  const photos = [path.join(EXAMPLES, 'horse.png'), path.join(EXAMPLES, 'coins.png')];
  const first = await fcnkit(['segment', photos[0], '--out', out, '--json']);
  t.equal(first.code, 0);
  const before = fs.statSync(path.join(out, 'horse.labels.png')).mtimeMs;
  const second = await fcnkit(['segment', ...photos, '--out', out, '--skip-existing', '--json']);
  t.equal(second.code, 0);
  const res = second.json();
  t.equal(res.skipped, 1);
  t.equal(res.ok, 1);
  t.equal(fs.statSync(path.join(out, 'horse.labels.png')).mtimeMs, before, 'not rewritten');
  // A missing format counts as not done.
  const third = await fcnkit(['segment', ...photos, '--out', out, '--skip-existing', '--format', 'labels,color', '--json']);
  t.equal(third.json().ok, 2, 'images lacking a requested format are redone');
});

t.test('an FCN exported to ONNX: --size, --tile, --workers 0, 21 classes', async (t) => {
  const dir = tmpdir(t);
  const model = path.join(dir, 'fcn8s.onnx');
  await lib.models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 21, seed: 3 }).exportOnnx(model);
  const photos = [path.join(EXAMPLES, 'chelsea.png'), path.join(EXAMPLES, 'coins.png')];

  const sized = path.join(dir, 'sized');
  const a = await fcnkit(['segment', '--model', model, ...photos, '--out', sized, '--size', '160', '--format', 'labels,color,npy', '--json']);
  t.equal(a.code, 0, a.stderr);
  const npy = await readNpy(path.join(sized, 'chelsea.scores.npy'));
  t.same(npy.shape, [1, 21, 300, 451], 'scores mapped back to the photo size from the 160×160 letterbox');
  const lab = await readLabelImage(path.join(sized, 'chelsea.labels.png'));
  t.same([lab.width, lab.height], [451, 300]);
  t.ok(lab.labels.every((l) => l < 21), 'labels are classes');

  // --workers 0 (main thread) and a pool give the same labels.
  const local = path.join(dir, 'local');
  const b = await fcnkit(['segment', '--model', model, ...photos, '--out', local, '--format', 'labels', '--workers', '0']);
  const pool = path.join(dir, 'pool');
  const c = await fcnkit(['segment', '--model', model, ...photos, '--out', pool, '--format', 'labels', '--workers', '2']);
  t.equal(b.code, 0, b.stderr);
  t.equal(c.code, 0, c.stderr);
  for (const n of ['chelsea', 'coins']) {
    const x = await readLabelImage(path.join(local, `${n}.labels.png`));
    const y = await readLabelImage(path.join(pool, `${n}.labels.png`));
    t.same(Buffer.from(x.labels), Buffer.from(y.labels), `${n}: main thread = worker pool`);
  }

  const tiled = path.join(dir, 'tiled');
  const d = await fcnkit(['segment', '--model', model, photos[0], '--out', tiled, '--tile', '128', '--format', 'labels', '--json']);
  t.equal(d.code, 0, d.stderr);
  const tl = await readLabelImage(path.join(tiled, 'chelsea.labels.png'));
  t.same([tl.width, tl.height], [451, 300], 'tiled output at the photo size');

  const e = await fcnkit(['segment', '--model', model, photos[0], '--out', tiled, '--format', 'cutout']);
  t.equal(e.code, 2, 'cutout on a 21-class model is bad usage');
  t.match(e.stderr, /cutout needs a binary model/);
});

t.test('progress: a bar with rate and ETA on a terminal, plain lines otherwise', async (t) => {
  const sink = () => {
    const s = { text: '', columns: 100, write: (x) => ((s.text += x), true) };
    return s;
  };
  const err = sink();
  const out = sink();
  const p = new Progress({ total: 4, tty: true, out, err });
  p.item(true, 'ok a');
  p.item(false, 'error: b: broken');
  p.finish();
  t.match(err.text, /\r\x1b\[K\[#+\.*\] 1\/4 images .*\/s {2}ETA /, 'the bar: done/total, rate, ETA');
  t.match(err.text, /error: b: broken\n/, 'errors above the bar');
  t.equal(out.text, '', 'nothing on stdout');
  const plain = sink();
  const q = new Progress({ total: 2, tty: false, out: plain, err: sink() });
  q.item(true, 'ok a');
  t.equal(plain.text, 'ok a\n');
});

t.test('a missing model file is named, exit 1', async (t) => {
  const r = await fcnkit(['segment', '--model', path.join(ROOT, 'nope.onnx'), path.join(EXAMPLES, 'horse.png'), '--out', tmpdir(t)]);
  t.equal(r.code, 1);
  t.match(r.stderr, /IO_ERROR.*nope\.onnx.*no such file/);
});
