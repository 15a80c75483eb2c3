'use strict';
// A trained network on a real photo: the embedded MediaPipe selfie model (models/) on the
// astronaut of examples/ (test/gpu/fixtures/astronaut-selfie-input.u8.gz: its 1x3x256x256 input
// as the selfie preset makes it, stored as bytes k with the tensor k/255, so no image decoder is
// needed where the GPU is). Random-weight nets tie many pixels between classes; a trained one
// shows what the precisions do to real masks.
//
// Bounds, from the emulator (which reproduces the tensor cores' operand rounding):
//   fp32  probabilities within 1e-4 (fp32 summation order alone moves this model's sigmoid
//         outputs by ~1.5e-5; the CPU path itself is 9.5e-5 from a float64 reference, see
//         test/fixtures/README.md); masks identical but for ties;
//   tf32  masks (p > 0.5) agree on >= 99.9% of the pixels (seen: 99.998%), probabilities 5e-2;
//   bf16  masks agree on >= 99.5% (seen: 99.96%; bf16 moves some border probabilities by 0.2).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const h = require('./helpers');

const MODEL = path.join(__dirname, '..', '..', 'models', 'selfie_segmentation.tflite');
const INPUT = path.join(__dirname, 'fixtures', 'astronaut-selfie-input.u8.gz');
const missing = !fs.existsSync(MODEL) ? `${MODEL} not found` : !fs.existsSync(INPUT) ? `${INPUT} not found` : false;

const BOUNDS = {
  fp32: { error: 1e-4, masks: 0.9999 },
  tf32: { error: 5e-2, masks: 0.999 },
  bf16: { error: Infinity, masks: 0.995 },
};

function load() {
  const bytes = fs.readFileSync(MODEL);
  const imported = h.fcnkit.importTflite(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const input = imported.inputs[0];
  const spec = imported.specFor({ [input.name]: [1, 3, 256, 256] });
  const u8 = zlib.gunzipSync(fs.readFileSync(INPUT));
  const x = new h.fcnkit.Tensor(Float32Array.from(u8, (v) => v / 255), [1, 3, 256, 256]);
  return { spec, feeds: { [input.name]: x }, out: spec.outputs[0] };
}

function maskAgreement(a, b) {
  let same = 0;
  for (let i = 0; i < a.length; i++) same += (a[i] > 0.5) === (b[i] > 0.5) ? 1 : 0;
  return same / a.length;
}

for (const b of h.backends()) {
  test(`selfie segmentation of a photo on ${b.name}`, { skip: b.skip || missing }, async (t) => {
    const { spec, feeds, out } = load();
    const ref = h.cpuRun(spec, feeds)[out];
    for (const precision of ['fp32', 'tf32', 'bf16']) {
      await t.test(precision, () => {
        const y = h.deviceRun(spec, feeds, { ...b.options, precision }).outputs[out];
        const e = h.normError(y.data, ref.data);
        const agree = maskAgreement(y.data, ref.data);
        assert.ok(e <= BOUNDS[precision].error, `probabilities differ by ${e} (bound ${BOUNDS[precision].error})`);
        assert.ok(agree >= BOUNDS[precision].masks, `masks agree on ${(agree * 100).toFixed(4)}% of the pixels`);
      });
    }
  });
}
