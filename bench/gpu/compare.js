'use strict';
// fcnkit's CUDA backend against PyTorch + cuDNN on the same GPU, in one command: full-width FCN-8s
// at 500×500 and U-Net 572×572 ('valid', 64 base, 1 → 2), batch 1 and 8, fp32 and tf32, the same
// weights on both sides (fcnkit's seeded ones, handed to PyTorch through a file).
//
//   node bench/gpu/compare.js [--runs 10] [--only fcn8s|unet] [--batches 1,8] [--precisions fp32,tf32]
//                             [--out DIR] [--python python3] [--cpu-dry-run]
//
// For each model, batch and precision:
//   fcnkit host     median ms of CudaCompiledGraph.run(): input to the GPU, every kernel, output
//                   back (pageable host memory, as a Node caller has it);
//   fcnkit kernels  sum of the kernels' times from one profiled run (FCNKIT_CUDA_PROFILE=1, CUDA
//                   events around every step), i.e. the device time without the copies;
//   torch device    median ms of model(x) with x on the GPU (cudnn.benchmark, CUDA events);
//   torch host      x.cuda(), model(x), .cpu(), timed on the host: what fcnkit host does;
// and the ratios fcnkit/torch of each (target: within 2× at tf32), plus the 3×3 convolutions'
// achieved TFLOP/s in fcnkit and their share of the GPU's dense peak (TF32 tensor / FP32 FMA, from
// the datasheet table below; --peak-tf32 / --peak-fp32 in TFLOP/s override it).
// Correctness: fcnkit's fp32 output of batch 1 against PyTorch's (normalised error, expected
// ~1e-6: both fp32, different summation orders).
// Writes gpu-bench.json and gpu-bench.md (a section for bench/RESULTS.md) to --out (default $OUT
// or the working directory). --cpu-dry-run runs the whole script on the CPU path and PyTorch on
// the CPU at a tiny size, to check the script where there is no GPU (numbers meaningless).
//
// On the GPU machine (see bench/gpu/README.md): ../shared/tools/gpu-pack.sh here, then the device
// tool with carry [".gpu", "build", "dist"] and
//   source .gpu/setup.sh && node bench/gpu/compare.js --out $OUT
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const fcnkit = require(path.join(root, 'dist'));
const { CudaCompiledGraph } = require(path.join(root, 'dist', 'device'));
const { CompiledGraph } = require(path.join(root, 'dist', 'graph', 'compiled'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const flag = (name) => args.includes(`--${name}`);

const DRY = flag('cpu-dry-run');
const RUNS = Number(opt('runs', DRY ? 2 : 10));
const ONLY = opt('only', '');
const BATCHES = opt('batches', DRY ? '1,2' : '1,8').split(',').map(Number);
const PRECISIONS = opt('precisions', 'fp32,tf32').split(',');
const OUTDIR = opt('out', process.env.OUT || process.cwd());
const PYTHON = opt('python', process.env.PYTHON || 'python3');

// Dense peaks in TFLOP/s (NVIDIA datasheets, without sparsity), by a piece of the device name.
const PEAKS = [
  { match: /H200/, tf32: 494.7, fp32: 66.9 },
  { match: /H100.*PCIe/, tf32: 378, fp32: 51.2 },
  { match: /H100/, tf32: 494.7, fp32: 66.9 },
  { match: /A100/, tf32: 156, fp32: 19.5 },
  { match: /L40S/, tf32: 183, fp32: 91.6 },
];

const MODELS = {
  fcn8s: {
    title: 'FCN-8s VGG16, 500×500, 21 classes',
    size: DRY ? 64 : 500,
    channels: 3,
    make: () => fcnkit.models.fcn({ variant: '8s', seed: 1, ...(DRY ? { widthMultiplier: 1 / 8 } : {}) }),
  },
  unet: {
    title: "U-Net 572×572 'valid', 64 base, 1 → 2",
    size: DRY ? 188 : 572,
    channels: 1,
    make: () => fcnkit.models.unet({ inChannels: 1, numClasses: 2, padding: 'valid', seed: 1, ...(DRY ? { widthMultiplier: 1 / 8 } : {}) }),
  },
};

function seededInput(shape, seed) {
  let a = seed >>> 0;
  const n = shape.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return new fcnkit.Tensor(data, shape);
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function normError(a, ref) {
  let d = 0;
  let r = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(a[i] - ref[i]));
    r = Math.max(r, Math.abs(ref[i]));
  }
  return d / (r + 1e-6);
}

// A file's float32s (a small file's Buffer may sit in Node's shared pool: copy its bytes out).
function readFloats(file) {
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function graphFor(spec, precision) {
  if (DRY) return new CompiledGraph(spec);
  return new CudaCompiledGraph(spec, { precision });
}

// --profile-child MODEL BATCH PRECISION: one profiled run in a process of its own (the backend
// reads FCNKIT_CUDA_PROFILE once); the parent parses the profile lines from stderr.
async function profileChild() {
  const i = args.indexOf('--profile-child');
  const [name, batch, precision] = [args[i + 1], Number(args[i + 2]), args[i + 3]];
  const m = MODELS[name];
  const model = m.make();
  const shape = [batch, m.channels, m.size, m.size];
  const spec = model.graphSpec(shape);
  const g = new CudaCompiledGraph(spec, { precision });
  const x = seededInput(shape, 7 + batch);
  await g.run({ [spec.inputs[0].name]: x }); // warm-up (its profile lines too; the parent keeps the last run's)
  process.stderr.write('fcnkit-cuda-profile-run\n');
  await g.run({ [spec.inputs[0].name]: x });
  g.dispose();
}

function profile(name, batch, precision) {
  const r = spawnSync(process.execPath, [__filename, '--profile-child', name, String(batch), precision], {
    env: { ...process.env, FCNKIT_CUDA_PROFILE: '1' },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`profiled run failed: ${r.stderr.slice(-2000)}`);
  const last = r.stderr.split('fcnkit-cuda-profile-run\n').pop();
  const steps = last
    .split('\n')
    .filter((l) => l.startsWith('fcnkit-cuda-profile\t'))
    .map((l) => {
      const [, step, op, ms, flops, what] = l.split('\t');
      return { step: Number(step), op: Number(op), ms: Number(ms), flops: Number(flops), what };
    });
  const total = steps.reduce((s, x) => s + x.ms, 0);
  const c3 = steps.filter((s) => /^conv 3x3 /.test(s.what));
  const c3ms = c3.reduce((s, x) => s + x.ms, 0);
  const c3flops = c3.reduce((s, x) => s + x.flops, 0);
  const top = [...steps].sort((a, b) => b.ms - a.ms).slice(0, 5).map((s) => `${s.what}: ${s.ms.toFixed(2)} ms`);
  return { kernelsMs: total, conv3x3Ms: c3ms, conv3x3Tflops: c3ms > 0 ? c3flops / (c3ms * 1e-3) / 1e12 : 0, top, steps: steps.length };
}

function writeWeights(model, dir) {
  const weights = model.getWeights();
  const params = [];
  let offset = 0;
  for (const [name, t] of Object.entries(weights)) {
    params.push({ name, shape: [...t.shape], offset });
    offset += t.data.length;
  }
  const fd = fs.openSync(path.join(dir, 'weights.bin'), 'w');
  for (const t of Object.values(weights)) fs.writeSync(fd, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  fs.closeSync(fd);
  fs.writeFileSync(path.join(dir, 'weights.json'), JSON.stringify({ params }));
}

async function benchModel(name) {
  const m = MODELS[name];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fcnkit-gpu-bench-${name}-`));
  const model = m.make();
  writeWeights(model, dir);
  const rows = [];
  let check;
  for (const batch of BATCHES) {
    const shape = [batch, m.channels, m.size, m.size];
    const x = seededInput(shape, 7 + batch);
    fs.writeFileSync(path.join(dir, `input-${batch}.bin`), Buffer.from(x.data.buffer));
    const spec = model.graphSpec(shape);
    for (const precision of PRECISIONS) {
      const t0 = performance.now();
      const g = graphFor(spec, precision);
      const setupMs = performance.now() - t0;
      const t1 = performance.now();
      const feeds = { [spec.inputs[0].name]: x };
      let y = await g.run(feeds);
      const firstMs = performance.now() - t1;
      await g.run(feeds);
      const times = [];
      for (let r = 0; r < RUNS; r++) {
        const s = performance.now();
        y = await g.run(feeds);
        times.push(performance.now() - s);
      }
      g.dispose();
      if (precision === 'fp32' && batch === 1) fs.writeFileSync(path.join(dir, 'fcnkit-out-1.bin'), Buffer.from(y[spec.outputs[0]].data.buffer));
      const prof = DRY ? null : profile(name, batch, precision);
      rows.push({ model: name, batch, precision, fcnkitHostMs: median(times), fcnkitSetupMs: setupMs, fcnkitFirstRunMs: firstMs, profile: prof });
      console.log(`${name} batch ${batch} ${precision}: fcnkit ${median(times).toFixed(2)} ms (host to host)` +
        `${prof ? `, kernels ${prof.kernelsMs.toFixed(2)} ms, 3×3 convs ${prof.conv3x3Tflops.toFixed(1)} TFLOP/s` : ''}`);
    }
  }
  const py = spawnSync(PYTHON, [path.join(__dirname, 'torch_models.py'), '--dir', dir, '--model', name, '--batches', BATCHES.join(','),
    '--precisions', PRECISIONS.join(','), '--runs', String(RUNS), '--size', String(m.size), '--channels', String(m.channels),
    ...(DRY ? ['--device', 'cpu', '--width', String(1 / 8)] : [])], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (py.stdout || '').split('\n').find((l) => l.startsWith('TORCH '));
  let torch = null;
  if (py.status === 0 && line) {
    torch = JSON.parse(line.slice(6));
    for (const r of rows) {
      const t = torch.results.find((q) => q.batch === r.batch && q.precision === r.precision);
      if (t) Object.assign(r, { torchDeviceMs: t.device_ms, torchHostMs: t.host_ms });
    }
    const a = readFloats(path.join(dir, 'fcnkit-out-1.bin'));
    const b = readFloats(path.join(dir, 'torch-out-1.bin'));
    check = a.length === b.length ? normError(a, b) : Infinity;
  } else {
    console.log(`PyTorch side failed (status ${py.status}); fcnkit figures only`);
  }
  model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
  return { name, title: m.title, rows, torch, check };
}

function fmt(v, d = 2) {
  return v === undefined || v === null || Number.isNaN(v) ? '—' : v.toFixed(d);
}

async function main() {
  if (args.includes('--profile-child')) return profileChild();
  const info = fcnkit.backendInfo().cuda;
  if (!DRY && !info.available) throw new Error(`no usable GPU: ${info.reason}${info.detail ? ` (${info.detail})` : ''}`);
  const device = DRY ? 'CPU (dry run)' : info.devices[0].name;
  const peak = PEAKS.find((p) => p.match.test(device));
  const peakTf32 = Number(opt('peak-tf32', peak ? peak.tf32 : NaN));
  const peakFp32 = Number(opt('peak-fp32', peak ? peak.fp32 : NaN));
  const results = [];
  for (const name of Object.keys(MODELS)) if (!ONLY || ONLY === name) results.push(await benchModel(name));

  const date = new Date().toISOString().slice(0, 10);
  const torchInfo = results.find((r) => r.torch)?.torch;
  const lines = [
    `## GPU: fcnkit CUDA vs PyTorch + cuDNN (node bench/gpu/compare.js)`,
    '',
    `- Command: \`node bench/gpu/compare.js ${args.join(' ')}\`${DRY ? ' (CPU dry run: numbers meaningless)' : ''}`,
    `- Date: ${date}; device: ${device}${info.driverCudaVersion ? `, driver CUDA ${info.driverCudaVersion}` : ''}; Node ${process.version}` +
      `${torchInfo ? `; PyTorch ${torchInfo.torch}, cuDNN ${torchInfo.cudnn}` : ''}`,
    `- Medians of ${RUNS} runs after 2 warm-ups. "host": input from and output to host memory, timed on the host;` +
      ' "device": kernels only (fcnkit: the sum of its steps from a profiled run; PyTorch: CUDA events around model(x)).',
    `- Dense peaks used: TF32 ${fmt(peakTf32, 1)} TFLOP/s, FP32 ${fmt(peakFp32, 1)} TFLOP/s.`,
    '',
    '| model | batch | precision | fcnkit host | torch host | ratio | fcnkit device | torch device | ratio | 3×3 convs TFLOP/s | share of peak |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    for (const x of r.rows) {
      const p = x.profile;
      const pk = x.precision === 'tf32' ? peakTf32 : peakFp32;
      lines.push(`| ${r.title} | ${x.batch} | ${x.precision} | ${fmt(x.fcnkitHostMs)} ms | ${fmt(x.torchHostMs)} ms | ` +
        `${fmt(x.fcnkitHostMs / x.torchHostMs)}× | ${fmt(p?.kernelsMs)} ms | ${fmt(x.torchDeviceMs)} ms | ${fmt(p ? p.kernelsMs / x.torchDeviceMs : NaN)}× | ` +
        `${fmt(p?.conv3x3Tflops, 1)} | ${p ? `${fmt((100 * p.conv3x3Tflops) / pk, 1)}%` : '—'} |`);
    }
  }
  lines.push('');
  for (const r of results) {
    lines.push(`- ${r.title}: fcnkit fp32 vs PyTorch fp32 output, batch 1, normalised error ${r.check === undefined ? '—' : r.check.toExponential(2)}.`);
    for (const x of r.rows) if (x.profile) lines.push(`  - batch ${x.batch} ${x.precision}: slowest steps: ${x.profile.top.join('; ')}`);
  }
  const md = lines.join('\n');
  console.log(`\n${md}`);
  fs.mkdirSync(OUTDIR, { recursive: true });
  fs.writeFileSync(path.join(OUTDIR, 'gpu-bench.md'), `${md}\n`);
  fs.writeFileSync(path.join(OUTDIR, 'gpu-bench.json'), JSON.stringify({ date, device, peakTf32, peakFp32, results }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
