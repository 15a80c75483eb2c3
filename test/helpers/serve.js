'use strict';
// `fcnkit serve` in a child process, as a user starts it: waits for its "listening on" line.
const { spawnFcnkit } = require('./cli');

/**
 * Starts `fcnkit serve --port 0 ...args`; resolves { url, child } once it listens. The child is
 * killed when the test ends (if it has not exited by then).
 */
async function startServer(t, args = [], { timeout = 120000, env = {} } = {}) {
  const child = spawnFcnkit(['serve', '--port', '0', ...args], { env });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fcnkit serve did not start in ${timeout} ms: ${child.stderrText}`)), timeout);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(child.stdoutText);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', check);
    child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`fcnkit serve exited (${code ?? signal}) before listening: ${child.stderrText}`));
    });
  });
  return { url, child };
}

/** POSTs bytes to /v1/segment as a raw body; resolves the Response. */
function postImage(url, bytes, { format, type = 'image/png', signal } = {}) {
  const q = format ? `?format=${format}` : '';
  return fetch(`${url}/v1/segment${q}`, { method: 'POST', headers: { 'Content-Type': type }, body: bytes, signal });
}

/** POSTs bytes as the multipart field `field` (default 'image'). */
function postMultipart(url, bytes, { format, field = 'image', type = 'image/png', filename = 'photo.png' } = {}) {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type }), filename);
  const q = format ? `?format=${format}` : '';
  return fetch(`${url}/v1/segment${q}`, { method: 'POST', body: form });
}

module.exports = { startServer, postImage, postMultipart };
