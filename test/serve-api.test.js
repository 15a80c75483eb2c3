'use strict';
// `fcnkit serve` end to end over HTTP with the embedded default model: a freshly resized photo
// (random size and format) through every output format, as a raw image/* body and as multipart.
// References computed here, not by the server: the label map against segmentPerson (the
// library's own API on the same photo), the overlay / colour / cutout pixels from the photo and
// that label map with the VOC colour of class 1 (128, 0, 0), the JSON counts from the label PNG.
// Then /v1/models, /healthz, /metrics and the web page's files.
const t = require('tap');
const path = require('node:path');
const sharp = require('sharp');
const { fcnkit: lib, randInt, seed, rng } = require('./helpers');
const { EXAMPLES } = require('./helpers/cli');
const { startServer, postImage, postMultipart } = require('./helpers/serve');

const PHOTOS = ['astronaut.png', 'chelsea.png', 'horse.png', 'coins.png'];
const CLASS1 = [128, 0, 0]; // VOC palette, class 1

async function freshPhoto() {
  const name = PHOTOS[randInt(0, PHOTOS.length - 1)];
  const width = randInt(40, 700);
  const height = randInt(40, 700);
  const format = ['png', 'jpeg', 'webp'][randInt(0, 2)];
  const bytes = await sharp(path.join(EXAMPLES, name)).resize(width, height, { fit: 'fill' }).toFormat(format).toBuffer();
  return { name, width, height, format, bytes };
}

async function decodeRgb(bytes) {
  const { data, info } = await sharp(bytes).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

t.test('segment over HTTP: every format matches references computed from the photo', async (t) => {
  const { url } = await startServer(t, ['--max-concurrency', '2']);
  const photo = await freshPhoto();
  t.comment(`seed ${seed}: ${photo.name} as ${photo.width}x${photo.height} ${photo.format}`);
  const type = `image/${photo.format}`;
  const n = photo.width * photo.height;

  // labels, as a raw body
  const res = await postImage(url, photo.bytes, { format: 'labels', type });
  t.equal(res.status, 200, 'labels: 200');
  t.equal(res.headers.get('content-type'), 'image/png');
  t.equal(res.headers.get('x-image-width'), String(photo.width));
  t.match(res.headers.get('server-timing'), /queue;dur=[0-9.]+, segment;dur=[0-9.]+/);
  const labelsPng = Buffer.from(await res.arrayBuffer());
  const meta = await sharp(labelsPng).metadata();
  t.same([meta.width, meta.height, meta.channels, meta.depth], [photo.width, photo.height, 1, 'uchar'], "labels: one 8-bit grey channel at the photo's size");
  const lab = await sharp(labelsPng).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  const labels = lab.data;
  t.ok(labels.every((v) => v === 0 || v === 1), 'labels are 0 or 1');

  const ref = await lib.segmentPerson(photo.bytes);
  let differ = 0;
  for (let i = 0; i < n; i++) if (labels[i] !== ref.mask[i]) differ++;
  t.ok(differ <= Math.ceil(n * 0.001), `labels agree with segmentPerson (${differ} of ${n} pixels differ)`);

  // the same as multipart gives the same label map
  const mres = await postMultipart(url, photo.bytes, { format: 'labels', type, filename: `p.${photo.format}` });
  t.equal(mres.status, 200, 'multipart: 200');
  const mlab = await sharp(Buffer.from(await mres.arrayBuffer())).extractChannel(0).raw().toBuffer();
  t.ok(mlab.equals(labels), 'multipart gives the same labels as the raw body');

  const rgb = await decodeRgb(photo.bytes);
  t.same([rgb.width, rgb.height], [photo.width, photo.height]);

  // overlay: photo blended with class 1's colour at alpha 0.5 where the label is 1
  const ov = await sharp(Buffer.from(await (await postMultipart(url, photo.bytes, { format: 'overlay', type })).arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
  t.same([ov.info.width, ov.info.height, ov.info.channels], [photo.width, photo.height, 3], 'overlay: RGB at the photo size');
  let bad = 0;
  for (let i = 0; i < n && bad < 5; i++) {
    for (let c = 0; c < 3; c++) {
      const p = rgb.data[i * 3 + c];
      const want = labels[i] === 1 ? Math.round(0.5 * p + 0.5 * CLASS1[c]) : p;
      if (ov.data[i * 3 + c] !== want) bad++;
    }
  }
  t.equal(bad, 0, 'overlay pixels: photo, blended with (128, 0, 0) at 0.5 over the mask');

  // color: class 0 black, class 1 (128, 0, 0)
  const colRes = await postImage(url, photo.bytes, { format: 'color', type });
  const colPng = Buffer.from(await colRes.arrayBuffer());
  t.ok((await sharp(colPng).metadata()).isPalette, 'color: an indexed PNG');
  const col = await sharp(colPng).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  bad = 0;
  for (let i = 0; i < n; i++) {
    const want = labels[i] === 1 ? CLASS1 : [0, 0, 0];
    for (let c = 0; c < 3; c++) if (col.data[i * col.info.channels + c] !== want[c]) bad++;
  }
  t.equal(bad, 0, 'color pixels: the palette colour of each label');

  // cutout: the photo, alpha from the person probability (over half where the label is 1)
  const cut = await sharp(Buffer.from(await (await postImage(url, photo.bytes, { format: 'cutout', type })).arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
  t.equal(cut.info.channels, 4, 'cutout: RGBA');
  let rgbBad = 0;
  let alphaBad = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) if (cut.data[i * 4 + c] !== rgb.data[i * 3 + c]) rgbBad++;
    const a = cut.data[i * 4 + 3];
    if ((labels[i] === 1) !== (a >= 128) && Math.abs(a - 127.5) > 1) alphaBad++;
  }
  t.equal(rgbBad, 0, "cutout colours are the photo's");
  t.equal(alphaBad, 0, 'cutout alpha is over half exactly where the label is 1');

  // json: counts of the label map
  const jres = await postImage(url, photo.bytes, { format: 'json', type });
  t.equal(jres.headers.get('content-type').split(';')[0], 'application/json');
  const summary = await jres.json();
  const ones = labels.reduce((s, v) => s + v, 0);
  t.same({ width: summary.width, height: summary.height, classes: summary.classes, counts: summary.counts },
    { width: photo.width, height: photo.height, classes: 2, counts: [n - ones, ones] }, 'json: size, classes and pixels per class');
  t.ok(Math.abs(summary.foregroundFraction - ones / n) < 1e-12, 'json: foreground fraction');
  t.match(summary.model, /default/);

  // no format: labels
  const dres = await postImage(url, photo.bytes, { type });
  t.ok(Buffer.from(await dres.arrayBuffer()).equals(labelsPng), 'the default format is labels');
});

t.test('models, health, metrics and the page', async (t) => {
  const { url } = await startServer(t, ['--max-concurrency', '1', '--max-queue', '3', '--max-pixels', '1234567']);
  const models = await (await fetch(`${url}/v1/models`)).json();
  t.equal(models.models.length, 1);
  const m = models.models[0];
  t.match(m, { format: 'tflite', device: 'cpu', classes: 2, binary: true, inputSize: [256, 256], file: 'selfie_segmentation.tflite' });
  t.same(m.inputs, [{ name: m.inputs[0].name, dtype: 'float32', shape: [1, 3, 256, 256] }], 'the input: [1, 3, 256, 256]');
  t.same(m.outputs[0].shape, [1, 1, 256, 256]);
  t.match(m.preprocessing, { size: [256, 256], range: [0, 1], channelOrder: 'rgb', maxPixels: 1234567 });
  t.same(m.limits, { maxPixels: 1234567, maxBodyBytes: 25 * 1024 * 1024, maxConcurrency: 1, maxQueue: 3 });

  const health = await fetch(`${url}/healthz`);
  t.equal(health.status, 200);
  t.match(await health.json(), { status: 'ok', inFlight: 0, queued: 0 });

  const photo = await sharp(path.join(EXAMPLES, 'horse.png')).resize(64 + Math.floor(rng() * 64)).png().toBuffer();
  const runs = 3;
  for (let i = 0; i < runs; i++) t.equal((await postImage(url, photo, { format: 'json' })).status, 200);
  t.equal((await postImage(url, Buffer.from('not a photo'), {})).status, 400);

  const metrics = await fetch(`${url}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  const value = (re) => Number((re.exec(text) || [])[1]);
  t.equal(value(/^fcnkit_http_requests_total\{method="POST",route="\/v1\/segment",status="200"\} (\d+)/m), runs, 'requests by route and status: the 200s');
  t.equal(value(/^fcnkit_http_requests_total\{method="POST",route="\/v1\/segment",status="400"\} (\d+)/m), 1, '... and the 400');
  t.equal(value(/^fcnkit_http_request_duration_seconds_count\{method="POST",route="\/v1\/segment"\} (\d+)/m), runs + 1, 'latency histogram');
  t.ok(value(/^fcnkit_model_run_seconds_count (\d+)/m) >= runs, 'model run time histogram');
  t.equal(value(/^fcnkit_runs_in_flight (\d+)/m), 0, 'runs in flight');
  t.equal(value(/^fcnkit_queue_length (\d+)/m), 0, 'queue length');
  t.ok(value(/^process_resident_memory_bytes (\d+)/m) > 1e6, 'process RSS');

  const page = await fetch(`${url}/`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  t.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  const html = await page.text();
  t.notMatch(html, /(src|href)="(https?:)?\/\//, 'the page loads nothing from another host');
  for (const file of ['app.js', 'style.css']) {
    const r = await fetch(`${url}/${file}`);
    t.equal(r.status, 200, `${file} is served`);
    t.notMatch(await r.text(), /https?:\/\/(?!localhost)/, `${file} names no other host`);
  }
});

t.test('--device cuda (on the CPU emulator of the CUDA lowering): the same labels', async (t) => {
  const photo = await freshPhoto();
  const type = `image/${photo.format}`;
  const { url } = await startServer(t, ['--device', 'cuda'], { env: { FCNKIT_CUDA_EMULATE: '1' } });
  const models = await (await fetch(`${url}/v1/models`)).json();
  t.match(models.models[0], { device: 'cuda', precision: 'fp32' });
  const res = await postImage(url, photo.bytes, { format: 'labels', type });
  t.equal(res.status, 200);
  const labels = await sharp(Buffer.from(await res.arrayBuffer())).extractChannel(0).raw().toBuffer();
  const ref = await lib.segmentPerson(photo.bytes);
  let differ = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== ref.mask[i]) differ++;
  t.equal(labels.length, photo.width * photo.height);
  t.ok(differ <= Math.ceil(labels.length * 0.001), `labels agree with segmentPerson on the CPU (${differ} of ${labels.length} differ)`);
});
