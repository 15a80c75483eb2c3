'use strict';
// FCNKIT_ISA forces a kernel path: each one this CPU supports passes the conv/deconv oracle
// tests and the core's kernel-vs-reference program.
const t = require('tap');
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const { fcnkit } = require('./helpers');

const order = ['ref', 'avx2', 'avx512'];
const best = fcnkit.backendInfo().isa;
const supported = order.slice(0, order.indexOf(best) + 1);

// The child runs as a plain node process: without the tap runner's TAP_* and NODE_OPTIONS
// variables it prints its own summary line, which is what this test reads.
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^TAP/.test(k) && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

t.test('backendInfo reports the ISA in use', async (t) => {
  const info = fcnkit.backendInfo();
  t.ok(order.includes(info.isa));
  t.ok(info.threads >= 1);
  t.type(info.cuda.compiled, 'boolean');
  t.equal(info.cuda.available, false);
  t.type(info.cuda.reason, 'string');
});

for (const isa of supported) {
  t.test(`FCNKIT_ISA=${isa}: conv and deconv match onnxruntime`, async (t) => {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'ops-conv.test.js')], {
      // The reference kernels are slow: a loaded machine must not trip tap's 30 s per-test default.
      env: cleanEnv({ FCNKIT_ISA: isa, TAP_TIMEOUT: '280' }),
      encoding: 'utf8',
      timeout: 300000,
    });
    t.equal(r.status, 0, `exit status (stderr: ${r.stderr.slice(-500)})`);
    t.match(r.stdout, new RegExp(`isa ${isa}\\b`), 'the forced ISA is the one in use');
    const summary = r.stdout.match(/# \{ total: (\d+), pass: (\d+)/);
    const failed = r.stdout.split('\n').filter((l) => /not ok|seed/.test(l)).slice(0, 20).join('\n');
    t.ok(summary && summary[1] === summary[2], `all oracle checks passed: ${summary && summary[0]}\n${failed}`);
  });
}

t.test('FCNKIT_ISA with an unknown value falls back and says why', async (t) => {
  const r = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(path.join(__dirname, '..', 'dist'))}).backendInfo()))`], {
    env: cleanEnv({ FCNKIT_ISA: 'sse9' }),
    encoding: 'utf8',
  });
  const info = JSON.parse(r.stdout);
  t.equal(info.isa, best);
  t.match(info.isaNote, /sse9/);
});

const kernelTest = path.join(__dirname, '..', 'build', 'Release', 'fcn_kernel_test');
t.test('core kernel tests: every ISA against the reference twins', { skip: !fs.existsSync(kernelTest) && 'fcn_kernel_test not built' }, async (t) => {
  const r = spawnSync(kernelTest, [], { encoding: 'utf8', timeout: 300000 });
  const last = r.stdout.trim().split('\n').pop();
  t.equal(r.status, 0, `fcn_kernel_test exit status; ${last}`);
  t.match(last, /kernel_test: \d+ passed, 0 failed/);
  if (r.status !== 0) t.comment(r.stdout.split('\n').filter((l) => /FAIL/i.test(l)).slice(0, 20).join('\n'));
});
