'use strict';
// Ctrl-C in the middle of a batch: the process stops cleanly (exit 130, no temp files, every
// file present is whole), and a rerun with --skip-existing finishes the job without redoing
// what was done.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
const { EXAMPLES, fcnkit, spawnFcnkit, tmpdir, listFiles } = require('./helpers/cli');

const COUNT = 60;
const FORMATS = ['labels', 'overlay', 'npy'];

async function makeImages(dir) {
  const sources = ['astronaut.png', 'chelsea.png', 'coins.png', 'horse.png'];
  for (let i = 0; i < COUNT; i++) {
    const w = 160 + ((i * 37) % 240);
    const h = 120 + ((i * 53) % 200);
    await sharp(path.join(EXAMPLES, sources[i % sources.length])).resize(w, h, { fit: 'fill' }).png({ compressionLevel: 1 })
      .toFile(path.join(dir, `img${String(i).padStart(3, '0')}.png`));
  }
}

t.test('SIGINT mid-batch, then --skip-existing resumes', async (t) => {
  const dir = tmpdir(t);
  const input = path.join(dir, 'in');
  const out = path.join(dir, 'out');
  fs.mkdirSync(input);
  await makeImages(input);

  const child = spawnFcnkit(['segment', input, '--out', out, '--format', FORMATS.join(',')]);
  // Wait for a few finished images, then press Ctrl-C.
  const started = Date.now();
  while (Date.now() - started < 60000) {
    const done = fs.existsSync(out) ? fs.readdirSync(out).filter((f) => f.endsWith('.scores.npy')).length : 0;
    if (done >= 4) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGINT');
  const { code } = await child.exited;
  t.equal(code, 130, `exit 130 after Ctrl-C (stderr: ${child.stderrText.slice(-300)})`);
  t.match(child.stderrText, /stopping/, 'says it is stopping');
  t.match(child.stderrText, /interrupted: \d+ image\(s\) not processed; rerun with --skip-existing/, 'says how to resume');

  const files = listFiles(out);
  t.same(files.filter((f) => /\.tmp$|^\./.test(path.basename(f))), [], 'no temp files left');
  const complete = new Set();
  const byName = new Map();
  for (const f of files) {
    const name = f.replace(/\.(labels|overlay)\.png$|\.scores\.npy$/, '');
    byName.set(name, (byName.get(name) ?? 0) + 1);
  }
  for (const [name, n] of byName) if (n === FORMATS.length) complete.add(name);
  t.ok(complete.size >= 4 && complete.size < COUNT, `stopped part way: ${complete.size} of ${COUNT} images complete`);
  // Every file there is whole.
  for (const f of files.filter((x) => x.endsWith('.png'))) {
    await t.resolves(sharp(path.join(out, f)).raw().toBuffer(), `${f} decodes`);
  }

  const rerun = await fcnkit(['segment', input, '--out', out, '--format', FORMATS.join(','), '--skip-existing', '--json']);
  t.equal(rerun.code, 0, rerun.stderr);
  const res = rerun.json();
  t.equal(res.skipped, complete.size, 'what was complete is skipped');
  t.equal(res.ok, COUNT - complete.size, 'the rest is done');
  const after = listFiles(out);
  t.equal(after.length, COUNT * FORMATS.length, 'every output exists');
  t.same(after.filter((f) => /\.tmp$/.test(f)), [], 'still no temp files');
});

t.test('a second Ctrl-C quits at once, still leaving no temp files', async (t) => {
  const dir = tmpdir(t);
  const input = path.join(dir, 'in');
  const out = path.join(dir, 'out');
  fs.mkdirSync(input);
  for (let i = 0; i < 16; i++) {
    await sharp(path.join(EXAMPLES, 'astronaut.png')).resize(300 + i, 300).png({ compressionLevel: 1 }).toFile(path.join(input, `a${i}.png`));
  }
  const child = spawnFcnkit(['segment', input, '--out', out, '--format', 'labels,overlay,cutout,npy']);
  const started = Date.now();
  while (Date.now() - started < 60000 && !(fs.existsSync(out) && fs.readdirSync(out).length > 0)) await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  const { code } = await child.exited;
  t.equal(code, 130);
  t.same(listFiles(out).filter((f) => /\.tmp$/.test(f)), [], 'no temp files');
});
