#!/usr/bin/env node
'use strict';
// Coverage-guided fuzzing of every parser (fuzz/targets.js, JS under libFuzzer through
// fuzz/engine) and of the native graph-spec entry points (fcn_graph_spec_fuzz, libFuzzer +
// ASan + UBSan), each target for a bounded time:
//   npm run fuzz -- [--minutes N | --seconds N] [--targets a,b] [--parallel P]
// Default: 1 minute per target, two at a time. Work corpora grow in build-fuzz/corpus/<target>/
// (seeded from fuzz/corpus/ and fuzz/regressions/); a finding (crash, uncoded error, timeout,
// out-of-memory, sanitizer report) is written to build-fuzz/findings/<target>/ and fails the run:
// fix it, then keep the input in fuzz/regressions/<target>/ (test/fuzz-regressions.test.js
// replays it in `npm test`). Needs clang++ and Debian's libclang-rt-*-dev (libFuzzer); the
// native target is built in build-asan/ (scripts/sanitize.sh's build folder).
// Ends with "fuzz: N passed, N failed" (a target passes when its run found nothing).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const work = path.join(root, 'build-fuzz');
const NATIVE = 'graph-spec';

function parseArgs(argv) {
  const o = { seconds: 60, parallel: 2, targets: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--minutes') o.seconds = Math.round(Number(next()) * 60);
    else if (a === '--seconds') o.seconds = Math.round(Number(next()));
    else if (a === '--parallel') o.parallel = Math.max(1, Math.floor(Number(next())));
    else if (a === '--targets') o.targets = next().split(',').filter(Boolean);
    else usage(`unknown argument ${a}`);
  }
  if (!(o.seconds >= 1)) usage('the time per target must be at least 1 second');
  return o;
}

function usage(msg) {
  console.error(`fuzz: ${msg}\nusage: npm run fuzz -- [--minutes N | --seconds N] [--targets a,b] [--parallel P]`);
  process.exit(2);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout || ''}${r.stderr || ''}`.slice(-4000));
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
  }
  return r.stdout;
}

// The JS engine: a small addon around libFuzzer, rebuilt when its source is newer.
function buildEngine() {
  const src = path.join(root, 'fuzz', 'engine', 'libfuzzer_addon.cc');
  const out = path.join(work, 'fuzz_engine.node');
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs > fs.statSync(src).mtimeMs) return;
  fs.mkdirSync(work, { recursive: true });
  const rt = run('clang++', ['-print-runtime-dir']).trim();
  const lib = path.join(rt, 'libclang_rt.fuzzer_no_main-x86_64.a');
  if (!fs.existsSync(lib)) throw new Error(`libFuzzer not found at ${lib} (install libclang-rt-*-dev)`);
  const napi = require('node-api-headers').include_dir;
  run('clang++', ['-std=c++17', '-O1', '-g', '-fPIC', '-shared', '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=fuzz_engine',
    `-I${napi}`, src, '-Wl,--whole-archive', lib, '-Wl,--no-whole-archive', '-o', out]);
}

// The native target, in scripts/sanitize.sh's build folder.
function buildNative() {
  const dir = path.join(root, 'build-asan');
  const cache = path.join(dir, 'CMakeCache.txt');
  if (!fs.existsSync(cache) || !/FCNKIT_FUZZ:BOOL=ON/.test(fs.readFileSync(cache, 'utf8'))) {
    run('cmake', ['-S', '.', '-B', dir, '-DFCNKIT_SANITIZE=ON', '-DFCNKIT_FUZZ=ON', '-DCMAKE_BUILD_TYPE=Release'],
      { env: { ...process.env, CC: 'clang', CXX: 'clang++' } });
  }
  run('cmake', ['--build', dir, '--parallel', '2', '--target', 'fcn_graph_spec_fuzz']);
  return path.join(dir, 'Release', 'fcn_graph_spec_fuzz');
}

function fuzzOne(name, seconds, nativeBin) {
  const corpus = path.join(work, 'corpus', name);
  const findings = path.join(work, 'findings', name);
  fs.mkdirSync(corpus, { recursive: true });
  fs.rmSync(findings, { recursive: true, force: true });
  fs.mkdirSync(findings, { recursive: true });
  const seeds = [path.join(root, 'fuzz', 'corpus', name), path.join(root, 'fuzz', 'regressions', name)].filter((d) => fs.existsSync(d));
  // Per input: 10 s and 2 GiB of RSS; libFuzzer writes what breaks a limit as a finding.
  const flags = [`-max_total_time=${seconds}`, '-timeout=10', '-rss_limit_mb=2048', '-print_final_stats=1',
    `-artifact_prefix=${findings}${path.sep}`, corpus, ...seeds];
  const [cmd, args, env] = name === NATIVE
    ? [nativeBin, ['-max_len=512', ...flags],
      { ASAN_OPTIONS: 'allocator_may_return_null=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' }]
    : [process.execPath, ['--max-old-space-size=1024', path.join(root, 'fuzz', 'run.js'), name, ...flags], {}];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    // libFuzzer's own limit ends it; this is a backstop for a wedged process.
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      fs.writeFileSync(path.join(work, `${name}.log`), log);
      const execs = Number((/stat::number_of_executed_units:\s*(\d+)/.exec(log) || [])[1] || 0);
      const cov = (/cov: (\d+) ft: (\d+)/g.exec(log.split('\n').filter((l) => / cov: /.test(l)).pop() || '') || []).slice(1, 3);
      const artifacts = fs.readdirSync(findings);
      const ok = code === 0 && artifacts.length === 0;
      resolve({ name, ok, execs, cov, artifacts: artifacts.map((f) => path.join(findings, f)), code, signal, log });
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { targets } = require(path.join(root, 'fuzz', 'targets.js'));
  const all = [...Object.keys(targets), NATIVE];
  const names = o.targets || all;
  for (const n of names) if (!all.includes(n)) usage(`unknown target '${n}' (targets: ${all.join(', ')})`);
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) usage('dist/ is missing: run `npm run build:ts` first');

  let nativeBin = null;
  try {
    if (names.some((n) => n !== NATIVE)) buildEngine();
    if (names.includes(NATIVE)) nativeBin = buildNative();
  } catch (err) {
    console.error(`fuzz: cannot build the fuzzers: ${err.message}`);
    console.log('fuzz: 0 passed, 1 failed');
    process.exit(1);
  }

  console.log(`fuzz: ${names.length} target(s), ${o.seconds} s each, ${o.parallel} at a time`);
  const queue = [...names];
  const results = [];
  const worker = async () => {
    while (queue.length) {
      const name = queue.shift();
      const r = await fuzzOne(name, o.seconds, nativeBin);
      results.push(r);
      console.log(`fuzz ${r.ok ? 'ok  ' : 'FAIL'} ${name}: ${r.execs} executions, cov ${r.cov[0] ?? '?'} ft ${r.cov[1] ?? '?'}` +
        (r.ok ? '' : `, exit ${r.code ?? r.signal}; findings: ${r.artifacts.join(' ') || 'none written'} (log: build-fuzz/${name}.log)`));
      if (!r.ok) {
        const report = r.log.split('\n').filter((l) => /==fuzz finding==|ERROR:|SUMMARY:|runtime error|Error:|    at /.test(l)).slice(0, 25);
        console.log(report.map((l) => `    ${l}`).join('\n'));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel, names.length) }, worker));
  const failed = results.filter((r) => !r.ok).length;
  console.log(`fuzz: ${results.reduce((s, r) => s + r.execs, 0)} executions in all`);
  console.log(`fuzz: ${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
