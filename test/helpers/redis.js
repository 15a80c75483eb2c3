'use strict';
// A real Redis for the queue tests: Debian's redis-server on a free loopback port, its files in
// a temporary folder, stopped (and the folder removed) when the test ends. Tests skip with a
// message when redis-server is not installed (scripts/system-deps.sh installs it).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REDIS = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
const SKIP = REDIS ? false : 'redis-server is not installed (apt-get install redis-server, or bash scripts/system-deps.sh as root)';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Starts redis-server; resolves { port, url, dir, stop(), restart({ downMs }) }. `appendonly`
 * keeps the data across restart() (as a production Redis would).
 */
async function startRedis(t, { appendonly = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-redis-'));
  const port = await freePort();
  let proc;
  const launch = async () => {
    proc = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', appendonly ? 'yes' : 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.log = '';
    proc.stdout.on('data', (d) => (proc.log += d));
    proc.stderr.on('data', (d) => (proc.log += d));
    proc.exited = new Promise((r) => proc.once('exit', r));
    const deadline = Date.now() + 15000;
    while (!(await canConnect(port))) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`redis-server did not start on port ${port}: ${proc.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGTERM'); // a clean shutdown: the append-only file is flushed
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await proc.exited;
    clearTimeout(timer);
  };
  await launch();
  t.teardown(async () => {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}/0`,
    stop,
    async restart({ downMs = 1000 } = {}) {
      await stop();
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    get pid() {
      return proc.pid;
    },
  };
}

module.exports = { startRedis, freePort, REDIS_SKIP: SKIP };
