'use strict';
// One engine, one model, in its own process (so its peak RSS is its own): spawned by
// bench/models.js, prints one JSON line prefixed "RESULT ".
//   node bench/models-child.js fcnkit|ort <case> <dir> <runs> [widthMultiplier]
// fcnkit builds the model from its seed, times it, reads its peak RSS, and only then writes
// <dir>/<case>.onnx (model.exportOnnx: same graph, same weights) and its output, so the weights
// are generated once and the export costs fcnkit's figures nothing. ort loads that file.
const fs = require('node:fs');
const path = require('node:path');

// The models, full width, as the benchmark names them; the seed fixes the weights.
// widthMultiplier < 1 makes small nets, to try the script out quickly.
const CASES = {
  fcn8s: { input: [1, 3, 500, 500], build: (f, m) => f.models.fcn({ variant: '8s', numClasses: 21, widthMultiplier: m, seed: 1 }) },
  unet: {
    input: [1, 1, 572, 572],
    build: (f, m) => f.models.unet({ inChannels: 1, numClasses: 2, baseChannels: 64, widthMultiplier: m, padding: 'valid', seed: 1 }),
  },
};

const [engine, caseName, dir, runsArg, widthArg] = process.argv.slice(2);
const RUNS = Number(runsArg);
const WIDTH = widthArg === undefined ? 1 : Number(widthArg);
const THREADS = 2;
const spec = CASES[caseName];
if (!spec || !['fcnkit', 'ort'].includes(engine) || !(RUNS >= 1)) {
  console.error('usage: node bench/models-child.js fcnkit|ort <case> <dir> <runs>');
  process.exit(2);
}

/** kB from /proc/self/status (Linux); VmHWM is the peak resident set. */
function procStatus(key) {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function peakRssKb() {
  return procStatus('VmHWM') ?? process.resourceUsage().maxRSS;
}

/** The same input in both children: mulberry32 from a fixed seed, uniform [0, 1). */
function input(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let a = 12345;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return data;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timeRuns(fn) {
  const t0 = process.hrtime.bigint();
  const first = await fn(); // warm-up: plans, packed weights, arenas
  const warmupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const times = [];
  let out = first;
  for (let i = 0; i < RUNS; i++) {
    const s = process.hrtime.bigint();
    out = await fn();
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  return { warmupMs, times, out };
}

function normError(a, ref) {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - ref[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return maxDiff / (maxRef + 1e-6);
}

async function main() {
  const baselineKb = procStatus('VmRSS');
  const onnxPath = path.join(dir, `${caseName}.onnx`);
  const outPath = path.join(dir, `${caseName}.fcnkit-output.bin`);
  const x = input(spec.input);
  const result = { engine, case: caseName, runs: RUNS, threads: THREADS, baselineKb };
  if (engine === 'fcnkit') {
    const fcnkit = require(path.join(__dirname, '..', 'dist'));
    const t0 = process.hrtime.bigint();
    const model = spec.build(fcnkit, WIDTH);
    const tensor = new fcnkit.Tensor(x, spec.input);
    const { warmupMs, times, out } = await timeRuns(() => model.run(tensor, { threads: THREADS }));
    result.setupMs = Number(process.hrtime.bigint() - t0) / 1e6 - times.reduce((a, b) => a + b, 0) - warmupMs;
    Object.assign(result, { warmupMs, times, medianMs: median(times), peakRssKb: peakRssKb(), outShape: [...out.shape] });
    result.isa = fcnkit.backendInfo().isa;
    result.version = require(path.join(__dirname, '..', 'package.json')).version;
    console.log(`RESULT ${JSON.stringify(result)}`);
    // After the measurement: the file ort loads, and the output it compares with.
    fs.writeFileSync(outPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
    await model.exportOnnx(onnxPath);
  } else {
    const ort = require('onnxruntime-node');
    const t0 = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(onnxPath, {
      intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    const setupMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, spec.input) };
    const outName = session.outputNames[0];
    const { warmupMs, times, out } = await timeRuns(async () => (await session.run(feeds))[outName]);
    Object.assign(result, { setupMs, warmupMs, times, medianMs: median(times), peakRssKb: peakRssKb(), outShape: [...out.dims] });
    result.version = require('onnxruntime-node/package.json').version;
    // After the measurement: the same numbers as fcnkit's?
    const buf = fs.readFileSync(outPath);
    const ref = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    result.normErrorVsFcnkit = ref.length === out.data.length ? normError(out.data, ref) : Infinity;
    console.log(`RESULT ${JSON.stringify(result)}`);
    await session.release();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
