'use strict';
// What the queue tests share: photos made fresh from the examples (random sizes), workers run as
// the CLI (`fcnkit worker --json`, its events parsed), waiting on the queue's counts, and the
// check that a batch's outputs are whole and agree with `fcnkit segment` on the same photos.
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
const { randInt } = require('./index');
const { EXAMPLES, fcnkit, spawnFcnkit, listFiles } = require('./cli');
const { queueStatus } = require('../../dist/queue');
const { readLabelImage } = require('../../dist/io/outputs');

const SOURCES = ['astronaut.png', 'chelsea.png', 'coins.png', 'horse.png'];

/** n photos (PNG and JPEG, random sizes) in dir; returns their paths. */
async function makePhotos(dir, n) {
  fs.mkdirSync(dir, { recursive: true });
  const files = [];
  for (let i = 0; i < n; i++) {
    const w = randInt(96, 320);
    const h = randInt(96, 320);
    const jpeg = i % 3 === 2;
    const file = path.join(dir, `p${String(i).padStart(2, '0')}.${jpeg ? 'jpg' : 'png'}`);
    const img = sharp(path.join(EXAMPLES, SOURCES[i % SOURCES.length])).resize(w, h, { fit: 'fill' });
    await (jpeg ? img.jpeg({ quality: 90 }) : img.png({ compressionLevel: 1 })).toFile(file);
    files.push(file);
  }
  return files;
}

/** `fcnkit worker --json` on the queue (killed when the test ends); child.events() gives the JSON lines so far. */
function startWorker(t, url, args = []) {
  const child = spawnFcnkit(['worker', '--queue', url, '--json', '--workers', '1', '--threads', '1', ...args]);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.events = () => child.stdoutText.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  child.count = (type) => child.events().filter((e) => e.event === type).length;
  return child;
}

async function waitFor(what, pred, timeoutMs = 120000) {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until nothing is waiting, active or delayed; returns the status. */
function drained(url, timeoutMs) {
  return waitFor('the queue to drain', async () => {
    const s = await queueStatus(url);
    const c = s.counts;
    return c.waiting + c.active + c.delayed + c.prioritized === 0 ? s : undefined;
  }, timeoutMs);
}

/** Reference outputs: `fcnkit segment` on the same photos. */
async function segmentReference(t, files, out) {
  const r = await fcnkit(['segment', ...files, '--out', out, '--format', 'labels', '--workers', '0', '--threads', '1', '--json'], { timeout: 300000 });
  if (r.code !== 0) throw new Error(`reference segment failed: ${r.stderr}`);
}

/**
 * Every good photo's outputs are there exactly once (no other files but temp files of `deadPids`),
 * decode whole at the photo's size, and its labels agree with the reference's.
 */
async function checkOutputs(t, { files, out, ref, formats, deadPids = [] }) {
  const names = files.map((f) => path.basename(f).replace(/\.[a-z]+$/, ''));
  const expected = names.flatMap((n) => formats.map((f) => `${n}.${f}.png`)).sort();
  const all = listFiles(out);
  const temps = all.filter((f) => path.basename(f).startsWith('.'));
  const foreign = temps.filter((f) => !deadPids.some((pid) => new RegExp(`\\.${pid}-[0-9a-z]+\\.tmp$`).test(f)));
  t.same(foreign, [], `no temp files but those of killed workers (${temps.length - foreign.length} of theirs)`);
  t.same(all.filter((f) => !path.basename(f).startsWith('.')), expected, 'each output exactly once, nothing else');
  for (let i = 0; i < files.length; i++) {
    const meta = await sharp(files[i]).metadata();
    for (const f of formats) {
      const m = await sharp(path.join(out, `${names[i]}.${f}.png`)).metadata();
      t.same([m.width, m.height], [meta.width, meta.height], `${names[i]}.${f}.png is whole, at the photo's size`);
    }
    const a = await readLabelImage(path.join(out, `${names[i]}.labels.png`));
    const b = await readLabelImage(path.join(ref, `${names[i]}.labels.png`));
    let same = 0;
    for (let k = 0; k < a.labels.length; k++) same += a.labels[k] === b.labels[k];
    t.ok(same / b.labels.length > 0.999, `${names[i]}: labels agree with fcnkit segment's (${((100 * same) / b.labels.length).toFixed(3)}%)`);
  }
}

module.exports = { makePhotos, startWorker, waitFor, drained, segmentReference, checkOutputs };
