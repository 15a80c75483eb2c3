'use strict';
// Every export of require('../dist') called with hostile arguments: each throw or rejection must
// be an FcnkitError whose code is in ERROR_CODES. The one exception is the caller's own error
// (a getter or Proxy trap that throws): that very object may come back unchanged, as it does from
// JSON.stringify. Functions, classes (constructors, static methods, and the methods of one real
// instance each), and the namespaces (models, ops) are walked.
//
// The calls run in a child process (this file, with FCNKIT_HOSTILE_CHILD set) that prints a
// line before and after each call; the parent kills it when one call takes longer than
// CALL_LIMIT_MS (a hang) or when it dies (a crash), records that call as a failure, and starts
// a new child at the next call. The child's working folder is a fresh temp folder, so a file
// path argument ('x') writes nothing anywhere else.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const CALL_LIMIT_MS = 15000;

// Not called, with the reason (none so far: every export returns or fails quickly).
const SKIP = {};

function hostileValues() {
  const sentinel = new Error('hostile getter');
  sentinel.hostileSentinel = true;
  const detached = new Float32Array(8);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  const throwingGetter = {};
  for (const k of ['shape', 'data', 'dtype', 'length', 'name', 'width', 'height', 'then', 'inputs', 'signal', 'threads', 'size']) {
    Object.defineProperty(throwingGetter, k, { get() { throw sentinel; }, enumerable: true });
  }
  const trap = () => { throw sentinel; };
  const proxy = new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap });
  const arrayProxy = new Proxy([1, 2, 3], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : trap()) });
  const values = {
    undefined: undefined,
    null: null,
    NaN: NaN,
    '-1': -1,
    '2**53': 2 ** 53,
    Infinity: Infinity,
    '1.5': 1.5,
    'empty string': '',
    string: 'x',
    'NUL string': 'a\0b',
    symbol: Symbol('hostile'),
    bigint: 10n,
    true: true,
    'empty object': {},
    'empty array': [],
    'array of NaN': [NaN, NaN, NaN, NaN],
    'huge sparse array': new Array(2 ** 32 - 1),
    'array of 2**53': [2 ** 53, 2 ** 53, 2 ** 53, 2 ** 53],
    'nested array': [[[[[]]]]],
    'object with throwing getters': throwingGetter,
    proxy,
    'array proxy': arrayProxy,
    'Float64Array': new Float64Array(4),
    'Int8Array': new Int8Array(4),
    'BigInt64Array': new BigInt64Array(4),
    'detached Float32Array': detached,
    'DataView': new DataView(new ArrayBuffer(8)),
    'function': () => 1,
    'Date': new Date(0),
  };
  return { values, sentinel };
}

// ---- the child: walks the API ------------------------------------------------------------------

async function realInstances(lib) {
  const out = {};
  try {
    const bytes = lib.models.unet({ inChannels: 1, numClasses: 2, levels: 2, baseChannels: 2, padding: 'same' }).exportOnnxBytes();
    out.InferenceSession = await lib.InferenceSession.create(bytes);
  } catch {
    // as below
  }
  const safely = (name, make) => {
    try {
      out[name] = make();
    } catch {
      // a class without a cheap instance: its constructor and statics are still called
    }
  };
  safely('Tensor', () => new lib.Tensor(new Float32Array(4), [1, 1, 2, 2]));
  safely('GraphBuilder', () => {
    const g = new lib.GraphBuilder();
    const x = g.input('x', [1, 1, null, null]);
    g.output('y', g.conv2d('c', x, { outChannels: 1, kernel: 1 }));
    return g;
  });
  safely('SymbolicTensor', () => new lib.GraphBuilder().input('x', [1, 1, 4, 4]));
  safely('Model', () => lib.models.unet({ inChannels: 1, numClasses: 2, levels: 2, baseChannels: 2, padding: 'same' }));
  safely('CompiledGraph', () => new lib.CompiledGraph(lib.models.unet({ inChannels: 1, numClasses: 2, levels: 2, baseChannels: 2, padding: 'same' }).graphSpec([1, 1, 4, 4])));
  safely('SegmentationEvaluator', () => new lib.SegmentationEvaluator(3));
  safely('DimExpr', () => {
    const g = new lib.GraphBuilder();
    const x = g.input('x', [1, 1, null, null]);
    return x.shape[2];
  });
  return out;
}

/** Every call to make: [label, () => result]. */
function calls(lib, values, instances) {
  const list = [];
  // A plausible first argument, so that the checks of later arguments are reached too.
  const tensor = () => new lib.Tensor(new Float32Array(16).fill(0.5), [1, 1, 4, 4]);
  const hv = Object.entries(values);
  const argLists = (fn) => {
    const n = Math.min(3, Math.max(1, fn.length));
    const lists = [['no arguments', []]];
    for (const [name, v] of hv) {
      lists.push([name, [v]]);
      for (let p = 1; p < n; p++) {
        lists.push([`${name} at ${p}`, [...new Array(p).fill(undefined), v]]);
        lists.push([`${name} at ${p} after tensors`, [...Array.from({ length: p }, tensor), v]]);
      }
      if (n > 1) lists.push([`${name} everywhere`, new Array(n).fill(v)]);
    }
    return lists;
  };
  const addFunction = (label, fn, thisArg, isClass) => {
    if (SKIP[label]) return;
    for (const [argName, args] of argLists(fn)) {
      list.push([`${label}(${argName})`, () => (isClass ? new fn(...args) : fn.apply(thisArg, args))]);
    }
  };
  const methodsOf = (obj) => {
    const names = new Set();
    for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const k of Object.getOwnPropertyNames(p)) {
        const d = Object.getOwnPropertyDescriptor(p, k);
        if (k !== 'constructor' && d && typeof d.value === 'function') names.add(k);
      }
    }
    // Disposing last: the other methods see a live object.
    return [...names].sort((a, b) => (/dispose|release|reset/.test(a) ? 1 : 0) - (/dispose|release|reset/.test(b) ? 1 : 0));
  };
  const walk = (prefix, obj, depth) => {
    for (const key of Object.keys(obj).sort()) {
      const v = obj[key];
      const label = prefix ? `${prefix}.${key}` : key;
      if (typeof v === 'function') {
        const isClass = /^class\b/.test(Function.prototype.toString.call(v));
        if (isClass) {
          addFunction(`new ${label}`, v, undefined, true);
          for (const s of Object.getOwnPropertyNames(v)) {
            if (typeof v[s] === 'function' && !['length', 'name', 'prototype'].includes(s)) addFunction(`${label}.${s}`, v[s], v, false);
          }
          const inst = instances[key];
          if (inst) for (const m of methodsOf(inst)) addFunction(`${label}#${m}`, inst[m], inst, false);
        } else addFunction(label, v, obj, false);
      } else if (v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v) && (depth === 0 ? /^(models|ops)$/.test(key) : key === 'sync')) {
        walk(label, v, depth + 1);
      }
    }
  };
  walk('', lib, 0);
  return list;
}

async function child() {
  const lib = require('../dist');
  const { values, sentinel } = hostileValues();
  const list = calls(lib, values, await realInstances(lib));
  const start = Number(process.env.FCNKIT_HOSTILE_START || 0);
  const write = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
  write({ total: list.length });
  const codes = new Set(lib.ERROR_CODES);
  for (let i = start; i < list.length; i++) {
    const [label, call] = list[i];
    write({ begin: i, label });
    let bad;
    try {
      const r = call();
      if (r && typeof r.then === 'function') {
        await r.then((x) => {
          // A resolved session or graph: free it.
          if (x && typeof x.dispose === 'function') try { x.dispose(); } catch { /* its own error is not the point here */ }
        });
      }
    } catch (err) {
      if (err !== sentinel && !(err instanceof lib.FcnkitError && codes.has(err.code))) {
        bad = `${err?.constructor?.name ?? typeof err}${err?.code ? ` code ${err.code}` : ''}: ${String(err?.message ?? err).slice(0, 200)}`;
      }
    }
    write({ end: i, bad });
  }
  write({ done: true });
}

// ---- the parent ---------------------------------------------------------------------------------

async function parent() {
  const t = require('tap');
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-hostile-'));
  t.teardown(() => fs.rmSync(cwd, { recursive: true, force: true }));
  const failures = [];
  let total = Infinity;
  let next = 0;
  let ran = 0;
  while (next < total) {
    const result = await new Promise((resolve) => {
      const c = spawn(process.execPath, ['--max-old-space-size=2048', __filename], {
        cwd,
        env: { ...process.env, FCNKIT_HOSTILE_CHILD: '1', FCNKIT_HOSTILE_START: String(next) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let current;
      let timer;
      let stderr = '';
      c.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          failures.push(`${current?.label ?? `call ${next}`}: no answer in ${CALL_LIMIT_MS} ms (hang); killed`);
          c.kill('SIGKILL');
        }, CALL_LIMIT_MS);
      };
      arm();
      readline.createInterface({ input: c.stdout }).on('line', (line) => {
        let m;
        try {
          m = JSON.parse(line);
        } catch {
          return;
        }
        if (m.total !== undefined) total = m.total;
        else if (m.begin !== undefined) {
          current = m;
          arm();
        } else if (m.end !== undefined) {
          ran++;
          if (m.bad) failures.push(`${current.label}: ${m.bad}`);
          next = m.end + 1;
          current = undefined;
        }
      });
      c.on('close', (code, signal) => {
        clearTimeout(timer);
        if (current) {
          if (signal !== 'SIGKILL' || !failures.at(-1)?.startsWith(current.label)) {
            failures.push(`${current.label}: the process died (exit ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
          }
          next = current.begin + 1;
        } else if (code !== 0 && next < total) {
          failures.push(`child exited ${code} ${signal} before a call: ${stderr.slice(-500)}`);
          next = total;
        }
        resolve();
      });
    });
    void result;
  }
  t.ok(ran > 1000, `${ran} hostile calls made`);
  t.same(failures, [], 'every throw and rejection is a coded FcnkitError (or the caller\'s own error)');
}

if (process.env.FCNKIT_HOSTILE_CHILD) {
  // Exit once stdout is flushed: a pipe the parent reads slowly would lose the last lines.
  child().then(() => process.stdout.write('', () => process.exit(0)), (err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(3);
  });
} else {
  parent();
}
