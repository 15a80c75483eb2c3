'use strict';
// The CLI on a Mask R-CNN: `fcnkit segment --model NET.safetensors` (NET.json sidecar) writes
// 16-bit instance maps, COCO results JSON and overlays; `fcnkit eval --instances` scores them
// against COCO annotations made from torchvision's own instances on the same images.
const t = require('tap');
const fs = require('fs');
const path = require('path');
const { fcnkit: run, tmpdir } = require('./helpers/cli');
const { encodePng } = require('./helpers/png');
const { fcnkit } = require('./helpers');

const dir = path.join(__dirname, 'fixtures/maskrcnn');
const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
const pixels = fs.readFileSync(path.join(dir, 'images.bin'));

function runsToRle(runs, w, h) {
  const m = new Uint8Array(w * h);
  for (let i = 0; i < runs.length; i += 2) m.fill(1, runs[i], runs[i + 1]);
  return fcnkit.encodeRle(m, w, h);
}

t.test('segment --format instances,overlay and eval --instances', async (t) => {
  const tmp = tmpdir(t, 'fcnkit-mrcnn-cli-');
  fs.copyFileSync(path.join(dir, 'small-maskrcnn.safetensors'), path.join(tmp, 'net.safetensors'));
  const cfg = ref.config;
  fs.writeFileSync(path.join(tmp, 'net.json'), JSON.stringify({
    architecture: 'maskrcnn_resnet50_fpn', numClasses: cfg.numClasses, classes: ['__background__', 'disc', 'box'],
    minSize: cfg.minSize, maxSize: cfg.maxSize, bnEps: cfg.bnEps, channels: cfg.architecture,
  }));
  const gt = { images: [], annotations: [], categories: [{ id: 1, name: 'disc' }, { id: 2, name: 'box' }] };
  let offset = 0;
  const files = [];
  ref.images.forEach((img, i) => {
    const { width: w, height: h } = img;
    const file = path.join(tmp, `img${i}.png`);
    fs.writeFileSync(file, encodePng({ width: w, height: h, colorType: 2, data: pixels.subarray(offset, offset + w * h * 3) }));
    offset += w * h * 3;
    files.push(file);
    gt.images.push({ id: i + 1, width: w, height: h, file_name: `img${i}.png` });
    for (const r of img.instances.filter((x) => x.score >= 0.5)) {
      const [x1, y1, x2, y2] = r.box;
      gt.annotations.push({
        id: gt.annotations.length + 1, image_id: i + 1, category_id: r.label, iscrowd: 0, bbox: [x1, y1, x2 - x1, y2 - y1],
        area: r.runs.reduce((s, v, k) => s + (k % 2 ? v : -v), 0), segmentation: runsToRle(r.runs, w, h),
      });
    }
  });
  fs.writeFileSync(path.join(tmp, 'gt.json'), JSON.stringify(gt));

  const out = path.join(tmp, 'out');
  const r = await run(['segment', '--model', path.join(tmp, 'net.safetensors'), '--out', out, '--json', ...files], { timeout: 300000 });
  t.equal(r.code, 0, r.stderr);
  const status = r.json();
  t.equal(status.length, files.length);
  const sharp = require('sharp');
  for (let i = 0; i < files.length; i++) {
    const { width: w, height: h } = ref.images[i];
    const meta = await sharp(path.join(out, `img${i}.instances.png`)).metadata();
    t.same([meta.width, meta.height, meta.depth, meta.channels], [w, h, 'ushort', 1], '16-bit grey instance map');
    const ov = await sharp(path.join(out, `img${i}.overlay.png`)).metadata();
    t.same([ov.width, ov.height], [w, h]);
    const res = JSON.parse(fs.readFileSync(path.join(out, `img${i}.instances.json`), 'utf8'));
    t.ok(res.length > 0);
    for (const d of res) {
      t.same(Object.keys(d).sort(), ['bbox', 'category_id', 'image_id', 'score', 'segmentation']);
      t.same(d.segmentation.size, [h, w]);
      t.equal(fcnkit.decodeRle(d.segmentation).length, w * h);
    }
  }
  const e = await run(['eval', '--instances', '--gt', path.join(tmp, 'gt.json'), '--pred', out, '--json']);
  t.equal(e.code, 0, e.stderr);
  const m = e.json();
  t.ok(m.segm.AP50 >= 0.95, `mask AP50 ${m.segm.AP50}`);
  t.ok(m.bbox.AP50 >= 0.95, `box AP50 ${m.bbox.AP50}`);
  t.ok(m.bbox.AP >= 0.8, `box AP ${m.bbox.AP}`);
  const text = await run(['eval', '--instances', '--gt', path.join(tmp, 'gt.json'), '--pred', out]);
  t.match(text.stdout, /mask\s+\d\.\d{4}/);

  const info = await run(['info', path.join(tmp, 'net.safetensors'), '--json']);
  t.equal(info.code, 0, info.stderr);
  t.equal(info.json().numClasses, 3);
  t.ok(info.json().parameters > 100000);
  const bench = await run(['bench', path.join(tmp, 'net.safetensors'), '--shape', '1x3x96x120', '--runs', '1', '--warmup', '0', '--json']);
  t.equal(bench.code, 0, bench.stderr);
  t.ok(bench.json().medianMs > 0);
});
