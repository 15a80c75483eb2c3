'use strict';
// safetensors: files written by hand here (8-byte header length, JSON header, data), every dtype
// fcnkit reads, hostile headers and offsets, and PyTorch U-Net state dicts mapped onto
// models.unet.
const t = require('tap');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fcnkit, randTensor } = require('./helpers');
const { f32ToF16Bits } = require('./helpers/onnx-build');

const { loadSafetensors, loadSafetensorsSync, mapStateDict, UNET_TORCH_MAPPING, FcnkitError, models } = fcnkit;

/** tensors: [{ name, dtype, shape, bytes: Uint8Array }] (or raw header objects via `header`). */
function build(tensors, { metadata, header: override, pad = 0 } = {}) {
  const header = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  const chunks = [];
  for (const tt of tensors) {
    header[tt.name] = { dtype: tt.dtype, shape: tt.shape, data_offsets: [off, off + tt.bytes.length] };
    chunks.push(Buffer.from(tt.bytes.buffer, tt.bytes.byteOffset, tt.bytes.byteLength));
    off += tt.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(override ?? header) + ' '.repeat(pad));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, ...chunks]));
}

const bytesOf = (typed) => new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);

function f16(values) {
  return bytesOf(Uint16Array.from(values, f32ToF16Bits));
}

function bf16(values) {
  const f = Float32Array.from(values);
  return bytesOf(Uint16Array.from(new Uint32Array(f.buffer), (u) => u >>> 16));
}

t.test('every dtype', async (t) => {
  const vals = [0, 1, -2.5, 0.1, 65504, -0.000061035156];
  const file = build([
    { name: 'a.f32', dtype: 'F32', shape: [2, 3], bytes: bytesOf(Float32Array.from(vals)) },
    { name: 'a.f16', dtype: 'F16', shape: [6], bytes: f16(vals) },
    { name: 'a.bf16', dtype: 'BF16', shape: [3, 2], bytes: bf16(vals) },
    { name: 'a.f64', dtype: 'F64', shape: [6], bytes: bytesOf(Float64Array.from(vals)) },
    { name: 'bn.num_batches_tracked', dtype: 'I64', shape: [], bytes: bytesOf(BigInt64Array.from([12345n])) },
    { name: 'i32', dtype: 'I32', shape: [2], bytes: bytesOf(Int32Array.from([-7, 2 ** 31 - 1])) },
    { name: 'u8', dtype: 'U8', shape: [3], bytes: Uint8Array.from([0, 200, 255]) },
    { name: 'i8', dtype: 'I8', shape: [2], bytes: bytesOf(Int8Array.from([-128, 5])) },
    { name: 'b', dtype: 'BOOL', shape: [2], bytes: Uint8Array.from([0, 1]) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
  ], { metadata: { format: 'pt' } });
  const w = await loadSafetensors(file);
  t.same(Object.keys(w), ['a.f32', 'a.f16', 'a.bf16', 'a.f64', 'bn.num_batches_tracked', 'i32', 'u8', 'i8', 'b', 'empty']);
  t.same(Array.from(w['a.f32'].data), Array.from(Float32Array.from(vals)));
  t.same(w['a.f32'].shape, [2, 3]);
  for (const k of ['a.f16', 'a.bf16']) {
    t.equal(w[k].dtype, 'float32', `${k} -> float32`);
    t.ok(Array.from(w[k].data).every((v, i) => Math.abs(v - vals[i]) <= Math.abs(vals[i]) * 8e-3 + 1e-7), `${k} values`);
  }
  t.equal(w['a.f16'].data[4], 65504, 'F16 max exact');
  t.same(Array.from(w['a.f64'].data), Array.from(Float32Array.from(vals)));
  t.equal(w['bn.num_batches_tracked'].dtype, 'int32');
  t.same(w['bn.num_batches_tracked'].shape, []);
  t.equal(w['bn.num_batches_tracked'].data[0], 12345);
  t.same(Array.from(w.i32.data), [-7, 2 ** 31 - 1]);
  t.same(Array.from(w.u8.data), [0, 200, 255]);
  t.same(Array.from(w.i8.data), [-128, 5]);
  t.same(Array.from(w.b.data), [0, 1]);
  t.same(w.empty.shape, [0, 4]);
  // From a path, and synchronously from bytes.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-st-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'w.safetensors'), file);
  t.same(Object.keys(await loadSafetensors(path.join(dir, 'w.safetensors'))), Object.keys(w), 'from a path');
  t.same(Object.keys(loadSafetensorsSync(file)), Object.keys(w), 'sync');
  await t.rejects(loadSafetensors(path.join(dir, 'missing.safetensors')), { code: 'IO_ERROR' });
});

t.test('hostile headers and offsets: clean errors, nothing allocated beyond the file', async (t) => {
  const good = { name: 'w', dtype: 'F32', shape: [2, 2], bytes: new Uint8Array(16) };
  const len = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  const raw = (header, data = Buffer.alloc(16)) => {
    const j = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    return new Uint8Array(Buffer.concat([len(j.length), j, data]));
  };
  const cases = [
    ['too short', new Uint8Array(5), 'BAD_MODEL', /too short/],
    ['header length past the end', new Uint8Array(Buffer.concat([len(1000), Buffer.from('{}')])), 'BAD_MODEL', /past the end/],
    ['header length 2^40', new Uint8Array(Buffer.concat([len(2 ** 40), Buffer.from('{}')])), 'BAD_MODEL', /implausible/],
    ['header length 2^63', new Uint8Array(Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x80]), Buffer.from('{}')])), 'BAD_MODEL', /implausible/],
    ['not JSON', raw('{"w": '), 'BAD_MODEL', /JSON/],
    ['invalid UTF-8', new Uint8Array(Buffer.concat([len(4), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])])), 'BAD_MODEL', /UTF-8/],
    ['JSON array', raw('[1, 2]'), 'BAD_MODEL', /not a JSON object/],
    ['entry not an object', raw({ w: 3 }), 'BAD_MODEL', /not an object/],
    ['no dtype', raw({ w: { shape: [4], data_offsets: [0, 16] } }), 'BAD_MODEL', /dtype is missing/],
    ['unknown dtype', raw({ w: { dtype: 'Q7', shape: [4], data_offsets: [0, 16] } }), 'BAD_MODEL', /does not know/],
    ['F8 dtype', raw({ w: { dtype: 'F8_E4M3', shape: [16], data_offsets: [0, 16] } }), 'UNSUPPORTED_OP', /F8_E4M3/],
    ['negative dim', raw({ w: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }), 'BAD_MODEL', /shape/],
    ['fractional dim', raw({ w: { dtype: 'F32', shape: [2.5], data_offsets: [0, 16] } }), 'BAD_MODEL', /shape/],
    ['100 GB claimed', raw({ w: { dtype: 'F32', shape: [25000000000], data_offsets: [0, 100000000000] } }), 'TOO_LARGE', /2\^32/],
    ['8 GB claimed', raw({ w: { dtype: 'F32', shape: [2000000000], data_offsets: [0, 8000000000] } }), 'BAD_MODEL', /outside/],
    ['offsets beyond the data', raw({ w: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }), 'BAD_MODEL', /outside/],
    ['offsets reversed', raw({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }), 'BAD_MODEL', /outside/],
    ['byte count mismatch', raw({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }), 'BAD_MODEL', /needs 12/],
    ['bad data_offsets', raw({ w: { dtype: 'F32', shape: [4], data_offsets: [0] } }), 'BAD_MODEL', /data_offsets/],
    ['negative offset', raw({ w: { dtype: 'F32', shape: [4], data_offsets: [-16, 0] } }), 'BAD_MODEL', /data_offsets/],
    ['overlap', raw({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }), 'BAD_MODEL', /overlap/],
    ['metadata not strings', raw({ __metadata__: { a: 1 }, w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }), 'BAD_MODEL', /__metadata__/],
    ['I64 beyond int32', raw({ w: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, Buffer.from(bytesOf(BigInt64Array.from([1n, 2n ** 40n])))), 'UNSUPPORTED_OP', /int32/],
  ];
  const before = process.memoryUsage().arrayBuffers;
  for (const [label, bytes, code, re] of cases) {
    try {
      loadSafetensorsSync(bytes);
      t.fail(`${label}: accepted`);
    } catch (err) {
      t.ok(err instanceof FcnkitError, `${label}: FcnkitError`);
      t.equal(err.code, code, `${label}: ${code} — ${err.message}`);
      t.match(err.message, re, `${label}: message`);
    }
  }
  t.ok(process.memoryUsage().arrayBuffers - before < 32 * 1024 * 1024, 'no large allocation');
  t.ok(loadSafetensorsSync(build([good])).w, 'a good file still loads');
  await t.rejects(loadSafetensors(42), { code: 'INVALID_ARGUMENT' });
});

t.test('mapStateDict: tables, functions, rules; collisions refused', async (t) => {
  const x = randTensor([2]);
  const y = randTensor([3]);
  const state = { 'a.weight': x, 'b.weight': y, 'a.num_batches_tracked': randTensor([1]) };
  t.same(Object.keys(mapStateDict(state, { 'a.weight': 'conv1.weight' })), ['conv1.weight'], 'table: unlisted names dropped');
  t.same(Object.keys(mapStateDict(state, (n) => (n.endsWith('tracked') ? undefined : `m.${n}`))), ['m.a.weight', 'm.b.weight'], 'function');
  const ruled = mapStateDict(state, [[/num_batches_tracked$/, undefined], ['a.', 'first.'], [/^b\.(.*)$/, 'second.$1']]);
  t.same(Object.keys(ruled), ['first.weight', 'second.weight'], 'rules: prefix and regexp, first match wins');
  t.equal(ruled['first.weight'], x, 'tensors are passed through, not copied');
  t.throws(() => mapStateDict(state, () => 'same'), { code: 'INVALID_ARGUMENT', message: /both map to 'same'/ });
  t.throws(() => mapStateDict(state, 7), { code: 'INVALID_ARGUMENT' });
});

/** fcnkit U-Net parameter name -> the common PyTorch U-Net's state_dict name (the inverse of UNET_TORCH_MAPPING). */
function torchName(name) {
  const idx = { conv1: 0, bn1: 1, conv2: 3, bn2: 4 };
  let m = /^down1\.(conv1|bn1|conv2|bn2)\.(.+)$/.exec(name);
  if (m) return `inc.double_conv.${idx[m[1]]}.${m[2]}`;
  m = /^down(\d+)\.(conv1|bn1|conv2|bn2)\.(.+)$/.exec(name);
  if (m) return `down${m[1] - 1}.maxpool_conv.1.double_conv.${idx[m[2]]}.${m[3]}`;
  m = /^up(\d+)\.upconv\.(.+)$/.exec(name);
  if (m) return `up${m[1]}.up.${m[2]}`;
  m = /^up(\d+)\.(conv1|bn1|conv2|bn2)\.(.+)$/.exec(name);
  if (m) return `up${m[1]}.conv.double_conv.${idx[m[2]]}.${m[3]}`;
  m = /^final\.(.+)$/.exec(name);
  if (m) return `outc.conv.${m[1]}`;
  throw new Error(`no torch name for ${name}`);
}

t.test('a PyTorch U-Net state dict (safetensors, float16) loads into models.unet', async (t) => {
  const unet = models.unet({ inChannels: 3, numClasses: 2, baseChannels: 4, padding: 'same', batchNorm: true, seed: 1 });
  const src = models.unet({ inChannels: 3, numClasses: 2, baseChannels: 4, padding: 'same', batchNorm: true, seed: 99 });
  const weights = src.getWeights();
  const tensors = [];
  for (const [name, w] of Object.entries(weights)) {
    tensors.push({ name: torchName(name), dtype: 'F16', shape: [...w.shape], bytes: f16(w.data) });
    if (name.endsWith('running_var')) {
      tensors.push({ name: torchName(name).replace('running_var', 'num_batches_tracked'), dtype: 'I64', shape: [], bytes: bytesOf(BigInt64Array.from([100n])) });
    }
  }
  const state = loadSafetensorsSync(build(tensors, { metadata: { format: 'pt' } }));
  t.ok(Object.keys(state).includes('inc.double_conv.0.weight') && Object.keys(state).includes('down4.maxpool_conv.1.double_conv.4.running_var'), 'torch names present');
  const mapped = mapStateDict(state, UNET_TORCH_MAPPING);
  t.same(Object.keys(mapped).sort(), unet.parameters().map((p) => p.name).sort(), 'every parameter mapped, num_batches_tracked dropped');
  const res = await unet.loadWeights(mapped);
  t.same(res, { missing: [], unexpected: [] }, 'strict load succeeds');
  const x = randTensor([1, 3, 32, 32]);
  const a = await unet.run(x);
  const b = await src.run(x);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.data.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(b.data[i]));
    maxDiff = Math.max(maxDiff, Math.abs(a.data[i] - b.data[i]));
  }
  t.ok(maxDiff / maxRef < 1e-2, `the U-Net with float16-rounded weights matches the source (${(maxDiff / maxRef).toExponential(2)})`);
});
