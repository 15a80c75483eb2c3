'use strict';
// The addon in worker_threads: per-environment state, same results as the main thread, and a
// worker terminated in the middle of a run does not take the process down.
const t = require('tap');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { fcnkit, randTensor, normError } = require('./helpers');

const dist = path.join(__dirname, '..', 'dist');

function runInWorker(code, workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

t.test('ops run inside worker threads and match the main thread', async (t) => {
  const x = randTensor([1, 8, 20, 20]);
  const w = randTensor([16, 8, 3, 3]);
  const expected = await fcnkit.ops.conv2d(x, w, null, { padding: 1 });
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const f = require(${JSON.stringify(dist)});
    const x = new f.Tensor(workerData.x, [1, 8, 20, 20]);
    const w = new f.Tensor(workerData.w, [16, 8, 3, 3]);
    f.ops.conv2d(x, w, null, { padding: 1 }).then((y) => parentPort.postMessage(y.data));
  `;
  const results = await Promise.all([0, 1, 2].map(() => runInWorker(code, { x: x.data, w: w.data })));
  for (const r of results) t.ok(normError(r, expected.data) === 0, 'worker result equals main-thread result');
});

t.test('terminating a worker mid-run leaves the process healthy', async (t) => {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const f = require(${JSON.stringify(dist)});
    const x = new f.Tensor(new Float32Array(64 * 256 * 256).fill(0.5), [1, 64, 256, 256]);
    const w = new f.Tensor(new Float32Array(64 * 64 * 9).fill(0.01), [64, 64, 3, 3]);
    for (let i = 0; i < 4; i++) f.ops.conv2d(x, w, null, { padding: 1 });
    parentPort.postMessage('started');
  `;
  for (let i = 0; i < 3; i++) {
    const w = new Worker(code, { eval: true });
    await new Promise((resolve) => w.once('message', resolve));
    await new Promise((r) => setTimeout(r, 20));
    await w.terminate();
  }
  const y = await fcnkit.ops.conv2d(randTensor([1, 2, 5, 5]), randTensor([3, 2, 3, 3]));
  t.same(y.shape, [1, 3, 3, 3], 'the main thread still computes');
});
