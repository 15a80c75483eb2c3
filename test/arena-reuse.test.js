'use strict';
// Runs reuse their plan's arena (cpp/graph/planner.cc, take_arena): no op may read an
// intermediate or workspace before writing it. With FCNKIT_DEBUG_POISON=1 every arena lent to a
// run is filled with NaN first; in such a child process, FCN-8s, U-Net (valid, and same with
// batch norm, and a wide one on the Winograd path) and the embedded TFLite model each run three times on fresh inputs (the second and
// third reuse the first's arena) and are compared with onnxruntime on the model's own ONNX export
// (the TFLite model: with a fresh, unpoisoned process's first run).
const t = require('tap');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');

const child = `
const path = require('node:path');
const ort = require('onnxruntime-node');
const f = require(${JSON.stringify(path.join(root, 'dist'))});
const { randTensor, normError } = require(${JSON.stringify(path.join(root, 'test', 'helpers'))});
(async () => {
  const out = [];
  const cases = [
    ['FCN-8s', f.models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 5, seed: 3 }), [1, 3, 70, 54]],
    ['U-Net valid', f.models.unet({ inChannels: 2, numClasses: 3, levels: 3, baseChannels: 8, seed: 4 }), [1, 2, 92, 92]],
    ['U-Net same + BN', f.models.unet({ inChannels: 3, numClasses: 4, levels: 3, baseChannels: 8, padding: 'same', batchNorm: true, seed: 5 }), [2, 3, 40, 48]],
    // Wide enough for the Winograd path (>= 64 channels at 64x64): its workspace is in the arena too.
    ['wide one-level U-Net', f.models.unet({ inChannels: 128, numClasses: 3, levels: 1, baseChannels: 256, padding: 'same', seed: 6 }), [1, 128, 64, 64]],
  ];
  for (const [name, model, shape] of cases) {
    const session = await ort.InferenceSession.create(model.exportOnnxBytes());
    for (let run = 0; run < 3; run++) {
      const x = randTensor(shape);
      const got = await model.run(x);
      const want = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) }))[session.outputNames[0]];
      out.push({ name, run, error: normError(got.data, want.data), nan: got.data.some(Number.isNaN) });
    }
  }
  const selfie = await f.InferenceSession.create(f.SELFIE_MODEL_PATH);
  const inputs = [0, 1, 2].map(() => randTensor(selfie.inputMetadata[0].shape.map((d) => d ?? 1), 0, 1));
  const outs = [];
  for (const x of inputs) outs.push((await selfie.run({ [selfie.inputNames[0]]: x }))[selfie.outputNames[0]]);
  console.log(JSON.stringify({ out, selfie: { inputs: inputs.map((x) => Array.from(x.data)), outs: outs.map((y) => Array.from(y.data)) } }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

t.test('runs reusing a NaN-poisoned arena match onnxruntime', async (t) => {
  const r = spawnSync(process.execPath, ['-e', child], { env: { ...process.env, FCNKIT_DEBUG_POISON: '1' }, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120000 });
  t.equal(r.status, 0, r.stderr);
  if (r.status !== 0) return;
  const { out, selfie } = JSON.parse(r.stdout.trim().split('\n').pop());
  t.equal(out.length, 12);
  for (const o of out) {
    t.notOk(o.nan, `${o.name} run ${o.run}: no NaN from the poisoned arena`);
    t.ok(o.error <= 1e-4, `${o.name} run ${o.run}: normalised error ${o.error} vs onnxruntime`);
  }
  // The TFLite model has no ONNX export: compare with this (unpoisoned) process, one fresh session per input.
  const f = require('../dist');
  const { normError } = require('./helpers');
  for (let i = 0; i < selfie.inputs.length; i++) {
    const s = await f.InferenceSession.create(f.SELFIE_MODEL_PATH);
    const shape = s.inputMetadata[0].shape.map((d) => d ?? 1);
    const y = (await s.run({ [s.inputNames[0]]: new f.Tensor(Float32Array.from(selfie.inputs[i]), shape) }))[s.outputNames[0]];
    t.ok(normError(Float32Array.from(selfie.outs[i]), y.data) <= 1e-6, `selfie run ${i}`);
    s.dispose();
  }
});
