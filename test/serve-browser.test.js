'use strict';
// The web page of `fcnkit serve` in a real browser: Debian's chromium driven by playwright-core
// (no browser download). Uploads a real photo through the file chooser, waits for the result,
// and checks that it is an image of the photo's size, that the mask toggle switches between the
// overlay and the photo, that "Download label PNG" saves the same label map the API gives, and
// that the page asked nothing of any other host. Skips (with the reason) without chromium.
// FCNKIT_SCREENSHOT=docs/serve-page.png also saves a screenshot of the page there.
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const sharp = require('sharp');
const { randInt } = require('./helpers');
const { EXAMPLES, ROOT } = require('./helpers/cli');
const { startServer, postImage } = require('./helpers/serve');

const CHROMIUM = process.env.FCNKIT_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let playwright;
try {
  playwright = require('playwright-core');
} catch (err) {
  playwright = undefined;
}
const skip = !fs.existsSync(CHROMIUM)
  ? `no chromium at ${CHROMIUM} (install Debian's chromium, or set FCNKIT_CHROMIUM)`
  : !playwright ? 'playwright-core is not installed' : false;

t.test('the page segments an uploaded photo in chromium', { skip, timeout: 300000 }, async (t) => {
  const { url } = await startServer(t, ['--max-concurrency', '2']);
  const origin = new URL(url).origin;
  const photos = ['astronaut.png', 'chelsea.png', 'horse.png'];
  // The README's screenshot shows the astronaut; otherwise any of the photos.
  const name = process.env.FCNKIT_SCREENSHOT ? 'astronaut.png' : photos[randInt(0, photos.length - 1)];
  const photoPath = path.join(EXAMPLES, name);
  const meta = await sharp(photoPath).metadata();
  t.comment(`${name}: ${meta.width}x${meta.height}`);

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-chromium-'));
  t.teardown(() => fs.rmSync(profile, { recursive: true, force: true }));
  const context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    acceptDownloads: true,
    viewport: { width: 1200, height: 820 },
  });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const elsewhere = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')) elsewhere.push(u);
  });
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  await page.goto(`${url}/`);
  await page.waitForFunction(() => document.getElementById('model-name').textContent !== 'loading…');
  t.match(await page.textContent('#model-name'), /default \(MediaPipe selfie/, 'the page names the model');

  await page.setInputFiles('#file', photoPath);
  await page.waitForSelector('#result[data-state="done"], #result[data-state="error"]', { timeout: 120000 });
  t.equal(await page.getAttribute('#result', 'data-state'), 'done', `segmented (status: ${await page.textContent('#status')})`);
  const size = (sel) => page.$eval(sel, (img) => [img.naturalWidth, img.naturalHeight]);
  t.same(await size('#result'), [meta.width, meta.height], "the result image has the photo's size");
  t.same(await size('#original'), [meta.width, meta.height], 'the original is shown beside it');
  t.match(await page.textContent('#time'), new RegExp(`${meta.width}×${meta.height} · [0-9.]+ s on the server, [0-9.]+ s in all`), 'the time taken');

  // The overlay differs from the photo; unticking the mask shows the photo.
  const pixels = (sel) => page.$eval(sel, (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    return Array.from(g.getImageData(0, 0, c.width, c.height).data);
  });
  const original = await pixels('#original');
  const overlay = await pixels('#result');
  t.not(overlay.join(), original.join(), 'with the mask: the overlay');
  await page.uncheck('#mask-toggle');
  await page.waitForFunction(() => document.getElementById('result').src === document.getElementById('original').src);
  t.same(await pixels('#result'), original, 'without the mask: the photo');
  await page.check('#mask-toggle');

  // Download the label PNG: the same label map as the API's.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  t.equal(download.suggestedFilename(), name.replace('.png', '.labels.png'), 'named after the photo');
  const saved = path.join(profile, 'labels.png');
  await download.saveAs(saved);
  const fromPage = await sharp(saved).extractChannel(0).raw().toBuffer();
  const api = await postImage(url, fs.readFileSync(photoPath), { format: 'labels' });
  const fromApi = await sharp(Buffer.from(await api.arrayBuffer())).extractChannel(0).raw().toBuffer();
  t.ok(fromPage.equals(fromApi), 'the downloaded label PNG is the API\'s label map');

  // A file that is not a photo: an error message, no crash.
  const text = path.join(profile, 'notes.png');
  fs.writeFileSync(text, 'not really a png');
  await page.setInputFiles('#file', text);
  await page.waitForSelector('#result[data-state="error"]', { timeout: 60000 });
  t.match(await page.textContent('#status'), /BAD_IMAGE/, 'a corrupt file: the server\'s error is shown');
  await page.setInputFiles('#file', photoPath);
  await page.waitForSelector('#result[data-state="done"]', { timeout: 120000 });

  t.same(elsewhere, [], 'no request left this server (works offline)');
  t.same(consoleErrors.filter((e) => !/400 \(Bad Request\)/.test(e)), [], 'no script errors');

  if (process.env.FCNKIT_SCREENSHOT) {
    const file = path.resolve(ROOT, process.env.FCNKIT_SCREENSHOT);
    // A palette PNG: a quarter of the size, no visible loss for a page of flat colours and photos.
    await sharp(await page.screenshot({ fullPage: true })).png({ palette: true, quality: 90, effort: 10, compressionLevel: 9 }).toFile(file);
    t.comment(`screenshot: ${file}`);
  }
});
