'use strict';
// The queue's plain parts, no Redis needed: queue URLs (good ones read right, bad ones a coded
// error / usage exit 2), job ids (equal settings collide, any difference does not), job data
// checks, the CLI's usage errors, and an unreachable Redis (IO_ERROR, exit 1, no hang).
const t = require('tap');
const path = require('node:path');
const { fcnkit: lib, rng } = require('./helpers');
const { fcnkit, EXAMPLES, tmpdir } = require('./helpers/cli');
const { freePort } = require('./helpers/redis');
const { parseQueueUrl, checkJobData, segmentJobId } = require('../dist/queue');

t.test('queue URLs', async (t) => {
  t.same(parseQueueUrl('redis://127.0.0.1:6380/3'), { host: '127.0.0.1', port: 6380, db: 3 });
  t.same(parseQueueUrl('redis://redis.internal'), { host: 'redis.internal', port: 6379, db: 0 }, 'port 6379 and db 0 by default');
  t.same(parseQueueUrl('redis://:s%40cret@h:1/0'), { host: 'h', port: 1, db: 0, password: 's@cret' }, 'password decoded');
  t.same(parseQueueUrl('rediss://u:p@h:7/1'), { host: 'h', port: 7, db: 1, username: 'u', password: 'p', tls: {} }, 'rediss: TLS');
  t.same(parseQueueUrl('redis://[::1]:6379'), { host: '::1', port: 6379, db: 0 }, 'IPv6 host');
  for (const bad of ['', 'localhost:6379', 'http://h:6379', 'redis://', 'redis://h:99999', 'redis://h/x', 'redis://h/1/2', 'redis://h:1/0?x=1']) {
    t.throws(() => parseQueueUrl(bad), { name: 'FcnkitError', code: 'INVALID_ARGUMENT' }, `refused: ${JSON.stringify(bad)}`);
  }
});

t.test('job ids: equal jobs collide, different ones do not', async (t) => {
  const base = { input: '/data/a.png', outDir: '/out', name: 'a', formats: ['labels'], model: 'default' };
  const id = segmentJobId(base);
  t.match(id, /^seg-[0-9a-f]{40}$/, 'a hash, no ":" (BullMQ refuses those)');
  t.equal(segmentJobId({ ...base }), id, 'same data, same id');
  t.equal(segmentJobId({ model: 'default', formats: ['labels'], name: 'a', outDir: '/out', input: '/data/a.png' }), id, 'key order does not matter');
  const k = Math.floor(rng() * 1000);
  const variants = [
    { input: '/data/b.png' }, { outDir: '/out2' }, { name: 'b' }, { formats: ['labels', 'color'] }, { model: '/m/x.onnx' },
    { preset: 'imagenet' }, { size: 100 + k }, { tile: 64 + k }, { threshold: 0.25 }, { output: 'scores' },
  ];
  const ids = new Set([id, ...variants.map((v) => segmentJobId({ ...base, ...v }))]);
  t.equal(ids.size, variants.length + 1, 'every setting changes the id');
});

t.test('job data from the queue is checked', async (t) => {
  const good = { input: '/a.png', outDir: '/o', name: 'sub/a', formats: ['labels'], model: 'default' };
  t.same(checkJobData(good), good);
  const bad = [
    null, 'x', { ...good, input: 'rel.png' }, { ...good, outDir: '' }, { ...good, name: '../up' }, { ...good, name: '/abs' },
    { ...good, formats: [] }, { ...good, formats: ['jpeg'] }, { ...good, model: 'rel.onnx' }, { ...good, preset: 'nope' },
    { ...good, size: 0 }, { ...good, size: 1.5 }, { ...good, tile: 4 }, { ...good, threshold: 2 }, { ...good, output: 3 },
  ];
  for (const b of bad) t.throws(() => checkJobData(b), { code: 'INVALID_ARGUMENT' }, `refused: ${JSON.stringify(b)}`);
});

t.test('the library exports the queue API (BullMQ loads on first use)', async (t) => {
  for (const f of ['createSegmentWorker', 'enqueueSegmentJobs', 'queueStatus', 'retryFailed', 'drainQueue', 'segmentJobId']) t.type(lib[f], 'function', f);
  await t.rejects(lib.enqueueSegmentJobs(['/a.png'], { connection: 'http://x', outDir: '/o' }), { code: 'INVALID_ARGUMENT' }, 'bad URL: INVALID_ARGUMENT');
  await t.rejects(lib.createSegmentWorker({ connection: 'redis://127.0.0.1:1', concurrency: 0 }), { code: 'INVALID_ARGUMENT' }, 'bad concurrency');
});

t.test('CLI usage errors: exit 2 with the usage text', async (t) => {
  const photo = path.join(EXAMPLES, 'coins.png');
  const cases = [
    [['enqueue', photo], /--queue URL is required/],
    [['enqueue', photo, '--queue', 'localhost:6379'], /Expected a redis:\/\/ or rediss:\/\/ queue URL/],
    [['enqueue', photo, '--queue', 'redis://h/x'], /database must be a number/],
    [['enqueue', photo, '--queue', 'redis://h', '--name', 'a:b'], /queue name/],
    [['enqueue', photo, '--queue', 'redis://h', '--format', 'jpeg'], /unknown format 'jpeg'/],
    [['enqueue', '--queue', 'redis://h'], /no images given/],
    [['worker'], /--queue URL is required/],
    [['worker', '--queue', 'redis://h', photo], /unexpected argument/],
    [['worker', '--queue', 'redis://h', '--concurrency', '0'], /--concurrency' must be from 1/],
    [['worker', '--queue', 'ftp://h'], /queue URL/],
    [['queue', '--queue', 'redis://h'], /name an action/],
    [['queue', 'purge', '--queue', 'redis://h'], /unknown action 'purge'/],
    [['queue', 'status'], /--queue URL is required/],
  ];
  for (const [args, re] of cases) {
    const r = await fcnkit(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, re, 'says what is wrong');
    t.match(r.stderr, /Usage: fcnkit /, 'with the usage');
  }
});

t.test('worker --device cuda without a usable GPU: CUDA_UNAVAILABLE at once, exit 1', async (t) => {
  if (lib.backendInfo().cuda?.available) return t.skip('a GPU is here');
  const r = await fcnkit(['worker', '--queue', 'redis://127.0.0.1:1/0', '--device', 'cuda']);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /\[CUDA_UNAVAILABLE\]/);
});

t.test('Redis unreachable: IO_ERROR naming it, exit 1, promptly', async (t) => {
  const port = await freePort(); // nothing listens there
  const url = `redis://127.0.0.1:${port}/0`;
  const out = tmpdir(t);
  const t0 = Date.now();
  const e = await fcnkit(['enqueue', path.join(EXAMPLES, 'coins.png'), '--queue', url, '--out', out]);
  t.equal(e.code, 1, 'enqueue: exit 1');
  t.match(e.stderr, new RegExp(`\\[IO_ERROR\\]: cannot reach Redis for redis://127.0.0.1:${port}/0`), 'names the server');
  const s = await fcnkit(['queue', 'status', '--queue', url]);
  t.equal(s.code, 1, 'queue status: exit 1');
  t.match(s.stderr, /\[IO_ERROR\]/);
  t.ok(Date.now() - t0 < 30000, 'no long hang');
  await t.rejects(lib.queueStatus(url), { code: 'IO_ERROR' }, 'library: IO_ERROR');
});
