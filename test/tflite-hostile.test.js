'use strict';
// Hostile TFLite files: truncated, wrong identifier, offsets and lengths out of range, tensors
// claiming far more data than the file holds, random corruption. Each must be a clean
// FcnkitError with a code (BAD_MODEL mostly), quickly, and the process must carry on.
const t = require('tap');
const fs = require('fs');
const path = require('path');
const { fcnkit, seed, rng } = require('./helpers');
const tfl = require('./helpers/tflite');
const { CompiledGraph } = require('../dist/graph/compiled');

const { importTflite, Tensor } = fcnkit;
const MODEL = path.join(__dirname, '..', 'models', 'selfie_segmentation.tflite');
const CLEAN_CODES = ['BAD_MODEL', 'UNSUPPORTED_OP', 'TOO_LARGE'];
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

/** A small valid model: conv (float16 weights) -> relu -> resize -> transposeConvBias. */
function smallModel(over = {}) {
  const m = {
    tensors: [
      { name: 'x', shape: [1, 4, 4, 2] },
      { name: 'w16', shape: [3, 3, 3, 2], type: 'FLOAT16', data: Array.from({ length: 54 }, (_, i) => (i % 7) / 7 - 0.5) },
      { name: 'w', shape: [3, 3, 3, 2] },
      { name: 'b', shape: [3], data: [0.25, -0.5, 0.125] },
      { name: 'conv', shape: [1, 4, 4, 3] },
      { name: 'relu', shape: [1, 4, 4, 3] },
      { name: 'size', shape: [2], type: 'INT32', data: [6, 6] },
      { name: 'up', shape: [1, 6, 6, 3] },
      { name: 'tw', shape: [1, 2, 2, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((v) => v / 16) },
      { name: 'tb', shape: [1], data: [0.5] },
      { name: 'y', shape: [1, 12, 12, 1] },
    ],
    inputs: [0],
    outputs: [10],
    operators: [
      { op: 'DEQUANTIZE', inputs: [1], outputs: [2] },
      { op: 'CONV_2D', inputs: [0, 2, 3], outputs: [4], options: { padding: 'SAME', stride: [1, 1] } },
      { op: 'RELU', inputs: [4], outputs: [5] },
      { op: 'RESIZE_BILINEAR', inputs: [5, 6], outputs: [7], options: { halfPixelCenters: true } },
      { op: 'Convolution2DTransposeBias', inputs: [7, 8, 9], outputs: [10], custom: tfl.transposeConvOptions('SAME', 2, 2) },
    ],
    ...over,
  };
  return m;
}

/** importTflite must either succeed or throw an FcnkitError with a clean code. Returns the code or 'ok'. */
function attempt(bytes) {
  try {
    importTflite(bytes);
    return 'ok';
  } catch (e) {
    if (!(e instanceof fcnkit.FcnkitError) || !CLEAN_CODES.includes(e.code)) {
      throw new Error(`unclean failure: ${e && e.name} ${e && e.code} ${e && e.message}`);
    }
    return e.code;
  }
}

function expectBad(t, bytes, label, code = 'BAD_MODEL', pattern) {
  try {
    importTflite(bytes);
    t.fail(`${label}: accepted`);
  } catch (e) {
    t.equal(e.code, code, `${label}: ${code} (${e.message})`);
    if (pattern) t.match(e.message, pattern, `${label}: message`);
  }
}

/** Position of the first occurrence of `needle` bytes in `hay`. */
function find(hay, needle) {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle));
}

t.test('the small model is valid', async (t) => {
  const g = importTflite(tfl.buildTflite(smallModel()));
  t.same(g.outputs[0].shape, [1, 1, 12, 12]);
});

t.test('wrong identifier and tiny files', async (t) => {
  const good = tfl.buildTflite(smallModel());
  for (let n = 0; n < 8; n++) expectBad(t, good.slice(0, n), `${n}-byte file`, 'BAD_MODEL', /identifier/);
  const wrong = good.slice();
  wrong.set(Buffer.from('TFL2'), 4);
  expectBad(t, wrong, 'identifier TFL2', 'BAD_MODEL', /"TFL2"/);
  expectBad(t, new Uint8Array(Buffer.from('\x08\x00\x00\x00ONNXnot a tflite model at all')), 'ONNX bytes');
  t.throws(() => importTflite('model.tflite'), { code: 'INVALID_ARGUMENT' }, 'a path is not bytes');
});

t.test('truncated at every prefix length (small model) and many of the real one', async (t) => {
  const good = tfl.buildTflite(smallModel());
  const codes = {};
  for (let n = 0; n < good.length; n++) {
    const c = attempt(good.slice(0, n));
    codes[c] = (codes[c] ?? 0) + 1;
  }
  t.notOk(codes.ok, `no truncation of the ${good.length}-byte model is accepted (${JSON.stringify(codes)})`);
  const real = new Uint8Array(fs.readFileSync(MODEL));
  const lengths = new Set([8, 12, 16, 24, 32, 64, 100, 1000, real.length - 1, real.length - 4, real.length - 100]);
  for (let i = 0; i < 60; i++) lengths.add(Math.floor(rng() * real.length));
  const started = Date.now();
  let accepted = 0;
  for (const n of lengths) {
    // Note: slice (a copy), so nothing past the cut is reachable.
    if (attempt(real.slice(0, n)) === 'ok') accepted++;
  }
  t.equal(accepted, 0, `${lengths.size} truncations of the real model refused`);
  t.ok(Date.now() - started < 20000, `in ${Date.now() - started} ms`);
});

t.test('offsets out of range', async (t) => {
  const good = tfl.buildTflite(smallModel());
  const view = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  {
    const b = good.slice();
    view(b).setUint32(0, 0xfffffff0, true);
    expectBad(t, b, 'root offset past the end', 'BAD_MODEL', /outside/);
  }
  {
    const b = good.slice();
    const root = view(b).getUint32(0, true);
    view(b).setInt32(root, -0x7ffffff0, true);
    expectBad(t, b, 'vtable past the end');
  }
  {
    const b = good.slice();
    const root = view(b).getUint32(0, true);
    view(b).setInt32(root, 0, true);
    expectBad(t, b, 'table that is its own vtable');
  }
  {
    const b = good.slice();
    const root = view(b).getUint32(0, true);
    const vt = root - view(b).getInt32(root, true);
    view(b).setUint16(vt, 0xfffe, true);
    expectBad(t, b, 'vtable claiming 64 KB');
  }
  {
    // Point the root's subgraphs field (id 2) far outside its table.
    const b = good.slice();
    const root = view(b).getUint32(0, true);
    const vt = root - view(b).getInt32(root, true);
    view(b).setUint16(vt + 4 + 2 * 2, 0x7ff0, true);
    expectBad(t, b, 'field offset past the table');
  }
  {
    // Each uoffset field of the root table the importer reads (operator_codes, subgraphs,
    // buffers; the description is never read) pointed past the end, one at a time.
    for (const id of [1, 2, 4]) {
      const b = good.slice();
      const root = view(b).getUint32(0, true);
      const vt = root - view(b).getInt32(root, true);
      const off = view(b).getUint16(vt + 4 + 2 * id, true);
      if (!off) continue;
      view(b).setUint32(root + off, 0x7ffffff0, true);
      expectBad(t, b, `root field ${id} offset past the end`);
    }
  }
});

t.test('lengths and sizes that the file cannot back', async (t) => {
  const good = tfl.buildTflite(smallModel());
  const view = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  {
    // The transposed conv weights' buffer: 12 floats; its vector length made 2^31 - 1.
    const marker = Buffer.alloc(12);
    [1, 2, 3].forEach((v, i) => marker.writeFloatLE(v / 16, 4 * i));
    const b = good.slice();
    const at = find(b, marker);
    t.ok(at > 4, 'found the weight data');
    view(b).setUint32(at - 4, 0x7fffffff, true);
    expectBad(t, b, 'buffer claiming 2 GB', 'BAD_MODEL', /outside/);
    view(b).setUint32(at - 4, 44, true);
    expectBad(t, b, 'buffer 4 bytes short of its shape', 'BAD_MODEL', /needs 48 bytes but its buffer holds 44/);
  }
  {
    // A 1 KB file whose tensor claims 100 GB.
    const m = smallModel();
    m.tensors[8] = { name: 'tw', shape: [1, 100000, 100000, 3], data: [1, 2, 3, 4] };
    const bytes = tfl.buildTflite(m);
    t.ok(bytes.length < 2048, `${bytes.length}-byte file`);
    expectBad(t, bytes, 'tensor claiming 100 GB', 'BAD_MODEL', /2\^31/);
  }
  {
    const m = smallModel();
    m.tensors[8] = { name: 'tw', shape: [1, 2048, 2048, 3], data: [1, 2, 3, 4] };
    expectBad(t, tfl.buildTflite(m), 'tensor claiming 48 MB with 16 bytes', 'BAD_MODEL', /needs 50331648 bytes but its buffer holds 16/);
  }
  {
    const m = smallModel();
    m.tensors[4] = { name: 'conv', shape: [1, -4, 4, 3] };
    expectBad(t, tfl.buildTflite(m), 'negative dimension', 'BAD_MODEL', /negative/);
  }
  {
    const m = smallModel();
    m.tensors[6] = { name: 'size', shape: [2], type: 'INT32', data: [100000, 100000] };
    m.tensors[7] = { name: 'up', shape: [] };
    const c = attempt(tfl.buildTflite(m));
    t.ok(['TOO_LARGE', 'BAD_MODEL'].includes(c), `resize to 100000 x 100000: ${c}`);
  }
  {
    // Buffer data kept outside the flatbuffer (offset / size, the >2 GB layout) pointing past the end.
    const base = tfl.buildTflite(smallModel());
    const m = smallModel();
    m.tensors[3] = { name: 'b', shape: [3] };
    const bytes = tfl.buildTflite(m);
    t.ok(bytes.length > 0 && base.length > 0);
    // Build it by hand: a model whose bias buffer has offset 2^40 and size 12.
    const { fb, finishFlatbuffer } = tfl;
    const root = fb.table({
      0: fb.u32(3),
      1: fb.tables([fb.table({ 0: fb.i8(19), 2: fb.i32(1), 3: fb.i32(19) }), fb.table({ 0: fb.i8(0), 2: fb.i32(1), 3: fb.i32(0) })]),
      2: fb.tables([fb.table({
        0: fb.tables([
          fb.table({ 0: fb.i32s([1, 2, 2, 3]), 1: fb.i8(0), 2: fb.u32(0), 3: fb.str('x') }),
          fb.table({ 0: fb.i32s([3]), 1: fb.i8(0), 2: fb.u32(1), 3: fb.str('k') }),
          fb.table({ 0: fb.i32s([1, 2, 2, 3]), 1: fb.i8(0), 2: fb.u32(0), 3: fb.str('y') }),
        ]),
        1: fb.i32s([0]),
        2: fb.i32s([2]),
        3: fb.tables([fb.table({ 0: fb.u32(1), 1: fb.i32s([0, 1]), 2: fb.i32s([2]) })]),
      })]),
      4: fb.tables([fb.table({}), fb.table({ 1: fb.u64(2 ** 40), 2: fb.u64(12) })]),
    });
    expectBad(t, finishFlatbuffer(root, 'TFL3'), 'external buffer past the end', 'BAD_MODEL', /outside/);
  }
});

t.test('structural nonsense', async (t) => {
  const cases = [
    ['schema version 2', (m) => { m.version = 2; }, /schema version 2/],
    ['operator reading tensor 99', (m) => { m.operators[2].inputs = [99]; }, /tensor 99/],
    ['model output never produced', (m) => { m.outputs = [1]; }, undefined],
    ['declared output shape disagrees', (m) => { m.tensors[4].shape = [1, 4, 4, 5]; }, /declares/],
    ['conv weights not rank 4', (m) => { m.tensors[1].shape = [54]; m.tensors[2].shape = [54]; }, /rank 4/],
    ['bias length wrong', (m) => { m.tensors[3] = { name: 'b', shape: [2], data: [1, 2] }; }, /bias/],
    ['custom options too short', (m) => { m.operators[4].custom = new Uint8Array(4); }, /custom options/],
    ['custom options padding 7', (m) => { m.operators[4].custom = new Uint8Array([7, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]); }, /padding 7/],
    ['zero stride', (m) => { m.operators[1].options = { padding: 'SAME', stride: [0, 1] }; }, /stride_h 0/],
    ['resize size of 3 values', (m) => { m.tensors[6] = { name: 'size', shape: [3], type: 'INT32', data: [6, 6, 1] }; }, /3 values/],
    ['a tensor written twice', (m) => { m.operators[2].outputs = [4]; }, /written twice/],
    ['dequantize of float32', (m) => { m.tensors[1].type = 'FLOAT32'; }, /DEQUANTIZE/],
  ];
  for (const [label, mutate, pattern] of cases) {
    const m = smallModel();
    mutate(m);
    let code;
    try {
      importTflite(tfl.buildTflite(m));
      code = 'ok';
    } catch (e) {
      code = e.code;
      if (pattern) t.match(e.message, pattern, `${label}: message (${e.message})`);
    }
    t.ok(CLEAN_CODES.includes(code), `${label}: ${code}`);
  }
});

t.test('random corruption: always a clean result, quickly', async (t) => {
  const good = tfl.buildTflite(smallModel());
  const counts = {};
  const started = Date.now();
  for (let i = 0; i < 1500; i++) {
    const b = good.slice();
    const flips = 1 + Math.floor(rng() * 4);
    for (let k = 0; k < flips; k++) {
      const at = 8 + Math.floor(rng() * (b.length - 8));
      const kind = rng();
      if (kind < 0.5) b[at] = Math.floor(rng() * 256);
      else if (kind < 0.8 && at + 4 <= b.length) new DataView(b.buffer).setUint32(at, Math.floor(rng() * 2 ** 32), true);
      else b[at] ^= 0x80;
    }
    const c = attempt(b);
    counts[c] = (counts[c] ?? 0) + 1;
  }
  t.comment(`outcomes: ${JSON.stringify(counts)}`);
  t.pass('1500 corrupted models, no unclean failure');
  t.ok(Date.now() - started < 30000, `in ${Date.now() - started} ms`);
});

t.test('the process survives and still runs the real model', async (t) => {
  const g = importTflite(new Uint8Array(fs.readFileSync(MODEL)));
  const graph = new CompiledGraph(g.specFor({}));
  const y = (await graph.run(new Tensor(new Float32Array(3 * 256 * 256).fill(0.5), [1, 3, 256, 256]))).activation_10;
  t.same([...y.shape], [1, 1, 256, 256]);
  t.ok(y.data.every((v) => v >= 0 && v <= 1), 'probabilities');
  graph.dispose();
});
