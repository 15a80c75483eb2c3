'use strict';
// The serve Limiter on random schedules, against a plain model of the rules kept here: at most
// `concurrency` jobs run at once; a place is refused exactly when running + reserved reaches
// concurrency + queue; a free place goes to the waiting job that arrived (reserved) first; a job whose client
// goes away while it waits never runs and gives its place back (ABORTED).
const t = require('tap');
const { Limiter } = require('../dist/serve/limiter');
const { randInt, rng, seed } = require('./helpers');

const tick = () => new Promise((r) => setImmediate(r));

t.test('random schedules keep the limits and the order', async (t) => {
  t.comment(`seed ${seed}`);
  for (let trial = 0; trial < 20; trial++) {
    const concurrency = randInt(1, 4);
    const queue = randInt(0, 5);
    let seen = { running: 0, queued: 0 };
    const limiter = new Limiter(concurrency, queue, (running, queued) => (seen = { running, queued }));
    let running = 0;
    let maxRunning = 0;
    const started = [];
    const live = new Map(); // id -> { slot, finish?, abort, outcome }
    let held = 0; // model: places held (reserved, waiting or running)
    let refusedOk = true;
    let orderOk = true;
    let nextId = 0;
    for (let step = 0; step < 200; step++) {
      const r = rng();
      if (r < 0.4) {
        const slot = limiter.reserve();
        if ((slot === undefined) !== (held >= concurrency + queue)) refusedOk = false;
        if (slot) {
          held++;
          live.set(nextId++, { slot, state: 'reserved', abort: new AbortController() });
        }
      } else if (r < 0.65) {
        const reserved = [...live].filter(([, j]) => j.state === 'reserved');
        if (reserved.length) {
          const [id, j] = reserved[randInt(0, reserved.length - 1)];
          j.state = 'waiting';
          j.done = j.slot.run(() => new Promise((resolve) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            started.push(id);
            for (const [other, o] of live) if (other < id && o.state === 'waiting') orderOk = false;
            j.state = 'running';
            j.finish = () => {
              running--;
              resolve('ran');
            };
          }), j.abort.signal).then((v) => v, (e) => e.code);
        }
      } else if (r < 0.85) {
        const runningJobs = [...live].filter(([, j]) => j.state === 'running');
        if (runningJobs.length) {
          const [id, j] = runningJobs[randInt(0, runningJobs.length - 1)];
          j.finish();
          t.equal(await j.done, 'ran');
          live.delete(id);
          held--;
        }
      } else {
        // a client goes away: a waiting job is aborted, a reserved one cancelled
        const idle = [...live].filter(([, j]) => j.state === 'waiting' || j.state === 'reserved');
        if (idle.length) {
          const [id, j] = idle[randInt(0, idle.length - 1)];
          if (j.state === 'waiting') {
            j.abort.abort();
            t.equal(await j.done, 'ABORTED', 'a waiting job whose client went away: ABORTED');
          } else j.slot.cancel();
          live.delete(id);
          held--;
        }
      }
      await tick();
      if (seen.running !== running || seen.running + seen.queued !== held) {
        t.fail(`step ${step}: limiter says ${JSON.stringify(seen)}, model has ${running} running of ${held} held`);
        return;
      }
    }
    t.ok(refusedOk, `trial ${trial}: refused exactly when ${concurrency} + ${queue} places were held`);
    t.ok(maxRunning <= concurrency, `trial ${trial}: at most ${concurrency} at once (${maxRunning})`);
    t.ok(orderOk, `trial ${trial}: no job started while one that arrived before it waited (${started.length} started)`);
    for (const j of live.values()) {
      j.abort.abort();
      j.finish?.();
    }
  }
});

t.test('bad limits are INVALID_ARGUMENT', async (t) => {
  t.throws(() => new Limiter(0, 1), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new Limiter(1, -1), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new Limiter(1.5, 0), { code: 'INVALID_ARGUMENT' });
});
