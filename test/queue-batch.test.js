'use strict';
// A batch through a real Redis: photos and one corrupt file enqueued (twice: the second adds
// nothing), two worker processes, one SIGKILLed while it holds jobs and a third started. The
// queue drains: every good photo's outputs whole, once, agreeing with `fcnkit segment`; the
// corrupt file failed once with BAD_IMAGE (no retries); the killed worker's jobs done by
// another (BullMQ's stalled-job check). Then SIGTERM: the living workers exit 0. Then
// `fcnkit queue status|retry-failed|drain`.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const { fcnkit, tmpdir } = require('./helpers/cli');
const { startRedis, REDIS_SKIP } = require('./helpers/redis');
const { makePhotos, startWorker, waitFor, drained, segmentReference, checkOutputs } = require('./helpers/queue');
const { queueStatus } = require('../dist/queue');
const { Queue } = require('bullmq');

const N = 12;
const FORMATS = ['labels', 'overlay'];
// Short locks so that a killed worker's jobs come back in seconds, not the default 30 s.
const FAST_STALL = ['--lock-duration', '2000', '--stalled-interval', '1000', '--concurrency', '2'];

t.test('photos + a corrupt file, two workers, one SIGKILLed mid-batch', { skip: REDIS_SKIP }, async (t) => {
  const redis = await startRedis(t);
  const dir = tmpdir(t, 'fcnkit-queue-');
  const files = await makePhotos(path.join(dir, 'in'), N);
  const corrupt = path.join(dir, 'in', 'corrupt.png');
  fs.writeFileSync(corrupt, Buffer.concat([fs.readFileSync(files[0]).subarray(0, 60), Buffer.from('truncated')]));
  const out = path.join(dir, 'out');
  const ref = path.join(dir, 'ref');

  const args = ['enqueue', path.join(dir, 'in'), '--queue', redis.url, '--out', out, '--format', FORMATS.join(','), '--json'];
  const first = await fcnkit(args);
  t.equal(first.code, 0, first.stderr);
  t.same([first.json().added, first.json().existing], [N + 1, 0], `${N + 1} jobs added`);
  const again = await fcnkit(args);
  t.same([again.json().added, again.json().existing], [0, N + 1], 'enqueueing again adds nothing');
  t.same(again.json().jobs.map((j) => j.id), first.json().jobs.map((j) => j.id), 'same job ids');
  t.equal((await queueStatus(redis.url)).counts.waiting, N + 1, 'the queue holds each job once');

  const reference = segmentReference(t, files, ref);
  const a = startWorker(t, redis.url, FAST_STALL);
  const b = startWorker(t, redis.url, FAST_STALL);
  const queue = new Queue('fcnkit-segment', { connection: { host: '127.0.0.1', port: redis.port } });
  t.teardown(() => queue.close());
  // Kill A mid-batch (some jobs done) while it holds jobs.
  const held = await waitFor('worker A to hold a job mid-batch', async () => {
    if ((await queueStatus(redis.url)).counts.completed < 1) return undefined;
    const mine = (await queue.getActive()).filter((j) => j.processedBy && j.processedBy.endsWith(`:${a.pid}`));
    return mine.length ? mine.map((j) => j.id) : undefined;
  });
  a.kill('SIGKILL');
  t.equal((await a.exited).signal, 'SIGKILL', `worker A killed holding ${held.length} job(s)`);
  const c = startWorker(t, redis.url, FAST_STALL);

  const s = await drained(redis.url, 240000);
  t.same([s.counts.completed, s.counts.failed], [N, 1], `${N} completed, 1 failed`);
  t.equal(s.failed.length, 1);
  t.equal(s.failed[0].input, corrupt, 'the corrupt file failed');
  t.match(s.failed[0].reason, /^BAD_IMAGE: /, 'with BAD_IMAGE as its reason');
  t.equal(s.failed[0].attempts, 1, 'once: no retries for a bad photo');
  for (const id of held) {
    const job = await queue.getJob(id);
    t.equal(await job.getState(), 'completed', `job ${id} that A held was completed`);
    t.not(job.returnvalue.worker.split(':').pop(), String(a.pid), 'by another worker');
  }
  const failedEvents = [...b.events(), ...c.events()].filter((e) => e.event === 'failed' || e.event === 'retrying');
  t.same(failedEvents.map((e) => [e.input, e.code]), [[corrupt, 'BAD_IMAGE']], 'the living saw one failure: the corrupt file, BAD_IMAGE');

  await reference;
  await checkOutputs(t, { files, out, ref, formats: FORMATS, deadPids: [a.pid] });

  for (const w of [b, c]) w.kill('SIGTERM');
  for (const [n, w] of [['B', b], ['C', c]]) {
    const { code } = await w.exited;
    t.equal(code, 0, `worker ${n} exits 0 on SIGTERM (stderr: ${w.stderrText.slice(-300)})`);
    t.equal(w.events().at(-1).event, 'stopped', `worker ${n} says it stopped`);
  }
  t.same(fs.readdirSync(out).filter((f) => f.startsWith('.') && !f.includes(`.${a.pid}-`)), [], 'no temp files from the living after they stop');

  // queue status / retry-failed / drain, as a user runs them.
  const st = await fcnkit(['queue', 'status', '--queue', redis.url]);
  t.equal(st.code, 0, st.stderr);
  t.match(st.stdout, new RegExp(`completed ${N} +failed 1`), 'status: counts');
  t.match(st.stdout, /corrupt\.png: BAD_IMAGE: /, 'status: the failed job and its reason');
  const retry = await fcnkit(['queue', 'retry-failed', '--queue', redis.url, '--json']);
  t.same(retry.json(), { retried: 1 }, 'retry-failed: one job back');
  t.equal((await queueStatus(redis.url)).counts.waiting, 1, 'waiting again');
  const dr = await fcnkit(['queue', 'drain', '--queue', redis.url, '--json']);
  t.same(dr.json().removed, { waiting: 1, delayed: 0, completed: N, failed: 0 }, 'drain removes what is not being worked on');
  const c2 = (await queueStatus(redis.url)).counts;
  t.same([c2.waiting, c2.completed, c2.failed], [0, 0, 0], 'the queue is empty');
  const re = await fcnkit(args);
  t.equal(re.json().added, N + 1, 'after a drain, enqueueing adds the photos again');
});
