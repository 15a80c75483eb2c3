'use strict';
// The native SharedModel behind `fcnkit segment --workers N`: one copy of the weights and one
// compiled plan per input shape for the whole process, attached to from worker threads; runs
// agree with the ordinary compiled graph; abort, release and lifetime.
const t = require('tap');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { fcnkit, randTensor } = require('./helpers');
const { native } = require('../dist/native');

const dist = path.join(__dirname, '..', 'dist');
const SharedModel = () => native().SharedModel;

function smallFcn() {
  return fcnkit.models.fcn({ variant: '16s', widthMultiplier: 1 / 16, numClasses: 5, seed: 7 });
}

function inWorker(code, workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

t.test('workers attach by id and run the one shared plan; results equal Model.run', async (t) => {
  const model = smallFcn();
  const shape = [1, 3, 48, 64];
  const x = randTensor(shape, 0, 1);
  const expected = await model.run(x);
  const shared = new (SharedModel())();
  t.teardown(() => shared.release());
  const added = shared.addSpec([shape], model.graphSpec(shape));
  t.ok(added > 0, `${added} bytes of constants copied once`);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { native } = require(${JSON.stringify(path.join(dist, 'native'))});
    const m = native().SharedModel.attach(workerData.id);
    Promise.all([0, 1].map(() => m.run([{ data: workerData.x, shape: workerData.shape }], 1)))
      .then((outs) => { parentPort.postMessage({ outs: outs.map((o) => o[0].data), stats: m.stats() }); m.release(); });
  `;
  const results = await Promise.all([0, 1, 2].map(() => inWorker(code, { id: shared.id, x: x.data, shape })));
  for (const r of results) for (const o of r.outs) t.same(Array.from(o), Array.from(expected.data), 'worker output = Model.run');
  t.equal(shared.stats().compiles, 1, 'six runs in three workers: compiled (weights packed) once');
  t.equal(shared.stats().holders, 1, 'workers released their holds');
});

t.test('per-size specs share their constants; plans are cached per shape', async (t) => {
  const model = smallFcn();
  const shared = new (SharedModel())();
  t.teardown(() => shared.release());
  const a = shared.addSpec([[1, 3, 32, 32]], model.graphSpec([1, 3, 32, 32]));
  const b = shared.addSpec([[1, 3, 40, 56]], model.graphSpec([1, 3, 40, 56]));
  t.ok(a > 0);
  t.equal(b, 0, 'a second size adds no constant bytes');
  t.ok(shared.hasSpec([[1, 3, 40, 56]]));
  t.notOk(shared.hasSpec([[1, 3, 41, 56]]));
  await t.rejects(shared.run([randTensor([1, 3, 41, 56])]), { code: 'INVALID_ARGUMENT', message: /no graph for input shapes 1,3,41,56/ });
  const out = await shared.run([randTensor([1, 3, 40, 56])]);
  t.same(out[0].shape, [1, 5, 40, 56]);
  t.equal(out[0].name, 'score');
  const d = shared.describe([[1, 3, 32, 32]]);
  t.ok(d.steps.some((s) => s.type === 'conv2d' && s.outputs[0].shape.length === 4), 'describe() lists the compiled nodes with shapes');
  t.equal(shared.stats().compiles, 2);
});

t.test('abort by ticket stops a run (ABORTED); the model stays usable', async (t) => {
  const model = fcnkit.models.fcn({ variant: '32s', widthMultiplier: 1 / 4, numClasses: 3 });
  const shape = [1, 3, 320, 320];
  const shared = new (SharedModel())();
  t.teardown(() => shared.release());
  shared.addSpec([shape], model.graphSpec(shape));
  const x = randTensor(shape);
  await shared.run([x]); // compiled
  const p = shared.run([x], 1, 42);
  shared.abort(42);
  await t.rejects(p, { code: 'ABORTED' });
  const ok = await shared.run([x], 1, 43);
  t.same(ok[0].shape, [1, 3, 320, 320], 'later runs work');
});

t.test('release: attach fails once every hold is gone; bad ids; dtype checks', async (t) => {
  const shared = new (SharedModel())();
  const id = shared.id;
  const other = SharedModel().attach(id);
  shared.release();
  t.equal(shared.released, true);
  t.throws(() => shared.run([]), { code: 'INVALID_ARGUMENT', message: /released/ });
  t.equal(SharedModel().attach(id).id, id, 'still attachable while one hold remains');
  other.release();
  global.gc?.();
  t.throws(() => SharedModel().attach(1e9), { code: 'INVALID_ARGUMENT', message: /no shared model/ });
  t.throws(() => SharedModel().attach(-1), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new (SharedModel())().addSpec(null, { inputs: [], nodes: [{ name: 'n', type: 'nope', inputs: [], outputs: ['y'] }], outputs: ['y'] }), { code: 'UNSUPPORTED_OP' });
});
