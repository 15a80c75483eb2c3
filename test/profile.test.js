'use strict';
// CompiledGraph.profileSync and `fcnkit bench --profile`: every node of the plan timed once, the
// outputs those of an ordinary run, the times adding up to the run's.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const { fcnkit, randTensor } = require('./helpers');
const { fcnkit: cli, tmpdir } = require('./helpers/cli');
const { CompiledGraph } = require('../dist/graph/compiled');

t.test('profileSync times every node and returns the run outputs', async (t) => {
  const model = fcnkit.models.fcn({ variant: '16s', widthMultiplier: 1 / 16, numClasses: 3, seed: 9 });
  const shape = [1, 3, 45, 52];
  const spec = model.graphSpec(shape);
  const g = new CompiledGraph(spec);
  const x = randTensor(shape);
  const name = spec.inputs[0].name;
  const t0 = performance.now();
  const { outputs, steps } = g.profileSync({ [name]: x });
  const wall = performance.now() - t0;
  const ref = g.runSync({ [name]: x });
  t.same([...outputs[spec.outputs[0]].data], [...ref[spec.outputs[0]].data], 'same outputs as runSync');
  t.ok(steps.length >= 1 && steps.length <= spec.nodes.length, `${steps.length} steps for ${spec.nodes.length} spec nodes (fused ones run as one)`);
  const names = new Set(spec.nodes.map((n) => n.name));
  for (const s of steps) {
    t.ok(names.has(s.name), `step '${s.name}' is a node of the spec`);
    t.equal(s.type, spec.nodes.find((n) => n.name === s.name).type);
    t.ok(Number.isFinite(s.ms) && s.ms >= 0);
  }
  const sum = steps.reduce((a, s) => a + s.ms, 0);
  t.ok(sum <= wall + 1, `node times (${sum.toFixed(2)} ms) fit in the call (${wall.toFixed(2)} ms)`);
  t.ok(steps.some((s) => s.type === 'conv2d' && s.ms > 0), 'convolutions take time');
  t.throws(() => g.profileSync({ [name]: randTensor([1, 4, 45, 52]) }), { code: 'SHAPE_MISMATCH' });
  g.dispose();
  model.dispose();
});

t.test('fcnkit bench --profile', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'fcn.onnx');
  const model = fcnkit.models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 4, seed: 2 });
  fs.writeFileSync(file, model.exportOnnxBytes());
  model.dispose();
  const r = await cli(['bench', file, '--shape', '1x3x64x64', '--runs', '2', '--profile']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /profile {2}one run, [\d.]+ ms in \d+ nodes/);
  t.match(r.stdout, /conv\d_\d\s+conv2d\s+[\d.]+ ms\s+[\d.]+%\s+[\d.]+ GFLOP\/s/);
  const j = await cli(['bench', file, '--shape', '1x3x64x64', '--runs', '1', '--profile', '--json']);
  t.equal(j.code, 0, j.stderr);
  const prof = j.json().profile;
  t.ok(Array.isArray(prof) && prof.length > 10);
  const fc6 = prof.find((p) => p.name === 'fc6');
  t.ok(fc6 && fc6.type === 'conv2d' && fc6.flops > 0, 'fc6 has its FLOPs');
  const bad = await cli(['bench', file, '--profile', '--device', 'cuda'], { env: { FCNKIT_CUDA_EMULATE: '1' } });
  t.equal(bad.code, 2, 'profiling the GPU plan is not what --profile does');
});
