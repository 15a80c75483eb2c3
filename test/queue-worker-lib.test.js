'use strict';
// The queue from code (require('fcnkit')): createSegmentWorker + enqueueSegmentJobs in one
// process against a real Redis. Jobs naming another model (an FCN exported to ONNX, with --size)
// load it once beside the worker's own and agree with `fcnkit segment` run on that model; with
// maxModels 1 models are released and reloaded, still right. Settings a model cannot take and an
// input gone missing fail at once (no retries); a write that fails is retried with backoff and
// succeeds once the cause is gone.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const { fcnkit: lib } = require('./helpers');
const { fcnkit, tmpdir } = require('./helpers/cli');
const { startRedis, REDIS_SKIP } = require('./helpers/redis');
const { makePhotos, waitFor, drained } = require('./helpers/queue');
const { readLabelImage } = require('../dist/io/outputs');

async function worker(t, url, opts = {}) {
  const events = [];
  const w = await lib.createSegmentWorker({ connection: url, workers: 1, threads: 1, concurrency: 2, ...opts, onEvent: (e) => events.push(e) });
  t.teardown(() => w.close());
  return { w, events };
}

async function sameLabels(t, a, b, what) {
  const x = await readLabelImage(a);
  const y = await readLabelImage(b);
  let same = 0;
  for (let i = 0; i < y.labels.length; i++) same += x.labels[i] === y.labels[i];
  t.ok(x.width === y.width && same / y.labels.length > 0.999, `${what}: labels agree with fcnkit segment's (${((100 * same) / y.labels.length).toFixed(3)}%)`);
}

t.test('jobs on two models; the LRU of models', { skip: REDIS_SKIP }, async (t) => {
  const redis = await startRedis(t);
  const dir = tmpdir(t, 'fcnkit-queue-');
  const photos = await makePhotos(path.join(dir, 'in'), 4);
  const model = path.join(dir, 'fcn8s.onnx');
  await lib.models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 21, seed: 3 }).exportOnnx(model);
  const ref = path.join(dir, 'ref');
  const r = await fcnkit(['segment', '--model', model, '--size', '160', ...photos, '--out', ref, '--format', 'labels', '--workers', '0', '--threads', '1']);
  t.equal(r.code, 0, r.stderr);

  for (const maxModels of [2, 1]) {
    const out = path.join(dir, `out${maxModels}`);
    // Alternate: default model, FCN, default, FCN.
    for (const [k, p] of photos.entries()) {
      const o = k % 2 ? { model, size: 160, formats: ['labels', 'color'] } : { formats: ['labels', 'cutout'] };
      const e = await lib.enqueueSegmentJobs([p], { connection: redis.url, outDir: out, ...o });
      t.equal(e.added, 1);
    }
    const { w, events } = await worker(t, redis.url, { maxModels, concurrency: 1 });
    await drained(redis.url);
    const s = await lib.queueStatus(redis.url);
    t.equal(s.counts.failed, 0, `maxModels ${maxModels}: nothing failed (${JSON.stringify(s.failed)})`);
    for (const [k, p] of photos.entries()) {
      const n = path.basename(p).replace(/\.[a-z]+$/, '');
      const fmts = k % 2 ? ['labels', 'color'] : ['labels', 'cutout'];
      for (const f of fmts) t.ok(fs.existsSync(path.join(out, `${n}.${f}.png`)), `${n}.${f}.png`);
      if (k % 2) {
        await sameLabels(t, path.join(out, `${n}.labels.png`), path.join(ref, `${n}.labels.png`), n);
        t.ok((await readLabelImage(path.join(out, `${n}.labels.png`))).labels.every((l) => l < 21), 'FCN labels: 21 classes');
      }
    }
    const loads = events.filter((e) => e.type === 'model-loaded').map((e) => (e.model === 'default' ? 'default' : 'fcn'));
    const releases = events.filter((e) => e.type === 'model-released').length;
    if (maxModels === 2) {
      t.same(loads, ['default', 'fcn'], 'each model loaded once, both kept');
      t.equal(releases, 0, 'none released');
    } else {
      t.same(loads, ['default', 'fcn', 'default', 'fcn'], 'with room for one, each switch reloads');
      t.ok(releases >= 3, `the idle one released each time (${releases})`);
    }
    await w.close();
    await lib.drainQueue(redis.url);
  }
});

t.test('what fails at once and what is retried', { skip: REDIS_SKIP }, async (t) => {
  const redis = await startRedis(t);
  const dir = tmpdir(t, 'fcnkit-queue-');
  const [a, b, c, d] = await makePhotos(path.join(dir, 'in'), 4);
  const out = path.join(dir, 'out');
  const q = { connection: redis.url, outDir: out, backoffMs: 1500 };
  await lib.enqueueSegmentJobs([a], { ...q, size: 128 }); // the default model has a fixed input
  await lib.enqueueSegmentJobs([b], q);
  fs.rmSync(b); // gone before a worker reads it
  // An output folder that cannot be made (a file is in the way): retried, then it works.
  const blocked = path.join(dir, 'blocked');
  fs.writeFileSync(blocked, 'in the way');
  await lib.enqueueSegmentJobs([c], { ...q, outDir: blocked });
  // ...and one that never works: three tries, then failed.
  const never = path.join(dir, 'never');
  fs.writeFileSync(never, 'in the way');
  await lib.enqueueSegmentJobs([d], { ...q, outDir: never });

  const { events } = await worker(t, redis.url);
  await waitFor('the first failed write', () => events.some((e) => e.type === 'failed' && e.input === c));
  fs.rmSync(blocked);
  const s = await waitFor('every job to settle', async () => {
    const st = await lib.queueStatus(redis.url);
    return st.counts.completed + st.counts.failed === 4 ? st : undefined;
  }, 120000);
  const byInput = Object.fromEntries(s.failed.map((f) => [f.input, f]));
  t.match(byInput[a], { attempts: 1, reason: /^INVALID_ARGUMENT: --size: the model takes a fixed input/ }, 'settings the model cannot take: failed at once');
  t.match(byInput[b], { attempts: 1, reason: /^IO_ERROR: cannot read/ }, 'a missing photo: failed at once');
  t.match(byInput[d], { attempts: 3, reason: /^IO_ERROR: cannot create the output folder/ }, 'a failing write: three tries, then failed');
  t.notOk(byInput[c], 'the blocked folder, freed, worked on a retry');
  const cEvents = events.filter((e) => e.input === c).map((e) => e.type === 'failed' ? `failed:${e.willRetry}` : e.type);
  t.same(cEvents, ['failed:true', 'completed'], 'failed once (to be retried), then completed');
  t.ok(fs.existsSync(path.join(blocked, `${path.basename(c).replace(/\.[a-z]+$/, '')}.labels.png`)), 'its outputs are there');
  const dEvents = events.filter((e) => e.input === d).map((e) => `${e.attempt}:${e.willRetry}`);
  t.same(dEvents, ['1:true', '2:true', '3:false'], 'the never-working one: retried twice, then given up');
});

t.test('--device cuda (the CUDA lowering on the CPU emulator): same labels as the CPU', { skip: REDIS_SKIP }, async (t) => {
  const redis = await startRedis(t);
  const dir = tmpdir(t, 'fcnkit-queue-');
  const photos = await makePhotos(path.join(dir, 'in'), 3);
  const ref = path.join(dir, 'ref');
  const r = await fcnkit(['segment', ...photos, '--out', ref, '--format', 'labels', '--workers', '0', '--threads', '1']);
  t.equal(r.code, 0, r.stderr);
  const out = path.join(dir, 'out');
  t.equal((await lib.enqueueSegmentJobs(photos, { connection: redis.url, outDir: out, formats: ['labels'] })).added, 3);
  const before = process.env.FCNKIT_CUDA_EMULATE;
  process.env.FCNKIT_CUDA_EMULATE = '1';
  t.teardown(() => (before === undefined ? delete process.env.FCNKIT_CUDA_EMULATE : (process.env.FCNKIT_CUDA_EMULATE = before)));
  const { w } = await worker(t, redis.url, { device: 'cuda', precision: 'fp32' });
  t.same([w.workers, w.concurrency], [0, 2], 'on cuda: the GPU model on the worker\'s thread, two jobs in flight');
  const s = await drained(redis.url);
  t.same([s.counts.completed, s.counts.failed], [3, 0]);
  for (const p of photos) {
    const n = path.basename(p).replace(/\.[a-z]+$/, '');
    await sameLabels(t, path.join(out, `${n}.labels.png`), path.join(ref, `${n}.labels.png`), n);
  }
});
