'use strict';
// Packaging: what `npm install fcnkit` gets and whether it runs with no compiler.
//   - the built addon passes scripts/check-binary.js (glibc-only NEEDED, glibc floor as the README
//     says, Node-API exports only, no external buffers for Electron, baseline x86-64 outside the
//     kernel namespaces), and the checker itself catches a planted leak;
//   - loading errors (no binary, a damaged one, an unsupported platform, musl) are
//     BINARY_LOAD_FAILED and say what was tried and what to do;
//   - `npm pack` holds dist/, prebuilds/, README and LICENSE, nothing else; installed into a fresh
//     project with --ignore-scripts, it runs scripts/smoke-installed.js under a PATH holding only
//     `node`. The install fetches fcnkit's runtime dependencies from the registry (or npm's
//     cache): without either, that part is skipped with a message.
// Reuses the existing build (npm test builds first): `scripts/prebuild.js --no-build` strips a
// copy into prebuilds/, and `npm pack --ignore-scripts` packs it, so nothing other test files
// load (build/, dist/) is rewritten while they run.
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { checkBinary, compareVersions } = require('../scripts/check-binary');

const root = path.join(__dirname, '..');
const built = path.join(root, 'build', 'Release', 'fcnkit.node');
const isLinuxX64 = process.platform === 'linux' && process.arch === 'x64';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-pack-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

function have(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function npm(args, cwd, timeout = 120000) {
  return spawnSync('npm', args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
}

/** The glibc floor the README states ("glibc 2.35 or later"). */
function readmeGlibc() {
  const m = /glibc (\d+\.\d+) or later/.exec(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));
  return m && m[1];
}

t.test('the built addon passes check-binary', { skip: !isLinuxX64 && 'linux-x64 only' }, async (t) => {
  if (!have('objdump')) return t.skip('objdump not found (binutils)');
  const r = checkBinary(built);
  for (const c of r.checks) t.ok(c.ok, `${c.name}: ${c.detail}`);
  const stated = readmeGlibc();
  t.ok(stated, 'the README states the oldest glibc');
  t.ok(stated && compareVersions(r.facts.glibc, stated) <= 0, `needs glibc ${r.facts.glibc}, README says ${stated} or later`);
  const loader = fs.readFileSync(path.join(root, 'dist', 'native.js'), 'utf8');
  t.match(loader, `glibc ${stated} or later`, 'the loader\'s message states the same glibc');
  t.comment(`oldest glibc needed: ${r.facts.glibc}; ${r.facts.kernelFunctions} kernel functions use AVX/AVX2/AVX-512`);
});

t.test('check-binary catches an AVX leak, a C++ runtime dependency and external buffers', { skip: !isLinuxX64 && 'linux-x64 only' }, async (t) => {
  if (!have('g++') || !have('objdump')) return t.skip('needs g++ and objdump');
  // A shared header's template, instantiated both in an AVX2 translation unit and in a baseline
  // one: linked AVX2 object first, the linker keeps the AVX2 copy for both callers.
  const dir = path.join(tmp, 'leak');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'common.h'), `#include <vector>
template <class T> __attribute__((noinline)) T sum_sq(const std::vector<T>& v) {
  T s = 0;
  for (T x : v) s += x * x;
  return s;
}
`);
  fs.writeFileSync(path.join(dir, 'avx.cc'), `#include "common.h"
namespace fcn { namespace avx2 {
int ki(const std::vector<int>& v) { return sum_sq(v); }
float kf(const std::vector<float>& v) { return sum_sq(v); }
} }
`);
  fs.writeFileSync(path.join(dir, 'base.cc'), `#include "common.h"
extern "C" int napi_create_external_arraybuffer(void*, void*, unsigned long, void*, void*, void**);
int bi(const std::vector<int>& v) { return sum_sq(v); }
float bf(const std::vector<float>& v) { return sum_sq(v); }
std::vector<int> make(int n) { return std::vector<int>(n, 1); }  // operator new: libstdc++
extern "C" __attribute__((visibility("default"))) void* napi_register_module_v1(void* env, void* exports) {
  void* out;
  napi_create_external_arraybuffer(env, nullptr, 0, nullptr, nullptr, &out);
  return exports;
}
`);
  const so = path.join(dir, 'leak.node');
  const cc = (args) => spawnSync('g++', args, { cwd: dir, encoding: 'utf8' });
  for (const r of [
    cc(['-O3', '-fPIC', '-mavx2', '-mfma', '-c', 'avx.cc', '-o', 'avx.o']),
    cc(['-O3', '-fPIC', '-c', 'base.cc', '-o', 'base.o']),
    cc(['-shared', '-o', so, 'avx.o', 'base.o']),
  ]) t.equal(r.status, 0, `g++ ${r.stderr}`);
  const r = checkBinary(so);
  const byName = Object.fromEntries(r.checks.map((c) => [c.name.split(' (')[0], c]));
  const isa = r.checks.find((c) => c.name.startsWith('baseline x86-64'));
  t.notOk(isa.ok, 'the ISA check fails');
  const leaks = r.facts.leaks.map((f) => f.name);
  t.ok(leaks.some((n) => /^int sum_sq<int>\(/.test(n)), `int sum_sq<int> (ymm) is reported: ${leaks.join(' | ')}`);
  t.ok(leaks.some((n) => /^float sum_sq<float>\(/.test(n)), `float sum_sq<float> (scalar VEX) is reported: ${leaks.join(' | ')}`);
  t.notOk(leaks.some((n) => /fcn::avx2::/.test(n)), 'functions of fcn::avx2 are not leaks');
  t.notOk(byName['NEEDED only glibc libraries'].ok, `a dynamic libstdc++ is refused: ${byName['NEEDED only glibc libraries'].detail}`);
  const ext = r.checks.find((c) => c.name.startsWith('no external'));
  t.notOk(ext.ok, `napi_create_external_arraybuffer is refused: ${ext.detail}`);
});

// A package copy with dist/ and package.json and, unless told otherwise, node-gyp-build, but
// none of the binaries: what the loader says.
function loaderCopy(name, { nodeGypBuild = true, prebuild } = {}) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  if (nodeGypBuild) {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(path.dirname(require.resolve('node-gyp-build/package.json')), path.join(dir, 'node_modules', 'node-gyp-build'));
  }
  if (prebuild) {
    fs.mkdirSync(path.join(dir, 'prebuilds', 'linux-x64'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'prebuilds', 'linux-x64', 'fcnkit.node'), prebuild);
  }
  return dir;
}

// Runs dist's backendInfo() three times in a child (optionally with a preload that fakes the
// platform); returns the error it threw, and how many diagnostic reports were made.
function loadIn(dir, preload) {
  const code = `
    let reports = 0;
    const getReport = process.report.getReport;
    process.report.getReport = function (...a) { reports++; return getReport.apply(this, a); };
    const f = require(${JSON.stringify(path.join(dir, 'dist'))});
    let first;
    for (let i = 0; i < 3; i++) {
      try { f.backendInfo(); } catch (e) { first = first || e; if (e !== first) throw new Error('a different error the second time'); }
    }
    console.log(JSON.stringify({ loaded: !first, reports, error: first && { code: first.code, message: first.message,
      isFcnkitError: first instanceof f.FcnkitError, listed: f.ERROR_CODES.includes(first.code) } }));`;
  const args = [...(preload ? ['-r', preload] : []), '-e', code];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, PREBUILDS_ONLY: '' } });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

t.test('loading errors are BINARY_LOAD_FAILED and say what was tried and what to do', async (t) => {
  const empty = loaderCopy('no-binary');
  const r = loadIn(empty);
  t.notOk(r.loaded);
  t.same([r.error.code, r.error.isFcnkitError, r.error.listed], ['BINARY_LOAD_FAILED', true, true]);
  const platform = `${process.platform}-${process.arch}`;
  t.match(r.error.message, `Could not load the fcnkit native module for ${platform}`, 'names the platform');
  t.match(r.error.message, path.join(empty, 'build', 'Release'), 'names build/Release');
  t.match(r.error.message, path.join(empty, 'prebuilds', platform), 'names the prebuilds folder');
  t.match(r.error.message, /npm run build|reinstall fcnkit|no prebuilt binary/, 'says what to do');

  const damaged = loaderCopy('damaged', { prebuild: 'not an ELF file' });
  const d = loadIn(damaged);
  t.equal(d.error.code, 'BINARY_LOAD_FAILED');
  t.match(d.error.message, `${path.join(damaged, 'prebuilds', 'linux-x64', 'fcnkit.node')}: `, 'names the file that failed');
  t.match(d.error.message, /damaged or built for another platform: reinstall fcnkit/);

  const bare = loaderCopy('no-node-gyp-build', { nodeGypBuild: false });
  const b = loadIn(bare);
  t.equal(b.error.code, 'BINARY_LOAD_FAILED');
  t.match(b.error.message, /node-gyp-build \(a dependency of fcnkit\): Cannot find module/);
  t.match(b.error.message, path.join(bare, 'build', 'Release', 'fcnkit.node'));

  const fakeDarwin = path.join(tmp, 'fake-darwin.js');
  fs.writeFileSync(fakeDarwin, `Object.defineProperty(process, 'platform', { value: 'darwin' });
Object.defineProperty(process, 'arch', { value: 'arm64' });\n`);
  const m = loadIn(loaderCopy('darwin', { prebuild: 'linux binary' }), fakeDarwin);
  t.equal(m.error.code, 'BINARY_LOAD_FAILED');
  t.match(m.error.message, 'for darwin-arm64');
  t.match(m.error.message, /no prebuilt binary for darwin-arm64: it ships one for linux-x64 with glibc \d+\.\d+ or later only/);
  t.match(m.error.message, /holds prebuilds for: linux-x64/);
});

t.test('musl: refused up front, and cheaply on glibc', { skip: process.platform !== 'linux' && 'linux only' }, async (t) => {
  // Fakes a musl system: a musl loader in /lib, and a report header with no glibc.
  const fakeMusl = path.join(tmp, 'fake-musl.js');
  fs.writeFileSync(fakeMusl, `const fs = require('node:fs');
const readdirSync = fs.readdirSync;
fs.readdirSync = function (dir, ...rest) {
  const out = readdirSync.call(this, dir, ...rest);
  return dir === '/lib' ? [...out, 'ld-musl-x86_64.so.1'] : out;
};
const getReport = process.report.getReport;
process.report.getReport = function (...args) {
  const r = getReport.apply(this, args);
  delete r.header.glibcVersionRuntime;
  return r;
};\n`);
  const m = loadIn(root, fakeMusl);
  t.notOk(m.loaded);
  t.equal(m.error.code, 'BINARY_LOAD_FAILED');
  t.match(m.error.message, /does not support musl libc \(Alpine Linux\)/);
  t.match(m.error.message, /glibc-based image/);
  t.equal(m.reports, 1, 'one diagnostic report, however often the addon is asked for');

  const g = loadIn(root);
  t.ok(g.loaded, 'loads on this glibc system');
  const muslInstalled = fs.readdirSync('/lib').some((f) => f.startsWith('ld-musl-'));
  t.equal(g.reports, muslInstalled ? 1 : 0, 'no diagnostic report on a system without a musl loader');
});

t.test('npm pack, install with --ignore-scripts, run with no compiler on PATH', { skip: !isLinuxX64 && 'prebuilt binaries are linux-x64 only' }, async (t) => {
  if (!have('strip') || !have('objdump')) return t.skip('needs binutils (strip, objdump)');
  const pre = spawnSync(process.execPath, [path.join(root, 'scripts', 'prebuild.js'), '--no-build'], { cwd: root, encoding: 'utf8' });
  t.equal(pre.status, 0, `prebuild: ${pre.stdout.split('\n').pop() || ''}${pre.stderr}`);
  if (pre.status !== 0) return;
  t.comment(pre.stdout.trim().split('\n').pop());

  const packDir = path.join(tmp, 'pack');
  fs.mkdirSync(packDir);
  const pack = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], root);
  t.equal(pack.status, 0, `npm pack ${pack.stderr.slice(-1000)}`);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n')));
  const files = info.files.map((f) => f.path);
  const tgz = path.join(packDir, info.filename);
  t.comment(`tarball ${info.filename}: ${info.size} bytes (${(info.size / 1024).toFixed(0)} KiB), ${info.unpackedSize} unpacked, ${files.length} files`);

  for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/native.js', 'prebuilds/linux-x64/fcnkit.node',
    'models/selfie_segmentation.tflite', 'models/selfie_segmentation.json', 'models/NOTICE', 'web/index.html', 'web/app.js', 'web/style.css']) {
    t.ok(files.includes(f), `holds ${f}`);
  }
  const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts)|prebuilds\/([a-z0-9]+-[a-z0-9]+\/[^/]+|README\.md)|bin\/fcnkit|models\/(selfie_segmentation\.(tflite|json)|NOTICE)|web\/(index\.html|app\.js|style\.css))$/.test(f));
  t.same(stray, [], 'nothing else: no tests, sources, build trees or scripts');
  for (const dir of ['test/', 'cpp/', 'build/', 'binding/', 'bench/', 'ts/', 'scripts/', 'node_modules/']) {
    t.notOk(files.some((f) => f.startsWith(dir)), `no ${dir}`);
  }
  const packed = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  t.notOk(packed.scripts && (packed.scripts.install || packed.scripts.preinstall || packed.scripts.postinstall),
    'no install scripts: nothing to run, nothing to block');

  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fcnkit-smoke', version: '1.0.0', private: true }));
  const inst = npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--fetch-retries=1', '--fetch-timeout=30000', tgz], app);
  if (inst.status !== 0) {
    if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|ENOTCACHED|fetch failed|socket/i.test(inst.stderr)) {
      return t.skip(`npm cannot reach the registry to fetch fcnkit's dependencies: ${inst.stderr.split('\n').find((l) => /ERR/.test(l)) || inst.stderr.slice(-300)}`);
    }
    t.fail(`npm install ${inst.stderr.slice(-1500)}`);
    return;
  }
  t.ok(fs.existsSync(path.join(app, 'node_modules', 'fcnkit', 'prebuilds', 'linux-x64', 'fcnkit.node')), 'installed with its prebuilt binary');
  t.notOk(fs.existsSync(path.join(app, 'node_modules', 'fcnkit', 'build')), 'no build tree');

  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.copyFileSync(path.join(root, 'scripts', 'smoke-installed.js'), path.join(app, 'smoke.js'));
  for (const isa of [undefined, 'ref']) {
    const env = { PATH: bin, HOME: app, ...(isa ? { FCNKIT_ISA: isa } : {}) };
    const r = spawnSync('node', ['smoke.js'], { cwd: app, env, encoding: 'utf8', timeout: 60000 });
    let out;
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {
      t.fail(`smoke output: ${r.stdout} ${r.stderr}`);
      continue;
    }
    for (const c of out.checks) t.ok(c.ok, `${isa ? `FCNKIT_ISA=${isa}: ` : ''}${c.name}${c.ok ? '' : `: ${c.detail}`}`);
    t.equal(r.status, 0, `smoke exit status (isa ${out.isa}, conv error ${out.convError})`);
    if (isa) t.equal(out.isa, isa, 'the forced ISA is used');
  }
});
