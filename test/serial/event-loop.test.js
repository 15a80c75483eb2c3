'use strict';
// The event loop keeps turning while a large conv runs off the JS thread, measured two ways:
// perf_hooks.monitorEventLoopDelay (the histogram's max delay) and a 2 ms interval timer (the
// longest gap between its ticks). Timing-sensitive: this folder runs with no other test file in
// parallel (see package.json "test").
const t = require('tap');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { fcnkit, randTensor } = require('../helpers');
const { ops } = fcnkit;

// While fn runs: the longest gap between ticks of a 2 ms interval timer, and the max of
// monitorEventLoopDelay's histogram: how long the loop stalled.
async function measure(fn) {
  const histogram = monitorEventLoopDelay({ resolution: 2 });
  histogram.enable();
  // One turn of the loop first, so that the histogram's timer is running when fn starts. (No
  // reset() after it: in Node 20 a reset histogram misses the next long block.)
  await new Promise((r) => setTimeout(r, 10));
  let last = performance.now();
  let maxStallMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxStallMs = Math.max(maxStallMs, now - last);
    last = now;
  }, 2);
  const start = performance.now();
  await fn();
  const ms = performance.now() - start;
  // Let the timer fire once more so a stall that just ended is recorded.
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(ticker);
  histogram.disable();
  return { ms, maxStallMs, histogramMaxMs: histogram.max / 1e6 };
}

t.test('async conv2d does not block the event loop', async (t) => {
  // Grow the problem until one conv takes long enough to tell a stall from noise.
  let size = 64;
  let x, w, probe;
  for (;;) {
    // 64 -> 256 channels: ~36 flops per input byte, so the input copy stays a small share.
    x = randTensor([1, 64, size, size]);
    w = randTensor([256, 64, 3, 3]);
    const s = process.hrtime.bigint();
    ops.sync.conv2d(x, w, null, { padding: 1 });
    probe = Number(process.hrtime.bigint() - s) / 1e6;
    if (probe >= 300 || size >= 512) break;
    size *= 2;
  }
  t.comment(`conv 64->256 3x3 at ${size}x${size}: ${probe.toFixed(0)} ms synchronously`);
  // An async call copies its inputs on the JS thread (it owns them for the run) into memory
  // kept from earlier copies; the first copy also pays fresh memory's page faults. Measure the
  // steady state, as a server sees it.
  await ops.conv2d(x, w, null, { padding: 1 });
  const syncRun = await measure(async () => ops.sync.conv2d(x, w, null, { padding: 1 }));
  const asyncRun = await measure(() => ops.conv2d(x, w, null, { padding: 1 }));
  for (const [name, r] of [['sync', syncRun], ['async', asyncRun]]) {
    t.comment(`${name}: ${r.ms.toFixed(0)} ms, longest stall ${r.maxStallMs.toFixed(1)} ms (timer), ${r.histogramMaxMs.toFixed(1)} ms (monitorEventLoopDelay)`);
  }
  t.ok(syncRun.maxStallMs > syncRun.ms * 0.5, 'the timer sees the synchronous form block (sanity check)');
  t.ok(syncRun.histogramMaxMs > syncRun.ms * 0.5, 'monitorEventLoopDelay sees the synchronous form block (sanity check)');
  t.ok(asyncRun.maxStallMs < asyncRun.ms * 0.25, 'the async form leaves the loop free: longest timer gap far below the op duration');
  t.ok(asyncRun.histogramMaxMs < asyncRun.ms * 0.25, 'the async form leaves the loop free: monitorEventLoopDelay max far below the op duration');
});
