'use strict';
// Files are opened safely everywhere, and sizes are checked before anything is allocated: each
// reproduction of issue 10 runs in a child process with a timeout (a hang or a crash fails the
// test, and the child is killed), and must end with the coded error it names.
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const tfl = require('./helpers/tflite');
const { onnx } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const LIMIT_MS = 30000;

function tmp(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-files-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function mkfifo(file) {
  execFileSync('mkfifo', [file]);
  return file;
}

/**
 * Runs `body` (the text of an async function taking `lib`) in a fresh node; resolves with what
 * it settled to: { error: { name, code, message } } or { value }, plus the exit status.
 */
function inChild(body, { cwd = ROOT, heapMb = 1024 } = {}) {
  const script = `
    const lib = require(${JSON.stringify(DIST)});
    (async (lib) => { ${body} })(lib).then(
      (value) => { process.stdout.write(JSON.stringify({ value: value === undefined ? null : value })); },
      (e) => { process.stdout.write(JSON.stringify({ error: { name: e && e.name, code: e && e.code, message: String(e && e.message) } })); },
    );`;
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, '-e', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      c.kill('SIGKILL');
    }, LIMIT_MS);
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      let r = {};
      try {
        r = JSON.parse(out);
      } catch {
        // no answer: a crash or a hang
      }
      resolve({ ...r, code, signal, hung, stderr: err.slice(-1000) });
    });
  });
}

function expectCoded(t, r, code, pattern, what) {
  t.notOk(r.hung, `${what}: no hang (the child answered within ${LIMIT_MS} ms)`);
  t.equal(r.code, 0, `${what}: the process carries on and exits 0 (signal ${r.signal}; ${r.stderr})`);
  t.equal(r.error?.name, 'FcnkitError', `${what}: an FcnkitError (${r.error?.message})`);
  t.equal(r.error?.code, code, `${what}: code ${code}`);
  if (pattern) t.match(r.error?.message, pattern, `${what}: the message says what`);
}

t.test('a FIFO as the model path: IO_ERROR naming it, no hang', async (t) => {
  const dir = tmp(t);
  const fifo = mkfifo(path.join(dir, 'model.onnx'));
  const r = await inChild(`await lib.InferenceSession.create(${JSON.stringify(fifo)});`);
  expectCoded(t, r, 'IO_ERROR', /model\.onnx.*FIFO/, 'InferenceSession.create(FIFO)');
  const r2 = await inChild(`await lib.loadSafetensors(${JSON.stringify(fifo)});`);
  expectCoded(t, r2, 'IO_ERROR', /FIFO/, 'loadSafetensors(FIFO)');
  const r3 = await inChild(`await lib.readNpy(${JSON.stringify(fifo)});`);
  expectCoded(t, r3, 'IO_ERROR', /FIFO/, 'readNpy(FIFO)');
});

t.test('a FIFO as the Caffe .caffemodel sibling of a prototxt: IO_ERROR, no hang', async (t) => {
  const dir = tmp(t);
  fs.copyFileSync(path.join(__dirname, 'fixtures', 'voc-fcn32s-deploy.prototxt'), path.join(dir, 'net.prototxt'));
  mkfifo(path.join(dir, 'net.caffemodel'));
  const r = await inChild(`await lib.InferenceSession.create(${JSON.stringify(path.join(dir, 'net.prototxt'))});`);
  expectCoded(t, r, 'IO_ERROR', /net\.caffemodel.*FIFO/, 'InferenceSession.create(prototxt beside a FIFO caffemodel)');
});

t.test('a FIFO as ONNX external data: BAD_MODEL (the model names something that is not a data file), no hang', async (t) => {
  const dir = tmp(t);
  mkfifo(path.join(dir, 'weights.bin'));
  const { DataType, makeNode, makeModel, valueInfo, encodeModel } = onnx;
  let bytes;
  try {
    const init = { ...onnx.tensorFromFloat32('w', [1, 1, 1, 1], new Float32Array([1])), rawData: new Uint8Array(0), dataLocation: 1, externalData: [{ key: 'location', value: 'weights.bin' }] };
    bytes = encodeModel(makeModel({
      nodes: [makeNode('Conv', ['x', 'w'], ['y'])],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 1, 4, 4])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 1, 4, 4])],
      initializers: [init],
    }));
  } catch (err) {
    t.fail(`cannot build the ONNX model with external data: ${err.message}`);
    return;
  }
  fs.writeFileSync(path.join(dir, 'net.onnx'), bytes);
  const r = await inChild(`await lib.InferenceSession.create(${JSON.stringify(path.join(dir, 'net.onnx'))});`);
  expectCoded(t, r, 'BAD_MODEL', /weights\.bin.*FIFO/, 'ONNX with its external data in a FIFO');
});

t.test("loadImage('/dev/zero'), a link to it, a FIFO and a folder: IO_ERROR at once", async (t) => {
  const dir = tmp(t);
  fs.symlinkSync('/dev/zero', path.join(dir, 'photo.png'));
  mkfifo(path.join(dir, 'pipe.png'));
  for (const [what, file, pattern] of [
    ['/dev/zero', '/dev/zero', /character device/],
    ['a symlink to /dev/zero', path.join(dir, 'photo.png'), /link to '\/dev\/zero'.*character device/],
    ['a FIFO', path.join(dir, 'pipe.png'), /FIFO/],
    ['a folder', dir, /folder/],
  ]) {
    const r = await inChild(`await lib.loadImage(${JSON.stringify(file)});`, { heapMb: 256 });
    expectCoded(t, r, 'IO_ERROR', pattern, `loadImage(${what})`);
  }
});

t.test('preprocessing sidecar in a FIFO: IO_ERROR, no hang', async (t) => {
  const dir = tmp(t);
  mkfifo(path.join(dir, 'net.onnx.json'));
  const r = await inChild(`await lib.loadPreprocessingSidecar(${JSON.stringify(path.join(dir, 'net.onnx'))});`);
  expectCoded(t, r, 'IO_ERROR', /sidecar.*FIFO/, 'loadPreprocessingSidecar beside a FIFO');
});

t.test('label image in a FIFO: IO_ERROR, no hang', async (t) => {
  const dir = tmp(t);
  const fifo = mkfifo(path.join(dir, 'gt.png'));
  const r = await inChild(`await lib.readLabelImage(${JSON.stringify(fifo)});`);
  expectCoded(t, r, 'IO_ERROR', /FIFO/, 'readLabelImage(FIFO)');
});

t.test('image size options and sidecars over maxPixels: TOO_LARGE before decoding', async (t) => {
  const photo = path.join(ROOT, 'examples', 'astronaut.png');
  const r = await inChild(`await lib.loadImage(${JSON.stringify(photo)}, { size: [65536, 65536] });`, { heapMb: 512 });
  expectCoded(t, r, 'TOO_LARGE', /maxPixels/, 'loadImage size [65536, 65536]');
  const dir = tmp(t);
  fs.writeFileSync(path.join(dir, 'net.onnx.json'), JSON.stringify({ preprocessing: { size: [65536, 65536] } }));
  const r2 = await inChild(`await lib.loadPreprocessingSidecar(${JSON.stringify(path.join(dir, 'net.onnx'))});`);
  expectCoded(t, r2, 'TOO_LARGE', /maxPixels/, 'a sidecar of size [65536, 65536]');
  // A size within an explicit maxPixels still works (the limit is the user's to raise).
  const r3 = await inChild(`const im = await lib.loadImage(${JSON.stringify(photo)}, { size: [64, 32] }); return im.tensor.shape;`);
  t.same(r3.value, [1, 3, 64, 32], 'a small size loads');
});

t.test('TFLite: DEQUANTIZE ops aliasing one 1 MB float16 buffer: TOO_LARGE, not a heap crash', async (t) => {
  // 1000 tensors all pointing at buffer 1 (512 Ki float16 = 1 MB); each DEQUANTIZE'd.
  const { fb, finishFlatbuffer, BUILTIN } = tfl;
  const N = 1000;
  const half = 512 * 1024;
  const tensors = [fb.table({ 0: fb.i32s([1, 1, 1, 1]), 1: fb.i8(0), 2: fb.u32(0), 3: fb.str('x') })];
  for (let i = 0; i < N; i++) {
    tensors.push(fb.table({ 0: fb.i32s([half]), 1: fb.i8(1), 2: fb.u32(1), 3: fb.str(`h${i}`) }));
    tensors.push(fb.table({ 0: fb.i32s([half]), 1: fb.i8(0), 2: fb.u32(0), 3: fb.str(`f${i}`) }));
  }
  const operators = [];
  for (let i = 0; i < N; i++) operators.push(fb.table({ 0: fb.u32(0), 1: fb.i32s([1 + 2 * i]), 2: fb.i32s([2 + 2 * i]) }));
  const opcodes = [fb.table({ 0: fb.i8(BUILTIN.DEQUANTIZE), 2: fb.i32(1), 3: fb.i32(BUILTIN.DEQUANTIZE) })];
  const subgraph = fb.table({ 0: fb.tables(tensors), 1: fb.i32s([0]), 2: fb.i32s([2]), 3: fb.tables(operators), 4: fb.str('main') });
  const buffers = [fb.table({}), fb.table({ 0: fb.bytes(new Uint8Array(2 * half)) })];
  const root = fb.table({ 0: fb.u32(3), 1: fb.tables(opcodes), 2: fb.tables([subgraph]), 3: fb.str('alias'), 4: fb.tables(buffers) });
  const bytes = finishFlatbuffer(root, 'TFL3');
  t.ok(bytes.length < 2 * 1024 * 1024, `the file is small (${bytes.length} bytes)`);
  const dir = tmp(t);
  fs.writeFileSync(path.join(dir, 'alias.tflite'), bytes);
  const r = await inChild(`lib.importTflite(require('fs').readFileSync(${JSON.stringify(path.join(dir, 'alias.tflite'))}));`, { heapMb: 512 });
  expectCoded(t, r, 'TOO_LARGE', /shared by many tensors|over/, 'importTflite of aliased DEQUANTIZE buffers');
});

t.test('ONNX Expand folding to [2^28]: TOO_LARGE before allocating', async (t) => {
  const { DataType, makeNode, makeModel, valueInfo, encodeModel } = onnx;
  const bytes = encodeModel(makeModel({
    nodes: [
      makeNode('Constant', [], ['v'], [onnx.attr.tensor('value', onnx.tensorFromFloat32('v', [1], new Float32Array([1])))]),
      makeNode('Constant', [], ['s'], [onnx.attr.tensor('value', onnx.tensorFromInt64('s', [1], [2 ** 28]))]),
      makeNode('Expand', ['v', 's'], ['e']),
      makeNode('Add', ['x', 'e'], ['y']),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, [1])],
    outputs: [valueInfo('y', DataType.FLOAT, [2 ** 28])],
    initializers: [],
  }));
  // The old code reserved 2 GiB before its check; a 512 MB heap would die with it.
  const r = await inChild(`lib.importOnnx(new Uint8Array([${Array.from(bytes).join(',')}]));`, { heapMb: 512 });
  expectCoded(t, r, 'TOO_LARGE', /folded constant/, 'Expand to [2^28]');
});

t.test('NPY header with 200 000 nested "(": a coded error, not a RangeError', async (t) => {
  const h = `{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(200000)}}`;
  const b = Buffer.alloc(12 + h.length + 1);
  b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
  b.writeUInt32LE(h.length + 1, 8);
  b.write(`${h}\n`, 12, 'latin1');
  const dir = tmp(t);
  fs.writeFileSync(path.join(dir, 'deep.npy'), b);
  const r = await inChild(`await lib.readNpy(${JSON.stringify(path.join(dir, 'deep.npy'))});`);
  expectCoded(t, r, 'INVALID_ARGUMENT', /nested/, 'readNpy of a deeply nested header');
});

t.test('files over their size cap: TOO_LARGE before reading (sparse files, no disk used)', async (t) => {
  const dir = tmp(t);
  const big = path.join(dir, 'big.json');
  fs.writeFileSync(big, '{}');
  fs.truncateSync(big, 2 * 1024 * 1024); // a sidecar over its 1 MiB cap
  const r = await inChild(`await lib.loadPreprocessingSidecar(${JSON.stringify(path.join(dir, 'big'))});`);
  expectCoded(t, r, 'TOO_LARGE', /over the limit/, 'a 2 MiB sidecar');
  const huge = path.join(dir, 'huge.png');
  fs.writeFileSync(huge, '');
  fs.truncateSync(huge, 2 * 1024 ** 3); // an image over its 1 GiB cap
  const r2 = await inChild(`await lib.loadImage(${JSON.stringify(huge)});`, { heapMb: 256 });
  expectCoded(t, r2, 'TOO_LARGE', /over the limit/, 'a 2 GiB image file');
});

t.test('Unsqueeze with duplicate axes: BAD_MODEL', async (t) => {
  const { DataType, makeNode, makeModel, valueInfo, encodeModel } = onnx;
  const bytes = encodeModel(makeModel({
    nodes: [
      makeNode('Constant', [], ['a'], [onnx.attr.tensor('value', onnx.tensorFromInt64('a', [2], [0, 0]))]),
      makeNode('Unsqueeze', ['x', 'a'], ['y']),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, [1, 3, 4, 4])],
    outputs: [valueInfo('y', DataType.FLOAT, [1, 1, 1, 3, 4, 4])],
    initializers: [],
  }));
  const r = await inChild(`lib.importOnnx(new Uint8Array([${Array.from(bytes).join(',')}])).specFor({ x: [1, 3, 4, 4] });`);
  expectCoded(t, r, 'BAD_MODEL', /twice/, 'Unsqueeze axes [0, 0]');
});

t.test('models with huge widths: TOO_LARGE when built, before any weight is allocated', async (t) => {
  const r = await inChild('lib.models.unet({ inChannels: 1, numClasses: 2, baseChannels: 1e6 }).getWeights();', { heapMb: 512 });
  expectCoded(t, r, 'TOO_LARGE', /elements/, 'unet baseChannels 1e6');
  const r2 = await inChild("lib.models.fcn({ variant: '32s', numClasses: 2 ** 31 });", { heapMb: 512 });
  expectCoded(t, r2, 'TOO_LARGE', /elements/, 'fcn numClasses 2^31');
});

t.test('encodeCaffemodel(not an array): a coded error', async (t) => {
  const r = await inChild('lib.encodeCaffemodel(42);');
  t.equal(r.error?.name, 'FcnkitError');
  t.equal(r.error?.code, 'INVALID_ARGUMENT');
});

t.test('exportOnnx and writeNpy onto a FIFO path: written atomically (the FIFO is replaced), no hang', async (t) => {
  const dir = tmp(t);
  const model = mkfifo(path.join(dir, 'm.onnx'));
  const npy = mkfifo(path.join(dir, 'x.npy'));
  const r = await inChild(`
    await lib.models.unet({ inChannels: 1, numClasses: 2, levels: 2, baseChannels: 2 }).exportOnnx(${JSON.stringify(model)});
    await lib.writeNpy(${JSON.stringify(npy)}, { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) });
    const fs = require('fs');
    return [fs.statSync(${JSON.stringify(model)}).isFile(), (await lib.readNpy(${JSON.stringify(npy)})).shape];`);
  t.notOk(r.hung, 'no hang');
  t.same(r.value, [true, [2]], `both written as regular files (${JSON.stringify(r.error)})`);
});
