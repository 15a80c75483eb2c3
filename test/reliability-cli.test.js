'use strict';
// The CLI never hangs on odd files, never writes over its inputs, and cleans up what killed runs
// leave: each reproduction of issue 10 runs `fcnkit` in a child with a timeout (a hang kills it
// and fails), and checks the exit status and the coded message.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { EXAMPLES, fcnkit, tmpdir, listFiles } = require('./helpers/cli');

const LIMIT_MS = 60000;
const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function run(args, opts = {}) {
  return fcnkit(args, { timeout: LIMIT_MS, ...opts });
}

function noHang(t, r, what) {
  t.not(r.signal, 'SIGKILL', `${what}: finished within ${LIMIT_MS} ms (no hang)`);
}

t.test('segment: a FIFO photo (given, and linked from a folder) fails by name; the rest is processed', async (t) => {
  const dir = tmpdir(t);
  const photos = path.join(dir, 'photos');
  fs.mkdirSync(photos);
  fs.copyFileSync(path.join(EXAMPLES, 'astronaut.png'), path.join(photos, 'a.png'));
  execFileSync('mkfifo', [path.join(dir, 'pipe.png')]);
  fs.symlinkSync(path.join(dir, 'pipe.png'), path.join(photos, 'b.png'));
  fs.symlinkSync('/dev/zero', path.join(photos, 'c.png'));
  const out = path.join(dir, 'out');
  const r = await run(['segment', photos, path.join(dir, 'pipe.png'), '--out', out, '--json']);
  noHang(t, r, 'segment with FIFOs');
  t.equal(r.code, 1, `exit 1: some inputs failed (stderr: ${r.stderr})`);
  const res = r.json();
  t.equal(res.ok, 1, 'the real photo is segmented');
  const failed = res.images.filter((i) => i.status === 'failed');
  t.equal(failed.length, 3, 'the FIFO, the link to it and the link to /dev/zero fail');
  for (const f of failed) {
    t.equal(f.error.code, 'IO_ERROR', `${f.input}: IO_ERROR`);
    t.match(f.error.message, /FIFO|character device/, `${f.input}: says what it is`);
  }
  t.same(listFiles(out), ['a.labels.png', 'a.overlay.png'], 'outputs of the real photo only');
});

t.test('segment --out /proc/x: a coded IO_ERROR at once, not a hang in mkdir', async (t) => {
  const r = await run(['segment', path.join(EXAMPLES, 'astronaut.png'), '--out', '/proc/fcnkit-x/y']);
  noHang(t, r, '--out /proc/x');
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /\[IO_ERROR\].*\/proc\/fcnkit-x/, 'IO_ERROR naming the folder');
  const r2 = await run(['segment', path.join(EXAMPLES, 'astronaut.png'), '--out', path.join(EXAMPLES, 'astronaut.png', 'sub')]);
  t.equal(r2.code, 1, 'an output folder under a file: exit 1');
  t.match(r2.stderr, /\[IO_ERROR\].*not a folder/, 'IO_ERROR: a part of the path is not a folder');
});

t.test('segment --out same same: refuses to overwrite the user\'s a.labels.png, names both', async (t) => {
  const dir = tmpdir(t);
  const same = path.join(dir, 'same');
  fs.mkdirSync(same);
  fs.copyFileSync(path.join(EXAMPLES, 'astronaut.png'), path.join(same, 'a.png'));
  fs.copyFileSync(path.join(EXAMPLES, 'coins.png'), path.join(same, 'a.labels.png'));
  const before = sha(path.join(same, 'a.labels.png'));
  const r = await run(['segment', '--out', same, same]);
  noHang(t, r, '--out same same');
  t.equal(r.code, 1, `exit 1 (stderr: ${r.stderr})`);
  t.match(r.stderr, /\[INVALID_ARGUMENT\].*a\.labels\.png.*a\.png.*input/, 'a coded error naming the output, its photo and the input');
  t.equal(sha(path.join(same, 'a.labels.png')), before, "the user's file is untouched");
  t.same(fs.readdirSync(same).sort(), ['a.labels.png', 'a.png'], 'nothing written');

  // The same file under another name: a symlinked input pointing at an output path.
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.copyFileSync(path.join(EXAMPLES, 'coins.png'), path.join(out, 'b.labels.png'));
  fs.copyFileSync(path.join(EXAMPLES, 'horse.png'), path.join(dir, 'b.png'));
  fs.symlinkSync(path.join(out, 'b.labels.png'), path.join(dir, 'mine.png'));
  const before2 = sha(path.join(out, 'b.labels.png'));
  const r2 = await run(['segment', path.join(dir, 'b.png'), path.join(dir, 'mine.png'), '--out', out]);
  t.equal(r2.code, 1, 'refused');
  t.match(r2.stderr, /\[INVALID_ARGUMENT\]/, 'coded');
  t.equal(sha(path.join(out, 'b.labels.png')), before2, 'the linked input is untouched');
});

t.test('segment: an output folder inside the input folder is not searched for photos', async (t) => {
  const dir = tmpdir(t);
  fs.copyFileSync(path.join(EXAMPLES, 'astronaut.png'), path.join(dir, 'a.png'));
  const out = path.join(dir, 'segmented');
  const r1 = await run(['segment', dir, '--out', out]);
  t.equal(r1.code, 0, r1.stderr);
  const r2 = await run(['segment', dir, '--out', out, '--json']);
  t.equal(r2.code, 0, `a rerun works too (stderr: ${r2.stderr})`);
  t.equal(r2.json().ok, 1, 'the outputs of the first run are not taken as photos');
  t.same(listFiles(out), ['a.labels.png', 'a.overlay.png'], 'no outputs of outputs');
});

/** Field 22 of /proc/<pid>/stat in base 36, as temp names carry it. */
function startTime(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]).toString(36);
}

t.test('segment removes the temp files of ended processes, never those of live ones', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const dir = tmpdir(t);
  const out = path.join(dir, 'out');
  fs.mkdirSync(path.join(out, 'sub'), { recursive: true });
  // A pid that has ended: a child that ran and exited.
  const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']));
  const live = process.pid;
  const files = {
    dead: path.join(out, `.a.labels.png.${deadPid}-1a2b-1_0.tmp`),
    deadNested: path.join(out, 'sub', `.b.overlay.png.${deadPid}-1a2b-1_3.tmp`),
    reused: path.join(out, `.c.labels.png.${live}-${(parseInt(startTime(live), 36) + 1).toString(36)}-1_0.tmp`),
    live: path.join(out, `.d.labels.png.${live}-${startTime(live)}-1_0.tmp`),
    notOurs: path.join(out, '.e.labels.png.tmp'),
  };
  for (const f of Object.values(files)) fs.writeFileSync(f, 'partial');
  const r = await run(['segment', path.join(EXAMPLES, 'astronaut.png'), '--out', out]);
  t.equal(r.code, 0, r.stderr);
  t.notOk(fs.existsSync(files.dead), 'a dead process\'s temp file is removed');
  t.notOk(fs.existsSync(files.deadNested), '... in sub-folders too');
  t.notOk(fs.existsSync(files.reused), 'a temp file whose pid now belongs to another process (another start time) is removed');
  t.ok(fs.existsSync(files.live), 'the temp file of a live process is kept');
  t.ok(fs.existsSync(files.notOurs), 'a file not named as ours is kept');
});

t.test('segment SIGKILLed mid-batch: the next run removes its temp files', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const dir = tmpdir(t);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  // What a killed writer leaves: its pid is gone by the time of the rerun.
  const { spawnSync } = require('node:child_process');
  const killed = spawnSync(process.execPath, ['-e', `
    const { tempPathFor } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'io', 'atomic-write'))});
    require('fs').writeFileSync(tempPathFor(${JSON.stringify(path.join(out, 'x.labels.png'))}), 'half');
    process.kill(process.pid, 'SIGKILL');`]);
  t.equal(killed.signal, 'SIGKILL', 'the writer was killed');
  t.equal(fs.readdirSync(out).filter((f) => f.endsWith('.tmp')).length, 1, 'it left a temp file');
  const r = await run(['segment', path.join(EXAMPLES, 'astronaut.png'), '--out', out]);
  t.equal(r.code, 0, r.stderr);
  t.same(fs.readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'the rerun removed it');
});

t.test('run --output onto its own --input: refused, the input is untouched', async (t) => {
  const dir = tmpdir(t);
  const x = path.join(dir, 'x.npy');
  const r0 = await run(['run', 'default', '--input', x, '--output', x]);
  t.equal(r0.code, 1, 'a missing input: exit 1');
  // A real input for the default model [1, 256, 256, 3]? Use its declared input shape.
  const { encodeNpy } = require('../dist/io/npy');
  const { SELFIE_MODEL_PATH, importTflite } = require('../dist');
  const info = importTflite(fs.readFileSync(SELFIE_MODEL_PATH)).inputs[0];
  const shape = info.shape.map((d) => (typeof d === 'number' ? d : 1));
  const n = shape.reduce((a, b) => a * b, 1);
  fs.writeFileSync(x, encodeNpy({ dtype: 'float32', shape, data: new Float32Array(n).fill(0.5) }));
  const before = sha(x);
  const r = await run(['run', 'default', '--input', x, '--output', x]);
  noHang(t, r, 'run --output = --input');
  t.equal(r.code, 1, `exit 1 (stderr: ${r.stderr})`);
  t.match(r.stderr, /\[INVALID_ARGUMENT\].*is the input/, 'coded, and says why');
  t.equal(sha(x), before, 'the input is untouched');
});

t.test('info and run on a FIFO model: coded IO_ERROR, no hang', async (t) => {
  const dir = tmpdir(t);
  const fifo = path.join(dir, 'net.onnx');
  execFileSync('mkfifo', [fifo]);
  const r = await run(['info', fifo]);
  noHang(t, r, 'info FIFO');
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /\[IO_ERROR\].*net\.onnx.*FIFO/, 'IO_ERROR naming the model');
  const npy = path.join(dir, 'x.npy');
  execFileSync('mkfifo', [npy]);
  const r2 = await run(['run', 'default', '--input', npy, '--output', path.join(dir, 'y.npy')]);
  noHang(t, r2, 'run --input FIFO');
  t.equal(r2.code, 1, 'exit 1');
  t.match(r2.stderr, /\[IO_ERROR\].*x\.npy.*FIFO/, 'IO_ERROR naming the input');
});

t.test('a prototxt whose .caffemodel sibling is a FIFO: info fails with IO_ERROR, no hang', async (t) => {
  const dir = tmpdir(t);
  fs.copyFileSync(path.join(__dirname, 'fixtures', 'voc-fcn32s-deploy.prototxt'), path.join(dir, 'net.prototxt'));
  execFileSync('mkfifo', [path.join(dir, 'net.caffemodel')]);
  const r = await run(['info', path.join(dir, 'net.prototxt')]);
  noHang(t, r, 'info prototxt + FIFO caffemodel');
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /\[IO_ERROR\].*net\.caffemodel.*FIFO/, 'IO_ERROR naming the weights');
});
