'use strict';
// Mask R-CNN: fcnkit's models.maskRcnn vs onnxruntime-node running torchvision's own ONNX export
// (opset 11) of the same weights, same image, same threads. Each engine runs in its own child
// process so peak RSS is its own.
//   /usr/bin/python3 bench/maskrcnn_export.py small 120 150 /tmp/mrcnn_bench/small
//   /usr/bin/python3 bench/maskrcnn_export.py r50 800 800 /tmp/mrcnn_bench/r50
//   node bench/maskrcnn.js [--dir /tmp/mrcnn_bench] [--threads 1] [--runs 5] [--cases small,r50]
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const dir = opt('dir', '/tmp/mrcnn_bench');
const threads = Number(opt('threads', '1'));
const runs = Number(opt('runs', '5'));
const ref = JSON.parse(fs.readFileSync(path.join(__dirname, '../test/fixtures/maskrcnn/reference.json'), 'utf8'));

const CASES = {
  small: {
    h: 120, w: 150,
    options: { numClasses: ref.config.numClasses, minSize: ref.config.minSize, maxSize: ref.config.maxSize, architecture: ref.config.architecture, bnEps: ref.config.bnEps },
  },
  r50: { h: 800, w: 800, options: { numClasses: 91, minSize: 800, maxSize: 1333, bnEps: 1e-5 } },
};

function image(h, w) {
  // A smooth pattern with blobs: deterministic, the same for both engines.
  const d = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    d[(c * h + y) * w + x] = 0.5 + 0.4 * Math.sin(x * 0.07 * (c + 1) + y * 0.05) * Math.cos(y * 0.04 - c);
  }
  return d;
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function child(engine, name) {
  const c = CASES[name];
  const data = image(c.h, c.w);
  const times = [];
  let count = 0;
  if (engine === 'fcnkit') {
    const { models, loadSafetensors, Tensor } = require('..');
    const net = models.maskRcnn(c.options);
    await net.loadWeights(await loadSafetensors(path.join(dir, `${name}.safetensors`)));
    const input = new Tensor(data, [1, 3, c.h, c.w]);
    await net.detect(input, { threads });
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = await net.detect(input, { threads });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      count = r.instances.length;
    }
  } else {
    const ort = require('onnxruntime-node');
    const s = await ort.InferenceSession.create(path.join(dir, `${name}.onnx`), {
      intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    const feeds = { image: new ort.Tensor('float32', data, [3, c.h, c.w]) };
    await s.run(feeds);
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = await s.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      count = r.scores.dims[0];
    }
  }
  process.stdout.write(JSON.stringify({ ms: median(times), rssMiB: process.resourceUsage().maxRSS / 1024, instances: count }));
}

function main() {
  const cases = opt('cases', 'small,r50').split(',');
  console.log(`threads ${threads}, median of ${runs} runs after a warm-up, one child process per engine`);
  console.log('| case | image | fcnkit ms | onnxruntime ms | speed | fcnkit peak RSS MiB | ort peak RSS MiB | RSS ratio | instances (fcnkit / ort) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const name of cases) {
    if (!fs.existsSync(path.join(dir, `${name}.onnx`))) {
      console.log(`| ${name} | missing ${dir}/${name}.onnx: run bench/maskrcnn_export.py first |`);
      continue;
    }
    const r = {};
    for (const engine of ['fcnkit', 'ort']) {
      r[engine] = JSON.parse(execFileSync(process.execPath, [__filename, '--child', engine, '--case', name, '--dir', dir, '--threads', String(threads), '--runs', String(runs)], { maxBuffer: 1 << 20 }).toString());
    }
    const c = CASES[name];
    console.log(`| ${name} | ${c.w}×${c.h} | ${r.fcnkit.ms.toFixed(1)} | ${r.ort.ms.toFixed(1)} | ${(r.ort.ms / r.fcnkit.ms).toFixed(2)}× | ${r.fcnkit.rssMiB.toFixed(0)} | ${r.ort.rssMiB.toFixed(0)} | ${(r.fcnkit.rssMiB / r.ort.rssMiB).toFixed(2)} | ${r.fcnkit.instances} / ${r.ort.instances} |`);
  }
}

if (args.includes('--child')) child(opt('child'), opt('case')).catch((e) => { console.error(e); process.exit(1); });
else main();
