'use strict';
// NPY reading and writing: versions 1.0 / 2.0 / 3.0, every dtype the CLI converts, byte order,
// and hostile headers (each a clean error with a code; nothing allocated beyond the file).
const t = require('tap');
const { FcnkitError, Tensor } = require('./helpers').fcnkit;
const { parseNpy, encodeNpy, npyToTensor, tensorToNpy } = require('../dist/io/npy');

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** An NPY file by hand: header text padded to 64 bytes, then `data`. */
function npy(header, data = new Uint8Array(0), { major = 1, pad = true } = {}) {
  const pre = major === 1 ? 10 : 12;
  let text = header;
  if (pad) text = text.padEnd(Math.ceil((pre + text.length + 1) / 64) * 64 - pre - 1, ' ') + '\n';
  const h = Buffer.from(text, major === 3 ? 'utf8' : 'latin1');
  const out = Buffer.alloc(pre + h.length + data.length);
  out.set(MAGIC);
  out[6] = major;
  if (major === 1) out.writeUInt16LE(h.length, 8);
  else out.writeUInt32LE(h.length, 8);
  out.set(h, pre);
  out.set(data, pre + h.length);
  return new Uint8Array(out);
}

const bytesOf = (ta) => new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength);

t.test('round trip and the header numpy expects', async (t) => {
  const data = Float32Array.from({ length: 24 }, (_, i) => i / 3);
  const bytes = encodeNpy({ dtype: 'float32', shape: [2, 3, 4], data });
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  t.equal((10 + headerLen) % 64, 0, 'data starts on a 64-byte boundary');
  const text = Buffer.from(bytes.subarray(10, 10 + headerLen)).toString('latin1');
  t.match(text, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3, 4\), \} +\n$/);
  const back = parseNpy(bytes);
  t.same([back.dtype, back.shape], ['float32', [2, 3, 4]]);
  t.same(Array.from(back.data), Array.from(data));
  t.match(Buffer.from(encodeNpy({ dtype: 'int64', shape: [3], data: new BigInt64Array(3) })).toString('latin1'), /'shape': \(3,\)/, 'a 1-tuple has its comma');
  t.match(Buffer.from(encodeNpy({ dtype: 'float32', shape: [], data: new Float32Array(1) })).toString('latin1'), /'shape': \(\)/, 'a scalar');
});

t.test('versions, dtypes, byte order', async (t) => {
  const v2 = parseNpy(npy("{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }", bytesOf(Uint16Array.of(1, 2, 65535)), { major: 2 }));
  t.same([v2.dtype, Array.from(v2.data)], ['uint16', [1, 2, 65535]], 'version 2.0');
  const v3 = parseNpy(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", bytesOf(Int32Array.of(-5, 7)), { major: 3 }));
  t.same(Array.from(v3.data), [-5, 7], 'version 3.0');
  const be = Buffer.alloc(16);
  be.writeDoubleBE(1.5, 0);
  be.writeDoubleBE(-2.25, 8);
  const f64 = parseNpy(npy("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be));
  t.same(Array.from(f64.data), [1.5, -2.25], 'big-endian float64');
  t.same(Array.from(npyToTensor(f64).data), [1.5, -2.25], 'float64 -> float32 tensor');
  const i64 = parseNpy(npy("{'shape': (2, 1), 'fortran_order': False, 'descr': '<i8'}", bytesOf(BigInt64Array.of(3n, -4n))));
  const ti = npyToTensor(i64, 'int32');
  t.same([ti.dtype, ti.shape, Array.from(ti.data)], ['int32', [2, 1], [3, -4]], 'int64 -> int32, keys in any order');
  t.same(Array.from(npyToTensor(i64).data), [3, -4], 'int64 -> float32');
  const big = parseNpy(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", bytesOf(BigInt64Array.of(2n ** 40n))));
  t.throws(() => npyToTensor(big, 'int32'), { code: 'INVALID_ARGUMENT', message: /does not fit in int32/ });
  const u8 = parseNpy(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", Uint8Array.of(7, 255)));
  t.same(Array.from(npyToTensor(u8).data), [7, 255], 'uint8');
  const b = parseNpy(npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", Uint8Array.of(1, 0)));
  t.same([b.dtype, Array.from(npyToTensor(b, 'int32').data)], ['bool', [1, 0]], 'bool');
  const f16 = parseNpy(npy("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", bytesOf(Uint16Array.of(0x3e00, 0xc000, 0x7c00))));
  t.same(Array.from(npyToTensor(f16).data), [1.5, -2, Infinity], 'float16');
  t.throws(() => npyToTensor(f64, 'int32'), { code: 'INVALID_ARGUMENT', message: /integer array/ });
  const py2 = parseNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 1L), }", new Uint8Array(8)));
  t.same(py2.shape, [2, 1], "Python 2's 2L dims");
  const labels = tensorToNpy(new Tensor(Int32Array.of(1, 2), [2]));
  t.same([labels.dtype, Array.from(labels.data)], ['int64', [1n, 2n]], 'int32 tensors are written as int64');
});

t.test('hostile or malformed files: clean errors with codes', async (t) => {
  const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const cases = [
    ['empty', new Uint8Array(0), 'INVALID_ARGUMENT', /magic/],
    ['wrong magic', Uint8Array.from(Buffer.from('PK\x03\x04 a zip file, not npy')), 'INVALID_ARGUMENT', /magic/],
    ['version 4', (() => { const b = npy(ok, new Uint8Array(8)); b[6] = 4; return b; })(), 'INVALID_ARGUMENT', /version 4/],
    ['header longer than the file', (() => { const b = npy(ok, new Uint8Array(8)); b[8] = 0xff; b[9] = 0xff; return b.subarray(0, 200); })(), 'INVALID_ARGUMENT', /claims 65535 bytes/],
    ['v2 header of 4 GB', (() => { const b = npy(ok, new Uint8Array(8), { major: 2 }); new DataView(b.buffer).setUint32(8, 0xfffffff0, true); return b; })(), 'INVALID_ARGUMENT', /over the .*limit/],
    ['data shorter than the shape', npy(ok, new Uint8Array(7)), 'INVALID_ARGUMENT', /needs 8 data bytes but the file has 7/],
    ['data longer than the shape', npy(ok, new Uint8Array(9)), 'INVALID_ARGUMENT', /needs 8 data bytes but the file has 9/],
    ['1 KB claiming 100 GB', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 3), }", new Uint8Array(1000)), 'TOO_LARGE', /limit/],
    ['dims overflowing 2^53', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2), }"), 'INVALID_ARGUMENT', /not a non-negative integer/],
    ['negative dim', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }"), 'INVALID_ARGUMENT', /not a non-negative integer/],
    ['fortran order', npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", new Uint8Array(8)), 'INVALID_ARGUMENT', /Fortran order/],
    ['structured dtype', npy("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), 'INVALID_ARGUMENT', /structured/],
    ['object dtype', npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), 'INVALID_ARGUMENT', /dtype '\|O' is not supported/],
    ['complex dtype', npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), 'INVALID_ARGUMENT', /not supported/],
    ['code in the header', npy("{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (1,), }"), 'INVALID_ARGUMENT', /unexpected/],
    ['unterminated string', npy("{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }"), 'INVALID_ARGUMENT', /./],
    ['missing key', npy("{'descr': '<f4', 'shape': (2,), }", new Uint8Array(8)), 'INVALID_ARGUMENT', /fortran_order/],
    ['unknown key', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'evil': 1}", new Uint8Array(8)), 'INVALID_ARGUMENT', /unknown header key 'evil'/],
    ['duplicate key', npy("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(8)), 'INVALID_ARGUMENT', /twice/],
    ['rank 40', npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (${Array(40).fill(1).join(', ')}), }`, new Uint8Array(4)), 'INVALID_ARGUMENT', /rank 40/],
    ['not UTF-8 in v3', (() => { const b = npy(ok, new Uint8Array(8), { major: 3 }); b[13] = 0xff; return b; })(), 'INVALID_ARGUMENT', /UTF-8/],
  ];
  for (const [what, bytes, code, message] of cases) {
    t.throws(() => parseNpy(bytes, 'x.npy'), { code, message }, what);
  }
  t.throws(() => encodeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) }), { code: 'SHAPE_MISMATCH' });
  t.throws(() => encodeNpy({ dtype: 'float32', shape: [2], data: new Int32Array(2) }), { code: 'INVALID_ARGUMENT' });
  t.ok(new FcnkitError('INVALID_ARGUMENT', 'x') instanceof Error);
});
