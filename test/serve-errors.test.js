'use strict';
// `fcnkit serve`'s error answers: each a JSON { error: { code, message } } with the right status.
// 415 for bodies that are not images, 400 for corrupt photos and bad arguments, 413 for bodies
// past --max-body-mb and for photos whose header claims more than --max-pixels (refused from the
// header: the photos here carry almost no pixel data, so decoding them would fail as BAD_IMAGE
// instead), 404/405 for unknown routes. The server stays up through all of them.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
const { randInt, rng } = require('./helpers');
const { EXAMPLES } = require('./helpers/cli');
const { encodePng } = require('./helpers/png');
const { startServer, postImage, postMultipart } = require('./helpers/serve');

async function expectError(t, res, status, code, what) {
  t.equal(res.status, status, `${what}: ${status}`);
  t.match(res.headers.get('content-type'), /^application\/json/, `${what}: JSON`);
  const body = await res.json();
  t.same(Object.keys(body), ['error'], `${what}: { error }`);
  t.same(Object.keys(body.error).sort(), ['code', 'message']);
  t.equal(body.error.code, code, `${what}: ${code} (${body.error.message})`);
  t.ok(typeof body.error.message === 'string' && body.error.message.length > 5, `${what}: a message`);
  return body.error;
}

/** A real photo, cut short inside its pixel data. */
async function truncatedPhoto() {
  const full = await sharp(path.join(EXAMPLES, 'chelsea.png')).resize(120 + randInt(0, 80)).png().toBuffer();
  return full.subarray(0, Math.floor(full.length * (0.3 + 0.4 * rng())));
}

/** A PNG whose header claims width × height but that holds a 2×2 picture. */
function lyingPng(width, height) {
  return encodePng({ width: 2, height: 2, colorType: 2, data: new Array(12).fill(90), headerWidth: width, headerHeight: height });
}

t.test('not images: 415', async (t) => {
  const { url } = await startServer(t);
  const photo = fs.readFileSync(path.join(EXAMPLES, 'horse.png'));
  await expectError(t, await postImage(url, Buffer.from('hello'), { type: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain body');
  await expectError(t, await postImage(url, Buffer.from('{"a":1}'), { type: 'application/json' }), 415, 'UNSUPPORTED_MEDIA_TYPE', 'JSON body');
  await expectError(t, await postImage(url, photo, { type: 'application/octet-stream' }), 415, 'UNSUPPORTED_MEDIA_TYPE', 'octet-stream body');
  await expectError(t, await fetch(`${url}/v1/segment`, { method: 'POST', body: photo }), 415, 'UNSUPPORTED_MEDIA_TYPE', 'no content type');
  await expectError(t, await postMultipart(url, Buffer.from('text'), { type: 'text/plain', filename: 'a.txt' }), 415, 'UNSUPPORTED_MEDIA_TYPE', 'multipart text file');
  t.equal((await fetch(`${url}/healthz`)).status, 200, 'still serving');
});

t.test('bad photos and arguments: 400', async (t) => {
  const { url } = await startServer(t);
  const photo = fs.readFileSync(path.join(EXAMPLES, 'horse.png'));
  for (const format of ['labels', 'overlay']) {
    await expectError(t, await postImage(url, await truncatedPhoto(), { format }), 400, 'BAD_IMAGE', `truncated PNG (${format})`);
  }
  const garbage = Buffer.alloc(randInt(10, 5000));
  for (let i = 0; i < garbage.length; i++) garbage[i] = randInt(0, 255);
  await expectError(t, await postImage(url, garbage, { type: 'image/jpeg' }), 400, 'BAD_IMAGE', 'random bytes as image/jpeg');
  await expectError(t, await postImage(url, lyingPng(1500, 1500)), 400, 'BAD_IMAGE', 'header within the limit, no pixel data');
  await expectError(t, await postImage(url, Buffer.alloc(0)), 400, 'BAD_IMAGE', 'empty body');
  await expectError(t, await postImage(url, photo, { format: 'jpeg' }), 400, 'INVALID_ARGUMENT', 'unknown format');
  await expectError(t, await postMultipart(url, photo, { field: 'photo' }), 400, 'INVALID_ARGUMENT', "multipart field not named 'image'");
  const form = new FormData();
  form.append('note', 'no file here');
  await expectError(t, await fetch(`${url}/v1/segment`, { method: 'POST', body: form }), 400, 'INVALID_ARGUMENT', 'multipart without a file');
  const ok = await postImage(url, photo, { format: 'json' });
  t.equal(ok.status, 200, 'a good photo after all that: 200');
});

t.test('too large: 413 for the body and for the pixels the header claims', async (t) => {
  const { url } = await startServer(t, ['--max-body-mb', '0.1', '--max-pixels', '250000']);
  const big = fs.readFileSync(path.join(EXAMPLES, 'astronaut.png')); // 790 KB
  await expectError(t, await postImage(url, big), 413, 'TOO_LARGE', 'raw body over --max-body-mb');
  await expectError(t, await postMultipart(url, big), 413, 'TOO_LARGE', 'multipart file over --max-body-mb');
  // 600x600 = 360000 pixels > 250000, in a small file
  const wide = await sharp(path.join(EXAMPLES, 'horse.png')).resize(600, 600, { fit: 'fill' }).jpeg({ quality: 30 }).toBuffer();
  t.ok(wide.length < 0.1 * 1024 * 1024, `the 600x600 JPEG is under the body limit (${wide.length} bytes)`);
  for (const format of ['labels', 'overlay', 'cutout']) {
    const e = await expectError(t, await postImage(url, wide, { format, type: 'image/jpeg' }), 413, 'TOO_LARGE', `600x600 photo, ${format}`);
    t.match(e.message, /250000/, 'the message names the limit');
  }
  for (const [w, h] of [[501, 500], [60000, 60000], [randInt(1000, 1e6), randInt(1000, 1e6)]]) {
    await expectError(t, await postImage(url, lyingPng(w, h), { format: 'overlay' }), 413, 'TOO_LARGE', `header claiming ${w}x${h} with 2x2 pixels`);
  }
  const small = await sharp(path.join(EXAMPLES, 'horse.png')).resize(400, 400, { fit: 'fill' }).png().toBuffer();
  t.equal((await postImage(url, small)).status, 200, '400x400 = 160000 pixels: 200');
});

t.test('routes: 404 and 405', async (t) => {
  const { url } = await startServer(t);
  await expectError(t, await fetch(`${url}/v2/segment`, { method: 'POST' }), 404, 'NOT_FOUND', 'unknown route');
  await expectError(t, await fetch(`${url}/nothing-here.html`), 404, 'NOT_FOUND', 'unknown file');
  await expectError(t, await fetch(`${url}/v1/segment`), 405, 'METHOD_NOT_ALLOWED', 'GET /v1/segment');
  await expectError(t, await fetch(`${url}/v1/models`, { method: 'DELETE' }), 405, 'METHOD_NOT_ALLOWED', 'DELETE /v1/models');
});
