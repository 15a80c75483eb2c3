'use strict';
// Helpers of the GPU tests (node:test only; no node_modules: the GPU machine has none).
//
// Every comparison runs the same GraphSpec on the CPU (CompiledGraph) and on each device
// backend there is:
//   'emulator'  the device steps on the CPU (cpp/cuda/emulate.cc): checks the lowering (shapes,
//               arena, prepared weights, gather tables, deconvolution phases) everywhere;
//   'cuda'      the GPU kernels, where backendInfo().cuda.available; elsewhere those tests skip
//               and say why.
const fcnkit = require('../../dist');
const { CompiledGraph } = require('../../dist/graph/compiled');
const { CudaCompiledGraph } = require('../../dist/device');

const cudaInfo = fcnkit.backendInfo().cuda;
const NO_GPU = cudaInfo.available
  ? false
  : `no usable GPU (backendInfo().cuda.reason: ${cudaInfo.reason}${cudaInfo.detail ? `; ${cudaInfo.detail}` : ''})`;

// Normalised error bound per precision; labels must agree on this share of pixels for tf32.
const TOLERANCE = { fp32: 1e-5, tf32: 1e-2, bf16: 1e-2 };
const LABEL_AGREEMENT = 0.999;

// Seeded random tensors and the normalised error, as in the rest of the suite (test/helpers loads
// onnxruntime only when asked, so it works on the GPU machine without node_modules).
const { seed, randTensor, normError } = require('../helpers');

/** Share of pixels whose argmax over channels (axis 1 of [N, C, H, W]) agrees. */
function labelAgreement(a, ref, shape) {
  const [n, c, h, w] = shape;
  const plane = h * w;
  let same = 0;
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < plane; p++) {
      let ia = 0;
      let ib = 0;
      for (let k = 1; k < c; k++) {
        const off = (b * c + k) * plane + p;
        if (a[off] > a[(b * c + ia) * plane + p]) ia = k;
        if (ref[off] > ref[(b * c + ib) * plane + p]) ib = k;
      }
      if (ia === ib) same++;
    }
  }
  return same / (n * plane);
}

/** The backends to compare with the CPU: the emulator always, the GPU where there is one. */
function backends() {
  return [
    { name: 'emulator', options: { emulate: true }, skip: false },
    { name: 'cuda', options: {}, skip: NO_GPU },
  ];
}

/** A one-node spec: inputs by name -> shape, constants by name -> Tensor. */
function opSpec(type, inputs, attrs = {}, constants = {}, outputs = 1) {
  const names = Object.keys(inputs);
  const outs = Array.from({ length: outputs }, (_, i) => `y${i}`);
  return {
    inputs: names.map((name) => ({ name, shape: inputs[name] })),
    constants: Object.fromEntries(Object.entries(constants).map(([k, t]) => [k, { data: t.data, shape: t.shape }])),
    nodes: [{ name: 'op', type, inputs: [...names, ...Object.keys(constants)], outputs: outs, attrs }],
    outputs: outs,
  };
}

function cpuRun(spec, feeds) {
  const g = new CompiledGraph(spec);
  try {
    return g.runSync(feeds);
  } finally {
    g.dispose();
  }
}

function deviceRun(spec, feeds, options) {
  const g = new CudaCompiledGraph(spec, options);
  try {
    const shapes = g.inputNames.map((n) => feeds[n].shape);
    const plan = g.plan(shapes);
    const kernels = plan.steps.map((s) => s.kernel);
    return { outputs: g.runSync(feeds), kernels };
  } finally {
    g.dispose();
  }
}

module.exports = {
  fcnkit, CompiledGraph, CudaCompiledGraph, cudaInfo, NO_GPU, TOLERANCE, LABEL_AGREEMENT, seed, randTensor,
  normError, labelAgreement, backends, opSpec, cpuRun, deviceRun,
};
