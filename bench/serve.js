'use strict';
// npm run bench:serve — `fcnkit serve` with the default model under autocannon, on loopback only:
//   1. latency (p50, p99) and requests/s at 1, 2 and 8 concurrent clients (queue big enough that
//      nothing is refused), against the peer measured in the same run: the same segmentation
//      called in-process (dist/serve/segmenter, no HTTP), one at a time;
//   2. 8x the concurrency limit with no queue: the status codes (only 200 and 503 expected);
//   3. memory: the server's RSS (/proc/PID/status) after the first 100 requests and after 1000.
// Not a test: prints a table (and --json the figures). Bounded: every autocannon run has a fixed
// number of requests, and the server is killed at the end.
//   node bench/serve.js [--photo FILE] [--format labels|overlay|...] [--concurrency C] [--threads T]
//                       [--requests N] [--memory-requests 1000] [--json]
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const ROOT = path.join(__dirname, '..');
const PHOTO = path.resolve(opt('photo', path.join(ROOT, 'examples', 'astronaut.png')));
const FORMAT = opt('format', 'labels');
const CONCURRENCY = Number(opt('concurrency', 2));
const THREADS = Number(opt('threads', 1));
const REQUESTS = Number(opt('requests', 60));
const MEMORY_REQUESTS = Number(opt('memory-requests', 1000));
const JSON_OUT = args.includes('--json');

const TYPES = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };
const body = fs.readFileSync(PHOTO);
const type = TYPES[path.extname(PHOTO).toLowerCase()] ?? 'image/png';

function startServer(extra) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fcnkit'), 'serve', '--port', '0', '--threads', String(THREADS), ...extra], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`fcnkit serve exited ${code}: ${out}`)));
  });
}

async function stop(child) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Resolves autocannon's result plus `seconds`, the wall time of the run. */
async function load(url, connections, amount) {
  const t0 = performance.now();
  const r = await autocannon({
    url: `${url}/v1/segment?format=${FORMAT}`,
    method: 'POST',
    headers: { 'content-type': type },
    body,
    connections,
    amount,
    timeout: 120,
  });
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

function statusCounts(r) {
  const out = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) out[code] = s.count;
  if (r.errors) out.errors = r.errors;
  if (r.timeouts) out.timeouts = r.timeouts;
  return out;
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

/** The same segmentation in this process, no HTTP, one at a time: p50, p99, per second. */
async function inProcessPeer(runs) {
  const { Segmenter } = require('../dist/serve/segmenter');
  const { resolveDevice } = require('../dist/device');
  const seg = await Segmenter.load({ size: 512, threads: THREADS, threshold: 0.5, maxPixels: 25e6, device: resolveDevice({ device: 'cpu' }) });
  const signal = new AbortController().signal;
  for (let i = 0; i < 4; i++) await seg.segment(body, FORMAT, signal);
  const times = [];
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const t1 = performance.now();
    await seg.segment(body, FORMAT, signal);
    times.push(performance.now() - t1);
  }
  const seconds = (performance.now() - t0) / 1000;
  seg.release();
  return { runs, mean: times.reduce((a, b) => a + b, 0) / runs, p50: percentile(times, 50), p99: percentile(times, 99), perSecond: runs / seconds };
}

async function main() {
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
  const results = { photo: path.relative(ROOT, PHOTO), format: FORMAT, concurrency: CONCURRENCY, threads: THREADS, machine };

  // 0. The peer: the same segmentation in this process, no HTTP.
  results.inProcess = await inProcessPeer(REQUESTS);

  // 1. Latency and throughput by clients.
  {
    const { child, url } = await startServer(['--max-concurrency', String(CONCURRENCY), '--max-queue', '64']);
    await load(url, 1, 4); // warm-up
    results.latency = [];
    for (const clients of [1, 2, 8]) {
      const r = await load(url, clients, Math.max(REQUESTS, clients * 8));
      results.latency.push({
        clients,
        requests: r.requests.total,
        mean: r.latency.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        perSecond: r.requests.total / r.seconds,
        status: statusCounts(r),
      });
    }
    await stop(child);
  }

  // 2. 8x the concurrency limit, no queue.
  {
    const { child, url } = await startServer(['--max-concurrency', String(CONCURRENCY), '--max-queue', '0']);
    const clients = 8 * CONCURRENCY;
    const r = await load(url, clients, clients * 10);
    const status = statusCounts(r);
    results.overload = { clients, requests: r.requests.total, status, onlyOkAndBusy: Object.keys(status).every((s) => s === '200' || s === '503') };
    await stop(child);
  }

  // 3. RSS after 100 and after MEMORY_REQUESTS requests.
  {
    const { child, url } = await startServer(['--max-concurrency', String(CONCURRENCY), '--max-queue', '64']);
    const first = 100;
    const r1 = await load(url, CONCURRENCY, first);
    const after100 = rssKiB(child.pid);
    const r2 = await load(url, CONCURRENCY, MEMORY_REQUESTS - first);
    const afterAll = rssKiB(child.pid);
    results.memory = {
      requests: MEMORY_REQUESTS,
      rssAfter100MiB: after100 / 1024,
      rssAfterAllMiB: afterAll / 1024,
      ratio: afterAll / after100,
      status: [statusCounts(r1), statusCounts(r2)],
    };
    await stop(child);
  }

  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const f = (x, d = 1) => x.toFixed(d);
  console.log(`fcnkit serve, default model, ${results.photo} -> format=${FORMAT}; --max-concurrency ${CONCURRENCY} --threads ${THREADS}`);
  console.log(`machine: ${machine}`);
  const peer = results.inProcess;
  console.log('| clients | requests | p50 ms | p99 ms | mean ms | req/s | vs in-process | status |');
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(`| in-process peer (no HTTP), 1 at a time | ${peer.runs} | ${f(peer.p50)} | ${f(peer.p99)} | ${f(peer.mean)} | ${f(peer.perSecond, 2)} | 1× | |`);
  for (const l of results.latency) {
    console.log(`| ${l.clients} | ${l.requests} | ${l.p50} | ${l.p99} | ${f(l.mean)} | ${f(l.perSecond, 2)} | ${f(l.perSecond / results.inProcess.perSecond, 2)}× | ${JSON.stringify(l.status)} |`);
  }
  const o = results.overload;
  console.log(`overload: ${o.clients} clients (8× the limit), queue 0, ${o.requests} requests: ${JSON.stringify(o.status)} -> ${o.onlyOkAndBusy ? 'only 200 and 503' : 'OTHER STATUSES'}`);
  const m = results.memory;
  console.log(`memory: RSS ${f(m.rssAfter100MiB)} MiB after 100 requests, ${f(m.rssAfterAllMiB)} MiB after ${m.requests} (${f(m.ratio, 3)}×) ${JSON.stringify(m.status)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
