'use strict';
// maxPool2d, avgPool2d, globalAvgPool2d against onnxruntime-node (MaxPool, AveragePool,
// GlobalAveragePool), every call made four ways: async / sync, default threads / threads 1.
const t = require('tap');
const { fcnkit, onnx, seed, rng, randTensor, randInt, normError, ortRunNode } = require('./helpers');
const { native } = require('../dist/native');

const { ops, Tensor } = fcnkit;
const TOL = 1e-4;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

const pair = (v) => (Array.isArray(v) ? v : [v, v]);
function pads4(p) {
  if (p === undefined) return [0, 0, 0, 0];
  if (typeof p === 'number') return [p, p, p, p];
  return p.length === 2 ? [p[0], p[1], p[0], p[1]] : p;
}

/** The four ways to call an op; call(opsTable, extraOptions) -> Tensor | Promise<Tensor>. */
async function allModes(call) {
  const out = [];
  for (const sync of [false, true]) {
    for (const threads of [undefined, 1]) {
      const extra = threads === undefined ? {} : { threads };
      out.push({ mode: `${sync ? 'sync' : 'async'} threads=${threads ?? 'default'}`, y: await call(sync ? ops.sync : ops, extra) });
    }
  }
  return out;
}

function check(t, label, results, ref) {
  for (const { mode, y } of results) {
    t.same([...y.shape], ref.dims, `${label} ${mode}: shape`);
    const err = normError(y.data, ref.data);
    t.ok(err <= TOL, `${label} ${mode}: normError ${err}`);
  }
}

async function ortPool(kind, x, o) {
  const k = pair(o.kernel);
  const attrs = [
    onnx.attr.ints('kernel_shape', k),
    onnx.attr.ints('strides', o.stride === undefined ? k : pair(o.stride)),
    onnx.attr.ints('pads', pads4(o.padding)),
    onnx.attr.ints('dilations', pair(o.dilation ?? 1)),
    onnx.attr.int('ceil_mode', o.ceilMode ? 1 : 0),
  ];
  if (kind === 'avg') attrs.push(onnx.attr.int('count_include_pad', o.countIncludePad ? 1 : 0));
  // AveragePool takes dilations from opset 19.
  const [r] = await ortRunNode({ opType: kind === 'max' ? 'MaxPool' : 'AveragePool', inputs: [['x', x]], attrs, opset: 19 });
  // A dilated window can hold padding only: onnxruntime gives -FLT_MAX there, fcnkit (like
  // PyTorch) -inf, as padding counts as -inf.
  if (kind === 'max') r.data = r.data.map((v) => (v === -3.4028234663852886e38 ? -Infinity : v));
  return r;
}

async function poolCase(t, kind, shape, o) {
  const x = randTensor(shape);
  const label = `${kind}Pool2d ${JSON.stringify(shape)} ${JSON.stringify(o)}`;
  const ref = await ortPool(kind, x, o);
  const fn = kind === 'max' ? 'maxPool2d' : 'avgPool2d';
  check(t, label, await allModes((X, extra) => X[fn](x, { ...o, ...extra })), ref);
}

function spanFits(inSize, k, d, p0, p1) {
  return inSize + p0 + p1 >= d * (k - 1) + 1;
}

function randomPoolOptions(kind, h, w) {
  for (;;) {
    const k = [randInt(1, 4), randInt(1, 4)];
    const d = [randInt(1, 2), randInt(1, 2)];
    const p = [randInt(0, k[0] - 1), randInt(0, k[1] - 1), randInt(0, k[0] - 1), randInt(0, k[1] - 1)];
    if (!spanFits(h, k[0], d[0], p[0], p[2]) || !spanFits(w, k[1], d[1], p[1], p[3])) continue;
    const o = { kernel: k, padding: p, ceilMode: rng() < 0.5 };
    if (rng() < 0.7) o.stride = [randInt(1, 3), randInt(1, 3)];
    if (d[0] > 1 || d[1] > 1) o.dilation = d;
    if (kind === 'avg') o.countIncludePad = rng() < 0.5;
    return o;
  }
}

t.test('maxPool2d and avgPool2d: awkward fixed cases', async (t) => {
  for (const kind of ['max', 'avg']) {
    const extra = kind === 'avg' ? [{ countIncludePad: true }, { countIncludePad: false }] : [{}];
    for (const e of extra) {
      await poolCase(t, kind, [1, 1, 1, 1], { kernel: 1, ...e });
      await poolCase(t, kind, [2, 3, 7, 7], { kernel: 2, ...e });
      await poolCase(t, kind, [2, 3, 7, 7], { kernel: 2, ceilMode: true, ...e });
      // The last ceil-mode window overhangs the explicit padding by one column.
      await poolCase(t, kind, [1, 2, 6, 6], { kernel: 3, stride: 2, padding: 1, ceilMode: true, ...e });
      await poolCase(t, kind, [1, 5, 11, 13], { kernel: [3, 2], stride: [1, 3], padding: [2, 1, 0, 1], ceilMode: true, ...e });
      await poolCase(t, kind, [1, 3, 13, 11], { kernel: 3, stride: 2, ceilMode: true, ...e });
      await poolCase(t, kind, [1, 2, 11, 13], { kernel: 3, stride: 1, padding: 2, dilation: 2, ...e });
      await poolCase(t, kind, [1, 2, 12, 9], { kernel: [2, 3], stride: [3, 2], padding: [1, 0], dilation: [3, 2], ceilMode: true, ...e });
      // Enough planes for several parallel chunks.
      await poolCase(t, kind, [2, 16, 67, 61], { kernel: 3, stride: 2, padding: 1, ceilMode: true, ...e });
    }
  }
});

t.test('maxPool2d and avgPool2d: random shapes', async (t) => {
  for (let i = 0; i < 24; i++) {
    const kind = i % 2 ? 'avg' : 'max';
    const shape = [randInt(1, 2), randInt(1, 5), randInt(1, 13), randInt(1, 13)];
    await poolCase(t, kind, shape, randomPoolOptions(kind, shape[2], shape[3]));
  }
});

t.test('globalAvgPool2d', async (t) => {
  for (const shape of [[1, 1, 1, 1], [2, 3, 7, 5], [3, 2, 1, 13], [1, 17, 64, 67], [2, 40, 33, 31]]) {
    const x = randTensor(shape, -1, 3);
    const [ref] = await ortRunNode({ opType: 'GlobalAveragePool', inputs: [['x', x]] });
    check(t, `globalAvgPool2d ${JSON.stringify(shape)}`, await allModes((X, extra) => X.globalAvgPool2d(x, extra)), ref);
  }
});

// Plain loops with the documented semantics: padding is -inf, a NaN in the window wins.
function refMaxPool(x, o) {
  const [n, c, h, w] = x.shape;
  const [kh, kw] = pair(o.kernel);
  const [sh, sw] = o.stride === undefined ? [kh, kw] : pair(o.stride);
  const [dh, dw] = pair(o.dilation ?? 1);
  const [pt, pl, pb, pr] = pads4(o.padding);
  const size = (i, k, s, d, p0, p1) => {
    const span = d * (k - 1) + 1;
    let out = o.ceilMode ? Math.ceil((i + p0 + p1 - span) / s) + 1 : Math.floor((i + p0 + p1 - span) / s) + 1;
    if (o.ceilMode && (out - 1) * s >= i + p0) out--;
    return out;
  };
  const oh = size(h, kh, sh, dh, pt, pb);
  const ow = size(w, kw, sw, dw, pl, pr);
  const y = new Float32Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let m = -Infinity;
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) {
            const yy = i * sh - pt + a * dh;
            const xx = j * sw - pl + b * dw;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            const v = x.data[(p * h + yy) * w + xx];
            if (Number.isNaN(v) || v > m) m = v;
            if (Number.isNaN(m)) break;
          }
          if (Number.isNaN(m)) break;
        }
        y[(p * oh + i) * ow + j] = m;
      }
    }
  }
  return { data: y, dims: [n, c, oh, ow] };
}

function sprinkle(x, values, fraction) {
  for (let i = 0; i < x.data.length; i++) if (rng() < fraction) x.data[i] = values[randInt(0, values.length - 1)];
  x.data[0] = NaN; // the first window always holds it
  return x;
}

t.test('NaN and Inf propagation', async (t) => {
  const cases = [
    [[1, 2, 9, 9], { kernel: 3, stride: 2, padding: 1, ceilMode: true }],
    [[2, 3, 8, 7], { kernel: 2 }],
    [[1, 1, 10, 10], { kernel: 3, stride: 1, padding: 2, dilation: 2 }],
  ];
  for (const [shape, o] of cases) {
    const x = sprinkle(randTensor(shape), [NaN, Infinity, -Infinity], 0.05);
    const label = `${JSON.stringify(shape)} ${JSON.stringify(o)}`;
    // onnxruntime's MaxPool skips NaN; ours propagates it (as PyTorch does): compare with loops.
    const ref = refMaxPool(x, o);
    check(t, `maxPool2d ${label}`, await allModes((X, extra) => X.maxPool2d(x, { ...o, ...extra })), ref);
    t.ok(ref.data.some(Number.isNaN), `${label}: some window holds a NaN`);
    for (const countIncludePad of [false, true]) {
      const ao = { ...o, countIncludePad };
      check(t, `avgPool2d ${label} cip=${countIncludePad}`, await allModes((X, extra) => X.avgPool2d(x, { ...ao, ...extra })), await ortPool('avg', x, ao));
    }
    const [g] = await ortRunNode({ opType: 'GlobalAveragePool', inputs: [['x', x]] });
    check(t, `globalAvgPool2d ${label}`, await allModes((X, extra) => X.globalAvgPool2d(x, extra)), g);
  }
  // One NaN: exactly the windows that contain it are NaN.
  const x = new Tensor(new Float32Array(16).map((_, i) => i), [1, 1, 4, 4]);
  x.data[5] = NaN;
  const y = ops.sync.maxPool2d(x, { kernel: 2, stride: 1 });
  t.same([...y.data].map((v) => (Number.isNaN(v) ? 'NaN' : v)), ['NaN', 'NaN', 7, 'NaN', 'NaN', 11, 13, 14, 15]);
  // A window of padding only (dilation skips the one row) is -inf.
  const row = new Tensor(Float32Array.from([1, 2]), [1, 1, 1, 2]);
  t.same([...ops.sync.maxPool2d(row, { kernel: [1, 2], stride: 1, padding: [0, 1], dilation: [1, 3] }).data], [-Infinity]);
  // Padding is never selected, even over an all-negative input.
  const neg = new Tensor(new Float32Array(4).fill(-5), [1, 1, 2, 2]);
  t.same([...ops.sync.maxPool2d(neg, { kernel: 2, stride: 1, padding: 1 }).data], new Array(9).fill(-5));
});

function expectCode(t, fn, code, re, label) {
  try {
    fn();
    t.fail(`${label}: no error`);
  } catch (e) {
    t.equal(e.code, code, `${label}: ${code} (${e.message})`);
    if (re) t.match(e.message, re, `${label}: message`);
  }
}

t.test('bad input', async (t) => {
  const x = randTensor([1, 2, 5, 5]);
  const bad = [
    [{}, 'INVALID_ARGUMENT', /kernel/],
    [{ kernel: 0 }, 'INVALID_ARGUMENT', /kernel/],
    [{ kernel: [2, 2.5] }, 'INVALID_ARGUMENT', /kernel/],
    [{ kernel: 2, stride: 0 }, 'INVALID_ARGUMENT', /stride/],
    [{ kernel: 2, dilation: [1, -1] }, 'INVALID_ARGUMENT', /dilation/],
    [{ kernel: 2, padding: 2 }, 'INVALID_ARGUMENT', /padding.*smaller than the kernel/],
    [{ kernel: [3, 2], padding: [0, 0, 0, 2] }, 'INVALID_ARGUMENT', /padding/],
    [{ kernel: 2, padding: 'same' }, 'INVALID_ARGUMENT', /padding/],
    [{ kernel: 2, ceilMode: 1 }, 'INVALID_ARGUMENT', /ceilMode/],
    [{ kernel: 2, threads: 0 }, 'INVALID_ARGUMENT', /threads/],
    [{ kernel: 6 }, 'SHAPE_MISMATCH', /maxPool2d|avgPool2d/],
    [{ kernel: 3, dilation: 3 }, 'SHAPE_MISMATCH', /window/],
  ];
  for (const fn of ['maxPool2d', 'avgPool2d']) {
    for (const [o, code, re] of bad) {
      expectCode(t, () => ops.sync[fn](x, o), code, re, `${fn} ${JSON.stringify(o)}`);
      await t.rejects(ops[fn](x, o), { code }, `${fn} async ${JSON.stringify(o)}`);
    }
    expectCode(t, () => ops.sync[fn](randTensor([2, 5, 5]), { kernel: 2 }), 'SHAPE_MISMATCH', new RegExp(`${fn}.*rank 4`), `${fn} rank 3`);
    expectCode(t, () => ops.sync[fn](new Tensor(new Int32Array(25), [1, 1, 5, 5]), { kernel: 2 }), 'INVALID_ARGUMENT', /float32/, `${fn} int32`);
    expectCode(t, () => ops.sync[fn]([1, 2, 3], { kernel: 2 }), 'INVALID_ARGUMENT', /Tensor/, `${fn} not a tensor`);
  }
  expectCode(t, () => ops.sync.avgPool2d(x, { kernel: 2, countIncludePad: 'no' }), 'INVALID_ARGUMENT', /countIncludePad/, 'countIncludePad');
  expectCode(t, () => ops.sync.globalAvgPool2d(randTensor([3, 4])), 'SHAPE_MISMATCH', /globalAvgPool2d/, 'globalAvgPool2d rank 2');
  expectCode(t, () => ops.sync.globalAvgPool2d(new Tensor(new Float32Array(0), [1, 2, 0, 3])), 'SHAPE_MISMATCH', /no pixels/,
    'globalAvgPool2d empty plane');

  // Graph plans skip the TS checks: the core validates the same things itself.
  const raw = (type, attrs) => () => native().runOpSync(type, [x], attrs);
  const nativeBad = [
    [{}, /kernel' is required/],
    [{ kernel: [0, 2] }, /kernel must be >= 1/],
    [{ kernel: [2, 2], pads: [2, 0, 0, 0] }, /padding \[2, 0, 0, 0\].*smaller than the kernel 2x2/],
    [{ kernel: [2, 2], stride: [0, 1] }, /stride/],
    [{ kernel: [2, 2], dilation: [1, 0] }, /dilation/],
    [{ kernel: [2, 2], ceilMode: 2 }, /ceilMode/],
    [{ kernel: [2.5, 2] }, /integer/],
    [{ kernel: 'big' }, /numeric/],
    [{ kernel: [4e15, 2], dilation: [4e15, 1] }, /spans too far/],
  ];
  for (const fn of ['maxPool2d', 'avgPool2d']) {
    for (const [attrs, re] of nativeBad) {
      expectCode(t, raw(fn, attrs), 'INVALID_ARGUMENT', new RegExp(`^${fn}: .*${re.source}`), `native ${fn} ${JSON.stringify(attrs)}`);
    }
  }
  expectCode(t, raw('avgPool2d', { kernel: [2, 2], countIncludePad: -1 }), 'INVALID_ARGUMENT', /countIncludePad/, 'native countIncludePad');
  // Still alive and computing.
  const y = ops.sync.maxPool2d(x, { kernel: 5 });
  t.same([...y.shape], [1, 2, 1, 1], 'process survives');
});
