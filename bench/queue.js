'use strict';
// The queue's overhead: photos through `fcnkit worker` processes on a BullMQ queue in a real
// Redis (started here on a free loopback port) against `fcnkit segment --workers` on the same
// photos, in the same run, with the same compute (worker threads × threads per run).
//
//   node bench/queue.js [--images 60] [--reps 3] [--model FILE] [--keep]
//
// Every configuration is timed from starting its processes to the last photo's outputs written
// (process start and model loading included, as a user waits for them):
//   segment    fcnkit segment DIR --workers W --threads T          (the peer)
//   queue ×1   one fcnkit worker --workers W --threads T            (jobs enqueued beforehand)
//   queue ×P   P fcnkit worker processes, each --workers W/P --threads T
// The configurations take turns, REPS times, and the fastest run of each is kept (outside load
// only ever adds time). Beside wall time, the CPU time of every process of the run (the bench's
// children as the kernel accounts them once reaped, plus redis-server's own) per photo: on a
// shared, loaded machine that is the steadier measure of what the queue costs. Enqueueing is
// timed apart. Needs redis-server (Debian: redis-server) and Linux's /proc.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const sharp = require('sharp');
const { backendInfo } = require('../dist');
const { drainQueue } = require('../dist/queue');

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'fcnkit');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const IMAGES = Number(arg('images', 60));
const REPS = Number(arg('reps', 3));
const MODEL = arg('model', undefined);
const KEEP = process.argv.includes('--keep');
const CPUS = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
const W = Math.min(2, CPUS);
const T = Math.max(1, Math.floor(CPUS / W));
const SIZES = [[500, 375], [375, 500], [500, 333], [333, 500], [480, 360], [512, 512]];

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system) from /proc/PID/stat: a process's own, or its reaped children's. */
function cpuSeconds(pid, children) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return children ? (Number(f[13]) + Number(f[14])) / CLK_TCK : (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(dir) {
  const exe = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!exe) throw new Error('redis-server is not installed (Debian: apt-get install redis-server)');
  const port = await freePort();
  const proc = spawn(exe, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => net.connect(port, '127.0.0.1').once('connect', function c() { this.destroy(); r(true); }).once('error', () => r(false)));
    if (ok) return { proc, url: `redis://127.0.0.1:${port}/0` };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start');
}

function fcnkit(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`fcnkit ${args[0]} exited ${code}: ${err.slice(-1000)}`))));
  });
}

/**
 * P worker processes; resolves { wall, work }: seconds from their start, and from the first one's
 * model being loaded ('started'), to the IMAGES-th job done.
 */
function runWorkers(url, p, workersEach, threads) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let done = 0;
    let failed = 0;
    let seconds;
    let started;
    let work;
    const children = [];
    for (let k = 0; k < p; k++) {
      const modelArgs = MODEL ? ['--model', MODEL] : [];
      const child = spawn(process.execPath, [BIN, 'worker', '--queue', url, '--json', '--workers', String(workersEach), '--threads', String(threads), ...modelArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.stdout.on('data', (d) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop();
        for (const l of lines) {
          const e = l.startsWith('{') ? JSON.parse(l) : {};
          if (e.event === 'started' && started === undefined) started = process.hrtime.bigint();
          if (e.event === 'completed') done++;
          if (e.event === 'failed') failed++;
          if (done + failed === IMAGES && seconds === undefined) {
            seconds = Number(process.hrtime.bigint() - t0) / 1e9;
            work = Number(process.hrtime.bigint() - started) / 1e9;
            for (const c of children) c.kill('SIGTERM');
          }
        }
      });
      child.exited = new Promise((r) => child.on('close', (code) => r({ code, err })));
      children.push(child);
    }
    Promise.all(children.map((c) => c.exited)).then((ends) => {
      if (failed) reject(new Error(`${failed} jobs failed`));
      else if (seconds === undefined) reject(new Error(`workers ended early: ${ends.map((e) => e.err.slice(-500)).join('\n')}`));
      else resolve({ wall: seconds, work });
    });
  });
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-bench-queue-'));
  const input = path.join(dir, 'in');
  fs.mkdirSync(input);
  const sources = ['astronaut', 'chelsea', 'coins', 'horse'].map((n) => path.join(ROOT, 'examples', `${n}.png`));
  for (let i = 0; i < IMAGES; i++) {
    const [w, h] = SIZES[i % SIZES.length];
    await sharp(sources[i % sources.length]).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(path.join(input, `img${String(i).padStart(4, '0')}.jpg`));
  }
  const redis = await startRedis(dir);
  const info = backendInfo();
  console.log(`# ${os.cpus()[0].model}, ${CPUS} CPUs, isa ${info.isa}, Node ${process.version}`);
  console.log(`# ${IMAGES} photos (JPEG, ${SIZES.map((s) => s.join('x')).join(', ')}), model ${MODEL ?? 'default (selfie, 256x256)'}, formats labels,overlay; ${REPS} rounds, fastest kept`);
  const modelArgs = MODEL ? ['--model', MODEL] : [];
  const configs = [
    { name: `segment --workers ${W} --threads ${T}`, run: async (out) => {
      const t0 = process.hrtime.bigint();
      const r = JSON.parse(await fcnkit(['segment', input, '--out', out, '--workers', String(W), '--threads', String(T), '--json', ...modelArgs]));
      // Its own "seconds" run from the model loaded to the last photo done.
      return { wall: Number(process.hrtime.bigint() - t0) / 1e9, work: r.seconds };
    } },
    { name: `queue: 1 worker process (--workers ${W} --threads ${T})`, queue: true, run: (out) => runWorkers(redis.url, 1, W, T) },
  ];
  if (W >= 2) configs.push({ name: `queue: ${W} worker processes (each --workers 1 --threads ${T})`, queue: true, run: () => runWorkers(redis.url, W, 1, T) });
  const best = configs.map(() => ({ wall: Infinity, work: Infinity, cpu: Infinity }));
  const enqueueTimes = [];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const [k, c] of configs.entries()) {
        const out = path.join(dir, `out-${k}-${rep}`);
        if (c.queue) {
          await drainQueue(redis.url);
          const t0 = process.hrtime.bigint();
          await fcnkit(['enqueue', input, '--queue', redis.url, '--out', out, '--format', 'labels,overlay', ...modelArgs]);
          enqueueTimes.push(Number(process.hrtime.bigint() - t0) / 1e9);
        }
        const cpu0 = cpuSeconds('self', true) + cpuSeconds(redis.proc.pid, false);
        const s = await c.run(out);
        s.cpu = cpuSeconds('self', true) + cpuSeconds(redis.proc.pid, false) - cpu0;
        const n = fs.readdirSync(out).filter((f) => f.endsWith('.overlay.png')).length;
        if (n !== IMAGES) throw new Error(`${c.name}: ${n} of ${IMAGES} overlays written`);
        best[k] = { wall: Math.min(best[k].wall, s.wall), work: Math.min(best[k].work, s.work), cpu: Math.min(best[k].cpu, s.cpu) };
        console.log(`#   ${c.name}: ${s.wall.toFixed(2)} s from start, ${s.work.toFixed(2)} s from model loaded, ${s.cpu.toFixed(2)} CPU s (load average ${os.loadavg()[0].toFixed(1)})`);
        fs.rmSync(out, { recursive: true, force: true });
      }
    }
  } finally {
    redis.proc.kill('SIGTERM');
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log('\n| configuration | s from start | images/s | vs segment | s from model loaded | images/s | vs segment | CPU ms per image | vs segment |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [k, c] of configs.entries()) {
    const b = best[k];
    console.log(`| ${c.name} | ${b.wall.toFixed(2)} | ${(IMAGES / b.wall).toFixed(2)} | ${(best[0].wall / b.wall).toFixed(2)}× | ${b.work.toFixed(2)} | ${(IMAGES / b.work).toFixed(2)} | ${(best[0].work / b.work).toFixed(2)}× | ${((1000 * b.cpu) / IMAGES).toFixed(1)} | ${(best[0].cpu / b.cpu).toFixed(2)}× |`);
  }
  enqueueTimes.sort((a, b) => a - b);
  console.log(`\nenqueue of ${IMAGES} photos (fcnkit enqueue, a process): median ${enqueueTimes[Math.floor(enqueueTimes.length / 2)].toFixed(2)} s`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
