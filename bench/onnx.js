'use strict';
// npm run bench:onnx — load and run an FCN-8s-sized ONNX file (VGG16 FCN-8s, 21 classes, about
// 540 MB of float32 weights) in fcnkit's InferenceSession and in onnxruntime-node, same process,
// same file, same input. Not a test: prints a table.
//   node bench/onnx.js [--size 500] [--runs 3] [--loads 3] [--threads 2] [--keep FILE]
//
// load  = create() from the path until the session is ready (file read included; the OS page
//         cache is warmed first so neither pays for the disk). fcnkit decodes the protobuf
//         zero-copy and keeps float32 raw_data as views; onnxruntime copies and pre-packs weights.
// first = the first run (fcnkit compiles its plan for the input size here: weight packing).
// run   = median of the timed runs after that.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const fcnkit = require(path.join(__dirname, '..', 'dist'));
const ort = require('onnxruntime-node');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SIZE = Number(opt('size', 500));
const RUNS = Number(opt('runs', 3));
const LOADS = Number(opt('loads', 3));
const THREADS = Number(opt('threads', 2));
const KEEP = opt('keep', '');

const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (v) => `${v.toFixed(0)} ms`;

function normError(a, ref) {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return d / (m + 1e-6);
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-bench-onnx-'));
  const file = KEEP || path.join(dir, 'fcn8s.onnx');
  try {
    if (!KEEP || !fs.existsSync(file)) {
      const t0 = now();
      const model = fcnkit.models.fcn({ variant: '8s', seed: 1 });
      await model.exportOnnx(file);
      model.dispose();
      console.log(`exported ${file}: ${(fs.statSync(file).size / 1e6).toFixed(0)} MB in ${ms(now() - t0)}`);
    }
    fs.readFileSync(file); // warm the page cache for both engines
    const info = fcnkit.backendInfo();
    console.log(`fcnkit isa ${info.isa}, ${info.threads} core threads; onnxruntime-node ${require('onnxruntime-node/package.json').version}; ` +
      `${os.cpus()[0].model} x${os.cpus().length}; Node ${process.version}; input 1x3x${SIZE}x${SIZE}; threads ${THREADS}`);

    const ortOpts = { intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
    const loads = { fcnkit: [], ort: [] };
    for (let i = 0; i < LOADS; i++) {
      let t0 = now();
      const s = await fcnkit.InferenceSession.create(file);
      loads.fcnkit.push(now() - t0);
      s.dispose();
      t0 = now();
      const o = await ort.InferenceSession.create(file, ortOpts);
      loads.ort.push(now() - t0);
      await o.release();
      if (global.gc) global.gc();
    }

    const data = new Float32Array(3 * SIZE * SIZE);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 2;
    const x = new fcnkit.Tensor(data, [1, 3, SIZE, SIZE]);

    const runs = { fcnkit: [], ort: [] };
    const first = {};
    let t0 = now();
    const fs1 = await fcnkit.InferenceSession.create(file, { threads: THREADS });
    let yF = (await fs1.run({ input: x })).score;
    first.fcnkit = now() - t0;
    for (let i = 0; i < RUNS; i++) {
      t0 = now();
      yF = (await fs1.run({ input: x })).score;
      runs.fcnkit.push(now() - t0);
    }
    fs1.dispose();
    if (global.gc) global.gc();
    t0 = now();
    const os1 = await ort.InferenceSession.create(file, ortOpts);
    const feeds = { input: new ort.Tensor('float32', data, [1, 3, SIZE, SIZE]) };
    let yO = (await os1.run(feeds)).score;
    first.ort = now() - t0;
    for (let i = 0; i < RUNS; i++) {
      t0 = now();
      yO = (await os1.run(feeds)).score;
      runs.ort.push(now() - t0);
    }
    await os1.release();

    const err = normError(yF.data, yO.data);
    const rows = [
      ['load (create)', median(loads.fcnkit), median(loads.ort), 'fcnkit / onnxruntime (target <= 0.5)', median(loads.fcnkit) / median(loads.ort)],
      ['load + first run', first.fcnkit, first.ort, 'fcnkit / onnxruntime', first.fcnkit / first.ort],
      ['run (median)', median(runs.fcnkit), median(runs.ort), 'speed = onnxruntime / fcnkit (target >= 1.0)', median(runs.ort) / median(runs.fcnkit)],
    ];
    console.log('\n| measure | fcnkit | onnxruntime | ratio |\n|---|---|---|---|');
    for (const [label, a, b, what, r] of rows) console.log(`| ${label} | ${ms(a)} | ${ms(b)} | ${r.toFixed(2)} (${what}) |`);
    console.log(`\nsingle loads (ms): fcnkit ${loads.fcnkit.map((v) => v.toFixed(0)).join(', ')}; onnxruntime ${loads.ort.map((v) => v.toFixed(0)).join(', ')}`);
    console.log(`single runs (ms): fcnkit ${runs.fcnkit.map((v) => v.toFixed(0)).join(', ')}; onnxruntime ${runs.ort.map((v) => v.toFixed(0)).join(', ')}`);
    console.log(`outputs agree: normalised error ${err.toExponential(2)} (shape ${yF.shape.join('x')})`);
  } finally {
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
