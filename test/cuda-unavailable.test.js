'use strict';
// device 'cuda' where it cannot run (CI: nvcc but no GPU; users: often neither): the addon loads,
// backendInfo().cuda says whether this build has the backend (build/Release/libfcnkit_cuda.so,
// built when nvcc was found), that it is not available and why, and asking for 'cuda' is a clean
// FcnkitError CUDA_UNAVAILABLE naming that reason. Also: the backend library's own packaging
// (only glibc and the driver at run time, only its C entry points exported), and the lowering of
// a small graph, run by the CPU emulator of the device steps, against the CPU path.
// On a machine with a usable GPU the "unavailable" checks skip (test/gpu/ covers that case).
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const fcnkit = require('../dist');
const { CudaCompiledGraph, DEVICES, PRECISIONS, DEFAULT_PRECISION, cudaInfo, cudaOpTypes, requireCuda } = require('../dist/device');
const { CompiledGraph } = require('../dist/graph/compiled');

const library = path.join(root, 'build', 'Release', 'libfcnkit_cuda.so');
const REASONS = [
  'this build has no CUDA backend',
  'no NVIDIA driver (libcuda.so.1 not found)',
  'driver too old for the CUDA 13 runtime',
  'no CUDA device',
  'no CUDA device of compute capability 8.0 or newer',
  'cannot load the CUDA backend library',
  'the CUDA backend library does not match this addon',
  'CUDA initialisation failed',
];

const info = fcnkit.backendInfo().cuda;
const gpu = info.available ? 'a usable GPU is present (test/gpu/ covers it)' : false;

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^TAP/.test(k) && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

// backendInfo().cuda and a CudaCompiledGraph attempt in a fresh process with `env`.
function probeChild(env) {
  const script = `
    const f = require(${JSON.stringify(path.join(root, 'dist'))});
    const { CudaCompiledGraph } = require(${JSON.stringify(path.join(root, 'dist', 'device'))});
    const spec = { inputs: [{ name: 'x', shape: [1, 1, 2, 2] }], constants: {}, nodes: [{ name: 'r', type: 'relu', inputs: ['x'], outputs: ['y'], attrs: {} }], outputs: ['y'] };
    let error = null;
    try { new CudaCompiledGraph(spec); } catch (e) { error = { code: e.code, message: e.message, name: e.name }; }
    console.log(JSON.stringify({ cuda: f.backendInfo().cuda, error }));`;
  const r = spawnSync(process.execPath, ['-e', script], { env: cleanEnv(env), encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const tiny = {
  inputs: [{ name: 'x', shape: [null, 3, null, null] }],
  constants: {
    w: { data: Float32Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.sin(i) * 0.3), shape: [4, 3, 3, 3] },
    b: { data: Float32Array.from([0.1, -0.2, 0.3, 0]), shape: [4] },
  },
  nodes: [
    { name: 'conv', type: 'conv2d', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: 1 } },
    { name: 'act', type: 'relu', inputs: ['c'], outputs: ['r'], attrs: {} },
    { name: 'pool', type: 'maxPool2d', inputs: ['r'], outputs: ['p'], attrs: { kernel: 2, ceilMode: true } },
    { name: 'up', type: 'resize', inputs: ['p'], outputs: ['u'], attrs: { size: [7, 9] } },
    { name: 'prob', type: 'softmax', inputs: ['u'], outputs: ['y'], attrs: { axis: 1 } },
    { name: 'label', type: 'argmax', inputs: ['u'], outputs: ['l'], attrs: { axis: 1 } },
  ],
  outputs: ['y', 'l'],
};

t.test('device and precision lists', async (t) => {
  t.same([...DEVICES], ['cpu', 'cuda']);
  t.same([...PRECISIONS], ['fp32', 'tf32', 'bf16']);
  t.equal(DEFAULT_PRECISION, 'fp32');
  t.ok(cudaOpTypes().includes('conv2d') && cudaOpTypes().includes('convTranspose2d'));
});

t.test('backendInfo().cuda is consistent with this machine', async (t) => {
  t.same(cudaInfo(), info);
  t.type(info.compiled, 'boolean');
  t.type(info.available, 'boolean');
  t.equal(info.compiled, fs.existsSync(library), 'compiled: the backend library was built beside the addon');
  if (info.available) {
    t.ok(info.devices && info.devices.length > 0, 'available: devices listed');
    return;
  }
  t.type(info.reason, 'string');
  t.ok(REASONS.includes(info.reason), `a known reason: ${info.reason}`);
  if (!info.compiled) t.equal(info.reason, 'this build has no CUDA backend');
  else t.not(info.reason, 'this build has no CUDA backend');
  // This machine (and CI) have no driver: say so rather than "too old".
  if (info.compiled && !fs.existsSync('/dev/nvidiactl')) t.equal(info.reason, 'no NVIDIA driver (libcuda.so.1 not found)');
});

t.test("asking for device 'cuda' is CUDA_UNAVAILABLE with the reason", { skip: gpu }, async (t) => {
  t.throws(() => new CudaCompiledGraph(tiny), { name: 'FcnkitError', code: 'CUDA_UNAVAILABLE' });
  try {
    new CudaCompiledGraph(tiny, { precision: 'tf32' });
  } catch (err) {
    t.ok(err instanceof fcnkit.FcnkitError);
    t.match(err.message, info.reason);
    t.match(err.message, /device 'cpu'/);
  }
  t.throws(() => requireCuda(), { code: 'CUDA_UNAVAILABLE' });
  // The native class directly: the same code, no crash.
  const native = require('../dist/native').native();
  t.throws(() => new native.CudaGraph(tiny, {}), { code: 'CUDA_UNAVAILABLE' });
  // A bad precision is an argument error first, whatever the GPU.
  t.throws(() => new CudaCompiledGraph(tiny, { precision: 'fp16' }), { code: 'INVALID_ARGUMENT' });
  // The CPU path is untouched.
  const g = new CompiledGraph(tiny);
  const out = g.runSync({ x: new fcnkit.Tensor(new Float32Array(3 * 25).fill(0.5), [1, 3, 5, 5]) });
  t.same(out.l.shape, [1, 7, 9]);
  g.dispose();
});

t.test('FCNKIT_DISABLE_CUDA and a missing library are reported, not fatal', async (t) => {
  const off = probeChild({ FCNKIT_DISABLE_CUDA: '1' });
  t.equal(off.cuda.available, false);
  t.equal(off.cuda.reason, info.compiled ? 'disabled by FCNKIT_DISABLE_CUDA' : 'this build has no CUDA backend');
  t.equal(off.error.code, 'CUDA_UNAVAILABLE');
  t.equal(off.error.name, 'FcnkitError');
  const none = probeChild({ FCNKIT_CUDA_LIBRARY: path.join(root, 'build', 'no-such-libfcnkit_cuda.so') });
  t.same([none.cuda.compiled, none.cuda.available, none.cuda.reason], [false, false, 'this build has no CUDA backend']);
  t.equal(none.error.code, 'CUDA_UNAVAILABLE');
  t.match(none.error.message, 'this build has no CUDA backend');
});

t.test('the backend library needs only glibc and the driver', { skip: !fs.existsSync(library) && 'not built (no nvcc)' }, async (t) => {
  const have = spawnSync('readelf', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!have) {
    t.skip('readelf not installed');
    return;
  }
  const dyn = spawnSync('readelf', ['-dW', library], { encoding: 'utf8' }).stdout;
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const glibc = new Set(['libc.so.6', 'libm.so.6', 'libpthread.so.0', 'libdl.so.2', 'librt.so.1', 'ld-linux-x86-64.so.2']);
  t.same(needed.filter((n) => !glibc.has(n)), [], `NEEDED is glibc only (the CUDA runtime is static, libcuda.so.1 is dlopened): ${needed.join(', ')}`);
  t.notMatch(dyn, /RPATH|RUNPATH/);
  const syms = spawnSync('objdump', ['-T', library], { encoding: 'utf8' }).stdout;
  const exported = [...syms.matchAll(/^\S+\s+g\s+DF\s+\.text\s+\S+\s+(?:\S+\s+)?(\S+)$/gm)].map((m) => m[1]);
  t.ok(exported.length >= 7);
  t.same(exported.filter((s) => !s.startsWith('fcnkit_cuda_')), [], 'only the C entry points are exported');
  // The addon itself knows nothing of CUDA.
  const addonDyn = spawnSync('readelf', ['-dW', path.join(root, 'build', 'Release', 'fcnkit.node')], { encoding: 'utf8' }).stdout;
  t.notMatch(addonDyn, /libcuda|libcudart/);
});

t.test('the device lowering of a small graph matches the CPU (emulated device steps)', async (t) => {
  const x = new fcnkit.Tensor(Float32Array.from({ length: 2 * 3 * 6 * 8 }, (_, i) => Math.cos(i * 0.7)), [2, 3, 6, 8]);
  const cpu = new CompiledGraph(tiny);
  const ref = cpu.runSync({ x });
  cpu.dispose();
  for (const precision of PRECISIONS) {
    const g = new CudaCompiledGraph(tiny, { emulate: true, precision });
    const out = await g.run({ x });
    let maxDiff = 0;
    let maxRef = 0;
    out.y.data.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - ref.y.data[i]));
      maxRef = Math.max(maxRef, Math.abs(ref.y.data[i]));
    });
    t.ok(maxDiff / maxRef <= (precision === 'fp32' ? 1e-5 : 1e-2), `${precision}: softmax within bounds (${maxDiff / maxRef})`);
    if (precision === 'fp32') t.same(Array.from(out.l.data), Array.from(ref.l.data), 'fp32: same labels');
    t.same(out.l.shape, [2, 7, 9]);
    g.dispose();
  }
});
