'use strict';
// npm run bench:bf16 — precision 'bf16' on the CPU (AVX512-BF16) against fcnkit fp32 and
// onnxruntime-node fp32, in the same run:
//   layers: the big 3x3 (and 1x1) layers of FCN/U-Net as one-node graphs, weights packed once;
//   model:  U-Net ('same', base 32, 4 levels) at 1024x1024 end to end, fcnkit fp32 and bf16
//           against onnxruntime on the same model exported to ONNX.
// The three are timed in turns (fp32, bf16, ort, fp32, ...) so that load from other processes
// falls on all alike; medians. Not a test: prints a table.
//   node bench/bf16.js [--runs N] [--threads 1,2] [--only layers|model] [--size 1024]
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const fcnkit = require(path.join(__dirname, '..', 'dist'));
const { native } = require(path.join(__dirname, '..', 'dist', 'native'));
const { CompiledGraph } = require(path.join(__dirname, '..', 'dist', 'graph', 'compiled'));
const onnx = require(path.join(__dirname, '..', 'dist', 'io', 'onnx-proto'));
const ort = require('onnxruntime-node');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const RUNS = Number(opt('runs', 5));
const THREADS = opt('threads', '1,2').split(',').map(Number);
const ONLY = opt('only', '');
const SIZE = Number(opt('size', 1024));

// [name, C, H, W, outC, k, pad]
const LAYERS = [
  ['3x3 64->64 @256', 64, 256, 256, 64, 3, 1],
  ['3x3 128->128 @128', 128, 128, 128, 128, 3, 1],
  ['3x3 256->256 @64', 256, 64, 64, 256, 3, 1],
  ['3x3 512->512 @32', 512, 32, 32, 512, 3, 1],
  ['1x1 4096->4096 @16', 4096, 16, 16, 4096, 1, 0],
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rand = (n, s = 1) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * s);

// Runs the functions in turns, a warm-up each, then RUNS rounds; the median ms of each.
async function timeTogether(fns) {
  for (const fn of fns) await fn();
  const times = fns.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < fns.length; i++) {
      const t0 = process.hrtime.bigint();
      await fns[i]();
      times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return times.map(median);
}

const ortOptions = (threads) => ({ intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });

async function layers() {
  for (const threads of THREADS) {
    for (const [name, c, h, w, oc, k, pad] of LAYERS) {
      const xData = rand(c * h * w);
      const wData = rand(oc * c * k * k, 0.05);
      const bData = rand(oc);
      const x = new fcnkit.Tensor(xData, [1, c, h, w]);
      const spec = {
        inputs: [{ name: 'x', shape: [1, c, h, w] }],
        constants: { w: new fcnkit.Tensor(wData, [oc, c, k, k]), b: new fcnkit.Tensor(bData, [oc]) },
        nodes: [{ name: 'layer', type: 'conv2d', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { pads: [pad, pad, pad, pad] } }],
        outputs: ['y'],
      };
      const g32 = new CompiledGraph(spec), g16 = new CompiledGraph(spec, { precision: 'bf16' });
      const model = onnx.makeModel({
        nodes: [onnx.makeNode('Conv', ['x', 'w', 'b'], ['y'], [onnx.attr.ints('kernel_shape', [k, k]), onnx.attr.ints('pads', [pad, pad, pad, pad])])],
        inputs: [onnx.valueInfo('x', onnx.DataType.FLOAT, [1, c, h, w])],
        outputs: [{ name: 'y', type: { tensorType: { elemType: onnx.DataType.FLOAT }, denotation: '' }, docString: '' }],
        initializers: [onnx.tensorFromFloat32('w', [oc, c, k, k], wData), onnx.tensorFromFloat32('b', [oc], bData)],
      });
      const session = await ort.InferenceSession.create(onnx.encodeModel(model), ortOptions(threads));
      const feeds = { x: new ort.Tensor('float32', xData, [1, c, h, w]) };
      const [ms32, ms16, msOrt] = await timeTogether([() => g32.run({ x }, { threads }), () => g16.run({ x }, { threads }), () => session.run(feeds)]);
      const flops = 2 * oc * c * k * k * h * w;
      const gf = (ms) => (flops / ms / 1e6).toFixed(0).padStart(5);
      console.log(`${threads}t  ${name.padEnd(20)} fp32 ${ms32.toFixed(1).padStart(7)} ms ${gf(ms32)} GF/s  bf16 ${ms16.toFixed(1).padStart(7)} ms ${gf(ms16)} GF/s  ort ${msOrt.toFixed(1).padStart(7)} ms ${gf(msOrt)} GF/s  bf16/fp32 ${(ms32 / ms16).toFixed(2)}x  bf16/ort ${(msOrt / ms16).toFixed(2)}x`);
      await session.release();
      g32.dispose();
      g16.dispose();
    }
  }
}

async function model() {
  const make = (precision) => fcnkit.models.unet({ inChannels: 3, numClasses: 2, levels: 4, baseChannels: 32, padding: 'same', seed: 5, precision });
  const m32 = make('fp32'), m16 = make('bf16');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-bf16-')), 'unet.onnx');
  await m32.exportOnnx(file);
  const data = rand(3 * SIZE * SIZE);
  const input = new fcnkit.Tensor(data, [1, 3, SIZE, SIZE]);
  for (const threads of THREADS) {
    const session = await ort.InferenceSession.create(file, ortOptions(threads));
    const inName = session.inputNames[0];
    const feeds = { [inName]: new ort.Tensor('float32', data, [1, 3, SIZE, SIZE]) };
    const [ms32, ms16, msOrt] = await timeTogether([() => m32.run(input, { threads }), () => m16.run(input, { threads }), () => session.run(feeds)]);
    const [a, b] = [await m16.run(input, { threads }), await m32.run(input, { threads })];
    let agree = 0;
    const n = SIZE * SIZE;
    for (let i = 0; i < n; i++) agree += (a.data[i] > a.data[n + i]) === (b.data[i] > b.data[n + i]) ? 1 : 0;
    console.log(`${threads}t  U-Net same base 32 @${SIZE}  fp32 ${ms32.toFixed(0)} ms  bf16 ${ms16.toFixed(0)} ms  ort fp32 ${msOrt.toFixed(0)} ms  bf16/fp32 ${(ms32 / ms16).toFixed(2)}x  bf16/ort ${(msOrt / ms16).toFixed(2)}x  fp32/ort ${(msOrt / ms32).toFixed(2)}x  (argmax agreement bf16 vs fp32 ${(100 * agree / n).toFixed(3)}%)`);
    await session.release();
  }
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

async function main() {
  const info = fcnkit.backendInfo();
  if (!info.bf16.available) throw new Error(`precision 'bf16' is not available here: ${info.bf16.reason}`);
  const cpu = os.cpus();
  console.log(`bench:bf16 — ${new Date().toISOString()}, ${cpu.length} CPUs (${cpu[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`fcnkit isa=${info.isa}, single-core fp32 FMA peak measured now ${native().measureFmaPeak(0.5).toFixed(0)} GFLOP/s; onnxruntime-node ${require('onnxruntime-node/package.json').version}; medians of ${RUNS} runs, engines in turns`);
  if (!ONLY || ONLY === 'layers') await layers();
  if (!ONLY || ONLY === 'model') await model();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
