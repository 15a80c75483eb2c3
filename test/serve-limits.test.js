'use strict';
// `fcnkit serve` under pressure: 8x the concurrency limit at once gives only 200s and 503s (the
// 503s with Retry-After, counted in /metrics); a client that stalls mid-request is cut off by
// --request-timeout and gives its place back, as does one that leaves mid-run; SIGTERM lets the request in progress finish,
// refuses new connections, and exits 0.
const t = require('tap');
const net = require('node:net');
const path = require('node:path');
const sharp = require('sharp');
const { randInt } = require('./helpers');
const { EXAMPLES } = require('./helpers/cli');
const { startServer, postImage } = require('./helpers/serve');

const health = async (url) => (await fetch(`${url}/healthz`)).json();

async function photoOf(size, format = 'jpeg') {
  return sharp(path.join(EXAMPLES, 'astronaut.png')).resize(size, size).toFormat(format).toBuffer();
}

t.test('8x the concurrency limit at once: only 200s and 503s', async (t) => {
  const concurrency = randInt(1, 2);
  const queue = randInt(0, 2);
  const { url } = await startServer(t, ['--max-concurrency', String(concurrency), '--max-queue', String(queue), '--threads', '1']);
  const photo = await photoOf(900);
  const clients = 8 * concurrency;
  const counts = {};
  let retryAfterOk = true;
  let busyOk = true;
  for (let round = 0; round < 2; round++) {
    const answers = await Promise.all(Array.from({ length: clients }, async () => {
      const res = await postImage(url, photo, { format: 'overlay', type: 'image/jpeg' });
      if (res.status === 503) {
        const ra = res.headers.get('retry-after');
        if (!/^[0-9]+$/.test(ra ?? '') || Number(ra) < 1) retryAfterOk = false;
        const body = await res.json();
        if (body.error?.code !== 'BUSY') busyOk = false;
      } else await res.arrayBuffer();
      return res.status;
    }));
    for (const s of answers) counts[s] = (counts[s] ?? 0) + 1;
  }
  t.comment(`limit ${concurrency}, queue ${queue}, ${clients} clients x 2 rounds: ${JSON.stringify(counts)}`);
  t.same(Object.keys(counts).filter((s) => s !== '200' && s !== '503'), [], 'only 200 and 503');
  t.ok(counts[200] >= 2, 'some served');
  t.ok(counts[503] >= 2, 'some refused');
  t.ok(retryAfterOk, 'every 503 has Retry-After in whole seconds >= 1');
  t.ok(busyOk, 'every 503 is BUSY');
  const text = await (await fetch(`${url}/metrics`)).text();
  const metric = (status) => Number((new RegExp(`^fcnkit_http_requests_total\\{method="POST",route="/v1/segment",status="${status}"\\} (\\d+)`, 'm').exec(text) || [])[1] ?? 0);
  t.same([metric(200), metric(503)], [counts[200], counts[503]], '/metrics counts the same');
  t.match(await health(url), { inFlight: 0, queued: 0 }, 'every place given back');
});

t.test('a client that stalls is cut off and gives its place back', async (t) => {
  const { url } = await startServer(t, ['--max-concurrency', '1', '--max-queue', '0', '--request-timeout', '1']);
  const { port, hostname } = new URL(url);
  const stall = (head) => new Promise((resolve) => {
    const t0 = Date.now();
    const socket = net.connect(Number(port), hostname, () => socket.write(head));
    let reply = '';
    socket.on('data', (d) => (reply += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ ms: Date.now() - t0, reply }));
  });
  const body = stall('POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n\x89PNG');
  // While it stalls, it holds the only place: another request is refused.
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await postImage(url, await photoOf(64))).status, 503, 'the stalled request holds the only place');
  const b = await body;
  t.ok(b.ms < 10000, `a stalled body is cut off (${b.ms} ms)`);
  t.match(b.reply, /^HTTP\/1\.1 408/, `answered 408 (${b.reply.split('\r\n')[0]})`);
  const headers = await stall('POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Ty');
  t.ok(headers.ms < 10000, `stalled headers are cut off (${headers.ms} ms)`);
  t.match(await health(url), { inFlight: 0, queued: 0 }, 'the place is given back');
  t.equal((await postImage(url, await photoOf(64))).status, 200, 'and the next request is served');
});

t.test('a client that leaves mid-run gives its place back', async (t) => {
  const { url } = await startServer(t, ['--max-concurrency', '1', '--max-queue', '0', '--threads', '1']);
  const photo = await photoOf(2000);
  for (let i = 0; i < 2; i++) {
    const controller = new AbortController();
    const pending = postImage(url, photo, { format: 'overlay', type: 'image/jpeg', signal: controller.signal }).catch((e) => e.name);
    const t0 = Date.now();
    while ((await health(url)).inFlight === 0 && Date.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    t.equal(await pending, 'AbortError', 'the client left');
    while ((await health(url)).inFlight !== 0 && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 20));
    t.match(await health(url), { inFlight: 0, queued: 0 }, 'its place is free again');
  }
  const res = await postImage(url, await photoOf(100), { format: 'json', type: 'image/jpeg' });
  t.equal(res.status, 200, 'the next request is served');
  const text = await (await fetch(`${url}/metrics`)).text();
  t.notMatch(text, /status="5\d\d"/, 'no 5xx was recorded');
});

t.test('SIGTERM: the request in progress finishes, then exit 0', async (t) => {
  const { url, child } = await startServer(t, ['--max-concurrency', '1', '--threads', '1']);
  const size = 2500;
  const photo = await photoOf(size);
  const pending = postImage(url, photo, { format: 'overlay', type: 'image/jpeg' });
  const t0 = Date.now();
  while ((await health(url)).inFlight === 0 && Date.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 150));
  const refused = await fetch(`${url}/healthz`).then(() => false, () => true);
  t.ok(refused, 'new connections are refused once closing');
  const res = await pending;
  t.equal(res.status, 200, 'the request in progress is answered');
  const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
  t.same([meta.width, meta.height], [size, size], 'with the whole overlay');
  const { code, signal } = await child.exited;
  t.equal(code, 0, `exit 0 (signal ${signal}; stderr: ${child.stderrText.trim()})`);
  t.match(child.stderrText, /closed/);
});
