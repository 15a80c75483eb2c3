'use strict';
// Every input the fuzzers ever found a problem with (fuzz/regressions/<target>/) and every seed
// (fuzz/corpus/<target>/), replayed through its parser target (fuzz/targets.js): each must
// parse or throw an FcnkitError with a listed code. One child process per target, with a
// bounded heap and time, so a crash, a runaway allocation or a hang fails the test instead of
// ending the runner.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { targets } = require('../fuzz/targets');

const root = path.join(__dirname, '..');

for (const name of Object.keys(targets)) {
  const dirs = ['corpus', 'regressions'].map((d) => path.join(root, 'fuzz', d, name)).filter((d) => fs.existsSync(d));
  t.test(`fuzz target ${name}: seeds and regressions`, (t) => {
    const r = spawnSync(process.execPath, ['--max-old-space-size=1024', path.join(root, 'fuzz', 'replay.js'), name, ...dirs], {
      encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL',
    });
    const failures = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    t.equal(r.signal, null, `replay ended by ${r.signal} (crash, or over 120 s)\n${r.stderr.slice(-2000)}`);
    t.same(failures, [], 'every input parses or throws a coded FcnkitError');
    t.equal(r.status, 0, r.stderr.slice(-2000));
    t.match(r.stdout, /replay \S+: [1-9]\d* passed, 0 failed/, 'inputs were replayed');
    t.end();
  });
}
