'use strict';
const t = require('tap');
const crypto = require('node:crypto');
const ort = require('onnxruntime-node');
const P = require('../dist/io/onnx-proto/index.js');

const { DataType: DT, AttributeType: AT, attr } = P;

// Fresh inputs every run; set ONNX_PROTO_SEED to replay a failure.
const seed = Number(process.env.ONNX_PROTO_SEED ?? crypto.randomInt(2 ** 31));
t.comment(`seed ${seed}`);
let state = seed >>> 0;
function rand() {
  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let x = state;
  x = Math.imul(x ^ (x >>> 15), x | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const randF32 = (n) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

const utf8 = (s) => new TextEncoder().encode(s);

function expectBad(t, fn, msgRe, label) {
  try {
    fn();
    t.fail(`${label}: no error`);
  } catch (e) {
    t.equal(e.code, 'BAD_MODEL', `${label}: code BAD_MODEL (${e.message})`);
    if (msgRe) t.match(e.message, msgRe, `${label}: message`);
  }
}

function closeTo(t, got, want, tol, label) {
  t.equal(got.length, want.length, `${label}: length`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(err <= worst)) worst = err; // NaN-safe
  }
  t.ok(worst <= tol, `${label}: max rel error ${worst} <= ${tol}`);
}

// ---------------------------------------------------------------- a model using every field

function tensor(over) {
  return { ...P.emptyTensor('', 0, []), ...over };
}

function fullModel() {
  const sub = {
    node: [P.makeNode('Identity', ['a'], ['b'], [], 'inner')],
    name: 'sub', initializer: [], docString: 'subgraph',
    input: [P.valueInfo('a', DT.FLOAT, [])], output: [P.valueInfo('b', DT.FLOAT, [])], valueInfo: [],
  };
  const tensors = [
    tensor({ name: 'f', dataType: DT.FLOAT, dims: [2, 2], floatData: [1.5, -2, 0, Math.fround(0.1)], docString: 'd' }),
    tensor({ name: 'i32', dataType: DT.INT32, dims: [3], int32Data: [-1, 0, 2147483647] }),
    tensor({ name: 's', dataType: DT.STRING, dims: [2], stringData: [utf8('héllo'), new Uint8Array(0)] }),
    tensor({ name: 'i64', dataType: DT.INT64, dims: [4], int64Data: [-1, 2 ** 53, -(2 ** 53), 7] }),
    tensor({ name: 'raw', dataType: DT.UINT8, dims: [0, 3], rawData: new Uint8Array(0) }),
    tensor({ name: 'raw2', dataType: DT.UINT8, dims: [300], rawData: Uint8Array.from({ length: 300 }, (_, i) => i & 255) }),
    tensor({
      name: 'ext', dataType: DT.FLOAT, dims: [1024, 1024], dataLocation: P.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '4096' }],
    }),
    tensor({ name: 'd', dataType: DT.DOUBLE, dims: [3], doubleData: [Math.PI, -0, 1e300] }),
    tensor({ name: 'u64', dataType: DT.UINT64, dims: [2], uint64Data: [2 ** 53, 0] }),
  ];
  const attrs = [
    attr.float('f', 0.25),
    { ...attr.float('negzero', 0), f: -0 },
    attr.int('i', -5),
    attr.string('s', 'SAME_UPPER'),
    attr.tensor('t', tensors[0]),
    attr.graph('g', sub),
    attr.floats('fs', [1, -1.5, 3e38]),
    attr.ints('is', [-1, 0, 2 ** 40, -(2 ** 53), 2 ** 53]),
    attr.strings('ss', ['a', '', 'ü']),
    { ...attr.ints('empty_ints', []), docString: 'attr doc' },
    { ...attr.int('ref', 0), refAttrName: 'outer_attr' },
    { ...attr.float('tensors', 0), type: AT.TENSORS, tensors: [tensors[1], tensors[3]] },
    { ...attr.float('graphs', 0), type: AT.GRAPHS, graphs: [sub, { ...sub, name: 'sub2' }] },
  ];
  const x = P.valueInfo('x', DT.FLOAT, ['N', 3, null, 0]);
  x.type.tensorType.shape.dim[0].denotation = 'DATA_BATCH';
  x.type.denotation = 'TENSOR';
  x.docString = 'input doc';
  return {
    irVersion: 9,
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.example', version: 2 ** 33 }],
    producerName: 'fcnkit-test', producerVersion: '0.0.1', domain: 'ai.fcnkit', modelVersion: 2 ** 53,
    docString: 'ünïcödé ✓ 🚀',
    graph: {
      node: [
        { ...P.makeNode('Custom', ['x', '', 'f'], ['y', 'z'], attrs, 'n0'), domain: 'com.example', docString: 'node doc' },
        P.makeNode('Relu', ['y'], ['out']),
      ],
      name: 'g', initializer: tensors, docString: 'graph doc',
      input: [x, { name: 'untyped', docString: '' }, { name: 'norank', type: { tensorType: { elemType: DT.FLOAT }, denotation: '' }, docString: '' }],
      output: [P.valueInfo('out', DT.FLOAT, ['N'])],
      valueInfo: [P.valueInfo('y', DT.FLOAT16, [1, 'k']), { name: 'notype', type: { denotation: 'IMAGE' }, docString: '' }],
    },
    metadataProps: [{ key: 'k', value: 'v' }, { key: '', value: '' }],
  };
}

t.test('round trip of a model using every field', async (t) => {
  const m = fullModel();
  const bytes = P.encodeModel(m);
  const back = P.decodeModel(bytes);
  t.strictSame(back, m, 'decode(encode(m)) deep-equals m');
  t.ok(Object.is(back.graph.node[0].attribute[1].f, -0), '-0 float attribute survives');
  t.same(P.encodeModel(back), bytes, 're-encoding is byte-identical');

  const raw = back.graph.initializer[5].rawData;
  t.equal(raw.buffer, bytes.buffer, 'raw_data is a view into the input buffer');
  t.equal(back.graph.node[0].attribute[3].s.buffer, bytes.buffer, 'bytes attribute is a view');

  // The same bytes embedded in a larger buffer decode identically from a subarray.
  const big = new Uint8Array(bytes.length + 64).fill(0xff);
  big.set(bytes, 37);
  t.strictSame(P.decodeModel(big.subarray(37, 37 + bytes.length)), m, 'decodes from an offset subarray');

  // Unknown top-level fields of every wire type, groups included, are skipped.
  const w = new P.Writer();
  w.tag(100, P.VARINT).int64(-12345);
  w.tag(101, P.I64).double(1.5);
  w.tag(102, P.LEN).string('junk');
  w.tag(103, P.I32).float(2);
  w.tag(104, P.SGROUP).tag(1, P.VARINT).uint32(5).tag(2, P.SGROUP).tag(3, P.I32).float(1).tag(2, P.EGROUP).tag(104, P.EGROUP);
  const tail = w.finish();
  const withUnknown = new Uint8Array(bytes.length + tail.length);
  withUnknown.set(tail);
  withUnknown.set(bytes, tail.length);
  t.strictSame(P.decodeModel(withUnknown), m, 'unknown fields skipped');
});

t.test('wire details: packed/unpacked, negative int64, long length prefixes', async (t) => {
  const w = new P.Writer(16);
  w.int64(-1);
  t.same([...w.finish()], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'int64 -1 is a 10-byte varint');
  w.int32(-2);
  t.same([...w.finish()], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'int32 -2 is sign-extended');

  const vals = [0, 1, -1, 127, 128, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), randInt(-1e15, 1e15)];
  for (const v of vals) {
    const r = new P.Reader(new P.Writer().int64(v).finish());
    t.equal(r.int64(), v, `int64 ${v} round-trips`);
  }

  // dims packed (onnx.proto says unpacked) and int64_data unpacked (it says packed): both decode.
  const tw = new P.Writer();
  tw.tag(1, P.LEN).fork().int64(2).int64(-3).ldelim();
  tw.tag(1, P.VARINT).int64(4);
  tw.tag(2, P.VARINT).int32(DT.INT64);
  tw.tag(7, P.VARINT).int64(-7).tag(7, P.VARINT).int64(8);
  tw.tag(4, P.I32).float(0.5);
  const tp = P.decodeTensorProto(tw.finish());
  t.same(tp.dims, [2, -3, 4], 'packed + unpacked dims');
  t.same(tp.int64Data, [-7, 8], 'unpacked int64_data');
  t.same(tp.floatData, [0.5], 'unpacked float_data');

  // fork/ldelim with bodies needing 1, 2 and 3 length bytes, nested.
  for (const n of [0, 127, 128, 16383, 16384, 70000]) {
    const body = Uint8Array.from({ length: n }, () => randInt(0, 255));
    const nw = new P.Writer(4);
    nw.tag(1, P.LEN).fork().tag(2, P.LEN).fork().tag(3, P.LEN).bytes(body).ldelim().ldelim().tag(4, P.VARINT).uint32(9);
    const r = new P.Reader(nw.finish());
    t.equal(r.tag(), (1 << 3) | P.LEN);
    const got = r.message((r) => {
      t.equal(r.tag(), (2 << 3) | P.LEN);
      return r.message((r) => (r.tag(), r.bytes()));
    });
    t.same(got, body, `nested fork/ldelim with ${n}-byte body`);
    t.equal(r.tag(), (4 << 3) | P.VARINT);
    t.equal(r.uint32(), 9);
    t.notOk(r.more());
  }

  t.throws(() => new P.Writer().int64(2 ** 53 + 2), { name: 'EncodeError', code: 'INVALID_ARGUMENT' }, 'encoding an unsafe int64 throws');
  t.throws(() => new P.Writer().int64(1.5), { name: 'EncodeError', code: 'INVALID_ARGUMENT' }, 'encoding a fraction throws');
});

// ---------------------------------------------------------------- onnxruntime accepts our bytes

function naiveConv(x, [n, c, h, w], wt, [m, , kh, kw], bias, [sh, sw], [pt, pl, pb, pr], [dh, dw]) {
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const y = new Float32Array(n * m * oh * ow);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < m; o++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let s = bias[o];
          for (let ci = 0; ci < c; ci++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const yy = i * sh - pt + u * dh;
                const xx = j * sw - pl + v * dw;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                s += x[((b * c + ci) * h + yy) * w + xx] * wt[((o * c + ci) * kh + u) * kw + v];
              }
          y[((b * m + o) * oh + i) * ow + j] = s;
        }
  return { y, dims: [n, m, oh, ow] };
}

t.test('Conv model runs in onnxruntime and matches a naive convolution', async (t) => {
  const xd = [randInt(1, 2), randInt(1, 4), randInt(5, 12), randInt(5, 12)];
  const wd = [randInt(1, 5), xd[1], randInt(1, 3), randInt(1, 3)];
  const strides = [randInt(1, 2), randInt(1, 2)];
  const pads = [randInt(0, 1), randInt(0, 1), randInt(0, 1), randInt(0, 1)];
  const dil = [randInt(1, 2), randInt(1, 2)];
  const x = randF32(xd.reduce((a, b) => a * b));
  const wt = randF32(wd.reduce((a, b) => a * b));
  const bias = randF32(wd[0]);
  const want = naiveConv(x, xd, wt, wd, bias, strides, pads, dil);
  t.comment(`X ${xd} W ${wd} strides ${strides} pads ${pads} dilations ${dil}`);

  const model = P.makeModel({
    nodes: [P.makeNode('Conv', ['X', 'W', 'B'], ['Y'], [
      attr.ints('kernel_shape', wd.slice(2)), attr.ints('strides', strides), attr.ints('pads', pads),
      attr.ints('dilations', dil), attr.int('group', 1),
    ], 'conv0')],
    inputs: [P.valueInfo('X', DT.FLOAT, ['N', xd[1], xd[2], xd[3]])],
    outputs: [P.valueInfo('Y', DT.FLOAT, ['N', wd[0], null, null])],
    initializers: [P.tensorFromFloat32('W', wd, wt), P.tensorFromFloat32('B', [wd[0]], bias)],
  });
  const bytes = P.encodeModel(model);

  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ X: new ort.Tensor('float32', x, xd) });
  t.same(out.Y.dims, want.dims, 'output dims');
  closeTo(t, out.Y.data, want.y, 1e-4, 'Conv output');

  const back = P.decodeModel(bytes);
  t.strictSame(back, model, 'decoded model equals the built one');
  t.same(P.tensorToFloat32(back.graph.initializer[0]), wt, 'weights read back from raw_data');
  t.same(P.tensorToFloat32(back.graph.initializer[1]), bias, 'bias read back');
  t.same(back.graph.node[0].attribute.map((a) => [a.name, a.type]),
    [['kernel_shape', AT.INTS], ['strides', AT.INTS], ['pads', AT.INTS], ['dilations', AT.INTS], ['group', AT.INT]]);
});

t.test('Add model with broadcasting runs in onnxruntime', async (t) => {
  const ad = [randInt(1, 3), randInt(1, 5), randInt(1, 6)];
  const bd = [1, ad[2]];
  const a = randF32(ad[0] * ad[1] * ad[2]);
  const b = randF32(ad[2]);
  const want = a.map((v, i) => Math.fround(v + b[i % ad[2]]));

  const model = P.makeModel({
    nodes: [P.makeNode('Add', ['A', 'Bc'], ['C'])],
    inputs: [P.valueInfo('A', DT.FLOAT, ad)],
    outputs: [P.valueInfo('C', DT.FLOAT, ad)],
    initializers: [P.tensorFromFloat32('Bc', bd, b)],
    opset: 14, irVersion: 7,
  });
  const bytes = P.encodeModel(model);
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ A: new ort.Tensor('float32', a, ad) });
  t.same(out.C.dims, ad, 'output dims');
  t.same(out.C.data, want, 'Add output is exact');

  const back = P.decodeModel(bytes);
  t.strictSame(back, model, 'decoded model equals the built one');
  t.equal(back.opsetImport[0].version, 14);
  t.equal(back.irVersion, 7);
  t.same(P.tensorToFloat32(back.graph.initializer[0]), b);
});

t.test('int64 tensors: raw_data and int64_data', async (t) => {
  const vals = [0, -1, 2 ** 53, -(2 ** 53), randInt(-1e12, 1e12)];
  const raw = P.tensorFromInt64('shape', [5], vals);
  t.same(P.tensorToInt64Numbers(raw), vals, 'from raw_data');
  t.same(P.tensorToInt64Numbers(tensor({ dataType: DT.INT64, dims: [5], int64Data: vals })), vals, 'from int64_data');
  const bytes = P.encodeTensorProto(raw);
  t.same(P.tensorToInt64Numbers(P.decodeTensorProto(bytes)), vals, 'through the codec');
  const i32raw = new Uint8Array(8);
  new DataView(i32raw.buffer).setInt32(4, -7, true);
  t.same(P.tensorToInt64Numbers(tensor({ dataType: DT.INT32, dims: [2], rawData: i32raw })), [0, -7], 'INT32 from raw_data');
  t.same(P.tensorToInt64Numbers(tensor({ dataType: DT.INT32, dims: [1, 2], int32Data: [3, -4] })), [3, -4], 'INT32 from int32_data');
  expectBad(t, () => P.tensorToFloat32(fullModel().graph.initializer[6]), /external file/, 'external data');
  expectBad(t, () => P.tensorToInt64Numbers(tensor({ dataType: DT.INT64, dims: [-1] })), /bad dims/, 'negative dim');
  t.throws(() => P.tensorFromFloat32('w', [2, 2], new Float32Array(3)), { name: 'EncodeError', code: 'INVALID_ARGUMENT' }, 'builder checks element count');
  const over = P.tensorFromInt64('o', [1], [0]);
  new DataView(over.rawData.buffer).setBigInt64(0, 2n ** 60n, true);
  expectBad(t, () => P.tensorToInt64Numbers(over), /outside/, 'raw int64 beyond 2^53');
  expectBad(t, () => P.tensorToFloat32(tensor({ dataType: DT.FLOAT, dims: [3], rawData: new Uint8Array(8) })),
    /raw_data has 8 bytes/, 'raw_data size mismatch');
});

// ---------------------------------------------------------------- hostile input

t.test('hostile input only ever throws BAD_MODEL', async (t) => {
  const bytes = P.encodeModel(fullModel());
  let ok = 0;
  let bad = 0;
  const other = [];
  for (let n = 0; n < bytes.length; n++) {
    try {
      P.decodeModel(bytes.slice(0, n));
      ok++;
    } catch (e) {
      if (e.code === 'BAD_MODEL') bad++;
      else other.push(`${n}: ${e}`);
    }
  }
  t.same(other, [], `every prefix decodes or throws BAD_MODEL (${ok} decoded, ${bad} rejected)`);
  t.ok(bad > 0, 'some prefixes are rejected');

  // Random byte corruption.
  for (let k = 0; k < 2000; k++) {
    const c = bytes.slice();
    for (let j = randInt(1, 4); j > 0; j--) c[randInt(0, c.length - 1)] = randInt(0, 255);
    try {
      P.decodeModel(c);
    } catch (e) {
      if (e.code !== 'BAD_MODEL') other.push(`corruption: ${e.stack}`);
    }
  }
  t.same(other, [], 'random corruption decodes or throws BAD_MODEL');

  const huge = new Uint8Array(20);
  huge.set([(7 << 3) | 2, 0x80, 0x80, 0x80, 0x80, 0x04]); // graph, length 2^30
  expectBad(t, () => P.decodeModel(huge), /length 1073741824 runs past end.*at byte 1/, '1 GB length prefix');
  const huge64 = Uint8Array.of((7 << 3) | 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
  expectBad(t, () => P.decodeModel(huge64), /runs past end/, '2^64-1 length prefix');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x08, ...Array(10).fill(0xff), 0x01)), /longer than 10 bytes at byte 1/, '11-byte varint');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x08, ...Array(9).fill(0xff), 0x02)), /exceeds 64 bits/, '10th varint byte > 1');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x08, 0x80)), /truncated varint at byte 1/, 'truncated varint');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x08, 1, 0x0e)), /bad wire type 6 at byte 2/, 'wire type 6');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x0f)), /bad wire type 7/, 'wire type 7');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x00, 0x00)), /invalid field tag 0/, 'field number 0');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x0c)), /unexpected wire type 4/, 'stray end-group');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x0b, 0x08, 0x01)), /unterminated group/, 'unterminated group');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x0b, 0x14)), /end-group for field 2 inside group 1/, 'mismatched end-group');
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x0d, 1, 2)), /truncated fixed32/, 'truncated fixed32');
  // ir_version = 2^60: representable in protobuf but not as a JS number: saturates (exporters
  // write INT64_MAX for "to the end"), so later size checks refuse it rather than see a small value.
  t.equal(P.decodeModel(Uint8Array.of(0x08, ...Array(8).fill(0x80), 0x10)).irVersion, Number.MAX_SAFE_INTEGER, 'int64 beyond 2^53 saturates');
  t.equal(P.decodeModel(Uint8Array.of(0x08, ...Array(9).fill(0xff), 0x01)).irVersion, -1, 'int64 -1 (10-byte varint)');
  // Sub-message field that overruns its parent: graph of length 3 containing a 5-byte string.
  expectBad(t, () => P.decodeModel(Uint8Array.of(0x3a, 3, 0x12, 5, 0x61, 0x62, 0x63, 0x64, 0x65)), /runs past end of message/, 'overrun of parent');
  // Packed run whose last element is cut by the packed length.
  expectBad(t, () => P.decodeTensorProto(Uint8Array.of(0x0a, 2, 0x01, 0x80, 0x01)), /truncated varint at byte 3/, 'packed overrun');
  expectBad(t, () => P.decodeModel('not bytes'), /Uint8Array/, 'non-Uint8Array input');

  // Nesting far deeper than any real model: graph > node > attribute > graph > ...
  let inner = new Uint8Array(0);
  const chain = [6, 5, 1]; // g in attribute, attribute in node, node in graph
  for (let d = 0; d < 3000; d++) {
    const w = new P.Writer();
    w.tag(chain[d % 3], P.LEN).bytes(inner);
    inner = w.finish();
  }
  const deep = new P.Writer().tag(7, P.LEN).bytes(inner).finish();
  expectBad(t, () => P.decodeModel(deep), /nested deeper than 100/, 'deep nesting');
  let groups = new Uint8Array(0);
  for (let d = 0; d < 5000; d++) groups = Uint8Array.of(0x0b, ...groups, 0x0c);
  expectBad(t, () => P.decodeModel(groups), /nested deeper than 100/, 'deep groups');
});

// ---------------------------------------------------------------- 16-bit floats

t.test('float16 and bfloat16 conversion', async (t) => {
  const f16 = [
    [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14], [0x3555, 0.333251953125], [0x0000, 0], [0x8000, -0], [0x7c00, Infinity], [0xfc00, -Infinity],
  ];
  for (const [h, v] of f16) t.ok(Object.is(P.float16ToFloat32(h), v), `f16 0x${h.toString(16)} = ${Object.is(v, -0) ? '-0' : v}`);
  t.ok(Number.isNaN(P.float16ToFloat32(0x7e00)), 'f16 0x7e00 is NaN');
  t.ok(Number.isNaN(P.float16ToFloat32(0xfc01)), 'f16 0xfc01 is NaN');

  const bf16 = [[0x3f80, 1], [0xc000, -2], [0x0001, 2 ** -133], [0x7f80, Infinity], [0x8000, -0], [0x4049, 3.140625]];
  for (const [h, v] of bf16) t.ok(Object.is(P.bfloat16ToFloat32(h), v), `bf16 0x${h.toString(16)} = ${v}`);
  t.ok(Number.isNaN(P.bfloat16ToFloat32(0x7fc0)), 'bf16 0x7fc0 is NaN');

  // Through tensors, from raw_data (little-endian uint16) and from int32_data.
  const bits = f16.map(([h]) => h);
  const want = Float32Array.from(f16.map(([, v]) => v));
  const raw = new Uint8Array(bits.length * 2);
  bits.forEach((h, i) => new DataView(raw.buffer).setUint16(i * 2, h, true));
  const viaRaw = P.tensorToFloat32(tensor({ dataType: DT.FLOAT16, dims: [bits.length], rawData: raw }));
  const viaInt32 = P.tensorToFloat32(tensor({ dataType: DT.FLOAT16, dims: [bits.length], int32Data: bits }));
  t.same([...viaRaw].map(String), [...want].map(String), 'FLOAT16 tensor from raw_data');
  t.same([...viaInt32].map(String), [...want].map(String), 'FLOAT16 tensor from int32_data');
  const viaBf = P.tensorToFloat32(tensor({ dataType: DT.BFLOAT16, dims: [2], int32Data: [0x3f80, 0xc000] }));
  t.same([...viaBf], [1, -2], 'BFLOAT16 tensor');
  const d = P.tensorToFloat32(tensor({ dataType: DT.DOUBLE, dims: [2], doubleData: [0.5, -4] }));
  t.same([...d], [0.5, -4], 'DOUBLE tensor');
  expectBad(t, () => P.tensorToFloat32(tensor({ dataType: DT.INT8, dims: [1], rawData: new Uint8Array(1) })), /not a floating-point/, 'INT8 to float32');
});
