'use strict';
// Mask R-CNN end to end against torchvision: a small Mask R-CNN (torchvision's MaskRCNN class over a
// narrow bottleneck ResNet + FPN) trained on synthetic shapes (test/fixtures/maskrcnn/train.py),
// whose model.eval()(images) instances make.py recorded. fcnkit must find the same instances:
// per matched instance box IoU >= 0.95, mask IoU >= 0.9, |score difference| <= 0.02.
// Then the full ResNet-50-FPN (random weights, 91 classes) must load a torchvision state dict
// and run; that part needs Debian's python3-torchvision and is skipped without it.
const t = require('tap');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { fcnkit } = require('./helpers');

const { models, loadSafetensors, Tensor, instanceLabelMap } = fcnkit;
const dir = path.join(__dirname, 'fixtures/maskrcnn');
const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
const pixels = fs.readFileSync(path.join(dir, 'images.bin'));
const MIN_SCORE = 0.3; // instances compared: those torchvision scores at least this

function boxIou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const i = w * h;
  return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
}

function maskFromRuns(runs, n) {
  const m = new Uint8Array(n);
  for (let i = 0; i < runs.length; i += 2) m.fill(1, runs[i], runs[i + 1]);
  return m;
}

function maskIou(a, b) {
  let i = 0, u = 0;
  for (let k = 0; k < a.length; k++) {
    i += a[k] & b[k];
    u += a[k] | b[k];
  }
  return u === 0 ? 1 : i / u;
}

function imageTensor(offset, h, w) {
  const data = new Float32Array(3 * h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    data[c * h * w + y * w + x] = pixels[offset + (y * w + x) * 3 + c] / 255;
  }
  return new Tensor(data, [1, 3, h, w]);
}

t.test('small Mask R-CNN gives torchvision instances', async (t) => {
  const cfg = ref.config;
  const net = models.maskRcnn({ numClasses: cfg.numClasses, minSize: cfg.minSize, maxSize: cfg.maxSize, architecture: cfg.architecture, bnEps: cfg.bnEps });
  const { unused } = await net.loadWeights(await loadSafetensors(path.join(dir, 'small-maskrcnn.safetensors')));
  t.same(unused, [], 'every weight is used');
  let offset = 0;
  let compared = 0;
  for (const img of ref.images) {
    const { height: h, width: w } = img;
    const res = await net.detect(imageTensor(offset, h, w));
    offset += h * w * 3;
    t.equal(res.width, w);
    t.equal(res.height, h);
    for (let i = 1; i < res.instances.length; i++) t.ok(res.instances[i - 1].score >= res.instances[i].score, 'sorted by score');
    const used = new Set();
    for (const r of img.instances.filter((x) => x.score >= MIN_SCORE)) {
      // The fcnkit instance of the same label with the best box IoU.
      let best = -1, bestIou = 0;
      res.instances.forEach((c, k) => {
        if (c.label !== r.label || used.has(k)) return;
        const iou = boxIou(c.box, r.box);
        if (iou > bestIou) [best, bestIou] = [k, iou];
      });
      t.ok(best >= 0 && bestIou >= 0.95, `${w}x${h} label ${r.label} score ${r.score.toFixed(3)}: box IoU ${bestIou.toFixed(4)}`);
      if (best < 0) continue;
      used.add(best);
      const c = res.instances[best];
      const mIou = maskIou(c.mask, maskFromRuns(r.runs, w * h));
      t.ok(mIou >= 0.9, `mask IoU ${mIou.toFixed(4)}`);
      t.ok(Math.abs(c.score - r.score) <= 0.02, `score ${c.score.toFixed(4)} vs ${r.score.toFixed(4)}`);
      compared++;
    }
    const labels = instanceLabelMap(res.instances, w, h);
    t.equal(labels.length, w * h);
  }
  t.ok(compared >= 8, `${compared} instances compared`);
  net.dispose();
});

t.test("the checkpoint's older parameter names load to the same network", async (t) => {
  const cfg = ref.config;
  const opts = { numClasses: cfg.numClasses, minSize: cfg.minSize, maxSize: cfg.maxSize, architecture: cfg.architecture, bnEps: cfg.bnEps };
  const current = await loadSafetensors(path.join(dir, 'small-maskrcnn.safetensors'));
  const legacy = {};
  for (const [k, v] of Object.entries(current)) {
    const name = k
      .replace(/^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.0\./, 'backbone.fpn.$1_blocks.$2.')
      .replace(/^rpn\.head\.conv\.0\.0\./, 'rpn.head.conv.')
      .replace(/^roi_heads\.mask_head\.(\d+)\.0\./, (_, i) => `roi_heads.mask_head.mask_fcn${Number(i) + 1}.`);
    legacy[name] = v;
  }
  t.ok(Object.keys(legacy).some((k) => k.includes('mask_fcn1')) && Object.keys(current).some((k) => k.includes('inner_blocks.0.0.')));
  const a = models.maskRcnn(opts), b = models.maskRcnn(opts);
  await a.loadWeights(current);
  t.same((await b.loadWeights(legacy)).unused, []);
  const { height: h, width: w } = ref.images[0];
  const x = imageTensor(0, h, w);
  const [ra, rb] = [await a.detect(x), await b.detect(x)];
  t.same(rb.instances.map((i) => [i.label, i.score, i.box]), ra.instances.map((i) => [i.label, i.score, i.box]));
  a.dispose();
  b.dispose();
});

const python = '/usr/bin/python3';
const hasTorch = (() => {
  try {
    execFileSync(python, ['-c', 'import torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test('ResNet-50-FPN Mask R-CNN loads a torchvision state dict and runs', { skip: hasTorch ? false : 'needs /usr/bin/python3 with torchvision' }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-mrcnn-'));
  const file = path.join(tmp, 'r50.safetensors');
  // Random weights in torchvision's current naming (the `.0.0.` form), written as safetensors.
  execFileSync(python, ['-c', `
import sys, torch, torchvision
sys.path.insert(0, ${JSON.stringify(dir)})
import small_model as sm
torch.manual_seed(0)
m = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
sm.write_safetensors(${JSON.stringify(file)}, sm.frozen_state(m))
`], { stdio: 'inherit' });
  const net = models.maskRcnn({ numClasses: 91, minSize: 160, maxSize: 200, bnEps: 1e-5 });
  t.equal(net.parameters().length, 4 * 53 + 53 + 8 + 8 + 6 + 8 + 12, 'parameter count');
  const { unused } = await net.loadWeights(await loadSafetensors(file));
  t.same(unused, []);
  const data = new Float32Array(3 * 120 * 150);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000;
  const res = await net.detect(new Tensor(data, [1, 3, 120, 150]));
  t.equal(res.width, 150);
  t.ok(Array.isArray(res.instances));
  for (const inst of res.instances) t.equal(inst.mask.length, 150 * 120);
  net.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

t.test("InferenceSession refuses torchvision's ONNX export with UNSUPPORTED_OP naming the op", { skip: hasTorch ? false : 'needs /usr/bin/python3 with torchvision' }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-mrcnn-onnx-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  execFileSync(python, [path.join(__dirname, '..', 'bench', 'maskrcnn_export.py'), 'small', '96', '96', path.join(tmp, 'small')], { stdio: 'ignore' });
  await t.rejects(fcnkit.InferenceSession.create(path.join(tmp, 'small.onnx')), { code: 'UNSUPPORTED_OP', message: /op \w+ is not supported/ });
});

t.test('bad use is an FcnkitError', async (t) => {
  t.throws(() => models.maskRcnn({ numClasses: 1 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => models.maskRcnn({ numClasses: 3, backbone: 'vgg' }), { code: 'INVALID_ARGUMENT' });
  const net = models.maskRcnn({ numClasses: 3 });
  await t.rejects(net.detect(new Tensor(new Float32Array(3), [1, 3, 1, 1])), { code: 'INVALID_ARGUMENT' });
  await t.rejects(net.loadWeights({}), { code: 'BAD_MODEL' });
});
