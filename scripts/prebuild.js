#!/usr/bin/env node
'use strict';
// `npm run prebuild` (and `prepack`): puts the addon where node-gyp-build looks in an installed
// package, prebuilds/linux-x64/fcnkit.node, stripped.
//
// The name is prebuildify 6's for a Node-API build: the package name and no tags (no runtime, no
// ABI), which node-gyp-build matches on every Node and Electron runtime; one binary serves all of
// them because the addon uses Node-API 8 only (Node >= 20, current Electron). We do not run
// prebuildify itself: it drives node-gyp (`rebuild` with a Node target) and moves the result out
// of build/Release; this project builds with cmake-js, so the build CI and `npm test` already made
// is reused instead of compiling twice. `npm run build:native` runs first, a no-op when that build
// is current, so a stale binary cannot be packed.
//
// Before copying, scripts/check-binary.js checks the unstripped build (libraries, glibc floor,
// exports, no external buffers, baseline x86-64 outside the kernels); after stripping, the copy
// is checked again (all but the instruction scan, which needs symbols) and loaded in a child Node
// through node-gyp-build with PREBUILDS_ONLY=1, so the packed file is the one that resolves.
//
// Usage: node scripts/prebuild.js [--no-build]   (--no-build: use build/Release/fcnkit.node as is)
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { checkBinary } = require('./check-binary');

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const platform = `${process.platform}-${process.arch}`;
const built = path.join(root, 'build', 'Release', 'fcnkit.node');
const outDir = path.join(root, 'prebuilds', platform);
const name = `${pkg.name.replace(/\//g, '+')}.node`; // prebuildify 6: encodeName(package name)
const dest = path.join(outDir, name);
// The CUDA backend (built when nvcc was found): the addon dlopen()s it from beside itself on first
// use of device 'cuda', so it ships next to the binary. Without it the package is CPU-only and
// backendInfo().cuda.reason says 'this build has no CUDA backend'.
const CUDA_LIBRARY = 'libfcnkit_cuda.so';
const builtCuda = path.join(root, 'build', 'Release', CUDA_LIBRARY);
const destCuda = path.join(outDir, CUDA_LIBRARY);

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

function report(result) {
  for (const c of result.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  if (!result.ok) fail(`${result.facts.file} failed the checks above`);
}

if (platform !== 'linux-x64') {
  fail(`prebuilt binaries are made for linux-x64 only, not ${platform} (see README, "Install, platforms and Electron")`);
}

if (!process.argv.includes('--no-build')) {
  const r = spawnSync('npm', ['run', '--silent', 'build:native'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail(`npm run build:native failed (${r.error ? r.error.message : `exit ${r.status}`})`);
}
if (!fs.existsSync(built)) fail(`${built} not found: run \`npm run build:native\` first`);

console.log(`checking ${path.relative(root, built)}`);
const full = checkBinary(built);
report(full);

// Only the addon's own file goes: other .node files here would compete with it in
// node-gyp-build's choice. A CUDA backend library from an earlier build goes too: it is copied
// again below when this build has one.
fs.mkdirSync(outDir, { recursive: true });
for (const f of fs.readdirSync(outDir)) if (f.endsWith('.node') || f === CUDA_LIBRARY) fs.rmSync(path.join(outDir, f));
const tmp = `${dest}.tmp`;
fs.copyFileSync(built, tmp);
const strip = spawnSync('strip', ['--strip-unneeded', tmp], { encoding: 'utf8' });
if (strip.status !== 0) {
  fs.rmSync(tmp, { force: true });
  fail(`strip --strip-unneeded failed: ${strip.error ? strip.error.message : strip.stderr}`);
}
fs.renameSync(tmp, dest);

console.log(`checking ${path.relative(root, dest)}`);
const stripped = checkBinary(dest, { isa: false });
report(stripped);

let cudaNote = 'no CUDA backend in this build';
if (fs.existsSync(builtCuda)) {
  const tmpCuda = `${destCuda}.tmp`;
  fs.copyFileSync(builtCuda, tmpCuda);
  const r = spawnSync('strip', ['--strip-unneeded', tmpCuda], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(tmpCuda, { force: true });
    fail(`strip --strip-unneeded ${CUDA_LIBRARY} failed: ${r.error ? r.error.message : r.stderr}`);
  }
  fs.renameSync(tmpCuda, destCuda);
  cudaNote = `${path.relative(root, destCuda)}: ${(fs.statSync(destCuda).size / 1048576).toFixed(2)} MiB stripped`;
}

const probe = spawnSync(
  process.execPath,
  ['-e', `const b = require('node-gyp-build'); const f = b.path(${JSON.stringify(root)}); const a = require(f);
   const i = a.backendInfo(); console.log(JSON.stringify({ file: f, isa: i.isa, cuda: i.cuda }));`],
  { cwd: root, env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8' },
);
let loaded;
try {
  loaded = JSON.parse(probe.stdout.trim().split('\n').pop());
} catch {
  fail(`the prebuilt binary does not load: ${probe.stderr || probe.stdout}`);
}
if (path.resolve(loaded.file) !== dest) fail(`node-gyp-build resolves ${loaded.file}, not ${dest}`);
if (loaded.cuda.compiled !== fs.existsSync(destCuda)) {
  fail(`the prebuilt addon reports cuda.compiled ${loaded.cuda.compiled} with ${CUDA_LIBRARY} ${fs.existsSync(destCuda) ? 'beside it' : 'absent'} (${loaded.cuda.reason ?? ''})`);
}

console.log(
  `prebuilt ${path.relative(root, dest)}: ${(fs.statSync(dest).size / 1048576).toFixed(2)} MiB stripped ` +
    `(${(full.facts.size / 1048576).toFixed(2)} MiB unstripped), needs glibc >= ${full.facts.glibc}, ` +
    `loads through node-gyp-build (isa ${loaded.isa}); ${cudaNote}`,
);
