'use strict';
// Compiled graphs: a whole graph in one native call against the same ops run one by one through
// fcnkit.ops (an independent path: single-op calls), dynamic H/W with cached plans, arena reuse,
// concurrency, abort, bad specs and disposal.
const t = require('tap');
const { fcnkit, seed, randTensor, normError } = require('./helpers');
const { CompiledGraph } = require('../dist/graph/compiled');
const { native } = require('../dist/native');
const { toFcnkitError } = require('../dist/errors');
const { ops, Tensor, FcnkitError } = fcnkit;

t.comment(`seed ${seed} (FCNKIT_TEST_SEED to replay), isa ${fcnkit.backendInfo().isa}`);

const TOL = 1e-5;

// Native calls reject with plain Errors that carry a code; the TS layer makes them FcnkitErrors.
function viaTs(promise) {
  return promise.catch((e) => {
    throw toFcnkitError(e);
  });
}

async function rejectsWith(t, promiseOrFn, code, pattern, name) {
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
    t.fail(`${name}: expected ${code}`);
  } catch (e) {
    t.ok(e instanceof FcnkitError, `${name}: FcnkitError (${e && e.constructor && e.constructor.name}: ${e && e.message})`);
    t.equal(e.code, code, `${name}: code ${code} (${e.message})`);
    if (pattern) t.match(e.message, pattern, `${name}: message`);
  }
}

// ---- a small FCN-like graph: conv -> pool -> conv -> score -> deconv, joined with a skip -------

function fcnWeights() {
  return {
    w1: randTensor([8, 3, 3, 3]), b1: randTensor([8]),
    w2: randTensor([16, 8, 3, 3]), b2: randTensor([16]),
    w3: randTensor([4, 16, 1, 1]), b3: randTensor([4]),
    wu: randTensor([4, 4, 4, 4]),
    ws: randTensor([4, 8, 1, 1]), bs: randTensor([4]),
  };
}

const poolAttrs = { kernel: [2, 2], stride: [2, 2], dilation: [1, 1], pads: [0, 0, 0, 0], ceilMode: false };

function fcnSpec(w) {
  return {
    inputs: [{ name: 'x', shape: [1, 3, null, null] }],
    constants: w,
    nodes: [
      { name: 'conv1', type: 'conv2d', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1], activation: 'relu' } },
      { name: 'pool1', type: 'maxPool2d', inputs: ['c1'], outputs: ['p1'], attrs: poolAttrs },
      { name: 'conv2', type: 'conv2d', inputs: ['p1', 'w2', 'b2'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1], activation: 'relu' } },
      { name: 'score', type: 'conv2d', inputs: ['c2', 'w3', 'b3'], outputs: ['s'], attrs: {} },
      { name: 'up', type: 'convTranspose2d', inputs: ['s', 'wu'], outputs: ['u'], attrs: { stride: [2, 2], pads: [1, 1, 1, 1] } },
      { name: 'skip', type: 'conv2d', inputs: ['c1', 'ws', 'bs'], outputs: ['sk'], attrs: {} },
      // 'fuse' is a graph output that a later node reads too.
      { name: 'fuse', type: 'add', inputs: ['u', 'sk'], outputs: ['fused'], attrs: {} },
      { name: 'cat', type: 'concat', inputs: ['fused', 'sk'], outputs: ['joined'], attrs: { axis: 1 } },
      { name: 'head', type: 'argmax', inputs: ['joined'], outputs: ['labels'], attrs: { axis: 1, keepDims: false } },
    ],
    outputs: ['joined', 'fused', 'labels'],
  };
}

async function fcnReference(w, x) {
  const c1 = await ops.conv2d(x, w.w1, w.b1, { padding: 1, activation: 'relu' });
  const p1 = await ops.maxPool2d(c1, { kernel: 2 });
  const c2 = await ops.conv2d(p1, w.w2, w.b2, { padding: 1, activation: 'relu' });
  const s = await ops.conv2d(c2, w.w3, w.b3);
  const u = await ops.convTranspose2d(s, w.wu, null, { stride: 2, padding: 1 });
  const sk = await ops.conv2d(c1, w.ws, w.bs);
  const fused = await ops.add(u, sk);
  const joined = await ops.concat([fused, sk], 1);
  const labels = await ops.argmax(joined, 1);
  return { joined, fused, labels };
}

function checkAgainst(t, got, ref, what) {
  for (const name of Object.keys(ref)) {
    t.same(got[name].shape, ref[name].shape, `${what}: ${name} shape`);
    t.equal(got[name].dtype, ref[name].dtype, `${what}: ${name} dtype`);
    if (name !== 'labels') {
      const err = normError(got[name].data, ref[name].data);
      t.ok(err <= TOL, `${what}: ${name} err=${err}`);
    }
  }
  // argmax over near-ties could flip on a 1e-7 difference: compare where the reference's
  // maximum is clear.
  if (ref.labels) {
    const { joined } = ref;
    const [, c, h, w] = joined.shape;
    let bad = 0;
    for (let i = 0; i < h * w; i++) {
      const k = ref.labels.data[i];
      const g = got.labels.data[i];
      if (g !== k && Math.abs(joined.data[k * h * w + i] - joined.data[g * h * w + i]) > 1e-5) bad++;
    }
    t.equal(bad, 0, `${what}: labels agree (c=${c})`);
  }
}

t.test('an FCN-like graph matches the same ops run one by one', async (t) => {
  const w = fcnWeights();
  const g = new CompiledGraph(fcnSpec(w));
  t.same(g.inputNames, ['x']);
  t.same(g.outputNames, ['joined', 'fused', 'labels']);
  const x = randTensor([1, 3, 16, 20]);
  const ref = await fcnReference(w, x);
  const out = await g.run({ x });
  checkAgainst(t, out, ref, 'async');
  t.ok(out.labels.data instanceof Int32Array, 'argmax output is int32');
  checkAgainst(t, g.runSync(x, { threads: 1 }), ref, 'runSync threads=1');
  checkAgainst(t, await g.run(x, { threads: 1 }), ref, 'async threads=1');
  const plan = g.plan([[1, 3, 16, 20]]);
  t.same(plan.inputShapes, [[1, 3, 16, 20]]);
  t.same(plan.outputShapes, [[1, 8, 16, 20], [1, 4, 16, 20], [1, 16, 20]]);
  t.same(plan.inputNames, ['x']);
  t.ok(plan.arenaBytes > 0 && plan.arenaBytes <= plan.unsharedBytes, `arena ${plan.arenaBytes} <= unshared ${plan.unsharedBytes}`);
  g.dispose();
});

t.test('dynamic H and W: one plan per input size, cached', async (t) => {
  const w = fcnWeights();
  const g = new CompiledGraph(fcnSpec(w));
  const sizes = [[1, 3, 16, 16], [1, 3, 22, 30]];
  for (const shape of sizes) {
    const x = randTensor(shape);
    checkAgainst(t, await g.run(x), await fcnReference(w, x), `size ${shape}`);
  }
  t.equal(g.planCount, 2, 'two plans');
  const x = randTensor(sizes[0]);
  checkAgainst(t, await g.run(x), await fcnReference(w, x), 'first size again');
  t.equal(g.planCount, 2, 'the first plan was reused');
  t.equal(g.plan([sizes[0]]), g.plan([[1, 3, 16, 16]]), 'plan() returns the cached object');
  // Concurrent first runs of a new size share one compilation.
  const y = randTensor([1, 3, 8, 12]);
  const [a, b] = await Promise.all([g.run(y), g.run(y)]);
  t.same(Array.from(a.joined.data), Array.from(b.joined.data), 'concurrent first runs agree');
  t.equal(g.planCount, 3);
  g.dispose();
});

t.test('the plan cache keeps at most maxPlans plans', async (t) => {
  const w = fcnWeights();
  const g = new CompiledGraph(fcnSpec(w), { maxPlans: 2 });
  const p8 = g.plan([[1, 3, 8, 8]]);
  for (const h of [8, 10, 12, 14]) await g.run(randTensor([1, 3, h, 8]));
  t.equal(g.planCount, 2);
  t.ok(p8.disposed, 'the least recently used plan was disposed');
  t.throws(() => p8.run([randTensor([1, 3, 8, 8])]), { code: 'INVALID_ARGUMENT', message: /plan was disposed/ }, 'evicted plan');
  t.throws(() => new CompiledGraph(fcnSpec(w), { maxPlans: 0 }), { code: 'INVALID_ARGUMENT' });
  g.dispose();
});

// ---- arena reuse and values that need care ---------------------------------------------------

function chainSpec(n, c, weights) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    nodes.push({
      name: `conv${i + 1}`,
      type: 'conv2d',
      inputs: [i === 0 ? 'x' : `h${i}`, weights ? `w${i % weights}` : 'w', 'b'],
      outputs: [i === n - 1 ? 'y' : `h${i + 1}`],
      attrs: { pads: [1, 1, 1, 1], activation: 'relu' },
    });
  }
  return { inputs: [{ name: 'x', shape: [1, c, null, null] }], nodes, outputs: ['y'] };
}

t.test('a chain of 6 convs reuses arena memory and matches single ops', async (t) => {
  const c = 8;
  const w = randTensor([c, c, 3, 3], -0.3, 0.3);
  const b = randTensor([c], 0, 0.1);
  const spec = { ...chainSpec(6, c), constants: { w, b } };
  const g = new CompiledGraph(spec);
  const x = randTensor([1, c, 32, 32]);
  const plan = g.plan([x.shape]);
  const one = c * 32 * 32 * 4;
  t.ok(plan.arenaBytes < plan.unsharedBytes, `arena ${plan.arenaBytes} < unshared ${plan.unsharedBytes}`);
  t.equal(plan.unsharedBytes - plan.workspaceBytes >= 5 * one, true, 'five intermediates unshared');
  t.ok(plan.arenaBytes - roundUp64(plan.workspaceBytes) <= 2 * one, 'ping-pong: two intermediates live at a time');
  let ref = x;
  for (let i = 0; i < 6; i++) ref = await ops.conv2d(ref, w, b, { padding: 1, activation: 'relu' });
  const { y } = await g.run({ x });
  t.ok(normError(y.data, ref.data) <= TOL, `err=${normError(y.data, ref.data)}`);
  g.dispose();
});

function roundUp64(n) {
  return Math.ceil(n / 64) * 64;
}

t.test('graph inputs and constants as outputs, an output listed twice, an unread value', async (t) => {
  const x = randTensor([1, 2, 5, 5]);
  const k = randTensor([3]);
  const g = new CompiledGraph({
    inputs: [{ name: 'x', shape: [1, 2, 5, 5] }],
    constants: { k },
    nodes: [
      { name: 'r', type: 'relu', inputs: ['x'], outputs: ['rx'], attrs: {} },
      { name: 'unread', type: 'sigmoid', inputs: ['x'], outputs: ['sx'], attrs: {} },
      { name: 'twice', type: 'add', inputs: ['rx', 'rx'], outputs: ['y'], attrs: {} },
    ],
    outputs: ['y', 'x', 'k', 'rx', 'y'],
  });
  const out = g.runSync({ x });
  const relu = Float32Array.from(x.data, (v) => Math.max(v, 0));
  t.same(Array.from(out.x.data), Array.from(x.data), 'input copied out');
  t.not(out.x.data, x.data, 'a new buffer, not the input');
  t.same(Array.from(out.k.data), Array.from(k.data), 'constant copied out');
  t.same(Array.from(out.rx.data), Array.from(relu), 'rx is an output and read later');
  t.same(Array.from(out.y.data), Array.from(relu, (v) => v + v), 'y');
  const raw = g.plan([[1, 2, 5, 5]]).runSync([x]);
  t.equal(raw.length, 5, 'five outputs in order');
  t.same(Array.from(raw[4].data), Array.from(raw[0].data), 'the output listed twice is filled twice');
  g.dispose();
});

t.test('random DAGs (long-lived skips, fan-out, outputs read later) match single ops', async (t) => {
  const { randInt } = require('./helpers');
  for (let trial = 0; trial < 8; trial++) {
    const shape = [1, 4, randInt(1, 9), randInt(1, 9)];
    const b = randTensor([4]);
    const constants = { w3: randTensor([4, 4, 3, 3]), w1: randTensor([4, 4, 1, 1]), w8: randTensor([4, 8, 1, 1]), b, b3: b.reshape([4, 1, 1]) };
    const nodes = [];
    const ref = { x: randTensor(shape) };
    const names = ['x'];
    const pick = () => names[randInt(Math.max(0, names.length - 12), names.length - 1)];
    for (let i = 0; i < 30; i++) {
      const kind = randInt(0, 5);
      const a = pick();
      const a2 = pick();
      const out = `v${i}`;
      if (kind === 0) {
        nodes.push({ name: `n${i}`, type: 'conv2d', inputs: [a, 'w3', 'b'], outputs: [out], attrs: { pads: [1, 1, 1, 1], activation: 'relu' } });
        ref[out] = ops.sync.conv2d(ref[a], constants.w3, constants.b, { padding: 1, activation: 'relu' });
      } else if (kind === 1) {
        nodes.push({ name: `n${i}`, type: 'conv2d', inputs: [a, 'w1'], outputs: [out], attrs: {} });
        ref[out] = ops.sync.conv2d(ref[a], constants.w1);
      } else if (kind === 2) {
        nodes.push({ name: `n${i}`, type: 'add', inputs: [a, a2], outputs: [out], attrs: {} });
        ref[out] = ops.sync.add(ref[a], ref[a2]);
      } else if (kind === 3) {
        nodes.push({ name: `n${i}`, type: 'mul', inputs: [a, 'b3'], outputs: [out], attrs: {} });
        ref[out] = ops.sync.mul(ref[a], constants.b3);
      } else if (kind === 4) {
        nodes.push({ name: `n${i}`, type: 'sigmoid', inputs: [a], outputs: [out], attrs: {} });
        ref[out] = ops.sync.sigmoid(ref[a]);
      } else {
        nodes.push({ name: `n${i}a`, type: 'concat', inputs: [a, a2], outputs: [`${out}c`], attrs: { axis: 1 } });
        nodes.push({ name: `n${i}`, type: 'conv2d', inputs: [`${out}c`, 'w8', 'b'], outputs: [out], attrs: {} });
        ref[out] = ops.sync.conv2d(ops.sync.concat([ref[a], ref[a2]], 1), constants.w8, constants.b);
      }
      names.push(out);
    }
    const outputs = [names[names.length - 1], names[randInt(1, 29)], names[randInt(1, 29)]];
    const g = new CompiledGraph({ inputs: [{ name: 'x', shape: [1, 4, null, null] }], constants, nodes, outputs });
    const got = await g.run({ x: ref.x }, { threads: 1 + (trial % 2) });
    const plan = g.plan([shape]);
    let worst = 0;
    for (const o of outputs) worst = Math.max(worst, normError(got[o].data, ref[o].data));
    t.ok(worst <= TOL, `trial ${trial} ${JSON.stringify(shape)}: err=${worst}, arena ${plan.arenaBytes} of ${plan.unsharedBytes}`);
    g.dispose();
  }
});

// ---- concurrency -----------------------------------------------------------------------------

t.test('concurrent runs of one plan give identical results', async (t) => {
  const w = fcnWeights();
  const g = new CompiledGraph(fcnSpec(w));
  const xs = [randTensor([1, 3, 24, 24]), randTensor([1, 3, 24, 24])];
  const expected = xs.map((x) => g.runSync(x));
  const runs = [];
  for (let i = 0; i < 12; i++) runs.push(g.run(xs[i % 2], { threads: 1 + (i % 2) }));
  const results = await Promise.all(runs);
  let same = true;
  results.forEach((r, i) => {
    const e = expected[i % 2];
    for (const name of ['joined', 'fused', 'labels']) {
      const a = r[name].data;
      const b = e[name].data;
      for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) same = false;
    }
  });
  t.ok(same, '12 concurrent runs equal the sync runs bit for bit');
  g.dispose();
});

// ---- abort -----------------------------------------------------------------------------------

// By default 40 convs of 64 channels at 96x96: well over 100 ms on any CPU.
function longGraph(n = 40, c = 64, hw = 96) {
  const spec = chainSpec(n, c);
  spec.constants = { w: randTensor([c, c, 3, 3], -0.05, 0.05), b: randTensor([c], 0, 0.01) };
  return { g: new CompiledGraph(spec), x: randTensor([1, c, hw, hw]), c };
}

t.test('a signal aborted mid-run rejects with ABORTED, and a later run works', async (t) => {
  const { g, x, c } = longGraph();
  await g.planAsync([x.shape]);
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(), 30);
  await rejectsWith(t, g.run({ x }, { signal: ac.signal }), 'ABORTED', /aborted (before|in) node 'conv\d+'/, 'mid-run');
  t.comment(`aborted after ${Date.now() - started} ms`);
  const small = randTensor([1, c, 4, 4]);
  const { y } = await g.run({ x: small }, { signal: new AbortController().signal });
  t.same(y.shape, [1, c, 4, 4], 'a later run completes');
  const again = await g.run({ x: small });
  t.same(Array.from(again.y.data), Array.from(y.data), 'and gives the same result');
  g.dispose();
});

t.test('an already-aborted signal rejects at once', async (t) => {
  const { g, x } = longGraph();
  const ac = new AbortController();
  ac.abort();
  const started = Date.now();
  await rejectsWith(t, g.run({ x }, { signal: ac.signal }), 'ABORTED', /aborted/, 'already aborted');
  t.ok(Date.now() - started < 100, 'without compiling or running');
  t.equal(g.planCount, 0, 'no plan was made');
  g.dispose();
});

t.test('native AbortToken: aborted before the run starts', async (t) => {
  const { g, x } = longGraph();
  const plan = g.plan([x.shape]);
  const token = new (native().AbortToken)();
  t.equal(token.aborted, false);
  token.abort();
  t.equal(token.aborted, true);
  await rejectsWith(t, () => viaTs(plan.run([x], undefined, token)),
    'ABORTED', /run aborted before node 'conv1'/, 'token');
  t.throws(() => plan.run([x], undefined, {}), { code: 'INVALID_ARGUMENT' }, 'a plain object is not a token');
  t.throws(() => plan.run([x], undefined, plan), { code: 'INVALID_ARGUMENT' }, 'another native object is not a token');
  g.dispose();
});

// ---- bad specs -------------------------------------------------------------------------------

function tinySpec(overrides = {}) {
  return {
    inputs: [{ name: 'x', shape: [1, 3, null, null] }],
    constants: { w: randTensor([4, 3, 3, 3]) },
    nodes: [
      { name: 'conv1', type: 'conv2d', inputs: ['x', 'w'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
      { name: 'relu1', type: 'relu', inputs: ['c1'], outputs: ['y'], attrs: {} },
    ],
    outputs: ['y'],
    ...overrides,
  };
}

t.test('bad specs are rejected when the graph is built', async (t) => {
  const base = tinySpec();
  const build = (spec) => () => new CompiledGraph(spec);
  await rejectsWith(t, build(tinySpec({ nodes: [base.nodes[0], { ...base.nodes[1], type: 'gelu' }] })),
    'UNSUPPORTED_OP', /unknown op type 'gelu' \(node 'relu1'\)/, 'unknown op');
  await rejectsWith(t, build(tinySpec({ nodes: [base.nodes[0], { ...base.nodes[1], inputs: ['c9'] }] })),
    'BAD_MODEL', /relu 'relu1': input 'c9' is not a graph input, a constant or an output of any node/, 'dangling input');
  await rejectsWith(t, build(tinySpec({ nodes: [base.nodes[1], base.nodes[0]] })),
    'BAD_MODEL', /relu 'relu1': reads 'c1' before node 'conv1' produces it \(nodes must be listed in topological order\)/, 'order');
  await rejectsWith(t, build(tinySpec({ nodes: [base.nodes[0], { ...base.nodes[1], outputs: ['c1'] }], outputs: ['c1'] })),
    'BAD_MODEL', /'c1' is defined more than once/, 'duplicate value');
  await rejectsWith(t, build(tinySpec({ nodes: [base.nodes[0], { ...base.nodes[1], name: 'conv1' }] })),
    'BAD_MODEL', /node name 'conv1' is used more than once/, 'duplicate node');
  await rejectsWith(t, build(tinySpec({ outputs: ['nope'] })), 'BAD_MODEL', /graph output 'nope'/, 'dangling output');
  await rejectsWith(t, build(tinySpec({ outputs: [] })), 'BAD_MODEL', /no outputs/, 'no outputs');
  await rejectsWith(t, build(tinySpec({ nodes: [{ ...base.nodes[0], attrs: { stride: 0 } }, base.nodes[1]] })),
    'INVALID_ARGUMENT', /conv2d 'conv1': stride/, 'bad attribute');
  await rejectsWith(t, build(tinySpec({ nodes: 'conv' })), 'INVALID_ARGUMENT', /Expected an array for the graph spec\.nodes/, 'nodes not an array');
  await rejectsWith(t, build(tinySpec({ inputs: [{ name: 'x', shape: [1, -3] }] })), 'INVALID_ARGUMENT', /shape\[1\]/, 'negative dim');
  await rejectsWith(t, build(tinySpec({ constants: { w: { data: [1, 2], shape: [2] } } })), 'INVALID_ARGUMENT', /constant 'w'/, 'constant not typed');
  await rejectsWith(t, build(tinySpec({ constants: { w: { data: new Float32Array(3), shape: [2] } } })), 'SHAPE_MISMATCH', /constant 'w'/, 'constant size');
  await rejectsWith(t, build(null), 'INVALID_ARGUMENT', /graph spec/, 'null spec');
});

t.test('bad shapes are rejected when a plan is made', async (t) => {
  const g = new CompiledGraph(tinySpec());
  await rejectsWith(t, g.run(randTensor([1, 4, 50, 50])), 'SHAPE_MISMATCH',
    /input 'x': expected \[1, 3, \?, \?\] but received \[1, 4, 50, 50\]/, 'wrong channels');
  await rejectsWith(t, () => g.runSync(randTensor([1, 3, 50])), 'SHAPE_MISMATCH', /input 'x'/, 'wrong rank');
  const bad = new CompiledGraph(tinySpec({ constants: { w: randTensor([4, 5, 3, 3]) } }));
  await rejectsWith(t, bad.run(randTensor([1, 3, 8, 8])), 'SHAPE_MISMATCH', /conv2d 'conv1': expected weight/, 'weight shape names the node');
  await rejectsWith(t, g.run({ x: randTensor([1, 3, 8, 8]), z: randTensor([1]) }), 'INVALID_ARGUMENT', /no input 'z'/, 'unknown input name');
  await rejectsWith(t, g.run({}), 'INVALID_ARGUMENT', /graph input 'x'/, 'missing input');
  await rejectsWith(t, g.run(randTensor([1, 3, 8, 8]), { threads: 0 }), 'INVALID_ARGUMENT', /threads/, 'threads 0');
  const plan = g.plan([[1, 3, 8, 8]]);
  t.throws(() => plan.run([randTensor([1, 3, 8, 9])]), { code: 'SHAPE_MISMATCH', message: /input 'x': the plan was made for \[1, 3, 8, 8\]/ }, 'plan input shape');
  t.throws(() => plan.run([]), { code: 'INVALID_ARGUMENT', message: /1 input/ }, 'plan input count');
  const multi = new CompiledGraph(tinySpec({
    nodes: [...tinySpec().nodes, { name: 'two', type: 'relu', inputs: ['y'], outputs: ['a', 'b'], attrs: {} }],
  }));
  await rejectsWith(t, multi.run(randTensor([1, 3, 4, 4])), 'BAD_MODEL', /relu 'two': node lists 2 output\(s\) but the op produces 1/, 'output count');
  g.dispose();
  bad.dispose();
  multi.dispose();
});

t.test('a disposed graph or plan gives INVALID_ARGUMENT', async (t) => {
  const g = new CompiledGraph(tinySpec());
  const plan = g.plan([[1, 3, 6, 6]]);
  g.dispose();
  t.equal(g.disposed, true);
  await rejectsWith(t, g.run(randTensor([1, 3, 6, 6])), 'INVALID_ARGUMENT', /graph was disposed/, 'run');
  await rejectsWith(t, () => g.runSync(randTensor([1, 3, 6, 6])), 'INVALID_ARGUMENT', /graph was disposed/, 'runSync');
  await rejectsWith(t, () => g.plan([[1, 3, 6, 6]]), 'INVALID_ARGUMENT', /graph was disposed/, 'plan');
  t.equal(plan.disposed, true, 'its plans were disposed with it');
  const ng = new (native().Graph)(tinySpec());
  const np = ng.plan([[1, 3, 6, 6]]);
  ng.dispose();
  t.throws(() => ng.plan([[1, 3, 6, 6]]), { code: 'INVALID_ARGUMENT', message: /graph was disposed/ });
  t.throws(() => ng.planAsync([[1, 3, 6, 6]]), { code: 'INVALID_ARGUMENT' });
  const [y] = await np.run([randTensor([1, 3, 6, 6])]);
  t.same(y.shape, [1, 4, 6, 6], 'a plan outlives its disposed native graph');
  np.dispose();
  np.dispose();
  t.throws(() => np.runSync([randTensor([1, 3, 6, 6])]), { code: 'INVALID_ARGUMENT', message: /plan was disposed/ });
  t.throws(() => new (np.constructor)({}), { code: 'INVALID_ARGUMENT' }, 'plans cannot be made from JS');
});

t.test('disposing during a run does not crash', async (t) => {
  const { g, x } = longGraph(20, 32, 64);
  const plan = g.plan([x.shape]);
  const running = g.run({ x });
  const direct = plan.run([x]);
  await new Promise((r) => setImmediate(r));
  g.dispose();
  t.ok(plan.disposed, 'the plan was disposed with the graph');
  const [a, b] = await Promise.all([running, direct]);
  t.same(a.y.shape, [1, 32, 64, 64], 'the run in flight finished');
  t.same(Array.from(a.y.data.subarray(0, 64)), Array.from(b[0].data.subarray(0, 64)), 'with the right result');
  if (global.gc) global.gc();
});

t.test('planAsync compiles off the JS thread', async (t) => {
  const w = fcnWeights();
  const ng = new (native().Graph)(fcnSpec(w));
  const p = ng.planAsync([[1, 3, 12, 12]]);
  t.ok(p instanceof Promise);
  const plan = await p;
  t.same(plan.outputShapes[0], [1, 8, 12, 12]);
  const x = randTensor([1, 3, 12, 12]);
  const out = await plan.run([x]);
  const ref = await fcnReference(w, x);
  t.ok(normError(out[0].data, ref.joined.data) <= TOL);
  await rejectsWith(t, viaTs(ng.planAsync([[1, 4, 12, 12]])),
    'SHAPE_MISMATCH', /input 'x'/, 'async compile error rejects');
  plan.dispose();
  ng.dispose();
});
