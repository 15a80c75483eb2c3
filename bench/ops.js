'use strict';
// npm run bench:ops — conv layers of FCN/U-Net shapes in fcnkit and onnxruntime-node, same run,
// 1 and 2 threads, weights packed once as in a model: median time, GFLOP/s, the ratio to onnxruntime, and the share of the
// machine's single-core FMA peak (measured in this run). Not a test: prints a table.
//   node bench/ops.js [--runs N] [--threads 1,2] [--only NAME]
const path = require('node:path');
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
const RUNS = Number(opt('runs', 7));
const THREADS = opt('threads', '1,2').split(',').map(Number);
const ONLY = opt('only', '');

// [name, kind, N, C, H, W, outC, k, stride, pad]
const SHAPES = [
  ['3x3 64->64 @256', 'conv', 1, 64, 256, 256, 64, 3, 1, 1],
  ['3x3 128->128 @128', 'conv', 1, 128, 128, 128, 128, 3, 1, 1],
  ['3x3 256->256 @64', 'conv', 1, 256, 64, 64, 256, 3, 1, 1],
  ['3x3 512->512 @32', 'conv', 1, 512, 32, 32, 512, 3, 1, 1],
  ['1x1 4096->4096 @16', 'conv', 1, 4096, 16, 16, 4096, 1, 1, 0],
  ['7x7 512->4096 @22', 'conv', 1, 512, 22, 22, 4096, 7, 1, 0],
  ['deconv 21->21 k4s2 @32', 'deconv', 1, 21, 32, 32, 21, 4, 2, 0],
  ['deconv 21->21 k16s8 @32', 'deconv', 1, 21, 32, 32, 21, 16, 8, 0],
  ['deconv 21->21 k64s32 @16', 'deconv', 1, 21, 16, 16, 21, 64, 32, 0],
  ['deconv 1024->512 k2s2 @28', 'deconv', 1, 1024, 28, 28, 512, 2, 2, 0],
];

function rand(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

function flops(s) {
  const [, kind, n, c, h, w, oc, k, stride, pad] = s;
  if (kind === 'conv') {
    const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
    return 2 * n * oc * c * k * k * oh * ow;
  }
  return 2 * n * c * oc * k * k * h * w; // every input pixel meets every kernel tap
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeIt(fn) {
  await fn(); // warm-up
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

async function main() {
  const info = fcnkit.backendInfo();
  const peak = native().measureFmaPeak(1.0);
  console.log(`fcnkit isa=${info.isa} pool=${info.threads} threads; onnxruntime-node ${require('onnxruntime-node/package.json').version}`);
  console.log(`single-core FMA peak (measured now, ${info.isa}): ${peak.toFixed(1)} GFLOP/s; medians of ${RUNS} runs`);
  const rows = [];
  for (const threads of THREADS) {
    const logs = { fcn: [], ort: [] };
    for (const s of SHAPES) {
      const [name, kind, n, c, h, w, oc, k, stride, pad] = s;
      if (ONLY && !name.includes(ONLY)) continue;
      const xData = rand(n * c * h * w);
      const wShape = kind === 'conv' ? [oc, c, k, k] : [c, oc, k, k];
      const wData = rand(wShape.reduce((a, b) => a * b, 1)).map((v) => v * 0.05);
      const bData = rand(oc);
      const x = new fcnkit.Tensor(xData, [n, c, h, w]);
      const W = new fcnkit.Tensor(wData, wShape);
      const B = new fcnkit.Tensor(bData, [oc]);
      // Both engines see the layer as a model does: weights fixed and packed once (fcnkit: a
      // one-node compiled graph; onnxruntime: initializers), then timed runs on fresh input.
      const graph = new CompiledGraph({
        inputs: [{ name: 'x', shape: [n, c, h, w] }],
        constants: { w: W, b: B },
        nodes: [{
          name: 'layer', type: kind === 'conv' ? 'conv2d' : 'convTranspose2d', inputs: ['x', 'w', 'b'], outputs: ['y'],
          attrs: { stride: [stride, stride], pads: [pad, pad, pad, pad] },
        }],
        outputs: ['y'],
      });
      const fcnFn = () => graph.run({ x }, { threads });
      const node = onnx.makeNode(kind === 'conv' ? 'Conv' : 'ConvTranspose', ['x', 'w', 'b'], ['y'], [
        onnx.attr.ints('kernel_shape', [k, k]), onnx.attr.ints('strides', [stride, stride]),
        onnx.attr.ints('pads', [pad, pad, pad, pad]),
      ]);
      const model = onnx.makeModel({
        nodes: [node],
        inputs: [onnx.valueInfo('x', onnx.DataType.FLOAT, [n, c, h, w])],
        outputs: [{ name: 'y', type: { tensorType: { elemType: onnx.DataType.FLOAT }, denotation: '' }, docString: '' }],
        initializers: [onnx.tensorFromFloat32('w', wShape, wData), onnx.tensorFromFloat32('b', [oc], bData)],
      });
      const session = await ort.InferenceSession.create(onnx.encodeModel(model), {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      });
      const feeds = { x: new ort.Tensor('float32', xData, [n, c, h, w]) };
      const ortFn = () => session.run(feeds);

      const fcnMs = await timeIt(fcnFn);
      const ortMs = await timeIt(ortFn);
      await session.release();
      graph.dispose();
      const f = flops(s);
      const row = {
        threads, name, fcnMs, ortMs,
        fcnGflops: f / fcnMs / 1e6, ortGflops: f / ortMs / 1e6,
        ratio: ortMs / fcnMs,
        peakShare: f / fcnMs / 1e6 / (peak * threads),
      };
      rows.push(row);
      logs.fcn.push(Math.log(fcnMs));
      logs.ort.push(Math.log(ortMs));
      console.log(
        `${String(threads).padStart(2)}t  ${name.padEnd(27)} fcnkit ${row.fcnMs.toFixed(2).padStart(9)} ms ${row.fcnGflops.toFixed(1).padStart(7)} GFLOP/s` +
          `  ort ${row.ortMs.toFixed(2).padStart(9)} ms ${row.ortGflops.toFixed(1).padStart(7)} GFLOP/s  speed ${row.ratio.toFixed(2)}x  peak ${(100 * row.peakShare).toFixed(0)}%`,
      );
    }
    if (logs.fcn.length) {
      const geo = Math.exp((logs.ort.reduce((a, b) => a + b, 0) - logs.fcn.reduce((a, b) => a + b, 0)) / logs.fcn.length);
      console.log(`${String(threads).padStart(2)}t  geometric-mean speed vs onnxruntime: ${geo.toFixed(2)}x`);
    }
  }
  if (args.includes('--json')) console.log(JSON.stringify({ peak, rows }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
