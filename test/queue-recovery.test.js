'use strict';
// The queue through trouble: Redis restarted mid-batch (append-only file kept: the workers
// reconnect and carry on, every job done, none lost or failed); SIGTERM while jobs are in flight
// (they finish, are recorded completed, the worker exits 0 and leaves no temp files).
const t = require('tap');
const path = require('node:path');
const { fcnkit, tmpdir, listFiles } = require('./helpers/cli');
const { startRedis, REDIS_SKIP } = require('./helpers/redis');
const { makePhotos, startWorker, waitFor, drained, segmentReference, checkOutputs } = require('./helpers/queue');
const { queueStatus } = require('../dist/queue');
const { Queue } = require('bullmq');

const FORMATS = ['labels', 'color'];

t.test('Redis restarted mid-batch: workers reconnect, nothing lost', { skip: REDIS_SKIP }, async (t) => {
  const N = 10;
  const redis = await startRedis(t, { appendonly: true });
  const dir = tmpdir(t, 'fcnkit-queue-');
  const files = await makePhotos(path.join(dir, 'in'), N);
  const out = path.join(dir, 'out');
  const ref = path.join(dir, 'ref');
  const e = await fcnkit(['enqueue', ...files, '--queue', redis.url, '--out', out, '--format', FORMATS.join(','), '--json']);
  t.equal(e.json().added, N, e.stderr);
  const reference = segmentReference(t, files, ref);
  const workers = [startWorker(t, redis.url, ['--concurrency', '2']), startWorker(t, redis.url, ['--concurrency', '2'])];
  const before = await waitFor('a job done', async () => {
    const c = (await queueStatus(redis.url)).counts;
    return c.completed >= 1 ? c : undefined;
  });
  t.ok(before.completed < N, `mid-batch: ${before.completed} of ${N} done`);
  await redis.restart({ downMs: 1500 });
  t.pass('redis restarted after 1.5 s down');
  const s = await drained(redis.url, 240000);
  t.same([s.counts.completed, s.counts.failed], [N, 0], `all ${N} jobs completed, none failed`);
  const done = new Set(workers.flatMap((w) => w.events().filter((ev) => ev.event === 'completed').map((ev) => ev.id)));
  t.equal(done.size, N, 'every job ran to completion on a worker');
  await reference;
  await checkOutputs(t, { files, out, ref, formats: FORMATS });
  for (const w of workers) w.kill('SIGTERM');
  for (const w of workers) t.equal((await w.exited).code, 0, `exit 0 after SIGTERM (stderr: ${w.stderrText.slice(-300)})`);
  t.ok(workers.some((w) => w.events().some((ev) => ev.event === 'error')), 'the workers reported the lost connection');
});

t.test('SIGTERM: jobs in flight finish, the worker exits 0', { skip: REDIS_SKIP }, async (t) => {
  const N = 12;
  const redis = await startRedis(t);
  const dir = tmpdir(t, 'fcnkit-queue-');
  const files = await makePhotos(path.join(dir, 'in'), N);
  const out = path.join(dir, 'out');
  const e = await fcnkit(['enqueue', ...files, '--queue', redis.url, '--out', out, '--format', FORMATS.join(','), '--json']);
  t.equal(e.json().added, N, e.stderr);
  const queue = new Queue('fcnkit-segment', { connection: { host: '127.0.0.1', port: redis.port } });
  t.teardown(() => queue.close());
  const w = startWorker(t, redis.url, ['--concurrency', '3']);
  const inFlight = await waitFor('jobs in flight', async () => {
    const active = await queue.getActive();
    return active.length >= 2 ? active.map((j) => j.id) : undefined;
  });
  w.kill('SIGTERM');
  const { code } = await w.exited;
  t.equal(code, 0, `exit 0 (stderr: ${w.stderrText.slice(-300)})`);
  const s = await queueStatus(redis.url);
  t.equal(s.counts.active, 0, 'nothing left active');
  t.equal(s.counts.failed, 0, 'nothing failed');
  t.ok(s.counts.waiting > 0, `it stopped taking jobs (${s.counts.waiting} still waiting)`);
  t.equal(s.counts.completed + s.counts.waiting, N, 'every job completed or waiting');
  for (const id of inFlight) t.equal(await (await queue.getJob(id)).getState(), 'completed', `job ${id}, in flight at SIGTERM, completed`);
  const completedIds = w.events().filter((ev) => ev.event === 'completed').map((ev) => ev.id);
  t.equal(completedIds.length, s.counts.completed, 'it reported each one');
  t.equal(w.events().at(-1).event, 'stopped');
  t.same(listFiles(out).filter((f) => path.basename(f).startsWith('.')), [], 'no temp files');
  t.equal(listFiles(out).length, s.counts.completed * FORMATS.length, 'the completed jobs\' outputs, nothing else');
});
