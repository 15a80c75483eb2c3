'use strict';
// The installed-package smoke test, run by test/pack.test.js and scripts/node-matrix.js from a
// fresh project where `fcnkit` was installed from its packed tarball (with --ignore-scripts),
// under a PATH that holds nothing but `node`. Copied there, it must need nothing but fcnkit.
// It checks that no compiler or build tool is reachable, that the binary node-gyp-build picks is
// the package's prebuilt one, and runs a small network (conv2d + relu, maxPool2d,
// convTranspose2d, argmax), comparing the convolution with a naive JS one.
// Prints one JSON line; exit status 0 when every check passed.
const fs = require('node:fs');
const path = require('node:path');

const result = { node: process.version, napi: process.versions.napi, checks: [] };
function check(name, ok, detail) {
  result.checks.push({ name, ok: !!ok, ...(detail === undefined ? {} : { detail }) });
}

function naiveConv2d(x, xs, w, ws, b, pad, stride, relu) {
  const [n, c, h, wd] = xs;
  const [oc, , kh, kw] = ws;
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  const y = new Float32Array(n * oc * oh * ow);
  for (let bi = 0; bi < n; bi++) {
    for (let o = 0; o < oc; o++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = b[o];
          for (let ci = 0; ci < c; ci++) {
            for (let p = 0; p < kh; p++) {
              const yy = i * stride - pad + p;
              if (yy < 0 || yy >= h) continue;
              for (let q = 0; q < kw; q++) {
                const xx = j * stride - pad + q;
                if (xx < 0 || xx >= wd) continue;
                s += x[((bi * c + ci) * h + yy) * wd + xx] * w[((o * c + ci) * kh + p) * kw + q];
              }
            }
          }
          y[((bi * oc + o) * oh + i) * ow + j] = relu ? Math.max(0, s) : s;
        }
      }
    }
  }
  return { data: y, shape: [n, oc, oh, ow] };
}

function random(n, seed) {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a / 2147483648 - 1;
  }
  return out;
}

async function main() {
  const tools = ['cc', 'gcc', 'g++', 'c++', 'clang', 'cmake', 'make', 'python', 'python3', 'sh'];
  const found = [];
  for (const dir of (process.env.PATH || '').split(path.delimiter).filter(Boolean)) {
    for (const t of tools) if (fs.existsSync(path.join(dir, t))) found.push(path.join(dir, t));
  }
  check('PATH has no compiler, cmake, make, python or shell', found.length === 0, found.join(', ') || process.env.PATH);

  const pkgDir = path.dirname(require.resolve('fcnkit/package.json'));
  check('fcnkit comes from node_modules', pkgDir.split(path.sep).includes('node_modules'), pkgDir);
  check('no build tree in the installed package', !fs.existsSync(path.join(pkgDir, 'build')));
  const ngb = require(require.resolve('node-gyp-build', { paths: [pkgDir] }));
  const file = ngb.path(pkgDir);
  check('node-gyp-build picks the prebuilt binary', file === path.join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`, 'fcnkit.node'), file);

  const fcnkit = require('fcnkit');
  const { Tensor, ops } = fcnkit;
  const info = fcnkit.backendInfo();
  result.isa = info.isa;
  check('backendInfo', ['ref', 'avx2', 'avx512'].includes(info.isa) && info.threads >= 1 && info.cuda && info.cuda.available === false, JSON.stringify(info));
  const cudaLib = path.join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`, 'libfcnkit_cuda.so');
  check('the CUDA backend ships beside the binary when built, and its absence of a GPU is explained',
    info.cuda.compiled === fs.existsSync(cudaLib) && typeof info.cuda.reason === 'string' && info.cuda.reason.length > 0,
    `compiled ${info.cuda.compiled}, ${path.basename(cudaLib)} ${fs.existsSync(cudaLib) ? 'present' : 'absent'}: ${info.cuda.reason}`);

  const xs = [1, 3, 17, 19];
  const ws = [8, 3, 3, 3];
  const x = random(xs.reduce((a, b) => a * b), 1);
  const w = random(ws.reduce((a, b) => a * b), 2);
  const b = random(8, 3);
  const opts = { padding: 1, stride: 2, activation: 'relu' };
  const y = await ops.conv2d(new Tensor(x, xs), new Tensor(w, ws), new Tensor(b, [8]), opts);
  const ref = naiveConv2d(x, xs, w, ws, b, 1, 2, true);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.data.length; i++) {
    err = Math.max(err, Math.abs(y.data[i] - ref.data[i]));
    scale = Math.max(scale, Math.abs(ref.data[i]));
  }
  result.convError = err / (scale + 1e-6);
  check('conv2d matches a naive JS convolution', JSON.stringify(y.shape) === JSON.stringify(ref.shape) && result.convError < 1e-5,
    `shape ${JSON.stringify(y.shape)} vs ${JSON.stringify(ref.shape)}, normalised error ${result.convError}`);
  const ySync = ops.sync.conv2d(new Tensor(x, xs), new Tensor(w, ws), new Tensor(b, [8]), opts);
  check('ops.sync.conv2d gives the same', ySync.data.every((v, i) => v === y.data[i]));

  const p = await ops.maxPool2d(y, { kernel: 2, ceilMode: true });
  const up = await ops.convTranspose2d(p, new Tensor(random(8 * 4 * 4 * 4, 4), [8, 4, 4, 4]), null, { stride: 4 });
  const labels = ops.sync.argmax(up, 1);
  check('a small network runs end to end', JSON.stringify(labels.shape) === '[1,1,20,20]' || JSON.stringify(labels.shape) === '[1,20,20]',
    `maxPool ${JSON.stringify(p.shape)}, convTranspose ${JSON.stringify(up.shape)}, argmax ${JSON.stringify(labels.shape)}`);
}

main()
  .catch((err) => check('no exception', false, `${err && err.code ? `${err.code}: ` : ''}${err && err.stack}`))
  .finally(() => {
    result.ok = result.checks.length > 0 && result.checks.every((c) => c.ok);
    console.log(JSON.stringify(result));
    process.exitCode = result.ok ? 0 : 1;
  });
